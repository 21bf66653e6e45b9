#include "storage/pending_writes.h"

#include "storage/database.h"

#include <QStringList>

#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <map>
#include <set>
#include <utility>

using Kind = StorageWrite::Kind;

namespace {

bool isMessageChange(Kind kind) { return kind == Kind::UpdateMessage || kind == Kind::UpdateMessageText; }

bool isConversationChange(Kind kind) {
    return kind == Kind::UpdateConversation || kind == Kind::RenameConversation || kind == Kind::TouchConversation;
}

// `change` (an update or a text checkpoint) applied to a message row held in memory.
void applyMessageChange(MessageRecord& row, const StorageWrite& change) {
    const MessageRecord& from = change.message;
    row.content = from.content;
    row.reasoning = from.reasoning;
    row.status = from.status;
    if (change.kind != Kind::UpdateMessage) return;
    row.role = from.role;
    row.stopReason = from.stopReason;
    row.errorText = from.errorText;
    row.model = from.model;
    row.promptTokens = from.promptTokens;
    row.generatedTokens = from.generatedTokens;
    row.timeToFirstTokenMs = from.timeToFirstTokenMs;
    row.promptTokensPerSecond = from.promptTokensPerSecond;
    row.generationTokensPerSecond = from.generationTokensPerSecond;
    row.sources = from.sources;
}

// `change` (an update, rename or touch) applied to a conversation row held in memory.
void applyConversationChange(ConversationRecord& row, const StorageWrite& change) {
    switch (change.kind) {
    case Kind::UpdateConversation: {
        const qint64 createdAt = row.createdAt;
        row = change.conversation;
        row.createdAt = createdAt;
        break;
    }
    case Kind::RenameConversation: row.title = change.conversation.title; break;
    case Kind::TouchConversation: row.updatedAt = change.conversation.updatedAt; break;
    default: break;
    }
}

// Folds `change` into the earlier pending write `target` of the same message; false when the
// two cannot be folded.
bool foldMessage(StorageWrite& target, const StorageWrite& change) {
    if (target.kind == Kind::InsertMessage || target.kind == Kind::UpdateMessage) {
        applyMessageChange(target.message, change);
        return true;
    }
    if (target.kind == Kind::UpdateMessageText) {
        // A final update covers every column a checkpoint sets: the pending write becomes it.
        if (change.kind == Kind::UpdateMessage) target = change;
        else applyMessageChange(target.message, change);
        return true;
    }
    return false;
}

// The same for a conversation row: a change folds into the pending insert or update; a rename
// into a rename, a touch into a touch.
bool foldConversation(StorageWrite& target, const StorageWrite& change) {
    const bool whole = target.kind == Kind::InsertConversation || target.kind == Kind::UpdateConversation;
    if (whole) {
        applyConversationChange(target.conversation, change);
        return true;
    }
    if (change.kind == Kind::UpdateConversation) { // covers a pending rename or touch
        target = change;
        return true;
    }
    if (change.kind == target.kind) {
        applyConversationChange(target.conversation, change);
        return true;
    }
    return false;
}

} // namespace

// ---- StorageWrite ---------------------------------------------------------------------------

StorageWrite StorageWrite::insertConversation(const ConversationRecord& conversation) {
    StorageWrite write;
    write.kind = Kind::InsertConversation;
    write.conversation = conversation;
    return write;
}

StorageWrite StorageWrite::updateConversation(const ConversationRecord& conversation) {
    StorageWrite write = insertConversation(conversation);
    write.kind = Kind::UpdateConversation;
    return write;
}

StorageWrite StorageWrite::renameConversation(qint64 id, const QString& title) {
    StorageWrite write;
    write.kind = Kind::RenameConversation;
    write.conversation.id = id;
    write.conversation.title = title;
    return write;
}

StorageWrite StorageWrite::touchConversation(qint64 id, qint64 updatedAt) {
    StorageWrite write;
    write.kind = Kind::TouchConversation;
    write.conversation.id = id;
    write.conversation.updatedAt = updatedAt;
    return write;
}

StorageWrite StorageWrite::deleteConversation(qint64 id) {
    StorageWrite write;
    write.kind = Kind::DeleteConversation;
    write.conversation.id = id;
    return write;
}

StorageWrite StorageWrite::insertMessage(const MessageRecord& message) {
    StorageWrite write;
    write.kind = Kind::InsertMessage;
    write.message = message;
    return write;
}

StorageWrite StorageWrite::updateMessage(const MessageRecord& message) {
    StorageWrite write = insertMessage(message);
    write.kind = Kind::UpdateMessage;
    return write;
}

StorageWrite StorageWrite::updateMessageText(const MessageRecord& message) {
    StorageWrite write;
    write.kind = Kind::UpdateMessageText;
    write.message.id = message.id;
    write.message.conversationId = message.conversationId;
    write.message.content = message.content;
    write.message.reasoning = message.reasoning;
    write.message.status = message.status;
    return write;
}

