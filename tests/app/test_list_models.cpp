// The three list models under QAbstractItemModelTester, with the exact change signals the views
// rely on (rows inserted/removed/moved, dataChanged with the changed roles, countChanged).
#include "controllers/conversation_list_model.h"
#include "controllers/message_list_model.h"
#include "controllers/search_results_model.h"

#include <QAbstractItemModelTester>
#include <QDateTime>
#include <QSignalSpy>
#include <QTest>

#include <algorithm>

namespace {

ConversationRecord conversation(qint64 id, qint64 updatedAt, const QString& title) {
    ConversationRecord c;
    c.id = id;
    c.title = title;
    c.createdAt = updatedAt;
    c.updatedAt = updatedAt;
    c.model = QStringLiteral("m.gguf");
    return c;
}

MessageRecord message(qint64 id, MessageRole role, const QString& content,
                      MessageStatus status = MessageStatus::Complete) {
    MessageRecord m;
    m.id = id;
    m.conversationId = 1;
    m.role = role;
    m.content = content;
    m.status = status;
    m.createdAt = QDateTime(QDate(2025, 11, 1), QTime(10, 0)).toMSecsSinceEpoch();
    return m;
}

QList<qint64> ids(const QAbstractListModel& model, int role) {
    QList<qint64> out;
    for (int row = 0; row < model.rowCount(); ++row) out << model.data(model.index(row), role).toLongLong();
    return out;
}

QList<int> sorted(QList<int> roles) {
    std::sort(roles.begin(), roles.end());
    return roles;
}

} // namespace

class TestListModels : public QObject {
    Q_OBJECT
private slots:
    void conversationRolesAndOrder();
    void conversationUpsertInsertsAndMoves();
    void conversationRemove();
    void messageRoles();
    void messageAppendMovesIsLast();
    void messageStreamingUpdate();
    void messageReplaceAndStatus();
    void messageRemoveFromAndClear();
    void searchResults();
};

void TestListModels::conversationRolesAndOrder() {
    ConversationListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy count(&model, &ConversationListModel::countChanged);

    const QHash<int, QByteArray> names = model.roleNames();
    QCOMPARE(names.value(ConversationListModel::ConversationIdRole), QByteArray("conversationId"));
    QCOMPARE(names.value(ConversationListModel::TitleRole), QByteArray("title"));
    QCOMPARE(names.value(ConversationListModel::UpdatedAtRole), QByteArray("updatedAt"));
    QCOMPARE(names.value(ConversationListModel::DateTextRole), QByteArray("dateText"));
    QCOMPARE(names.value(ConversationListModel::ModelRole), QByteArray("model"));

    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    model.setConversations({conversation(1, now - 3000, QStringLiteral("old")),
                            conversation(2, now - 1000, QStringLiteral("newest")),
                            conversation(3, now - 2000, QStringLiteral("middle"))});
    QCOMPARE(count.size(), 1);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{2, 3, 1}));
    const QModelIndex top = model.index(0);
    QCOMPARE(model.data(top, ConversationListModel::TitleRole).toString(), QStringLiteral("newest"));
    QCOMPARE(model.data(top, ConversationListModel::UpdatedAtRole).toDateTime(),
             QDateTime::fromMSecsSinceEpoch(now - 1000));
    QCOMPARE(model.data(top, ConversationListModel::ModelRole).toString(), QStringLiteral("m.gguf"));
    // Updated a second ago: today, shown as a time of day.
    QVERIFY2(model.data(top, ConversationListModel::DateTextRole).toString().contains(u':'),
             qPrintable(model.data(top, ConversationListModel::DateTextRole).toString()));
    QCOMPARE(model.indexOf(3), 1);
    QCOMPARE(model.indexOf(99), -1);
    QCOMPARE(model.idAt(2), qint64(1));
    QCOMPARE(model.idAt(3), qint64(0));
    QCOMPARE(model.idAt(-1), qint64(0));
    QVERIFY(model.find(1).has_value());
    QVERIFY(!model.data(model.index(0), Qt::UserRole + 100).isValid());
}

