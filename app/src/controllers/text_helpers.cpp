#include "controllers/text_helpers.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QStringList>

#include <algorithm>
#include <cmath>
#include <optional>

namespace {

// An opening code fence (CommonMark): up to three spaces of indentation, then a run of at least
// three backticks or tildes, then an optional info string whose first word is the language.
// A backtick fence's info string may not contain a backtick (that is inline code instead).
struct Fence {
    QChar marker;
    qsizetype length = 0;
    qsizetype indent = 0;
    QString language;
};

qsizetype leadingSpaces(QStringView line) {
    qsizetype n = 0;
    while (n < line.size() && line[n] == u' ') ++n;
    return n;
}

std::optional<Fence> openingFence(QStringView line) {
    const qsizetype indent = leadingSpaces(line);
    if (indent > 3 || indent >= line.size()) return std::nullopt;
    const QChar marker = line[indent];
    if (marker != u'`' && marker != u'~') return std::nullopt;
    qsizetype end = indent;
    while (end < line.size() && line[end] == marker) ++end;
    if (end - indent < 3) return std::nullopt;
    const QString info = line.mid(end).trimmed().toString();
    if (marker == u'`' && info.contains(u'`')) return std::nullopt;
    Fence fence;
    fence.marker = marker;
    fence.length = end - indent;
    fence.indent = indent;
    fence.language = info.section(u' ', 0, 0, QString::SectionSkipEmpty);
    return fence;
}

// A closing fence: the same marker, at least as long as the opening one, nothing but
// whitespace after it.
bool closesFence(QStringView line, const Fence& open) {
    const qsizetype indent = leadingSpaces(line);
    if (indent > 3) return false;
    qsizetype end = indent;
    while (end < line.size() && line[end] == open.marker) ++end;
    if (end - indent < open.length) return false;
    return line.mid(end).trimmed().isEmpty();
}

// Content lines of an indented fence lose up to the fence's indentation (CommonMark), so a code
// block inside a list item shows its code flush left.
QString stripFenceIndent(const QString& line, qsizetype indent) {
    const qsizetype n = std::min(indent, leadingSpaces(line));
    return line.mid(n);
}

QVariantMap block(const QString& kind, const QString& text, const QString& language) {
    return QVariantMap{{QStringLiteral("kind"), kind},
                       {QStringLiteral("text"), text},
                       {QStringLiteral("language"), language}};
}

QString isoDate(qint64 msecs) {
    return QDateTime::fromMSecsSinceEpoch(msecs, Qt::UTC).toString(Qt::ISODate);
}

bool positive(double v) { return std::isfinite(v) && v > 0.0; }

// Three significant digits, trailing zeros dropped: 1.5, 9.66, 67.5, 236.
QString threeDigits(double v) {
    const int decimals = v < 10.0 ? 2 : (v < 100.0 ? 1 : 0);
    QString s = QString::number(v, 'f', decimals);
    if (s.contains(u'.')) {
        while (s.endsWith(u'0')) s.chop(1);
        if (s.endsWith(u'.')) s.chop(1);
    }
    return s;
}

QString scaled(qint64 value, double base, const QStringList& units, const QString& smallSuffix) {
    if (value < 0) value = 0;
    if (static_cast<double>(value) < base) return QString::number(value) + smallSuffix;
    double v = static_cast<double>(value);
    qsizetype unit = -1;
    while (v >= base && unit + 1 < units.size()) {
        v /= base;
        ++unit;
    }
    // 1023.99 KiB prints as "1 MiB", not "1024 KiB".
    if (threeDigits(v).toDouble() >= base && unit + 1 < units.size()) {
        v /= base;
        ++unit;
    }
    return threeDigits(v) + u' ' + units[unit];
}

QString statusMarker(const MessageRecord& m) {
    if (m.status == MessageStatus::Error)
        return m.errorText.isEmpty() ? QStringLiteral("*(Failed.)*")
                                     : QStringLiteral("*(Failed: %1)*").arg(m.errorText);
    if (m.status == MessageStatus::Stopped) {
        if (m.stopReason == QLatin1String(kStopReasonInterrupted))
            return QStringLiteral("*(Interrupted: the app closed while this answer was being written.)*");
        if (m.stopReason == QLatin1String("context_full"))
            return QStringLiteral("*(Stopped: the conversation no longer fits the model's context.)*");
        if (m.stopReason == QLatin1String("model_changed"))
            return QStringLiteral("*(Stopped: the model file changed on disk.)*");
        return QStringLiteral("*(Stopped.)*");
    }
    if (m.status == MessageStatus::Streaming) return QStringLiteral("*(Still being written.)*");
    return {};
}

} // namespace