StorageWrite StorageWrite::deleteMessagesFrom(qint64 conversationId, qint64 fromMessageId) {
    StorageWrite write;
    write.kind = Kind::DeleteMessagesFrom;
    write.message.id = fromMessageId;
    write.message.conversationId = conversationId;
    return write;
}

StorageWrite StorageWrite::setSetting(const QString& key, const QVariant& value) {
    StorageWrite write;
    write.kind = Kind::SetSetting;
    write.settingKey = key;
    write.settingValue = value;
    return write;
}

qint64 StorageWrite::conversationId() const {
    switch (kind) {
    case Kind::InsertConversation:
    case Kind::UpdateConversation:
    case Kind::RenameConversation:
    case Kind::TouchConversation:
    case Kind::DeleteConversation: return conversation.id;
    case Kind::InsertMessage:
    case Kind::UpdateMessage:
    case Kind::UpdateMessageText:
    case Kind::DeleteMessagesFrom: return message.conversationId;
    case Kind::SetSetting: return 0;
    }
    return 0;
}

qint64 StorageWrite::savedMessageId() const {
    return kind == Kind::InsertMessage || isMessageChange(kind) ? message.id : 0;
}

QString StorageWrite::description() const {
    switch (kind) {
    case Kind::InsertConversation: return QStringLiteral("saving conversation %1").arg(conversation.id);
    case Kind::UpdateConversation: return QStringLiteral("updating conversation %1").arg(conversation.id);
    case Kind::RenameConversation: return QStringLiteral("renaming conversation %1").arg(conversation.id);
    case Kind::TouchConversation: return QStringLiteral("touching conversation %1").arg(conversation.id);
    case Kind::DeleteConversation: return QStringLiteral("deleting conversation %1").arg(conversation.id);
    case Kind::InsertMessage: return QStringLiteral("saving message %1").arg(message.id);
    case Kind::UpdateMessage: return QStringLiteral("updating message %1").arg(message.id);
    case Kind::UpdateMessageText: return QStringLiteral("saving the text of message %1").arg(message.id);
    case Kind::DeleteMessagesFrom:
        return QStringLiteral("deleting messages of conversation %1 from %2").arg(message.conversationId).arg(message.id);
    case Kind::SetSetting: return QStringLiteral("saving the setting '%1'").arg(settingKey);
    }
    return QString();
}

void StorageWrite::apply(Database& db) const {
    switch (kind) {
    case Kind::InsertConversation: db.insertConversation(conversation); break;
    case Kind::UpdateConversation: db.updateConversation(conversation); break;
    case Kind::RenameConversation: db.renameConversation(conversation.id, conversation.title); break;
    case Kind::TouchConversation: db.touchConversation(conversation.id, conversation.updatedAt); break;
    case Kind::DeleteConversation: db.deleteConversation(conversation.id); break;
    case Kind::InsertMessage: db.insertMessage(message); break;
    case Kind::UpdateMessage: db.updateMessage(message); break;
    case Kind::UpdateMessageText:
        db.updateMessageText(message.id, message.content, message.reasoning, message.status);
        break;
    case Kind::DeleteMessagesFrom: db.deleteMessagesFrom(message.conversationId, message.id); break;
    case Kind::SetSetting: db.setSetting(settingKey, settingValue); break;
    }
}

// ---- failure classes --------------------------------------------------------------------------

bool isRetryableStorageFailure(int sqliteCode) {
    switch (sqliteCode & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return true;
    default: return false;
    }
}

QString plainStorageFailure(int sqliteCode) {
    switch (sqliteCode & 0xff) {
    case SQLITE_FULL: return QStringLiteral("the disk is full");
    case SQLITE_IOERR: return QStringLiteral("the disk reported an error while reading or writing");
    case SQLITE_READONLY: return QStringLiteral("the chat history is read-only");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL: return QStringLiteral("another program is using the chat history");
    case SQLITE_CANTOPEN: return QStringLiteral("the chat history cannot be opened");
    case SQLITE_PERM: return QStringLiteral("permission to write the chat history was denied");
    case SQLITE_NOMEM: return QStringLiteral("the computer is out of memory");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return QStringLiteral("the chat history file is damaged");
    default: return QString::fromUtf8(sqlite3_errstr(sqliteCode));
    }
}

// ---- PendingWrites ----------------------------------------------------------------------------

