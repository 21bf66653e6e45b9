#include "storage/database.h"

#include "storage/sqlite_support.h"

#include <QDebug>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonValue>
#include <QStringList>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

using namespace storage_detail;

namespace {

// Search terms beyond this many add nothing a user can see and only make the query slower.
constexpr int kMaxSearchWords = 16;

// Column order shared by the reads below and conversationFromRow().
#define LATENT_CONVERSATION_COLUMNS "id, title, created_at, updated_at, model, system_prompt, settings, collections"

ConversationRecord conversationFromRow(const Statement& row) {
    ConversationRecord record;
    record.id = row.int64(0);
    record.title = row.text(1);
    record.createdAt = row.int64(2);
    record.updatedAt = row.int64(3);
    record.model = row.text(4);
    record.systemPrompt = row.text(5);
    record.settings = row.text(6);
    record.collections = collectionsFromJson(row.text(7));
    return record;
}

// Binds ?1 = id and ?2 … ?7 = the columns updateConversation sets, in its order (title,
// updated_at, model, system_prompt, settings, collections); insertConversation adds created_at
// as ?8.
Statement& bindConversation(Statement& statement, const ConversationRecord& conversation) {
    return statement.bind(1, conversation.id)
        .bind(2, conversation.title)
        .bind(3, conversation.updatedAt)
        .bind(4, conversation.model)
        .bind(5, conversation.systemPrompt)
        .bind(6, conversation.settings)
        .bind(7, collectionsToJson(conversation.collections));
}

// Column order shared by the reads below and messageFromRow().
#define LATENT_MESSAGE_COLUMNS                                                                    \
    "id, conversation_id, role, content, reasoning, status, stop_reason, error_text, created_at, " \
    "model, prompt_tokens, generated_tokens, time_to_first_token_ms, prompt_tokens_per_second, "   \
    "generation_tokens_per_second, sources"

// nullopt when the row's role is unknown (the row is then left out, with a warning).
std::optional<MessageRecord> messageFromRow(const Statement& row) {
    MessageRecord record;
    record.id = row.int64(0);
    record.conversationId = row.int64(1);
    const QString roleName = row.text(2);
    const auto role = messageRoleFromName(roleName);
    if (!role) {
        qWarning("storage: message %lld has the unknown role '%s'; it is left out", static_cast<long long>(record.id),
                 qPrintable(roleName));
        return std::nullopt;
    }
    record.role = *role;
    record.content = row.text(3);
    record.reasoning = row.text(4);
    const QString statusName = row.text(5);
    record.stopReason = row.text(6);
    record.errorText = row.text(7);
    if (const auto status = messageStatusFromName(statusName)) {
        record.status = *status;
    } else {
        qWarning("storage: message %lld has the unknown status '%s'", static_cast<long long>(record.id), qPrintable(statusName));
        record.status = MessageStatus::Error;
        record.errorText = QStringLiteral("unknown status '%1' in the database").arg(statusName);
    }
    record.createdAt = row.int64(8);
    record.model = row.text(9);
    record.promptTokens = row.integer(10);
    record.generatedTokens = row.integer(11);
    record.timeToFirstTokenMs = row.real(12);
    record.promptTokensPerSecond = row.real(13);
    record.generationTokensPerSecond = row.real(14);
    record.sources = sourcesFromJson(row.text(15));
    return record;
}

// Binds ?1 = id and ?2 … ?14 = the columns updateMessage sets, in its order (role …
// generation_tokens_per_second, sources); insertMessage lists its columns in the same order and
// adds conversation_id and created_at as ?15 and ?16.
Statement& bindMessage(Statement& statement, const MessageRecord& message) {
    return statement.bind(1, message.id)
        .bind(2, messageRoleName(message.role))
        .bind(3, message.content)
        .bind(4, message.reasoning)
        .bind(5, messageStatusName(message.status))
        .bind(6, message.stopReason)
        .bind(7, message.errorText)
        .bind(8, message.model)
        .bind(9, message.promptTokens)
        .bind(10, message.generatedTokens)
        .bind(11, message.timeToFirstTokenMs)
        .bind(12, message.promptTokensPerSecond)
        .bind(13, message.generationTokensPerSecond)
        .bind(14, sourcesToJson(message.sources));
}

bool isWordCharacter(char32_t codePoint, bool inWord) {
    if (QChar::isLetterOrNumber(codePoint)) return true;
    // Combining marks belong to the letter before them ("e" + U+0301).
    switch (QChar::category(codePoint)) {
    case QChar::Mark_NonSpacing:
    case QChar::Mark_SpacingCombining:
    case QChar::Mark_Enclosing: return inWord;
    default: return false;
    }
}

// Turns free text into an FTS5 query that cannot be read as FTS5 syntax: every word becomes a
// quoted prefix term, all joined by AND. Empty when the text holds no word.
QString ftsQuery(const QString& text) {
    QStringList words;
    QString word;
    const auto flush = [&] {
        if (!word.isEmpty() && words.size() < kMaxSearchWords) words << word;
        word.clear();
    };
    for (const char32_t codePoint : text.toUcs4()) {
        if (isWordCharacter(codePoint, !word.isEmpty())) word += QString::fromUcs4(&codePoint, 1);
        else flush();
    }
    flush();
    QStringList terms;
    for (QString& w : words) terms << QLatin1Char('"') + w.replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QStringLiteral("\"*");
    return terms.join(QLatin1Char(' '));
}

} // namespace

