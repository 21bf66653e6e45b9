// The app when the loaded model's file changes on disk during an answer (truncated, as when a
// download or a copy replaces it in place): no crash; the worker reports it apart from errors and
// drops the model; the model panel says "the model file changed on disk; reload it"; the answer
// keeps what was shown and is saved as stopped; a reload works. Real engine, generated model
// (greedy answers of this model run thousands of tokens without an end of turn, so the answer is
// always still streaming when the file is cut).
#include "controllers/app_controller.h"
#include "inference/engine_chat_engine.h"
#include "inference/inference_worker.h"
#include "model/model_builder.h"
#include "storage/database.h"
#include "storage/storage_thread.h"
#include "test_support.h"

#include <QFile>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <unistd.h>

namespace {

const QString kChanged = QStringLiteral("the model file changed on disk; reload it");

bool truncateToHalf(const QString& path) {
    return ::truncate(QFile::encodeName(path).constData(), static_cast<off_t>(QFileInfo(path).size() / 2)) == 0;
}

std::vector<ChatTurn> question() {
    return {{ChatTurn::Role::System, QStringLiteral("You are a helpful assistant.")},
            {ChatTurn::Role::User, QStringLiteral("Tell me about the sea.")}};
}

SamplingSettings longGreedyAnswer() {
    SamplingSettings s;
    s.temperature = 0.0;
    s.maxNewTokens = 6000;
    return s;
}

LoadSettings loadSettings() {
    LoadSettings settings;
    settings.contextLength = 8192;
    settings.threads = 2;
    settings.backend = QStringLiteral("cpu");
    return settings;
}

} // namespace

