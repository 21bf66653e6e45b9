// fitToContext: which turns of a long conversation go into the prompt. The oracle tokenizer
// counts whitespace-separated words, so every expectation below can be checked by hand.
#include "inference/context_window.h"

#include <QList>
#include <QRegularExpression>
#include <QTest>

namespace {

// "S:be brief|U:hello there|A:hi" → system, user, assistant turns.
std::vector<ChatTurn> parseTurns(const QString& spec) {
    std::vector<ChatTurn> turns;
    for (const QString& part : spec.split(QLatin1Char('|'), Qt::SkipEmptyParts)) {
        ChatTurn turn;
        switch (part.at(0).toLatin1()) {
        case 'S': turn.role = ChatTurn::Role::System; break;
        case 'U': turn.role = ChatTurn::Role::User; break;
        default: turn.role = ChatTurn::Role::Assistant; break;
        }
        turn.content = part.mid(2);
        turns.push_back(turn);
    }
    return turns;
}

int countWords(const std::vector<ChatTurn>& turns) {
    static const QRegularExpression whitespace(QStringLiteral("\\s+"));
    int words = 0;
    for (const ChatTurn& turn : turns) words += static_cast<int>(turn.content.split(whitespace, Qt::SkipEmptyParts).size());
    return words;
}

} // namespace

class TestContextWindow : public QObject {
    Q_OBJECT

private slots:
    void fit_data() {
        QTest::addColumn<QString>("conversation");
        QTest::addColumn<int>("contextSize");
        QTest::addColumn<int>("reserve");
        QTest::addColumn<QList<int>>("kept"); // indices of the turns expected in the prompt
        QTest::addColumn<bool>("fits");

        // Words: 1 + 2 + 2 + 1 = 6.
        QTest::newRow("no drop needed") << "S:sys|U:one two|A:three four|U:five" << 100 << 10 << QList<int>{0, 1, 2, 3} << true;
        QTest::newRow("exactly full") << "S:sys|U:one two|A:three four|U:five" << 16 << 10 << QList<int>{0, 1, 2, 3} << true;
        // 1 + 3 + 3 + 2 + 2 + 1 = 12 > 9; without the first exchange 6.
        QTest::newRow("drop one exchange") << "S:s|U:a a a|A:b b b|U:c c|A:d d|U:e" << 12 << 3 << QList<int>{0, 3, 4, 5} << true;
        // 14 > 6; 10 > 6; 6 <= 6.
        QTest::newRow("drop several exchanges") << "S:s|U:a a|A:b b|U:c c|A:d d|U:e e|A:f f|U:g" << 9 << 3
                                                << QList<int>{0, 5, 6, 7} << true;
        // An exchange is a user turn with every assistant turn after it: 3 turns go together.
        QTest::newRow("no system turn") << "U:a|A:b|A:c|U:d|A:e|U:f" << 3 << 0 << QList<int>{3, 4, 5} << true;
        // The system prompt stays even when it is the largest turn.
        QTest::newRow("system kept") << "S:s s s|U:a a|A:b b|U:q" << 6 << 2 << QList<int>{0, 3} << true;
        QTest::newRow("last turn alone too long") << "S:s|U:a|A:b|U:q q q q q" << 5 << 1 << QList<int>{0, 3} << false;
        QTest::newRow("only the last turn, too long") << "U:q q q q q" << 4 << 0 << QList<int>{0} << false;
        // Turns before the first user turn form an exchange of their own and go first.
        QTest::newRow("assistant-first history, drop greeting") << "A:hello there|U:a b|A:c d|U:q" << 5 << 0
                                                               << QList<int>{1, 2, 3} << true;
        QTest::newRow("assistant-first history, drop all") << "A:hello there|U:a b|A:c d|U:q" << 3 << 0
                                                          << QList<int>{3} << true;
        // The same conversation (8 words) with and without room kept for the answer.
        QTest::newRow("reserve 0 keeps all") << "S:s|U:a a|A:b b|U:c c|A:d|U:e" << 9 << 0 << QList<int>{0, 1, 2, 3, 4, 5} << true;
        QTest::newRow("reserve 4 drops one") << "S:s|U:a a|A:b b|U:c c|A:d|U:e" << 9 << 4 << QList<int>{0, 3, 4, 5} << true;
        QTest::newRow("reserve 7 drops all") << "S:s|U:a a|A:b b|U:c c|A:d|U:e" << 9 << 7 << QList<int>{0, 5} << true;
        QTest::newRow("empty conversation") << "" << 10 << 0 << QList<int>{} << true;
    }

    void fit() {
        QFETCH(QString, conversation);
        QFETCH(int, contextSize);
        QFETCH(int, reserve);
        QFETCH(QList<int>, kept);
        QFETCH(bool, fits);

        const std::vector<ChatTurn> turns = parseTurns(conversation);
        int calls = 0;
        const ContextFit fit = fitToContext(turns, contextSize, reserve, [&](const std::vector<ChatTurn>& t) {
            ++calls;
            return countWords(t);
        });

        std::vector<ChatTurn> expected;
        for (int index : kept) expected.push_back(turns[static_cast<size_t>(index)]);
        QCOMPARE(fit.turns.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
            QCOMPARE(fit.turns[i].role, expected[i].role);
            QCOMPARE(fit.turns[i].content, expected[i].content);
        }
        QCOMPARE(fit.droppedTurns, static_cast<int>(turns.size()) - static_cast<int>(kept.size()));
        QCOMPARE(fit.promptTokens, countWords(expected));
        QCOMPARE(fit.fits, fits);
        QVERIFY(calls >= 1);
    }

    // A long history is fitted with few tokenizations (binary search over the exchanges), and
    // the answer is the largest suffix of exchanges that fits.
    void long_history_is_fitted_with_few_counts() {
        std::vector<ChatTurn> turns{{ChatTurn::Role::System, QStringLiteral("system prompt")}};
        for (int i = 0; i < 1000; ++i) {
            turns.push_back({ChatTurn::Role::User, QStringLiteral("question %1").arg(i)});
            turns.push_back({ChatTurn::Role::Assistant, QStringLiteral("answer number %1").arg(i)});
        }
        turns.push_back({ChatTurn::Role::User, QStringLiteral("last")});
        int calls = 0;
        // 2 (system) + 1 (last) + 5 per exchange; 103 + 10 reserve fits 113 → 20 exchanges.
        const ContextFit fit = fitToContext(turns, 113, 10, [&](const std::vector<ChatTurn>& t) {
            ++calls;
            return countWords(t);
        });
        QVERIFY(fit.fits);
        QCOMPARE(fit.turns.size(), size_t{1 + 40 + 1});
        QCOMPARE(fit.droppedTurns, 2 * 980);
        QCOMPARE(fit.promptTokens, 103);
        QCOMPARE(fit.turns[1].content, QStringLiteral("question 980"));
        QCOMPARE(fit.turns.back().content, QStringLiteral("last"));
        QVERIFY2(calls <= 14, qPrintable(QStringLiteral("%1 counts").arg(calls)));
    }
};

QTEST_GUILESS_MAIN(TestContextWindow)
#include "test_context_window.moc"