void TestListModels::conversationUpsertInsertsAndMoves() {
    ConversationListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setConversations({conversation(1, 1000, QStringLiteral("a")), conversation(2, 2000, QStringLiteral("b")),
                            conversation(3, 3000, QStringLiteral("c"))});
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{3, 2, 1}));

    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy moved(&model, &QAbstractItemModel::rowsMoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy count(&model, &ConversationListModel::countChanged);

    // A new conversation lands at its sorted place.
    model.upsert(conversation(4, 2500, QStringLiteral("d")));
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(inserted[0][1].toInt(), 1);
    QCOMPARE(inserted[0][2].toInt(), 1);
    QCOMPARE(count.size(), 1);
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{3, 4, 2, 1}));

    // The oldest one touched: it moves to the top, its time roles change, its title does not.
    model.upsert(conversation(1, 4000, QStringLiteral("a")));
    QCOMPARE(moved.size(), 1);
    QCOMPARE(moved[0][1].toInt(), 3); // source row
    QCOMPARE(moved[0][4].toInt(), 0); // destination
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{1, 3, 4, 2}));
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed[0][0].toModelIndex().row(), 0);
    const QList<int> timeRoles = sorted(changed[0][2].value<QList<int>>());
    QCOMPARE(timeRoles, sorted({ConversationListModel::UpdatedAtRole, ConversationListModel::DateTextRole}));
    QCOMPARE(count.size(), 1); // a move does not change the count

    // Moving down: destination is given in pre-move indexes (row 0 → after row 2).
    model.upsert(conversation(1, 2200, QStringLiteral("a")));
    QCOMPARE(moved.size(), 2);
    QCOMPARE(moved[1][1].toInt(), 0);
    QCOMPARE(moved[1][4].toInt(), 3);
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{3, 4, 1, 2}));

    // A rename in place: only the title roles change, nothing moves.
    changed.clear();
    model.upsert(conversation(4, 2500, QStringLiteral("renamed")));
    QCOMPARE(moved.size(), 2);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed[0][0].toModelIndex().row(), 1);
    QVERIFY(changed[0][2].value<QList<int>>().contains(ConversationListModel::TitleRole));
    QVERIFY(!changed[0][2].value<QList<int>>().contains(ConversationListModel::UpdatedAtRole));
    QCOMPARE(model.data(model.index(1), ConversationListModel::TitleRole).toString(), QStringLiteral("renamed"));

    // The same record again: no signal at all.
    changed.clear();
    model.upsert(conversation(4, 2500, QStringLiteral("renamed")));
    QCOMPARE(changed.size(), 0);
    QCOMPARE(moved.size(), 2);
}

void TestListModels::conversationRemove() {
    ConversationListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setConversations({conversation(1, 1000, QStringLiteral("a")), conversation(2, 2000, QStringLiteral("b"))});
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy count(&model, &ConversationListModel::countChanged);
    model.remove(42); // absent: nothing
    QCOMPARE(removed.size(), 0);
    model.remove(2);
    QCOMPARE(removed.size(), 1);
    QCOMPARE(removed[0][1].toInt(), 0);
    QCOMPARE(count.size(), 1);
    QCOMPARE(ids(model, ConversationListModel::ConversationIdRole), (QList<qint64>{1}));
    model.setConversations({});
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(count.size(), 2);
}