QVariantList markdownBlocks(const QString& markdown) {
    QString text = markdown;
    text.replace(QStringLiteral("\r\n"), QStringLiteral("\n"));
    const QStringList lines = text.split(u'\n');

    QVariantList blocks;
    QStringList prose;
    QStringList code;
    std::optional<Fence> open;

    // Prose that is only whitespace (the blank line between two fences) would render as an
    // empty paragraph, so it makes no block.
    const auto flushProse = [&] {
        const QString joined = prose.join(u'\n');
        if (!joined.trimmed().isEmpty()) blocks << block(QStringLiteral("markdown"), joined, QString());
        prose.clear();
    };
    const auto flushCode = [&] {
        blocks << block(QStringLiteral("code"), code.join(u'\n'), open->language);
        code.clear();
        open.reset();
    };

    for (const QString& line : lines) {
        if (!open) {
            if (auto fence = openingFence(line)) {
                flushProse();
                open = std::move(fence);
            } else {
                prose << line;
            }
        } else if (closesFence(line, *open)) {
            flushCode();
        } else {
            code << stripFenceIndent(line, open->indent);
        }
    }
    // An unterminated fence (an answer still streaming) runs to the end.
    if (open) flushCode();
    else flushProse();
    return blocks;
}

QString relativeDateText(const QDateTime& when, const QDateTime& now) {
    if (!when.isValid()) return {};
    const QDateTime local = when.toLocalTime();
    const QDate date = local.date();
    const QDate today = now.toLocalTime().date();
    if (date == today) return QLocale::c().toString(local.time(), QStringLiteral("HH:mm"));
    if (date == today.addDays(-1)) return QStringLiteral("Yesterday");
    if (date.year() == today.year()) return QLocale::c().toString(date, QStringLiteral("ddd d MMM"));
    return date.toString(Qt::ISODate);
}

QString relativeDateText(qint64 msecsSinceEpoch) {
    return relativeDateText(QDateTime::fromMSecsSinceEpoch(msecsSinceEpoch), QDateTime::currentDateTime());
}

QString titleFromMessage(const QString& text) {
    constexpr qsizetype kMaxLength = 60;
    // Line by line up to the first that is not blank: a pasted megabyte is not split whole.
    QString first;
    for (qsizetype start = 0; start <= text.size() && first.isEmpty();) {
        qsizetype end = text.indexOf(u'\n', start);
        if (end < 0) end = text.size();
        // A first line of megabytes: only its start can be part of the title.
        first = QStringView(text).mid(start, std::min<qsizetype>(end - start, 4096)).toString().simplified();
        start = end + 1;
    }
    if (first.isEmpty()) return QStringLiteral("New chat");
    if (first.size() <= kMaxLength) return first;

    qsizetype cut = kMaxLength - 1; // room for the ellipsis
    if (first[cut - 1].isHighSurrogate()) --cut;
    // Cut at the last word boundary when there is one in the second half; a single very long
    // word is cut where it is.
    const qsizetype space = first.lastIndexOf(u' ', cut);
    if (space >= kMaxLength / 2) cut = space;
    QString title = first.left(cut);
    while (!title.isEmpty() && (title.back().isSpace() || title.back() == u',' || title.back() == u';' ||
                                title.back() == u':'))
        title.chop(1);
    return title + QChar(0x2026);
}

QString messageStatsText(const MessageRecord& message) {
    QStringList parts;
    if (message.generatedTokens > 0)
        parts << (message.generatedTokens == 1 ? QStringLiteral("1 token")
                                                : QStringLiteral("%1 tokens").arg(message.generatedTokens));
    if (positive(message.generationTokensPerSecond))
        parts << QStringLiteral("%1 tokens/s").arg(QString::number(message.generationTokensPerSecond, 'f', 1));
    if (positive(message.timeToFirstTokenMs))
        parts << QStringLiteral("first token %1 s").arg(QString::number(message.timeToFirstTokenMs / 1000.0, 'f', 2));
    return parts.join(QStringLiteral(" · "));
}