Database::~Database() { sqlite3_close_v2(db_); }

std::vector<ConversationRecord> Database::conversations() const {
    return describeFailure(QStringLiteral("reading the conversations"), [&] {
        Statement statement(db_, "SELECT " LATENT_CONVERSATION_COLUMNS " FROM conversations ORDER BY updated_at DESC, id DESC");
        std::vector<ConversationRecord> records;
        while (statement.step()) records.push_back(conversationFromRow(statement));
        return records;
    });
}

std::optional<ConversationRecord> Database::conversation(qint64 id) const {
    return describeFailure(QStringLiteral("reading conversation %1").arg(id), [&]() -> std::optional<ConversationRecord> {
        Statement statement(db_, "SELECT " LATENT_CONVERSATION_COLUMNS " FROM conversations WHERE id = ?1");
        statement.bind(1, id);
        if (!statement.step()) return std::nullopt;
        return conversationFromRow(statement);
    });
}

void Database::insertConversation(const ConversationRecord& conversation) {
    inTransaction(db_, QStringLiteral("saving conversation %1").arg(conversation.id), [&] {
        Statement statement(db_, "INSERT INTO conversations (id, title, updated_at, model, system_prompt, settings, collections, "
                                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        bindConversation(statement, conversation).bind(8, conversation.createdAt).run();
    });
}

void Database::renameConversation(qint64 id, const QString& title) {
    inTransaction(db_, QStringLiteral("renaming conversation %1").arg(id), [&] {
        Statement(db_, "UPDATE conversations SET title = ?2 WHERE id = ?1").bind(1, id).bind(2, title).run();
    });
}

void Database::updateConversation(const ConversationRecord& conversation) {
    inTransaction(db_, QStringLiteral("updating conversation %1").arg(conversation.id), [&] {
        Statement statement(db_, "UPDATE conversations SET title = ?2, updated_at = ?3, model = ?4, system_prompt = ?5, "
                                 "settings = ?6, collections = ?7 WHERE id = ?1");
        bindConversation(statement, conversation).run();
    });
}

void Database::touchConversation(qint64 id, qint64 updatedAt) {
    inTransaction(db_, QStringLiteral("touching conversation %1").arg(id), [&] {
        Statement(db_, "UPDATE conversations SET updated_at = ?2 WHERE id = ?1").bind(1, id).bind(2, updatedAt).run();
    });
}

void Database::deleteConversation(qint64 id) {
    inTransaction(db_, QStringLiteral("deleting conversation %1").arg(id), [&] {
        Statement(db_, "DELETE FROM conversations WHERE id = ?1").bind(1, id).run(); // messages: ON DELETE CASCADE
    });
}

std::vector<MessageRecord> Database::messages(qint64 conversationId) const {
    return describeFailure(QStringLiteral("reading the messages of conversation %1").arg(conversationId), [&] {
        Statement statement(db_, "SELECT " LATENT_MESSAGE_COLUMNS " FROM messages WHERE conversation_id = ?1 ORDER BY id");
        statement.bind(1, conversationId);
        std::vector<MessageRecord> records;
        while (statement.step())
            if (auto record = messageFromRow(statement)) records.push_back(std::move(*record));
        return records;
    });
}

void Database::insertMessage(const MessageRecord& message) {
    inTransaction(db_, QStringLiteral("saving message %1").arg(message.id), [&] {
        Statement insert(db_, "INSERT INTO messages (id, role, content, reasoning, status, stop_reason, error_text, model, "
                              "prompt_tokens, generated_tokens, time_to_first_token_ms, prompt_tokens_per_second, "
                              "generation_tokens_per_second, sources, conversation_id, created_at) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
        bindMessage(insert, message).bind(15, message.conversationId).bind(16, message.createdAt).run();
        Statement touch(db_, "UPDATE conversations SET updated_at = ?2 WHERE id = ?1 AND updated_at < ?2");
        touch.bind(1, message.conversationId).bind(2, message.createdAt).run();
    });
}

void Database::updateMessage(const MessageRecord& message) {
    inTransaction(db_, QStringLiteral("updating message %1").arg(message.id), [&] {
        Statement statement(db_, "UPDATE messages SET role = ?2, content = ?3, reasoning = ?4, status = ?5, stop_reason = ?6, "
                                 "error_text = ?7, model = ?8, prompt_tokens = ?9, generated_tokens = ?10, "
                                 "time_to_first_token_ms = ?11, prompt_tokens_per_second = ?12, "
                                 "generation_tokens_per_second = ?13, sources = ?14 WHERE id = ?1");
        bindMessage(statement, message).run();
    });
}

void Database::updateMessageText(qint64 id, const QString& content, const QString& reasoning, MessageStatus status) {
    inTransaction(db_, QStringLiteral("saving the text of message %1").arg(id), [&] {
        Statement statement(db_, "UPDATE messages SET content = ?2, reasoning = ?3, status = ?4 WHERE id = ?1");
        statement.bind(1, id).bind(2, content).bind(3, reasoning).bind(4, messageStatusName(status)).run();
    });
}

void Database::deleteMessagesFrom(qint64 conversationId, qint64 fromMessageId) {
    inTransaction(db_, QStringLiteral("deleting messages of conversation %1").arg(conversationId), [&] {
        Statement(db_, "DELETE FROM messages WHERE conversation_id = ?1 AND id >= ?2").bind(1, conversationId).bind(2, fromMessageId).run();
    });
}

std::vector<SearchHit> Database::search(const QString& query, int limit) const {
    const QString match = ftsQuery(query);
    if (match.isEmpty() || limit <= 0) return {};
    return describeFailure(QStringLiteral("searching"), [&] {
        // Title hits carry message id 0, so within a conversation they come before its messages.
        Statement statement(db_, R"sql(
            SELECT c.id, 0, c.title, c.updated_at, snippet(conversation_fts, 0, '[', ']', '…', 12)
              FROM conversation_fts JOIN conversations c ON c.id = conversation_fts.rowid
             WHERE conversation_fts MATCH ?1
            UNION ALL
            SELECT m.conversation_id, m.id, c.title, c.updated_at, snippet(message_fts, -1, '[', ']', '…', 12)
              FROM message_fts JOIN messages m ON m.id = message_fts.rowid
                               JOIN conversations c ON c.id = m.conversation_id
             WHERE message_fts MATCH ?1
            ORDER BY 4 DESC, 1 DESC, 2
            LIMIT ?2
        )sql");
        statement.bind(1, match).bind(2, limit);
        std::vector<SearchHit> hits;
        while (statement.step()) {
            SearchHit hit;
            hit.conversationId = statement.int64(0);
            hit.messageId = statement.int64(1);
            hit.title = statement.text(2);
            hit.updatedAt = statement.int64(3);
            hit.snippet = statement.text(4);
            hits.push_back(std::move(hit));
        }
        return hits;
    });
}

QVariantMap Database::settings() const {
    return describeFailure(QStringLiteral("reading the settings"), [&] {
        Statement statement(db_, "SELECT key, value FROM settings ORDER BY key");
        QVariantMap values;
        while (statement.step()) {
            const QString key = statement.text(0);
            QJsonParseError error;
            const QJsonDocument document = QJsonDocument::fromJson(statement.text(1).toUtf8(), &error);
            if (error.error != QJsonParseError::NoError || !document.isArray() || document.array().size() != 1) {
                qWarning("storage: the setting '%s' is not stored as a one-value JSON array; it is ignored", qPrintable(key));
                continue;
            }
            values.insert(key, document.array().at(0).toVariant());
        }
        return values;
    });
}

void Database::setSetting(const QString& key, const QVariant& value) {
    // A one-element array, because a JSON document cannot be a bare string or number.
    const QJsonArray wrapper{QJsonValue::fromVariant(value)};
    const QString json = QString::fromUtf8(QJsonDocument(wrapper).toJson(QJsonDocument::Compact));
    inTransaction(db_, QStringLiteral("saving the setting '%1'").arg(key), [&] {
        Statement statement(db_, "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        statement.bind(1, key).bind(2, json).run();
    });
}

QString Database::pragma(const QString& name) const {
    const bool plain = !name.isEmpty() && std::all_of(name.begin(), name.end(), [](QChar c) {
        return (c >= QLatin1Char('a') && c <= QLatin1Char('z')) || c == QLatin1Char('_');
    });
    if (!plain) throw StorageError(QStringLiteral("'%1' is not a pragma name").arg(name).toStdString());
    const QByteArray sql = "PRAGMA " + name.toLatin1();
    Statement statement(db_, sql.constData());
    return statement.step() ? statement.text(0) : QString();
}

void Database::createAtVersion(const QString& path, int version) {
    if (version < 1 || version > kSchemaVersion)
        throw StorageError(QStringLiteral("there is no schema version %1 (1 to %2)").arg(version).arg(kSchemaVersion).toStdString());
    if (QFileInfo(path).size() > 0)
        throw StorageError(QStringLiteral("%1 exists already; a database at a chosen version needs a new file").arg(path).toStdString());
    Connection connection(openConnection(path));
    applyConnectionPragmas(connection.get());
    migrate(connection.get(), 0, version);
}