bool PendingWrites::add(StorageWrite write) {
    const qint64 conversationId = write.conversationId();
    switch (write.kind) {
    case Kind::UpdateMessage:
    case Kind::UpdateMessageText:
        for (auto it = writes_.rbegin(); it != writes_.rend(); ++it)
            if (it->savedMessageId() == write.message.id) {
                if (foldMessage(*it, write)) return false;
                break;
            }
        break;
    case Kind::UpdateConversation:
    case Kind::RenameConversation:
    case Kind::TouchConversation:
        for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
            // Inserting a message raises its conversation's updated_at: a later update or touch
            // of that column must stay after it.
            if (it->kind == Kind::InsertMessage && it->message.conversationId == conversationId &&
                write.kind != Kind::RenameConversation)
                break;
            if ((it->kind == Kind::InsertConversation || isConversationChange(it->kind)) && it->conversation.id == conversationId) {
                if (foldConversation(*it, write)) return false;
                break;
            }
        }
        break;
    case Kind::SetSetting:
        for (StorageWrite& pending : writes_)
            if (pending.kind == Kind::SetSetting && pending.settingKey == write.settingKey) {
                pending.settingValue = write.settingValue;
                return false;
            }
        break;
    case Kind::DeleteConversation: {
        // A conversation whose insert is still pending never reached the disk: nothing to delete.
        bool neverSaved = false;
        const auto removed = std::remove_if(writes_.begin(), writes_.end(), [&](const StorageWrite& pending) {
            if (pending.conversationId() != conversationId) return false;
            neverSaved = neverSaved || pending.kind == Kind::InsertConversation;
            return true;
        });
        writes_.erase(removed, writes_.end());
        if (neverSaved) return false;
        break;
    }
    case Kind::DeleteMessagesFrom: // kept: an insert before it raised the conversation's updated_at
    case Kind::InsertConversation:
    case Kind::InsertMessage: break;
    }
    writes_.push_back(std::move(write));
    return true;
}

StorageBacklog PendingWrites::backlog(const QString& reason, const QString& detail) const {
    StorageBacklog out;
    if (writes_.empty()) return out;
    std::map<qint64, qint64> messages; // message id → its conversation
    std::set<qint64> conversations;
    for (const StorageWrite& write : writes_) {
        if (const qint64 id = write.savedMessageId()) messages[id] = write.message.conversationId;
        if (write.kind == Kind::DeleteMessagesFrom) // deleted messages are no longer shown
            std::erase_if(messages, [&](const auto& m) { return m.second == write.message.conversationId && m.first >= write.message.id; });
        if (const qint64 id = write.conversationId(); id != 0 && write.kind != Kind::DeleteConversation)
            conversations.insert(id);
    }
    out.writes = static_cast<int>(writes_.size());
    for (const auto& m : messages) out.messageIds << m.first;
    out.conversationIds = QList<qint64>(conversations.begin(), conversations.end());
    out.reason = reason;
    out.detail = detail;
    return out;
}

void PendingWrites::applyTo(qint64 conversationId, std::optional<ConversationRecord>& conversation,
                            std::vector<MessageRecord>& messages) const {
    const auto findMessage = [&](qint64 id) {
        return std::find_if(messages.begin(), messages.end(), [id](const MessageRecord& m) { return m.id == id; });
    };
    for (const StorageWrite& write : writes_) {
        if (write.conversationId() != conversationId) continue;
        switch (write.kind) {
        case Kind::InsertConversation: conversation = write.conversation; break;
        case Kind::UpdateConversation:
        case Kind::RenameConversation:
        case Kind::TouchConversation:
            if (conversation) applyConversationChange(*conversation, write);
            break;
        case Kind::DeleteConversation:
            conversation.reset();
            messages.clear();
            break;
        case Kind::InsertMessage:
            if (findMessage(write.message.id) == messages.end()) messages.push_back(write.message);
            if (conversation) conversation->updatedAt = std::max(conversation->updatedAt, write.message.createdAt);
            break;
        case Kind::UpdateMessage:
        case Kind::UpdateMessageText:
            if (const auto it = findMessage(write.message.id); it != messages.end()) applyMessageChange(*it, write);
            break;
        case Kind::DeleteMessagesFrom:
            messages.erase(std::remove_if(messages.begin(), messages.end(),
                                          [&](const MessageRecord& m) { return m.id >= write.message.id; }),
                           messages.end());
            break;
        case Kind::SetSetting: break;
        }
    }
    std::sort(messages.begin(), messages.end(), [](const MessageRecord& a, const MessageRecord& b) { return a.id < b.id; });
}

std::vector<ConversationSnapshot> PendingWrites::snapshots(const Database* db) const {
    std::vector<ConversationSnapshot> out;
    for (const qint64 id : backlog(QString(), QString()).conversationIds) {
        std::optional<ConversationRecord> conversation;
        std::vector<MessageRecord> messages;
        if (db) {
            try {
                conversation = db->conversation(id);
                messages = db->messages(id);
            } catch (const std::exception& error) {
                qWarning("storage: conversation %lld cannot be read for the unsaved copy (%s); its pending writes alone are used",
                         static_cast<long long>(id), error.what());
            }
        }
        applyTo(id, conversation, messages);
        if (conversation) out.push_back({std::move(*conversation), std::move(messages)});
    }
    return out;
}

QString PendingWrites::describe(int limit) const {
    QStringList parts;
    for (const StorageWrite& write : writes_) {
        if (parts.size() == limit) {
            parts << QStringLiteral("and %1 more").arg(writes_.size() - static_cast<std::size_t>(limit));
            break;
        }
        parts << write.description();
    }
    return parts.join(QStringLiteral("; "));
}
