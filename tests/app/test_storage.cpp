// The chat-history database: schema and pragmas, records in and out, migration from schemas 1
// and 2 (document collections and sources added by 3),
// refusal of a newer file, FTS search with any user text, damaged files moved aside, answers
// left streaming marked interrupted, and crash safety: a child process (this executable run with
// --crash-child) streams an answer into the database and is killed with SIGKILL mid-way.
#include "storage/database.h"

#include "test_random.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

namespace {

// A plain sqlite3 connection for looking at (and tampering with) the file behind the
// Database's back; independent of the code under test.
class RawDb {
public:
    explicit RawDb(const QString& path) {
        if (sqlite3_open_v2(QFile::encodeName(path).constData(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
            const std::string message = "cannot open " + path.toStdString() + ": " + sqlite3_errmsg(db_);
            sqlite3_close(db_);
            throw std::runtime_error(message);
        }
    }
    ~RawDb() { sqlite3_close(db_); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;

    void exec(const QString& sql) {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql.toUtf8().constData(), nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = sql.toStdString() + ": " + (error ? error : "?");
            sqlite3_free(error);
            throw std::runtime_error(message);
        }
    }
    // Every row's first column, as text.
    QStringList column(const QString& sql, int index = 0) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_, sql.toUtf8().constData(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error(sql.toStdString() + ": " + sqlite3_errmsg(db_));
        QStringList values;
        int rc;
        while ((rc = sqlite3_step(statement)) == SQLITE_ROW)
            values << QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(statement, index)));
        sqlite3_finalize(statement);
        if (rc != SQLITE_DONE) throw std::runtime_error(sql.toStdString() + ": " + sqlite3_errmsg(db_));
        return values;
    }
    QString value(const QString& sql) {
        const QStringList values = column(sql);
        return values.isEmpty() ? QString() : values.first();
    }

private:
    sqlite3* db_ = nullptr;
};

QByteArray readFile(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return QByteArray();
    return file.readAll();
}

bool writeFile(const QString& path, const QByteArray& bytes) {
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(bytes) == bytes.size();
}

QByteArray randomBytes(qsizetype size, uint32_t seed) {
    latent::test::Random random(seed);
    QByteArray bytes(size, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random.byte());
    return bytes;
}

ConversationRecord conversationRecord(qint64 id, const QString& title, qint64 updatedAt) {
    ConversationRecord record;
    record.id = id;
    record.title = title;
    record.createdAt = 10;
    record.updatedAt = updatedAt;
    return record;
}

MessageRecord messageRecord(qint64 id, qint64 conversationId, MessageRole role, const QString& content,
                            const QString& reasoning = QString()) {
    MessageRecord record;
    record.id = id;
    record.conversationId = conversationId;
    record.role = role;
    record.content = content;
    record.reasoning = reasoning;
    record.createdAt = id; // before every conversation's updatedAt in these tests
    return record;
}

// Hits as "c<id>" (title) or "m<id>" (message), in the order returned.
QStringList hitNames(const std::vector<SearchHit>& hits) {
    QStringList names;
    for (const SearchHit& hit : hits)
        names << (hit.messageId == 0 ? QStringLiteral("c%1").arg(hit.conversationId) : QStringLiteral("m%1").arg(hit.messageId));
    return names;
}

QStringList columnsOf(RawDb& raw, const QString& table) {
    return raw.column(QStringLiteral("SELECT name FROM pragma_table_info('%1')").arg(table));
}

// ---- crash child ----

// The streamed answer grows by one chunk per commit; non-ASCII (and a surrogate pair) so that
// a torn UTF-8 write would show.
QString crashChunk(int index) { return QStringLiteral("chunk %1 — grüße 🙂 ").arg(index); }

constexpr qint64 kCrashAnswerId = 2;

int runCrashChild(const QString& path) {
    try {
        Database db(path);
        db.insertConversation(conversationRecord(1, QStringLiteral("Crash test"), 100));
        db.insertMessage(messageRecord(1, 1, MessageRole::User, QStringLiteral("Tell me a long story")));
        MessageRecord answer = messageRecord(kCrashAnswerId, 1, MessageRole::Assistant, QString());
        answer.status = MessageStatus::Streaming;
        db.insertMessage(answer);
        QString text;
        for (int i = 0; i < 200000; ++i) { // the parent kills it long before the end
            text += crashChunk(i);
            db.updateMessageText(kCrashAnswerId, text, QString(), MessageStatus::Streaming);
            std::printf("%lld\n", static_cast<long long>(text.size()));
            std::fflush(stdout);
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "crash child: %s\n", error.what());
        return 1;
    }
    return 0;
}

} // namespace

class TestStorage : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    QString path_;
    // The search cases share one fixture database, built on first use (it only reads).
    std::unique_ptr<QTemporaryDir> searchDir_;
    std::unique_ptr<Database> searchDb_;

    Database& searchFixture() {
        if (!searchDb_) {
            searchDir_ = std::make_unique<QTemporaryDir>();
            searchDb_ = std::make_unique<Database>(searchDir_->filePath(QStringLiteral("latent.db")));
            fillSearchFixture(*searchDb_);
        }
        return *searchDb_;
    }

    // Three conversations for the search cases (newest first: 1, 2, 3).
    void fillSearchFixture(Database& db) {
        db.insertConversation(conversationRecord(1, QStringLiteral("Holiday plans"), 3000));
        db.insertConversation(conversationRecord(2, QStringLiteral("Baking notes"), 2000));
        db.insertConversation(conversationRecord(3, QStringLiteral("Printer trouble"), 1000));
        db.insertMessage(messageRecord(1, 1, MessageRole::User, QStringLiteral("Where should we travel for the summer holiday?")));
        db.insertMessage(messageRecord(2, 1, MessageRole::Assistant, QStringLiteral("A beach holiday in Portugal is lovely."),
                                       QStringLiteral("The user wants sunny destinations.")));
        db.insertMessage(messageRecord(3, 2, MessageRole::User, QStringLiteral("How do I bake banana bread?")));
        db.insertMessage(messageRecord(4, 2, MessageRole::Assistant, QStringLiteral("Mash three ripe bananas, then mix with flour and bake.")));
        db.insertMessage(messageRecord(5, 2, MessageRole::User, QStringLiteral("Can I freeze the banana bread afterwards?")));
        db.insertMessage(messageRecord(6, 3, MessageRole::User, QStringLiteral("Großer Ärger mit dem Drucker")));
        db.insertMessage(messageRecord(7, 3, MessageRole::Assistant, QStringLiteral("我喜欢香蕉面包 — try turning it off and on again 🙂")));
    }