void TestListModels::messageRoles() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const QHash<int, QByteArray> names = model.roleNames();
    const QList<QPair<int, QByteArray>> expected{
        {MessageListModel::MessageIdRole, "messageId"}, {MessageListModel::RoleNameRole, "role"},
        {MessageListModel::ContentRole, "content"},     {MessageListModel::ReasoningRole, "reasoning"},
        {MessageListModel::ThinkingRole, "thinking"},   {MessageListModel::StatusRole, "status"},
        {MessageListModel::ErrorTextRole, "errorText"}, {MessageListModel::BlocksRole, "blocks"},
        {MessageListModel::StatsTextRole, "statsText"}, {MessageListModel::CreatedAtRole, "createdAt"},
        {MessageListModel::ModelRole, "model"},         {MessageListModel::IsLastRole, "isLast"},
    };
    for (const auto& [role, name] : expected) QCOMPARE(names.value(role), name);

    MessageRecord answer = message(2, MessageRole::Assistant, QStringLiteral("Here:\n```cpp\nint x;\n```"));
    answer.reasoning = QStringLiteral("thinking about it");
    answer.model = QStringLiteral("m.gguf");
    answer.generatedTokens = 12;
    answer.generationTokensPerSecond = 4.0;
    model.setMessages({message(1, MessageRole::User, QStringLiteral("hi")), answer});
    QCOMPARE(model.rowCount(), 2);

    const QModelIndex user = model.index(0);
    const QModelIndex bot = model.index(1);
    QCOMPARE(model.data(user, MessageListModel::MessageIdRole).toLongLong(), qint64(1));
    QCOMPARE(model.data(user, MessageListModel::RoleNameRole).toString(), QStringLiteral("user"));
    QCOMPARE(model.data(user, MessageListModel::StatsTextRole).toString(), QString()); // users have no stats
    QCOMPARE(model.data(user, MessageListModel::IsLastRole).toBool(), false);
    QCOMPARE(model.data(bot, MessageListModel::RoleNameRole).toString(), QStringLiteral("assistant"));
    QCOMPARE(model.data(bot, MessageListModel::ReasoningRole).toString(), QStringLiteral("thinking about it"));
    QCOMPARE(model.data(bot, MessageListModel::ThinkingRole).toBool(), false);
    QCOMPARE(model.data(bot, MessageListModel::StatusRole).toString(), QStringLiteral("complete"));
    QCOMPARE(model.data(bot, MessageListModel::StatsTextRole).toString(), QStringLiteral("12 tokens · 4.0 tokens/s"));
    QCOMPARE(model.data(bot, MessageListModel::ModelRole).toString(), QStringLiteral("m.gguf"));
    QCOMPARE(model.data(bot, MessageListModel::CreatedAtRole).toDateTime(), QDateTime(QDate(2025, 11, 1), QTime(10, 0)));
    QCOMPARE(model.data(bot, MessageListModel::IsLastRole).toBool(), true);
    const QVariantList blocks = model.data(bot, MessageListModel::BlocksRole).toList();
    QCOMPARE(blocks.size(), 2);
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("kind")).toString(), QStringLiteral("code"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("language")).toString(), QStringLiteral("cpp"));
    QCOMPARE(blocks[1].toMap().value(QStringLiteral("text")).toString(), QStringLiteral("int x;"));
}

void TestListModels::messageAppendMovesIsLast() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy count(&model, &MessageListModel::countChanged);

    model.append(message(1, MessageRole::User, QStringLiteral("hi")));
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(changed.size(), 0); // there was no previous last row
    QCOMPARE(count.size(), 1);
    QCOMPARE(model.data(model.index(0), MessageListModel::IsLastRole).toBool(), true);

    model.append(message(2, MessageRole::Assistant, QString(), MessageStatus::Streaming));
    QCOMPARE(inserted.size(), 2);
    QCOMPARE(inserted[1][1].toInt(), 1);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed[0][0].toModelIndex().row(), 0);
    QCOMPARE(changed[0][2].value<QList<int>>(), QList<int>{MessageListModel::IsLastRole});
    QCOMPARE(model.data(model.index(0), MessageListModel::IsLastRole).toBool(), false);
    QCOMPARE(model.data(model.index(1), MessageListModel::IsLastRole).toBool(), true);
    QCOMPARE(model.data(model.index(1), MessageListModel::StatusRole).toString(), QStringLiteral("streaming"));
    QCOMPARE(count.size(), 2);
}

