// Pure text helpers for presentation and export (tested on their own).
#pragma once

#include "storage/pending_writes.h"
#include "storage/records.h"

#include <QByteArray>
#include <QDateTime>
#include <QString>
#include <QVariantList>

#include <vector>

// Splits Markdown into blocks for the message delegate: fenced code blocks (``` or ~~~, with
// an optional language) become {kind: "code", text, language}; everything between them
// {kind: "markdown", text}. An unterminated fence (an answer still streaming) runs to the end.
QVariantList markdownBlocks(const QString& markdown);

// "14:02" (today), "Yesterday", "Mon 3 Nov" (this year), "2025-11-01" (older).
QString relativeDateText(const QDateTime& when, const QDateTime& now);
// The same for a stored time (ms since the epoch) against the clock now: the list models' "dateText".
QString relativeDateText(qint64 msecsSinceEpoch);

// A title from the first user message: first line, whitespace collapsed, ≤ 60 characters
// (cut at a word boundary with "…"); "New chat" when empty.
QString titleFromMessage(const QString& text);

// "128 tokens · 9.3 tokens/s · first token 0.42 s" (parts with zero values left out).
QString messageStatsText(const MessageRecord& message);

// Export of a whole conversation.
QString conversationToMarkdown(const ConversationRecord& conversation, const std::vector<MessageRecord>& messages);
QByteArray conversationToJson(const ConversationRecord& conversation, const std::vector<MessageRecord>& messages);
// Several conversations in one file (the export of unsaved ones): Markdown documents joined by a
// horizontal rule; JSON as {"conversations": [<the object conversationToJson writes>, …]}.
QString conversationsToMarkdown(const std::vector<ConversationSnapshot>& conversations);
QByteArray conversationsToJson(const std::vector<ConversationSnapshot>& conversations);

// Human-readable sizes for the model panel: binary units with three significant digits,
// trailing zeros dropped ("512 B", "1.5 KiB", "9.66 GiB").
QString formatBytes(qint64 bytes);
// Parameter counts the same way in decimal units ("950", "16 M", "2.7 B", "15.7 B", "1.2 T").
QString formatCount(qint64 count);