QString conversationToMarkdown(const ConversationRecord& conversation, const std::vector<MessageRecord>& messages) {
    QStringList out;
    out << QStringLiteral("# %1").arg(conversation.title.isEmpty() ? QStringLiteral("Chat") : conversation.title);

    QStringList about;
    if (conversation.createdAt > 0)
        about << QDateTime::fromMSecsSinceEpoch(conversation.createdAt).toString(QStringLiteral("yyyy-MM-dd HH:mm"));
    if (!conversation.model.isEmpty()) about << QStringLiteral("model %1").arg(conversation.model);
    if (!about.isEmpty()) out << QStringLiteral("*Latent Chat · %1*").arg(about.join(QStringLiteral(" · ")));

    bool hasSystemMessage = false;
    for (const MessageRecord& m : messages) hasSystemMessage = hasSystemMessage || m.role == MessageRole::System;
    if (!hasSystemMessage && !conversation.systemPrompt.trimmed().isEmpty())
        out << QStringLiteral("**System**") << conversation.systemPrompt.trimmed();

    for (const MessageRecord& m : messages) {
        switch (m.role) {
        case MessageRole::User: out << QStringLiteral("**You**"); break;
        case MessageRole::Assistant: out << QStringLiteral("**Assistant**"); break;
        case MessageRole::System: out << QStringLiteral("**System**"); break;
        }
        if (!m.reasoning.trimmed().isEmpty()) {
            QStringList quote{QStringLiteral("> **Thinking**"), QStringLiteral(">")};
            for (const QString& line : m.reasoning.trimmed().split(u'\n'))
                quote << (line.isEmpty() ? QStringLiteral(">") : QStringLiteral("> ") + line);
            out << quote.join(u'\n');
        }
        if (!m.content.isEmpty()) out << m.content;
        if (!m.sources.isEmpty()) {
            QStringList lines{QStringLiteral("*Sources:*")};
            for (qsizetype i = 0; i < m.sources.size(); ++i) {
                const SourceRecord& source = m.sources[i];
                lines << (source.page > 0 ? QStringLiteral("[%1] %2, page %3").arg(i + 1).arg(source.path).arg(source.page)
                                          : QStringLiteral("[%1] %2").arg(i + 1).arg(source.path));
            }
            out << lines.join(QStringLiteral("  \n"));
        }
        const QString marker = statusMarker(m);
        if (!marker.isEmpty()) out << marker;
    }
    return out.join(QStringLiteral("\n\n")) + u'\n';
}

namespace {

QJsonObject conversationJsonObject(const ConversationRecord& conversation, const std::vector<MessageRecord>& messages) {
    QJsonArray list;
    for (const MessageRecord& m : messages) {
        QJsonObject o;
        o.insert(QStringLiteral("role"), messageRoleName(m.role));
        o.insert(QStringLiteral("content"), m.content);
        if (!m.reasoning.isEmpty()) o.insert(QStringLiteral("reasoning"), m.reasoning);
        o.insert(QStringLiteral("status"), messageStatusName(m.status));
        if (!m.stopReason.isEmpty()) o.insert(QStringLiteral("stopReason"), m.stopReason);
        if (!m.errorText.isEmpty()) o.insert(QStringLiteral("errorText"), m.errorText);
        o.insert(QStringLiteral("createdAt"), isoDate(m.createdAt));
        o.insert(QStringLiteral("model"), m.model);
        o.insert(QStringLiteral("generatedTokens"), m.generatedTokens);
        o.insert(QStringLiteral("tokensPerSecond"),
                 std::isfinite(m.generationTokensPerSecond) ? m.generationTokensPerSecond : 0.0);
        if (!m.sources.isEmpty()) o.insert(QStringLiteral("sources"), QJsonDocument::fromJson(sourcesToJson(m.sources).toUtf8()).array());
        list.append(o);
    }
    QJsonObject root;
    root.insert(QStringLiteral("title"), conversation.title);
    root.insert(QStringLiteral("createdAt"), isoDate(conversation.createdAt));
    root.insert(QStringLiteral("model"), conversation.model);
    root.insert(QStringLiteral("systemPrompt"), conversation.systemPrompt);
    root.insert(QStringLiteral("messages"), list);
    return root;
}

} // namespace

QByteArray conversationToJson(const ConversationRecord& conversation, const std::vector<MessageRecord>& messages) {
    return QJsonDocument(conversationJsonObject(conversation, messages)).toJson(QJsonDocument::Indented);
}

QString conversationsToMarkdown(const std::vector<ConversationSnapshot>& conversations) {
    QStringList parts;
    for (const ConversationSnapshot& c : conversations) parts << conversationToMarkdown(c.conversation, c.messages);
    return parts.join(QStringLiteral("\n\n---\n\n"));
}

QByteArray conversationsToJson(const std::vector<ConversationSnapshot>& conversations) {
    QJsonArray list;
    for (const ConversationSnapshot& c : conversations) list.append(conversationJsonObject(c.conversation, c.messages));
    QJsonObject root;
    root.insert(QStringLiteral("conversations"), list);
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

QString formatBytes(qint64 bytes) {
    static const QStringList units{QStringLiteral("KiB"), QStringLiteral("MiB"), QStringLiteral("GiB"),
                                   QStringLiteral("TiB"), QStringLiteral("PiB")};
    return scaled(bytes, 1024.0, units, QStringLiteral(" B"));
}

QString formatCount(qint64 count) {
    static const QStringList units{QStringLiteral("K"), QStringLiteral("M"), QStringLiteral("B"), QStringLiteral("T")};
    return scaled(count, 1000.0, units, QString());
}