class TestModelChangedOnDisk : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString pristine_;
    int copies_ = 0;

    QString freshCopy() {
        const QString path = dir_.filePath(QStringLiteral("model-%1.gguf").arg(++copies_));
        return QFile::copy(pristine_, path) ? path : QString();
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        pristine_ = dir_.filePath(QStringLiteral("tiny.gguf"));
        latent::build_model_file(*latent::model_shape_preset("tiny"), latent::BuildOptions{}, latent::test::to_path(pristine_));
    }

    // The worker on this thread, so that a textAppended handler runs inside the generation and
    // cuts the file between two tokens.
    void workerReportsAndUnloads() {
        InferenceWorker worker(std::make_unique<EngineChatEngine>());
        QSignalSpy loaded(&worker, &InferenceWorker::modelLoaded);
        QSignalSpy finished(&worker, &InferenceWorker::generationFinished);
        QSignalSpy changed(&worker, &InferenceWorker::modelFileChanged);
        QSignalSpy unloaded(&worker, &InferenceWorker::modelUnloaded);
        QStringList order;
        connect(&worker, &InferenceWorker::generationFinished, this, [&] { order << QStringLiteral("finished"); });
        connect(&worker, &InferenceWorker::modelFileChanged, this, [&] { order << QStringLiteral("changed"); });

        const QString path = freshCopy();
        worker.loadModel(worker.issueLoadTicket(), path, loadSettings());
        QCOMPARE(loaded.count(), 1);
        QString shown;
        bool cut = false;
        connect(&worker, &InferenceWorker::textAppended, this, [&](quint64, const QString& text) {
            shown += text;
            if (!cut) cut = truncateToHalf(path);
        });
        worker.generate(1, question(), longGreedyAnswer());
        QVERIFY(cut);

        QCOMPARE(finished.count(), 1);
        const auto result = finished.at(0).at(1).value<EngineResult>();
        QVERIFY(result.modelFileChanged);
        QCOMPARE(result.end, EngineResult::End::Stopped);
        QVERIFY(!result.text.isEmpty());
        QCOMPARE(result.text, shown); // everything shown, nothing more
        QVERIFY2(result.message.startsWith(kChanged) && result.message.contains(path), qPrintable(result.message));
        QCOMPARE(changed.count(), 1);
        QCOMPARE(changed.at(0).at(0).toString(), result.message);
        QCOMPARE(unloaded.count(), 1);
        QCOMPARE(order, (QStringList{QStringLiteral("finished"), QStringLiteral("changed")}));

        // Nothing is loaded any more; a fresh file loads and answers.
        worker.generate(2, question(), longGreedyAnswer());
        QCOMPARE(finished.at(1).at(1).value<EngineResult>().end, EngineResult::End::Error);
        worker.loadModel(worker.issueLoadTicket(), freshCopy(), loadSettings());
        QCOMPARE(loaded.count(), 2);
        SamplingSettings brief = longGreedyAnswer();
        brief.maxNewTokens = 8;
        worker.generate(3, question(), brief);
        const auto again = finished.at(2).at(1).value<EngineResult>();
        QCOMPARE(again.end, EngineResult::End::MaxTokens);
        QVERIFY(!again.modelFileChanged);
    }

    // The whole app: the model panel empties with the message, the partial answer is kept and
    // saved as stopped, and the app goes on (a reload answers).
    void appKeepsAnswerAndUnloads() {
        QTemporaryDir data;
        AppController app(data.path(), std::make_unique<EngineChatEngine>());
        QVERIFY(QTest::qWaitFor([&] { return app.ready(); }, 10000));
        app.settings()->setTemperature(0.0);
        app.settings()->setMaxNewTokens(6000);
        app.settings()->setContextLength(8192);
        app.settings()->setThreads(2);
        app.settings()->setBackend(QStringLiteral("cpu"));
        const QString path = freshCopy();
        app.model()->load(path);
        QVERIFY(QTest::qWaitFor([&] { return app.model()->loaded(); }, 20000));

        ChatController* chat = app.chat();
        const MessageListModel* messages = chat->messages();
        const auto content = [&](int row) { return messages->data(messages->index(row), MessageListModel::ContentRole).toString(); };
        const auto status = [&](int row) { return messages->data(messages->index(row), MessageListModel::StatusRole).toString(); };
        QVERIFY(chat->send(QStringLiteral("Tell me about the sea.")));
        QVERIFY(QTest::qWaitFor([&] { return !content(1).isEmpty(); }, 20000));
        QVERIFY(truncateToHalf(path));
        QVERIFY(QTest::qWaitFor([&] { return !chat->generating(); }, 30000));

        QCOMPARE(app.model()->state(), QStringLiteral("empty"));
        QVERIFY2(app.model()->errorText().startsWith(kChanged) && app.model()->errorText().contains(path),
                 qPrintable(app.model()->errorText()));
        QCOMPARE(status(1), QStringLiteral("stopped"));
        const QString shown = content(1);
        QVERIFY(!shown.isEmpty());
        const QString errorText = messages->data(messages->index(1), MessageListModel::ErrorTextRole).toString();
        QVERIFY2(errorText.startsWith(kChanged), qPrintable(errorText));

        app.storage()->flush();
        const std::vector<MessageRecord> rows = Database(data.filePath(QStringLiteral("latent.db"))).messages(chat->currentConversationId());
        QCOMPARE(rows.size(), size_t(2));
        QCOMPARE(rows[1].status, MessageStatus::Stopped);
        QCOMPARE(rows[1].stopReason, QStringLiteral("model_changed"));
        QCOMPARE(rows[1].content, shown);

        // Still running: a fresh copy loads and answers the next question.
        app.settings()->setMaxNewTokens(8);
        app.model()->load(freshCopy());
        QVERIFY(QTest::qWaitFor([&] { return app.model()->loaded(); }, 20000));
        QCOMPARE(app.model()->errorText(), QString());
        QVERIFY(chat->send(QStringLiteral("And the mountains?")));
        QVERIFY(QTest::qWaitFor([&] { return !chat->generating(); }, 30000));
        QCOMPARE(status(3), QStringLiteral("complete"));
    }
};

QTEST_MAIN(TestModelChangedOnDisk)
#include "test_model_changed_on_disk.moc"