private slots:
    void cleanupTestCase() {
        searchDb_.reset();
        searchDir_.reset();
    }

    void init() {
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        path_ = dir_->filePath(QStringLiteral("latent.db"));
    }

    // ---- schema ----

    void newDatabaseHasPragmasAndVersion() {
        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QCOMPARE(report.foundVersion, 0);
        QVERIFY(report.backupPath.isEmpty());
        QVERIFY(report.damagedCopyPath.isEmpty());
        QCOMPARE(report.interruptedMessages, 0);
        QCOMPARE(report.nextConversationId, 1);
        QCOMPARE(report.nextMessageId, 1);
        QCOMPARE(db.pragma(QStringLiteral("journal_mode")), QStringLiteral("wal"));
        QCOMPARE(db.pragma(QStringLiteral("synchronous")), QStringLiteral("2"));
        QCOMPARE(db.pragma(QStringLiteral("foreign_keys")), QStringLiteral("1"));
        QCOMPARE(db.pragma(QStringLiteral("user_version")), QStringLiteral("3"));
        QVERIFY_THROWS_EXCEPTION(StorageError, db.pragma(QStringLiteral("user_version; DROP TABLE messages")));
        RawDb raw(path_);
        QCOMPARE(raw.value(QStringLiteral("PRAGMA user_version")), QStringLiteral("3"));
        QCOMPARE(raw.value(QStringLiteral("PRAGMA journal_mode")), QStringLiteral("wal")); // stored in the file
    }

    void schemaColumns_data() {
        QTest::addColumn<QString>("table");
        QTest::addColumn<QStringList>("columns");
        QTest::newRow("conversations") << "conversations"
                                       << QStringList{"id", "title", "created_at", "updated_at", "model", "system_prompt", "settings",
                                                     "collections"};
        QTest::newRow("messages") << "messages"
                                  << QStringList{"id", "conversation_id", "role", "content", "reasoning", "status",
                                                 "created_at", "model", "prompt_tokens", "generated_tokens",
                                                 "generation_tokens_per_second", "stop_reason", "error_text",
                                                 "time_to_first_token_ms", "prompt_tokens_per_second", "sources"};
        QTest::newRow("settings") << "settings" << QStringList{"key", "value"};
        QTest::newRow("message_fts") << "message_fts" << QStringList{"content", "reasoning"};
        QTest::newRow("conversation_fts") << "conversation_fts" << QStringList{"title"};
    }
    void schemaColumns() {
        QFETCH(QString, table);
        QFETCH(QStringList, columns);
        { Database db(path_); }
        RawDb raw(path_);
        QCOMPARE(columnsOf(raw, table), columns);
    }

    void foreignKeysAreEnforced() {
        Database db(path_);
        QVERIFY_THROWS_EXCEPTION(StorageError, db.insertMessage(messageRecord(1, 99, MessageRole::User, QStringLiteral("orphan"))));
        QVERIFY(db.messages(99).empty());
    }

    // ---- records ----

    void conversationsRoundTripNewestFirst() {
        Database db(path_);
        ConversationRecord full;
        full.id = 7;
        full.title = QStringLiteral("Ünïcode title ✓");
        full.createdAt = 1'700'000'000'000;
        full.updatedAt = 1'700'000'000'500;
        full.model = QStringLiteral("deepseek-v2-lite.Q4_K.gguf");
        full.systemPrompt = QStringLiteral("You are terse.");
        full.settings = QStringLiteral(R"({"temperature":0.7})");
        db.insertConversation(full);
        db.insertConversation(conversationRecord(3, QStringLiteral("older"), 5));
        db.insertConversation(conversationRecord(9, QStringLiteral("middle"), 1'700'000'000'000));

        const auto all = db.conversations();
        QCOMPARE(all.size(), 3u);
        QCOMPARE(all[0].id, 7);
        QCOMPARE(all[1].id, 9);
        QCOMPARE(all[2].id, 3);
        const auto read = db.conversation(7);
        QVERIFY(read);
        QCOMPARE(read->title, full.title);
        QCOMPARE(read->createdAt, full.createdAt);
        QCOMPARE(read->updatedAt, full.updatedAt);
        QCOMPARE(read->model, full.model);
        QCOMPARE(read->systemPrompt, full.systemPrompt);
        QCOMPARE(read->settings, full.settings);
        QVERIFY(!db.conversation(8));

        QVERIFY_THROWS_EXCEPTION(StorageError, db.insertConversation(conversationRecord(7, QStringLiteral("duplicate"), 1)));
        QCOMPARE(db.conversation(7)->title, full.title);

        db.touchConversation(3, 1'800'000'000'000);
        QCOMPARE(db.conversations().front().id, 3);

        db.renameConversation(9, QStringLiteral("renamed"));
        QCOMPARE(db.conversation(9)->title, QStringLiteral("renamed"));

        ConversationRecord changed = full;
        changed.title = QStringLiteral("new title");
        changed.createdAt = 1; // not updated
        changed.updatedAt = 1'900'000'000'000;
        changed.model = QStringLiteral("other.gguf");
        changed.systemPrompt = QStringLiteral("Be verbose.");
        changed.settings = QStringLiteral("{}");
        db.updateConversation(changed);
        const auto updated = db.conversation(7);
        QCOMPARE(updated->title, changed.title);
        QCOMPARE(updated->createdAt, full.createdAt);
        QCOMPARE(updated->updatedAt, changed.updatedAt);
        QCOMPARE(updated->model, changed.model);
        QCOMPARE(updated->systemPrompt, changed.systemPrompt);
        QCOMPARE(updated->settings, changed.settings);

        // Rows that are gone: nothing changes, nothing throws.
        db.renameConversation(1234, QStringLiteral("ghost"));
        db.deleteConversation(1234);
        QCOMPARE(db.conversations().size(), 3u);
    }

    void messagesRoundTrip() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
        MessageRecord full;
        full.id = 5;
        full.conversationId = 1;
        full.role = MessageRole::Assistant;
        full.content = QStringLiteral("The answer is 42. 🙂");
        full.reasoning = QStringLiteral("<think>compute</think>");
        full.status = MessageStatus::Error;
        full.stopReason = QStringLiteral("error");
        full.errorText = QStringLiteral("out of memory");
        full.createdAt = 500;
        full.model = QStringLiteral("m.gguf");
        full.promptTokens = 123;
        full.generatedTokens = 45;
        full.timeToFirstTokenMs = 87.5;
        full.promptTokensPerSecond = 640.25;
        full.generationTokensPerSecond = 31.5;
        db.insertMessage(full);
        db.insertMessage(messageRecord(2, 1, MessageRole::User, QStringLiteral("question"))); // lower id: listed first
        MessageRecord system = messageRecord(9, 1, MessageRole::System, QStringLiteral("be nice"));
        db.insertMessage(system);

        const auto all = db.messages(1);
        QCOMPARE(all.size(), 3u);
        QCOMPARE(all[0].id, 2);
        QCOMPARE(all[1].id, 5);
        QCOMPARE(all[2].id, 9);
        QCOMPARE(all[2].role, MessageRole::System);
        const MessageRecord& read = all[1];
        QCOMPARE(read.conversationId, 1);
        QCOMPARE(read.role, full.role);
        QCOMPARE(read.content, full.content);
        QCOMPARE(read.reasoning, full.reasoning);
        QCOMPARE(read.status, full.status);
        QCOMPARE(read.stopReason, full.stopReason);
        QCOMPARE(read.errorText, full.errorText);
        QCOMPARE(read.createdAt, full.createdAt);
        QCOMPARE(read.model, full.model);
        QCOMPARE(read.promptTokens, full.promptTokens);
        QCOMPARE(read.generatedTokens, full.generatedTokens);
        QCOMPARE(read.timeToFirstTokenMs, full.timeToFirstTokenMs);
        QCOMPARE(read.promptTokensPerSecond, full.promptTokensPerSecond);
        QCOMPARE(read.generationTokensPerSecond, full.generationTokensPerSecond);
        QVERIFY_THROWS_EXCEPTION(StorageError, db.insertMessage(full)); // duplicate id
    }

    void insertMessageTouchesConversationWhenLater() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
        MessageRecord earlier = messageRecord(1, 1, MessageRole::User, QStringLiteral("a"));
        earlier.createdAt = 900;
        db.insertMessage(earlier);
        QCOMPARE(db.conversation(1)->updatedAt, 1000);
        MessageRecord later = messageRecord(2, 1, MessageRole::User, QStringLiteral("b"));
        later.createdAt = 1500;
        db.insertMessage(later);
        QCOMPARE(db.conversation(1)->updatedAt, 1500);
    }

    void updateMessageAndText() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
        MessageRecord answer = messageRecord(1, 1, MessageRole::Assistant, QString());
        answer.status = MessageStatus::Streaming;
        db.insertMessage(answer);

        db.updateMessageText(1, QStringLiteral("partial"), QStringLiteral("thinking"), MessageStatus::Streaming);
        auto read = db.messages(1).at(0);
        QCOMPARE(read.content, QStringLiteral("partial"));
        QCOMPARE(read.reasoning, QStringLiteral("thinking"));
        QCOMPARE(read.status, MessageStatus::Streaming);
        QCOMPARE(read.promptTokens, 0);

        MessageRecord final = answer;
        final.conversationId = 77; // not updated
        final.createdAt = 99'999;  // not updated
        final.content = QStringLiteral("final text");
        final.reasoning = QString();
        final.status = MessageStatus::Stopped;
        final.stopReason = QStringLiteral("cancelled");
        final.model = QStringLiteral("x.gguf");
        final.promptTokens = 10;
        final.generatedTokens = 20;
        final.timeToFirstTokenMs = 1.5;
        final.promptTokensPerSecond = 2.5;
        final.generationTokensPerSecond = 3.5;
        db.updateMessage(final);
        read = db.messages(1).at(0);
        QCOMPARE(read.conversationId, 1);
        QCOMPARE(read.createdAt, answer.createdAt);
        QCOMPARE(read.content, final.content);
        QCOMPARE(read.reasoning, QString());
        QCOMPARE(read.status, MessageStatus::Stopped);
        QCOMPARE(read.stopReason, final.stopReason);
        QCOMPARE(read.model, final.model);
        QCOMPARE(read.promptTokens, 10);
        QCOMPARE(read.generatedTokens, 20);
        QCOMPARE(read.timeToFirstTokenMs, 1.5);
        QCOMPARE(read.promptTokensPerSecond, 2.5);
        QCOMPARE(read.generationTokensPerSecond, 3.5);
        // The index follows the text: the streamed words are gone, the final ones found.
        QVERIFY(db.search(QStringLiteral("partial")).empty());
        QVERIFY(db.search(QStringLiteral("thinking")).empty());
        QCOMPARE(hitNames(db.search(QStringLiteral("final"))), QStringList{"m1"});
        db.updateMessageText(42, QStringLiteral("nobody"), QString(), MessageStatus::Complete); // no such row: no-op
        QVERIFY(db.search(QStringLiteral("nobody")).empty());
    }

    void deleteMessagesFrom() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("one"), 2000));
        db.insertConversation(conversationRecord(2, QStringLiteral("two"), 1000));
        for (qint64 id = 1; id <= 6; ++id)
            db.insertMessage(messageRecord(id, id <= 4 ? 1 : 2, MessageRole::User, QStringLiteral("word%1 shared").arg(id)));
        db.deleteMessagesFrom(1, 3);
        QList<qint64> left;
        for (const auto& m : db.messages(1)) left << m.id;
        QCOMPARE(left, (QList<qint64>{1, 2}));
        QCOMPARE(db.messages(2).size(), 2u); // another conversation's later ids stay
        QVERIFY(db.search(QStringLiteral("word3")).empty());
        QCOMPARE(hitNames(db.search(QStringLiteral("shared"))), (QStringList{"m1", "m2", "m5", "m6"}));
    }

    void deleteConversationCascades() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("Keep me"), 1000));
        db.insertConversation(conversationRecord(2, QStringLiteral("Drop me"), 2000));
        db.insertMessage(messageRecord(1, 1, MessageRole::User, QStringLiteral("kept zebra")));
        db.insertMessage(messageRecord(2, 2, MessageRole::User, QStringLiteral("dropped zebra")));
        db.insertMessage(messageRecord(3, 2, MessageRole::Assistant, QStringLiteral("dropped giraffe")));
        QCOMPARE(hitNames(db.search(QStringLiteral("zebra"))), (QStringList{"m2", "m1"}));

        db.deleteConversation(2);
        QVERIFY(!db.conversation(2));
        QVERIFY(db.messages(2).empty());
        QCOMPARE(hitNames(db.search(QStringLiteral("zebra"))), QStringList{"m1"});
        QVERIFY(db.search(QStringLiteral("giraffe")).empty());
        QVERIFY(db.search(QStringLiteral("drop")).empty());
        RawDb raw(path_);
        QCOMPARE(raw.value(QStringLiteral("SELECT count(*) FROM messages WHERE conversation_id = 2")), QStringLiteral("0"));
        // The index agrees with its content table.
        raw.exec(QStringLiteral("INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"));
        raw.exec(QStringLiteral("INSERT INTO conversation_fts(conversation_fts, rank) VALUES ('integrity-check', 1)"));
    }

    void renameUpdatesTitleSearch() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("Holiday plans"), 1000));
        QCOMPARE(hitNames(db.search(QStringLiteral("holiday"))), QStringList{"c1"});
        db.renameConversation(1, QStringLiteral("Budget review"));
        QVERIFY(db.search(QStringLiteral("holiday")).empty());
        const auto hits = db.search(QStringLiteral("budget"));
        QCOMPARE(hitNames(hits), QStringList{"c1"});
        QCOMPARE(hits[0].title, QStringLiteral("Budget review"));
        QCOMPARE(hits[0].snippet, QStringLiteral("[Budget] review"));
        QCOMPARE(hits[0].updatedAt, 1000);
    }

    void nextIdsContinueAfterStoredOnes() {
        {
            Database db(path_);
            db.insertConversation(conversationRecord(4, QStringLiteral("a"), 1));
            db.insertConversation(conversationRecord(11, QStringLiteral("b"), 1));
            db.insertMessage(messageRecord(30, 4, MessageRole::User, QStringLiteral("x")));
        }
        Database db(path_);
        QCOMPARE(db.openReport().foundVersion, Database::kSchemaVersion);
        QCOMPARE(db.openReport().nextConversationId, 12);
        QCOMPARE(db.openReport().nextMessageId, 31);
    }

    // ---- migration and versions ----

    void migrationFromVersion1() {
        Database::createAtVersion(path_, 1);
        {
            RawDb raw(path_);
            QCOMPARE(raw.value(QStringLiteral("PRAGMA user_version")), QStringLiteral("1"));
            raw.exec(QStringLiteral(
                "INSERT INTO conversations (id, title, created_at, updated_at, model, system_prompt, settings) "
                "VALUES (1, 'Quantum gardening', 100, 900, 'old.gguf', 'Be brief.', '{\"top_k\":40}');"
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                "VALUES (1, 1, 'user', 'How do tomatoes entangle?', 'complete', 200);"
                "INSERT INTO messages (id, conversation_id, role, content, reasoning, status, created_at, model, "
                "prompt_tokens, generated_tokens, tokens_per_second) "
                "VALUES (2, 1, 'assistant', 'Photosynthesis, mostly.', 'hmm', 'complete', 300, 'old.gguf', 12, 34, 12.5);"
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                "VALUES (3, 1, 'assistant', 'Half an answ', 'streaming', 400);"
                "INSERT INTO settings (key, value) VALUES ('theme', '[\"dark\"]');"));
        }
        const QByteArray version1Bytes = readFile(path_);

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QCOMPARE(report.foundVersion, 1);
        QCOMPARE(report.backupPath, path_ + QStringLiteral(".v1.bak"));
        QVERIFY(report.damagedCopyPath.isEmpty());
        QCOMPARE(report.interruptedMessages, 1);
        QCOMPARE(report.nextConversationId, 2);
        QCOMPARE(report.nextMessageId, 4);
        QCOMPARE(db.pragma(QStringLiteral("user_version")), QString::number(Database::kSchemaVersion));

        const auto conversation = db.conversation(1);
        QVERIFY(conversation);
        QCOMPARE(conversation->title, QStringLiteral("Quantum gardening"));
        QCOMPARE(conversation->updatedAt, 900);
        QCOMPARE(conversation->systemPrompt, QStringLiteral("Be brief."));
        QCOMPARE(conversation->settings, QStringLiteral("{\"top_k\":40}"));
        const auto messages = db.messages(1);
        QCOMPARE(messages.size(), 3u);
        QCOMPARE(messages[0].content, QStringLiteral("How do tomatoes entangle?"));
        QCOMPARE(messages[1].content, QStringLiteral("Photosynthesis, mostly."));
        QCOMPARE(messages[1].reasoning, QStringLiteral("hmm"));
        QCOMPARE(messages[1].promptTokens, 12);
        QCOMPARE(messages[1].generatedTokens, 34);
        QCOMPARE(messages[1].generationTokensPerSecond, 12.5);
        QCOMPARE(messages[1].stopReason, QString());   // new columns: defaults
        QCOMPARE(messages[1].errorText, QString());
        QCOMPARE(messages[1].timeToFirstTokenMs, 0.0);
        QCOMPARE(messages[1].promptTokensPerSecond, 0.0);
        QCOMPARE(messages[2].status, MessageStatus::Stopped);
        QCOMPARE(messages[2].stopReason, QStringLiteral("interrupted"));
        QCOMPARE(db.settings().value(QStringLiteral("theme")).toString(), QStringLiteral("dark"));

        // Migrated text is searchable, titles too.
        QCOMPARE(hitNames(db.search(QStringLiteral("tomato"))), QStringList{"m1"});
        QCOMPARE(hitNames(db.search(QStringLiteral("quantum"))), QStringList{"c1"});
        QCOMPARE(hitNames(db.search(QStringLiteral("photosynthesis"))), QStringList{"m2"});

        // The backup is the version-1 file as it was found.
        QVERIFY(QFile::exists(report.backupPath));
        {
            RawDb backup(report.backupPath);
            QCOMPARE(backup.value(QStringLiteral("PRAGMA quick_check")), QStringLiteral("ok"));
            QCOMPARE(backup.value(QStringLiteral("PRAGMA user_version")), QStringLiteral("1"));
            QCOMPARE(backup.column(QStringLiteral("SELECT content FROM messages ORDER BY id")),
                     (QStringList{"How do tomatoes entangle?", "Photosynthesis, mostly.", "Half an answ"}));
            QCOMPARE(backup.value(QStringLiteral("SELECT status FROM messages WHERE id = 3")), QStringLiteral("streaming"));
            QVERIFY(columnsOf(backup, QStringLiteral("messages")).contains(QStringLiteral("tokens_per_second")));
            QVERIFY(!columnsOf(backup, QStringLiteral("messages")).contains(QStringLiteral("stop_reason")));
        }
        QVERIFY(!version1Bytes.isEmpty());

        // Writes after the migration keep the index in step.
        db.insertMessage(messageRecord(4, 1, MessageRole::User, QStringLiteral("And cucumbers?")));
        QCOMPARE(hitNames(db.search(QStringLiteral("cucumber"))), QStringList{"m4"});
    }

    void migrationFromVersion2KeepsDataAndAddsDocumentColumns() {
        Database::createAtVersion(path_, 2);
        {
            RawDb raw(path_);
            QCOMPARE(raw.value(QStringLiteral("PRAGMA user_version")), QStringLiteral("2"));
            raw.exec(QStringLiteral(
                "INSERT INTO conversations (id, title, created_at, updated_at, model, system_prompt, settings) "
                "VALUES (4, 'Fan noise', 100, 900, 'm.gguf', 'Be brief.', '{}');"
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                "VALUES (7, 4, 'user', 'Why is the fan loud?', 'complete', 200);"
                "INSERT INTO messages (id, conversation_id, role, content, reasoning, status, stop_reason, created_at, "
                "generated_tokens, generation_tokens_per_second) "
                "VALUES (8, 4, 'assistant', 'Dust, mostly.', 'hmm', 'complete', 'end_of_turn', 300, 5, 9.5);"
                "INSERT INTO settings (key, value) VALUES ('theme', '[\"dark\"]');"));
        }
        {
            Database db(path_);
            QCOMPARE(db.openReport().foundVersion, 2);
            QCOMPARE(db.openReport().backupPath, path_ + QStringLiteral(".v2.bak"));
            QCOMPARE(db.pragma(QStringLiteral("user_version")), QStringLiteral("3"));
            const auto conversation = db.conversation(4);
            QVERIFY(conversation);
            QCOMPARE(conversation->title, QStringLiteral("Fan noise"));
            QCOMPARE(conversation->systemPrompt, QStringLiteral("Be brief."));
            QCOMPARE(conversation->collections, QStringList()); // the new column's default: none
            const auto messages = db.messages(4);
            QCOMPARE(messages.size(), 2u);
            QCOMPARE(messages[1].content, QStringLiteral("Dust, mostly."));
            QCOMPARE(messages[1].reasoning, QStringLiteral("hmm"));
            QCOMPARE(messages[1].stopReason, QStringLiteral("end_of_turn"));
            QCOMPARE(messages[1].generatedTokens, 5);
            QCOMPARE(messages[1].generationTokensPerSecond, 9.5);
            QVERIFY(messages[1].sources.isEmpty());
            QCOMPARE(db.settings().value(QStringLiteral("theme")).toString(), QStringLiteral("dark"));
            QCOMPARE(hitNames(db.search(QStringLiteral("dust"))), QStringList{"m8"});

            // The migrated file takes collections and sources, and they come back as written.
            ConversationRecord updated = *conversation;
            updated.collections = QStringList{"Manuals", "Notes"};
            db.updateConversation(updated);
            MessageRecord answer = messages[1];
            answer.sources = {SourceRecord{QStringLiteral("/docs/fan.pdf"), 2, 10, 52, QStringLiteral("Clean the filter.")}};
            db.updateMessage(answer);
        }
        RawDb raw(path_);
        QCOMPARE(raw.value(QStringLiteral("SELECT collections FROM conversations WHERE id = 4")), QStringLiteral("[\"Manuals\",\"Notes\"]"));
        Database db(path_);
        QCOMPARE(db.openReport().foundVersion, 3);
        QVERIFY(db.openReport().backupPath.isEmpty());
        QCOMPARE(db.conversation(4)->collections, (QStringList{"Manuals", "Notes"}));
        QCOMPARE(db.messages(4)[1].sources.size(), 1);
        QCOMPARE(db.messages(4)[1].sources[0],
                 (SourceRecord{QStringLiteral("/docs/fan.pdf"), 2, 10, 52, QStringLiteral("Clean the filter.")}));
        // The version-2 backup is the file as it was found.
        RawDb backup(path_ + QStringLiteral(".v2.bak"));
        QCOMPARE(backup.value(QStringLiteral("PRAGMA user_version")), QStringLiteral("2"));
        QVERIFY(!columnsOf(backup, QStringLiteral("messages")).contains(QStringLiteral("sources")));
        QCOMPARE(backup.value(QStringLiteral("SELECT content FROM messages WHERE id = 8")), QStringLiteral("Dust, mostly."));
    }

    void sourcesAndCollectionsRoundTrip() {
        Database db(path_);
        ConversationRecord conversation = conversationRecord(1, QStringLiteral("Docs"), 100);
        conversation.collections = QStringList{QStringLiteral("Work \"papers\""), QStringLiteral("Ünïcode")};
        db.insertConversation(conversation);
        MessageRecord answer = messageRecord(2, 1, MessageRole::Assistant, QStringLiteral("See [1] and [2]."));
        answer.sources = {SourceRecord{QStringLiteral("/a/b c.pdf"), 3, 100, 180, QStringLiteral("line one\nline \"two\" </source>")},
                          SourceRecord{QStringLiteral("/a/notes.md"), 0, 0, 12, QStringLiteral("𝄞 twelve ok")}};
        db.insertMessage(answer);
        QCOMPARE(db.conversation(1)->collections, conversation.collections);
        QCOMPARE(db.messages(1)[0].sources, answer.sources);
        answer.sources.removeLast();
        db.updateMessage(answer);
        QCOMPARE(db.messages(1)[0].sources, answer.sources);
    }

    void malformedSourcesAndCollectionsReadAsNone() {
        Database db(path_);
        db.insertConversation(conversationRecord(1, QStringLiteral("Docs"), 100));
        db.insertMessage(messageRecord(2, 1, MessageRole::Assistant, QStringLiteral("answer")));
        db.insertMessage(messageRecord(3, 1, MessageRole::Assistant, QStringLiteral("answer")));
        {
            RawDb raw(path_);
            raw.exec(QStringLiteral(
                "UPDATE conversations SET collections = '{not json' WHERE id = 1;"
                "UPDATE messages SET sources = '[{\"path\": 5}, \"x\", {\"path\": \"/ok.md\", \"start\": 4, \"end\": 2}, "
                "{\"path\": \"/ok.md\", \"start\": 1, \"end\": 3, \"text\": \"ab\"}]' WHERE id = 2;"
                "UPDATE messages SET sources = 42 WHERE id = 3;"));
        }
        QCOMPARE(db.conversation(1)->collections, QStringList());
        const auto messages = db.messages(1);
        QCOMPARE(messages[0].sources.size(), 1); // only the well-formed one
        QCOMPARE(messages[0].sources[0].path, QStringLiteral("/ok.md"));
        QCOMPARE(messages[0].sources[0].text, QStringLiteral("ab"));
        QVERIFY(messages[1].sources.isEmpty());
    }

    void secondMigrationKeepsFirstBackup() {
        Database::createAtVersion(path_, 1);
        const QString firstBackup = path_ + QStringLiteral(".v1.bak");
        QVERIFY(writeFile(firstBackup, "an older backup"));
        Database db(path_);
        QCOMPARE(db.openReport().backupPath, path_ + QStringLiteral(".v1.2.bak"));
        QCOMPARE(readFile(firstBackup), QByteArray("an older backup"));
        QVERIFY(QFile::exists(db.openReport().backupPath));
    }

    void createAtVersionChecksItsArguments() {
        QVERIFY_THROWS_EXCEPTION(StorageError, Database::createAtVersion(path_, 0));
        QVERIFY_THROWS_EXCEPTION(StorageError, Database::createAtVersion(path_, Database::kSchemaVersion + 1));
        Database::createAtVersion(path_, 2);
        QVERIFY_THROWS_EXCEPTION(StorageError, Database::createAtVersion(path_, 2)); // not a new file
    }

    void newerVersionIsRefusedUntouched() {
        Database::createAtVersion(path_, 3);
        {
            RawDb raw(path_);
            raw.exec(QStringLiteral("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 'future', 1, 1);"
                                    "PRAGMA user_version = 4;"));
        }
        const QByteArray before = readFile(path_);
        QVERIFY(!before.isEmpty());
        try {
            Database db(path_);
            QFAIL("a database from a newer version was opened");
        } catch (const StorageError& error) {
            QCOMPARE(QString::fromUtf8(error.what()),
                     QStringLiteral("latent.db was written by a newer Latent Chat (schema 4); this version understands 3"));
        }
        QCOMPARE(readFile(path_), before);
        QCOMPARE(QDir(dir_->path()).entryList(QDir::Files), QStringList{"latent.db"});
    }

    void unreachablePathIsReadOnlyNotDamage() {
        // A folder that cannot be created: an empty history that saves nothing, and says why.
        const QString blocker = dir_->filePath(QStringLiteral("a-file"));
        QVERIFY(writeFile(blocker, "not a folder"));
        {
            Database db(blocker + QStringLiteral("/latent.db"));
            QVERIFY(db.readOnly());
            QVERIFY2(db.openReport().readOnlyReason.contains(QStringLiteral("cannot be created")),
                     qPrintable(db.openReport().readOnlyReason));
            QVERIFY(db.conversations().empty());
            QVERIFY_THROWS_EXCEPTION(StorageError, db.insertConversation(conversationRecord(1, QStringLiteral("x"), 1)));
        }
        QCOMPARE(readFile(blocker), QByteArray("not a folder"));
        QCOMPARE(QDir(dir_->path()).entryList(QDir::Files), QStringList{"a-file"});
    }

    // ---- search ----

    void search_data() {
        QTest::addColumn<QString>("query");
        QTest::addColumn<QStringList>("expected");
        const QStringList bananas{"m3", "m4", "m5"};
        QTest::newRow("word") << "banana" << bananas;
        QTest::newRow("prefix") << "banan" << bananas;
        QTest::newRow("upper case") << "BANANA" << bananas;
        QTest::newRow("two words: AND") << "banana bread" << QStringList{"m3", "m5"};
        QTest::newRow("two words, other order") << "bread banana" << QStringList{"m3", "m5"};
        QTest::newRow("title and messages") << "holiday" << QStringList{"c1", "m1", "m2"};
        QTest::newRow("title hit first in its conversation") << "ba" << QStringList{"c2", "m3", "m4", "m5"};
        QTest::newRow("title only") << "printer" << QStringList{"c3"};
        QTest::newRow("reasoning") << "sunny" << QStringList{"m2"};
        QTest::newRow("one hit per message") << "the" << QStringList{"m1", "m2", "m4", "m5"};
        QTest::newRow("umlaut") << "ärger" << QStringList{"m6"};
        QTest::newRow("umlaut, capital") << "ÄRGER" << QStringList{"m6"};
        QTest::newRow("diacritics folded") << "arger" << QStringList{"m6"};
        QTest::newRow("sharp s") << "großer" << QStringList{"m6"};
        QTest::newRow("CJK") << "我喜欢" << QStringList{"m7"};
        QTest::newRow("no match") << "submarine" << QStringList{};
        QTest::newRow("empty") << "" << QStringList{};
        QTest::newRow("spaces") << "   \t\n" << QStringList{};
        QTest::newRow("quote") << "\"" << QStringList{};
        QTest::newRow("star") << "*" << QStringList{};
        QTest::newRow("caret") << "^" << QStringList{};
        QTest::newRow("colon") << ":" << QStringList{};
        QTest::newRow("emoji only") << "🙂" << QStringList{};
        QTest::newRow("punctuation only") << "-(){}[]<>!?.,;'\\/+=&|~`@#$%" << QStringList{};
        QTest::newRow("NEAR(") << "NEAR(" << QStringList{};
        QTest::newRow("NEAR(...) is words") << "NEAR(banana bread)" << QStringList{};
        QTest::newRow("AND OR NOT are words") << "AND OR NOT" << QStringList{};
        QTest::newRow("OR is a word") << "bread OR holiday" << QStringList{};
        QTest::newRow("minus is no NOT") << "banana -bread" << QStringList{"m3", "m5"};
        QTest::newRow("-x") << "-x" << QStringList{};
        QTest::newRow("column filter is words") << "title:printer" << QStringList{};
        QTest::newRow("open quote") << "\"banana" << bananas;
        QTest::newRow("close quote") << "banana\"" << bananas;
        QTest::newRow("inner quote") << "ban\"ana" << QStringList{};
        QTest::newRow("star suffix") << "banana*" << bananas;
        QTest::newRow("parentheses") << "(banana)" << bananas;
        QTest::newRow("caret prefix") << "^banana" << bananas;
        QTest::newRow("emoji glued to a word") << "banana🙂" << bananas;
        QTest::newRow("unbalanced syntax") << "\"banana AND (bread OR" << QStringList{};
    }
    void search() {
        QFETCH(QString, query);
        QFETCH(QStringList, expected);
        QCOMPARE(hitNames(searchFixture().search(query)), expected);
    }

    void searchNeverThrows_data() {
        QTest::addColumn<QString>("query");
        latent::test::Random random(7);
        for (int i = 0; i < 40; ++i) {
            // Random code points from ASCII punctuation to astral planes, lone surrogates included.
            QString text;
            for (int n = 0; n < 12; ++n) {
                const uint32_t pick = random.bits() % 4;
                const char32_t cp = pick == 0   ? char32_t(0x20 + random.bits() % 0x5f)
                                    : pick == 1 ? char32_t(0xa0 + random.bits() % 0x3000)
                                    : pick == 2 ? char32_t(0x1f300 + random.bits() % 0x300)
                                                : char32_t(random.bits() % 0x110000);
                if (cp >= 0xd800 && cp < 0xe000) text += QChar(static_cast<char16_t>(cp));
                else text += QString::fromUcs4(&cp, 1);
            }
            QTest::addRow("random %d", i) << text;
        }
        QString longQuery;
        for (int i = 0; i < 2000; ++i) longQuery += QStringLiteral("w%1 ").arg(i);
        QTest::newRow("2000 words") << longQuery;
        QTest::newRow("one long word") << QString(100'000, QLatin1Char('a'));
        QTest::newRow("nul") << QString(QChar(0)) + QStringLiteral("banana");
        QTest::newRow("combining mark first") << QString::fromUtf8("\xcc\x81" "banana");
    }
    void searchNeverThrows() {
        QFETCH(QString, query);
        const auto hits = searchFixture().search(query, 5);
        QVERIFY(hits.size() <= 5);
    }

    void searchSnippets() {
        Database db(path_);
        fillSearchFixture(db);
        auto hits = db.search(QStringLiteral("portugal"));
        QCOMPARE(hits.size(), 1u);
        QCOMPARE(hits[0].snippet, QStringLiteral("A beach holiday in [Portugal] is lovely."));
        QCOMPARE(hits[0].title, QStringLiteral("Holiday plans"));
        QCOMPARE(hits[0].updatedAt, 3000);
        QCOMPARE(hits[0].conversationId, 1);
        QCOMPARE(hits[0].messageId, 2);
        hits = db.search(QStringLiteral("sunny"));
        QCOMPARE(hits.size(), 1u);
        QCOMPARE(hits[0].snippet, QStringLiteral("The user wants [sunny] destinations."));

        QStringList words;
        for (int i = 0; i < 200; ++i) words << QStringLiteral("filler%1").arg(i);
        words[100] = QStringLiteral("needle");
        db.insertMessage(messageRecord(50, 3, MessageRole::User, words.join(QLatin1Char(' '))));
        hits = db.search(QStringLiteral("needle"));
        QCOMPARE(hits.size(), 1u);
        const QString snippet = hits[0].snippet;
        QVERIFY2(snippet.startsWith(QStringLiteral("…")) && snippet.endsWith(QStringLiteral("…")), qPrintable(snippet));
        QVERIFY2(snippet.contains(QStringLiteral("[needle]")), qPrintable(snippet));
        QVERIFY2(snippet.split(QLatin1Char(' ')).size() <= 13, qPrintable(snippet));
    }

    void searchLimitAndOrder() {
        Database db(path_);
        // Conversation k is updated at 1000 * k; ids are shuffled against that order.
        const qint64 conversationIds[] = {2, 3, 1};
        qint64 messageId = 1;
        for (int k = 0; k < 3; ++k) {
            db.insertConversation(conversationRecord(conversationIds[k], QStringLiteral("apple talk %1").arg(k), 1000 * (k + 1)));
            for (int i = 0; i < 5; ++i)
                db.insertMessage(messageRecord(messageId++, conversationIds[k], MessageRole::User, QStringLiteral("apple pie %1").arg(i)));
        }
        // Newest conversation (id 1, messages 11..15) first, its title before its messages.
        const QStringList all{"c1", "m11", "m12", "m13", "m14", "m15", "c3", "m6", "m7", "m8", "m9", "m10",
                              "c2", "m1", "m2", "m3", "m4", "m5"};
        QCOMPARE(hitNames(db.search(QStringLiteral("apple"))), all);
        QCOMPARE(hitNames(db.search(QStringLiteral("apple"), 7)), all.mid(0, 7));
        QCOMPARE(hitNames(db.search(QStringLiteral("apple"), 1)), all.mid(0, 1));
        QVERIFY(db.search(QStringLiteral("apple"), 0).empty());
        QVERIFY(db.search(QStringLiteral("apple"), -3).empty());
    }

    // ---- untrusted contents ----

    void unknownRoleAndStatus() {
        // Rows that break the CHECK constraints are bad values, not a damaged file: they are
        // reported when read and the database stays in use.
        {
            Database db(path_);
            db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
            db.insertMessage(messageRecord(1, 1, MessageRole::User, QStringLiteral("fine")));
        }
        {
            RawDb raw(path_);
            raw.exec(QStringLiteral("PRAGMA ignore_check_constraints = ON;"
                                    "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                                    "VALUES (2, 1, 'wizard', 'abracadabra', 'complete', 2);"
                                    "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                                    "VALUES (3, 1, 'assistant', 'hmm', 'pondering', 3);"));
        }
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("CHECK constraint failed in messages")));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("CHECK constraint failed in messages")));
        Database db(path_);
        QVERIFY(db.openReport().damagedCopyPath.isEmpty());
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("message 2 .*'wizard'")));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("message 3 .*'pondering'")));
        const auto messages = db.messages(1);
        QCOMPARE(messages.size(), 2u);
        QCOMPARE(messages[0].id, 1);
        QCOMPARE(messages[0].status, MessageStatus::Complete);
        QCOMPARE(messages[1].id, 3);
        QCOMPARE(messages[1].content, QStringLiteral("hmm"));
        QCOMPARE(messages[1].status, MessageStatus::Error);
        QCOMPARE(messages[1].errorText, QStringLiteral("unknown status 'pondering' in the database"));
    }

    void invalidUtf8AndOddTypes() {
        {
            Database db(path_);
            db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
        }
        {
            RawDb raw(path_);
            raw.exec(QStringLiteral(
                "INSERT INTO conversations (id, title, created_at, updated_at, settings) "
                "VALUES (2, CAST(X'41C328FF42' AS TEXT), 'not a number', 5, X'00FF');"
                "INSERT INTO messages (id, conversation_id, role, content, reasoning, status, created_at, prompt_tokens) "
                "VALUES (1, 2, 'user', CAST(X'6F6BC328FFE282' AS TEXT), X'80', 'complete', 1, 99999999999999);"
                "INSERT INTO settings (key, value) VALUES ('broken', 'not json'), ('bare', '42');"));
        }
        Database db(path_);
        const auto conversation = db.conversation(2);
        QVERIFY(conversation);
        QVERIFY(conversation->title.startsWith(QLatin1Char('A')));
        QVERIFY(conversation->title.endsWith(QLatin1Char('B')));
        QCOMPARE(conversation->createdAt, 0);
        QCOMPARE(db.conversations().size(), 2u);
        const auto messages = db.messages(2);
        QCOMPARE(messages.size(), 1u);
        QVERIFY(messages[0].content.startsWith(QStringLiteral("ok")));
        QVERIFY(messages[0].content.contains(QChar::ReplacementCharacter));
        QCOMPARE(messages[0].promptTokens, std::numeric_limits<int>::max());
        db.search(QStringLiteral("ok"));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("'bare'")));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("'broken'")));
        QVERIFY(db.settings().isEmpty());
    }

    // ---- settings ----

    void settingsRoundTrip_data() {
        QTest::addColumn<QVariant>("value");
        QTest::newRow("string") << QVariant(QStringLiteral("You are helpful. ✓ \"quoted\""));
        QTest::newRow("empty string") << QVariant(QString());
        QTest::newRow("int") << QVariant(42);
        QTest::newRow("negative int64") << QVariant(qint64(-9'000'000'000));
        QTest::newRow("double") << QVariant(0.75);
        QTest::newRow("true") << QVariant(true);
        QTest::newRow("false") << QVariant(false);
        QTest::newRow("list") << QVariant(QVariantList{1, QStringLiteral("two"), 3.5, true});
        QTest::newRow("recent models") << QVariant(QVariantList{QStringLiteral("/m/a.gguf"), QStringLiteral("/m/b.gguf")});
        QTest::newRow("map") << QVariant(QVariantMap{{QStringLiteral("top_k"), 40}, {QStringLiteral("name"), QStringLiteral("x")}});
    }
    void settingsRoundTrip() {
        QFETCH(QVariant, value);
        {
            Database db(path_);
            db.setSetting(QStringLiteral("key"), QStringLiteral("overwritten"));
            db.setSetting(QStringLiteral("key"), value);
            db.setSetting(QStringLiteral("other"), 1);
            const QVariant read = db.settings().value(QStringLiteral("key"));
            QCOMPARE(read, value);
        }
        Database db(path_);
        const QVariantMap all = db.settings();
        QCOMPARE(all.size(), 2);
        QCOMPARE(all.value(QStringLiteral("key")), value);
        if (value.typeId() == QMetaType::Bool) QCOMPARE(all.value(QStringLiteral("key")).typeId(), QMetaType::Bool);
        if (value.typeId() == QMetaType::QString) QCOMPARE(all.value(QStringLiteral("key")).typeId(), QMetaType::QString);
    }

    // ---- damage ----

    void damagedFileIsMovedAside_data() {
        QTest::addColumn<QString>("kind");
        QTest::newRow("garbage, 10 bytes") << "garbage-10";
        QTest::newRow("garbage, 4 KiB") << "garbage-4096";
        QTest::newRow("garbage, 100 KB") << "garbage-100000";
        QTest::newRow("someone else's database") << "foreign";
    }
    void damagedFileIsMovedAside() {
        QFETCH(QString, kind);
        QByteArray walBytes;
        if (kind.startsWith(QStringLiteral("garbage"))) {
            QVERIFY(writeFile(path_, randomBytes(kind.section(QLatin1Char('-'), 1).toInt(), 11)));
            walBytes = randomBytes(3000, 12);
            QVERIFY(writeFile(path_ + QStringLiteral("-wal"), walBytes));
            QVERIFY(writeFile(path_ + QStringLiteral("-shm"), randomBytes(500, 13)));
        } else if (kind == QStringLiteral("foreign")) {
            sqlite3* other = nullptr;
            QCOMPARE(sqlite3_open(QFile::encodeName(path_).constData(), &other), SQLITE_OK);
            QCOMPARE(sqlite3_exec(other, "CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);",
                                  nullptr, nullptr, nullptr), SQLITE_OK);
            sqlite3_close(other);
        }
        const QByteArray mainBytes = readFile(path_);

        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("latent.db is damaged .* moved aside")));
        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY2(!report.damagedCopyPath.isEmpty(), "the damage was not detected");
        QVERIFY(!report.damageDescription.isEmpty());
        QVERIFY2(QRegularExpression(QStringLiteral("^") + QRegularExpression::escape(path_) +
                                    QStringLiteral("\\.damaged-\\d{8}-\\d{6}(-\\d+)?$"))
                     .match(report.damagedCopyPath).hasMatch(),
                 qPrintable(report.damagedCopyPath));
        QCOMPARE(readFile(report.damagedCopyPath), mainBytes);
        if (!walBytes.isEmpty()) {
            QCOMPARE(readFile(report.damagedCopyPath + QStringLiteral("-wal")), walBytes);
            // The -shm is SQLite's shared-memory index of the WAL, rebuilt by any connection
            // that opens the file; it travels with it but its bytes are not the user's.
            QVERIFY(QFile::exists(report.damagedCopyPath + QStringLiteral("-shm")));
        }
        // A fresh database took its place.
        QCOMPARE(report.foundVersion, 0);
        QCOMPARE(report.nextMessageId, 1);
        QVERIFY(db.conversations().empty());
        db.insertConversation(conversationRecord(1, QStringLiteral("fresh start"), 1));
        QCOMPARE(hitNames(db.search(QStringLiteral("fresh"))), QStringList{"c1"});
        QCOMPARE(db.pragma(QStringLiteral("quick_check")), QStringLiteral("ok"));
    }

    void damageTwiceKeepsBothCopies() {
        QVERIFY(writeFile(path_, "first garbage, long enough to be no database at all"));
        QString first;
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("is damaged")));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("is damaged")));
        {
            Database db(path_);
            first = db.openReport().damagedCopyPath;
        }
        QVERIFY(!first.isEmpty());
        QFile::remove(path_ + QStringLiteral("-wal"));
        QFile::remove(path_ + QStringLiteral("-shm"));
        QVERIFY(QFile::remove(path_));
        QVERIFY(writeFile(path_, "second garbage, also long enough to be no database"));
        Database db(path_);
        const QString second = db.openReport().damagedCopyPath;
        QVERIFY(!second.isEmpty());
        QVERIFY(first != second);
        QCOMPARE(readFile(first), QByteArray("first garbage, long enough to be no database at all"));
        QCOMPARE(readFile(second), QByteArray("second garbage, also long enough to be no database"));
    }

    void zeroLengthFileIsANewDatabase() {
        QVERIFY(writeFile(path_, QByteArray()));
        Database db(path_);
        QVERIFY(db.openReport().damagedCopyPath.isEmpty());
        QCOMPARE(db.openReport().foundVersion, 0);
        db.insertConversation(conversationRecord(1, QStringLiteral("works"), 1));
        QCOMPARE(db.conversations().size(), 1u);
        for (const QString& name : QDir(dir_->path()).entryList(QDir::Files))
            QVERIFY2(!name.contains(QStringLiteral("damaged")), qPrintable(name));
    }

    // ---- interruption ----

    void interruptedAnswerMarkedOnReopen() {
        {
            Database db(path_);
            db.insertConversation(conversationRecord(1, QStringLiteral("chat"), 1000));
            db.insertMessage(messageRecord(1, 1, MessageRole::User, QStringLiteral("question")));
            MessageRecord stopped = messageRecord(2, 1, MessageRole::Assistant, QStringLiteral("stopped by the user"));
            stopped.status = MessageStatus::Stopped;
            stopped.stopReason = QStringLiteral("cancelled");
            db.insertMessage(stopped);
            MessageRecord streaming = messageRecord(3, 1, MessageRole::Assistant, QStringLiteral("half an"));
            streaming.status = MessageStatus::Streaming;
            db.insertMessage(streaming);
            QCOMPARE(db.messages(1).at(2).status, MessageStatus::Streaming);
        }
        {
            Database db(path_);
            QCOMPARE(db.openReport().interruptedMessages, 1);
            const auto messages = db.messages(1);
            QCOMPARE(messages[0].status, MessageStatus::Complete);
            QCOMPARE(messages[0].stopReason, QString());
            QCOMPARE(messages[1].status, MessageStatus::Stopped);
            QCOMPARE(messages[1].stopReason, QStringLiteral("cancelled"));
            QCOMPARE(messages[2].status, MessageStatus::Stopped);
            QCOMPARE(messages[2].stopReason, QString::fromLatin1(kStopReasonInterrupted));
            QCOMPARE(messages[2].content, QStringLiteral("half an"));
        }
        Database db(path_);
        QCOMPARE(db.openReport().interruptedMessages, 0);
    }

    // ---- crash safety ----

    void killedWhileStreaming_data() {
        QTest::addColumn<int>("killAfterCommits");
        QTest::newRow("after 5 commits") << 5;
        QTest::newRow("after 20 commits") << 20;
        QTest::newRow("after 60 commits") << 60;
    }
    void killedWhileStreaming() {
        QFETCH(int, killAfterCommits);
        QProcess child;
        child.start(QCoreApplication::applicationFilePath(), {QStringLiteral("--crash-child"), path_});
        QVERIFY2(child.waitForStarted(), qPrintable(child.errorString()));

        QByteArray output;
        qint64 lastCommitted = 0;
        int commits = 0;
        const auto readCommits = [&] {
            output += child.readAllStandardOutput();
            qsizetype newline;
            while ((newline = output.indexOf('\n')) >= 0) {
                lastCommitted = output.left(newline).toLongLong();
                output.remove(0, newline + 1);
                ++commits;
            }
        };
        QElapsedTimer timer;
        timer.start();
        while (commits < killAfterCommits && child.state() == QProcess::Running && timer.elapsed() < 30'000) {
            child.waitForReadyRead(1000);
            readCommits();
        }
        QVERIFY2(commits >= killAfterCommits, child.readAllStandardError().constData());
        child.kill(); // SIGKILL
        QVERIFY(child.waitForFinished(10'000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        readCommits(); // lines written between our last read and the kill were committed too

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY(report.damagedCopyPath.isEmpty());
        QCOMPARE(report.interruptedMessages, 1);
        const auto conversation = db.conversation(1);
        QVERIFY(conversation);
        QCOMPARE(conversation->title, QStringLiteral("Crash test"));
        const auto messages = db.messages(1);
        QCOMPARE(messages.size(), 2u);
        QCOMPARE(messages[0].content, QStringLiteral("Tell me a long story"));
        QCOMPARE(messages[0].status, MessageStatus::Complete);
        const MessageRecord& answer = messages[1];
        QCOMPARE(answer.id, kCrashAnswerId);
        QCOMPARE(answer.status, MessageStatus::Stopped);
        QCOMPARE(answer.stopReason, QStringLiteral("interrupted"));
        QVERIFY2(answer.content.size() >= lastCommitted,
                 qPrintable(QStringLiteral("%1 < %2").arg(answer.content.size()).arg(lastCommitted)));
        // Exactly a whole number of chunks: every commit wrote one more.
        QString expected;
        for (int i = 0; expected.size() < answer.content.size(); ++i) expected += crashChunk(i);
        QCOMPARE(answer.content, expected);
        QCOMPARE(db.pragma(QStringLiteral("quick_check")), QStringLiteral("ok"));
        RawDb raw(path_);
        raw.exec(QStringLiteral("INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"));
    }
};

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--crash-child") == 0) return runCrashChild(QString::fromLocal8Bit(argv[2]));
    QCoreApplication app(argc, argv);
    TestStorage test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_storage.moc"