void TestListModels::messageStreamingUpdate() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setMessages({message(1, MessageRole::User, QStringLiteral("hi")),
                       message(2, MessageRole::Assistant, QString(), MessageStatus::Streaming)});
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);

    model.updateText(2, QString(), QStringLiteral("Let me think"), true);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed[0][0].toModelIndex().row(), 1);
    QCOMPARE(changed[0][1].toModelIndex().row(), 1);
    QCOMPARE(sorted(changed[0][2].value<QList<int>>()),
             sorted({MessageListModel::ContentRole, MessageListModel::ReasoningRole, MessageListModel::ThinkingRole,
                     MessageListModel::StatusRole, MessageListModel::BlocksRole}));
    const QModelIndex row = model.index(1);
    QCOMPARE(model.data(row, MessageListModel::ThinkingRole).toBool(), true);
    QCOMPARE(model.data(row, MessageListModel::ReasoningRole).toString(), QStringLiteral("Let me think"));

    model.updateText(2, QStringLiteral("Answer with ```\ncode"), QStringLiteral("Let me think."), false);
    QCOMPARE(changed.size(), 2);
    QCOMPARE(model.data(row, MessageListModel::ThinkingRole).toBool(), false);
    QCOMPARE(model.data(row, MessageListModel::ContentRole).toString(), QStringLiteral("Answer with ```\ncode"));
    QCOMPARE(model.data(row, MessageListModel::StatusRole).toString(), QStringLiteral("streaming"));
    QCOMPARE(model.data(row, MessageListModel::BlocksRole).toList().size(), 1); // inline backticks are prose

    model.updateText(99, QStringLiteral("nobody"), QString(), false); // unknown id: ignored
    QCOMPARE(changed.size(), 2);
}

void TestListModels::messageReplaceAndStatus() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setMessages({message(1, MessageRole::User, QStringLiteral("hi")),
                       message(2, MessageRole::Assistant, QStringLiteral("part"), MessageStatus::Streaming)});
    model.updateText(2, QStringLiteral("partial"), QString(), true);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);

    MessageRecord finished = message(2, MessageRole::Assistant, QStringLiteral("partial answer"), MessageStatus::Stopped);
    finished.stopReason = QStringLiteral("cancelled");
    finished.generatedTokens = 3;
    model.replace(finished);
    QCOMPARE(changed.size(), 1);
    const QList<int> roles = changed[0][2].value<QList<int>>();
    for (int role : {int(MessageListModel::ContentRole), int(MessageListModel::BlocksRole),
                     int(MessageListModel::StatusRole), int(MessageListModel::ThinkingRole),
                     int(MessageListModel::StatsTextRole)})
        QVERIFY2(roles.contains(role), qPrintable(QString::number(role)));
    QVERIFY(!roles.contains(MessageListModel::RoleNameRole));
    QVERIFY(!roles.contains(MessageListModel::IsLastRole));
    const QModelIndex row = model.index(1);
    QCOMPARE(model.data(row, MessageListModel::StatusRole).toString(), QStringLiteral("stopped"));
    QCOMPARE(model.data(row, MessageListModel::ThinkingRole).toBool(), false);
    QCOMPARE(model.data(row, MessageListModel::StatsTextRole).toString(), QStringLiteral("3 tokens"));

    // An answer cut off by the app ending reads "interrupted".
    MessageRecord interrupted = finished;
    interrupted.stopReason = QString::fromLatin1(kStopReasonInterrupted);
    model.replace(interrupted);
    QCOMPARE(changed.size(), 2);
    QCOMPARE(changed[1][2].value<QList<int>>(), QList<int>{MessageListModel::StatusRole});
    QCOMPARE(model.data(row, MessageListModel::StatusRole).toString(), QStringLiteral("interrupted"));

    MessageRecord failed = message(2, MessageRole::Assistant, QStringLiteral("partial answer"), MessageStatus::Error);
    failed.errorText = QStringLiteral("boom");
    failed.generatedTokens = 3;
    model.replace(failed);
    QCOMPARE(model.data(row, MessageListModel::StatusRole).toString(), QStringLiteral("error"));
    QCOMPARE(model.data(row, MessageListModel::ErrorTextRole).toString(), QStringLiteral("boom"));
    QVERIFY(changed.last()[2].value<QList<int>>().contains(MessageListModel::ErrorTextRole));

    const int before = int(changed.size());
    model.replace(message(77, MessageRole::User, QStringLiteral("absent"))); // unknown id: ignored
    QCOMPARE(int(changed.size()), before);
}

