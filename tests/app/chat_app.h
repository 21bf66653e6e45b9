// Test support shared by the app's controller suites: an AppController over FakeChatEngine in a
// temporary data dir, with the steps and reads the tests share.
#pragma once

#include "controllers/app_controller.h"
#include "inference/fake_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <sqlite3.h>

#include <memory>
#include <vector>

// FakeChatEngine reads no model file, but ModelController refuses a missing one.
inline QString makeModelFile(const QTemporaryDir& dir, const QString& name = QStringLiteral("model.gguf")) {
    const QString path = dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return {};
    file.write("GGUF not really");
    return path;
}

// An AppController over FakeChatEngine in a data dir of its own, with the steps and reads the
// tests share. Most tests begin with startWithModel(): storage ready and model.gguf loaded.
struct ChatApp {
    QTemporaryDir dir;
    QString dataDirOverride; // the data dir when set (a small file system), else dir
    std::unique_ptr<AppController> controller;

    QString dataDir() const { return dataDirOverride.isEmpty() ? dir.path() : dataDirOverride; }
    // Constructs the app (its storage opens on its own thread); `startModel` is --model.
    void create(const FakeChatEngine::Script& script = {}, const QString& startModel = {}) {
        controller = std::make_unique<AppController>(dataDir(), std::make_unique<FakeChatEngine>(script), startModel);
    }
    bool start(const FakeChatEngine::Script& script = {}, const QString& startModel = {}) {
        create(script, startModel);
        return QTest::qWaitFor([&] { return controller->ready(); }, 5000);
    }
    bool startWithModel(const FakeChatEngine::Script& script = {}) { return start(script) && loadModel(makeModelFile(dir)); }

    ChatController* chat() const { return controller->chat(); }
    ModelController* model() const { return controller->model(); }

    bool loadModel(const QString& path) const {
        model()->load(path);
        return QTest::qWaitFor([&] { return model()->loaded(); }, 5000);
    }
    bool waitIdle(int timeoutMs = 5000) const {
        return QTest::qWaitFor([&] { return !chat()->generating(); }, timeoutMs);
    }
    // One whole turn: sent, and the answer finished.
    bool sendAndWait(const QString& text) const { return chat()->send(text) && waitIdle(); }

    QVariant messageData(int row, int role) const {
        const MessageListModel* messages = chat()->messages();
        return messages->data(messages->index(row), role);
    }
    QString content(int row) const { return messageData(row, MessageListModel::ContentRole).toString(); }
    QString status(int row) const { return messageData(row, MessageListModel::StatusRole).toString(); }
    QString role(int row) const { return messageData(row, MessageListModel::RoleNameRole).toString(); }
    qint64 messageId(int row) const { return messageData(row, MessageListModel::MessageIdRole).toLongLong(); }

    QString dbPath() const { return QDir(dataDir()).filePath(QStringLiteral("latent.db")); }
    // latent.db once the storage thread has written everything queued, through a connection of
    // our own.
    Database flushedDatabase() const {
        controller->storage()->flush();
        return Database(dbPath());
    }
    std::vector<MessageRecord> storedMessages(qint64 conversationId) const {
        return flushedDatabase().messages(conversationId);
    }
};

// One message read with a read-only connection of our own: opening a Database would mark a
// streaming answer as interrupted, which is exactly what must not be disturbed here.
struct RawMessage {
    bool found = false;
    QString role, content, status;
};

inline RawMessage readRaw(const QString& path, qint64 id) {
    RawMessage out;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        return out;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT role, content, status FROM messages WHERE id = ?1", -1, &stmt, nullptr) ==
        SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, id);
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            const auto text = [&](int column) {
                return QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(stmt, column)));
            };
            out.found = true;
            out.role = text(0);
            out.content = text(1);
            out.status = text(2);
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}