void TestListModels::messageRemoveFromAndClear() {
    MessageListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setMessages({message(1, MessageRole::User, QStringLiteral("a")),
                       message(2, MessageRole::Assistant, QStringLiteral("b")),
                       message(3, MessageRole::User, QStringLiteral("c")),
                       message(4, MessageRole::Assistant, QStringLiteral("d"))});
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy count(&model, &MessageListModel::countChanged);

    model.removeFrom(10); // nothing that new
    QCOMPARE(removed.size(), 0);
    QCOMPARE(count.size(), 0);

    model.removeFrom(3);
    QCOMPARE(removed.size(), 1);
    QCOMPARE(removed[0][1].toInt(), 2);
    QCOMPARE(removed[0][2].toInt(), 3);
    QCOMPARE(count.size(), 1);
    QCOMPARE(ids(model, MessageListModel::MessageIdRole), (QList<qint64>{1, 2}));
    QCOMPARE(changed.size(), 1); // the new last row
    QCOMPARE(changed[0][0].toModelIndex().row(), 1);
    QCOMPARE(changed[0][2].value<QList<int>>(), QList<int>{MessageListModel::IsLastRole});
    QCOMPARE(model.data(model.index(1), MessageListModel::IsLastRole).toBool(), true);
    QCOMPARE(model.find(2)->content, QStringLiteral("b"));
    QVERIFY(!model.find(3).has_value());
    QCOMPARE(model.indexOf(1), 0);

    model.clear();
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(count.size(), 2);
    model.clear(); // already empty: no signal
    QCOMPARE(count.size(), 2);
}

void TestListModels::searchResults() {
    SearchResultsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy count(&model, &SearchResultsModel::countChanged);
    const QHash<int, QByteArray> names = model.roleNames();
    QCOMPARE(names.value(SearchResultsModel::ConversationIdRole), QByteArray("conversationId"));
    QCOMPARE(names.value(SearchResultsModel::MessageIdRole), QByteArray("messageId"));
    QCOMPARE(names.value(SearchResultsModel::TitleRole), QByteArray("title"));
    QCOMPARE(names.value(SearchResultsModel::SnippetRole), QByteArray("snippet"));
    QCOMPARE(names.value(SearchResultsModel::DateTextRole), QByteArray("dateText"));

    SearchHit titleHit{3, 0, QStringLiteral("Zebra facts"), QStringLiteral("[Zebra] facts"),
                       QDateTime(QDate(2024, 2, 1), QTime(9, 0)).toMSecsSinceEpoch()};
    SearchHit textHit{2, 17, QStringLiteral("Animals"), QStringLiteral("the [zebra] runs"),
                      QDateTime(QDate(2023, 6, 5), QTime(9, 0)).toMSecsSinceEpoch()};
    model.setHits({titleHit, textHit});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(count.size(), 1);
    QCOMPARE(model.data(model.index(0), SearchResultsModel::ConversationIdRole).toLongLong(), qint64(3));
    QCOMPARE(model.data(model.index(0), SearchResultsModel::MessageIdRole).toLongLong(), qint64(0));
    QCOMPARE(model.data(model.index(1), SearchResultsModel::MessageIdRole).toLongLong(), qint64(17));
    QCOMPARE(model.data(model.index(1), SearchResultsModel::TitleRole).toString(), QStringLiteral("Animals"));
    QCOMPARE(model.data(model.index(1), SearchResultsModel::SnippetRole).toString(), QStringLiteral("the [zebra] runs"));
    QCOMPARE(model.data(model.index(1), SearchResultsModel::DateTextRole).toString(), QStringLiteral("2023-06-05"));
    model.setHits({textHit, titleHit}); // same count: no countChanged
    QCOMPARE(count.size(), 1);
    model.setHits({});
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(count.size(), 2);
}

QTEST_GUILESS_MAIN(TestListModels)
#include "test_list_models.moc"
