// Settings → Serve this model to other apps (ServeController): the app starts the real
// `latent serve` on the loaded generated model, other programs reach it on 127.0.0.1 with the key
// it shows (and not without it), the key is not on the child's command line, the port is saved,
// Stop and quitting the app end the child, and the failures are told plainly: port in use, the
// server dying, no local model, the administrator's policy, the program missing or not runnable;
// a start can be cancelled.
#include "app_window_support.h"
#include "controllers/app_controller.h"
#include "controllers/serve_controller.h"
#include "inference/engine_chat_engine.h"
#include "model/model_builder.h"
#include "serve_client.h"
#include "storage/storage_thread.h"
#include "test_support.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

using namespace latent::test;
using namespace app_test;

namespace {

// A port nothing listens on now.
quint16 freePort() {
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0)) return 0;
    return probe.serverPort();
}

// The pids of `latent serve` processes whose command line names `model`, and their command lines.
std::vector<std::pair<int, QByteArray>> servers(const QString& model) {
    std::vector<std::pair<int, QByteArray>> found;
    for (const QString& entry : QDir(QStringLiteral("/proc")).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        bool ok = false;
        const int pid = entry.toInt(&ok);
        if (!ok) continue;
        QFile f(QStringLiteral("/proc/%1/cmdline").arg(pid));
        if (!f.open(QIODevice::ReadOnly)) continue;
        const QByteArray cmdline = f.readAll();
        if (cmdline.contains("serve") && cmdline.contains(model.toUtf8())) found.emplace_back(pid, cmdline);
    }
    return found;
}

std::string bearer(const QString& key) { return "Authorization: Bearer " + key.toStdString() + "\r\n"; }

} // namespace

class TestServeController : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString model_;

    // An app with the generated model loaded on the cpu backend.
    std::unique_ptr<AppController> appWithModel(const QString& dataDir) {
        auto app = std::make_unique<AppController>(dataDir, std::make_unique<EngineChatEngine>());
        if (!QTest::qWaitFor([&] { return app->ready(); }, 10000)) return nullptr;
        app->settings()->setThreads(1);
        app->settings()->setBackend(QStringLiteral("cpu"));
        app->model()->load(model_);
        if (!QTest::qWaitFor([&] { return app->model()->loaded(); }, 20000)) return nullptr;
        return app;
    }

    // Starts `serve` on a port free now; returns it (0 when none was found: nothing started).
    static quint16 startOnFreePort(ServeController& serve) {
        const quint16 port = freePort();
        if (port == 0) return 0;
        serve.setPort(port);
        serve.start();
        return port;
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath(QStringLiteral("served-tiny.gguf"));
        latent::build_model_file(*latent::model_shape_preset("tiny"), latent::BuildOptions{}, to_path(model_));
    }

    void servesLoadedModelWithKey() {
        QTemporaryDir data;
        auto app = appWithModel(data.path());
        QVERIFY(app);
        ServeController* serve = app->serve();
        QVERIFY(serve->allowed());
        QCOMPARE(serve->unavailableNote(), QString());
        QCOMPARE(serve->modelId(), QStringLiteral("served-tiny"));
        const quint16 port = freePort();
        QVERIFY(port != 0);
        serve->setPort(port);
        serve->start();
        QCOMPARE(serve->state(), QStringLiteral("starting"));
        QVERIFY2(QTest::qWaitFor([&] { return serve->state() != QLatin1String("starting"); }, 30000), qPrintable(serve->error()));
        QVERIFY2(serve->running(), qPrintable(serve->error()));
        QCOMPARE(serve->url(), QStringLiteral("http://127.0.0.1:%1/v1").arg(port));
        QCOMPARE(serve->servedPath(), model_);
        const QString key = serve->apiKey();
        QVERIFY2(key.startsWith(QLatin1String("lc-")) && key.size() == 3 + 64, qPrintable(key));

        // Another program on this computer: with the key it lists and uses the model …
        const HttpReply models = http(port, "GET", "/v1/models", {}, bearer(key));
        QCOMPARE(models.status, 200);
        const QJsonArray listed = QJsonDocument::fromJson(QByteArray::fromStdString(models.body)).object()[QStringLiteral("data")].toArray();
        QCOMPARE(listed.size(), 1);
        QCOMPARE(listed[0].toObject()[QStringLiteral("id")].toString(), QStringLiteral("served-tiny"));
        const HttpReply answer = http(port, "POST", "/v1/chat/completions",
                                      "{\"model\":\"served-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3,\"temperature\":0}", bearer(key));
        QCOMPARE(answer.status, 200);
        const QJsonObject usage = QJsonDocument::fromJson(QByteArray::fromStdString(answer.body)).object()[QStringLiteral("usage")].toObject();
        QVERIFY(usage[QStringLiteral("completion_tokens")].toInt() >= 1);
        // … without it, or with another, it is refused.
        QCOMPARE(http(port, "GET", "/v1/models").status, 401);
        QCOMPARE(http(port, "GET", "/v1/models", {}, bearer(key + QLatin1Char('x'))).status, 401);

        // The key travels in the environment, not on the command line other users can read.
        const auto running = servers(model_);
        QCOMPARE(running.size(), size_t(1));
        QVERIFY(!running[0].second.contains(key.toUtf8()));
        QVERIFY(running[0].second.contains("--port"));

        serve->stop();
        QVERIFY(QTest::qWaitFor([&] { return serve->state() == QLatin1String("stopped"); }, 10000));
        QCOMPARE(serve->error(), QString()); // a requested stop is not an error
        QCOMPARE(serve->apiKey(), QString());
        QCOMPARE(serve->url(), QString());
        QVERIFY(servers(model_).empty());
        QTcpServer again; // the port is free again
        QVERIFY(again.listen(QHostAddress::LocalHost, port));
        again.close();

        // The port is a saved setting: the next start of the app uses it.
        app->storage()->flush();
        app.reset();
        AppController reopened(data.path(), std::make_unique<EngineChatEngine>());
        QVERIFY(QTest::qWaitFor([&] { return reopened.ready(); }, 10000));
        QCOMPARE(reopened.serve()->port(), int(port));
        // No model loaded there: serving needs one.
        QVERIFY(!reopened.serve()->unavailableNote().isEmpty());
        reopened.serve()->start();
        QCOMPARE(reopened.serve()->state(), QStringLiteral("stopped"));
        QVERIFY(reopened.serve()->error().contains(QLatin1String("Load a model file first")));
    }

    void quittingTheAppStopsTheServer() {
        QTemporaryDir data;
        auto app = appWithModel(data.path());
        QVERIFY(app);
        const quint16 port = startOnFreePort(*app->serve());
        QVERIFY(port != 0);
        QVERIFY2(QTest::qWaitFor([&] { return app->serve()->running(); }, 30000), qPrintable(app->serve()->error()));
        QCOMPARE(servers(model_).size(), size_t(1));
        app.reset();
        QVERIFY(servers(model_).empty());
        QCOMPARE(http(port, "GET", "/health").status, 0); // nothing answers there any more
    }

    void failuresAreTold() {
        QTemporaryDir data;
        auto app = appWithModel(data.path());
        QVERIFY(app);
        ServeController* serve = app->serve();

        // The port is taken by another program: the server's own reason.
        QTcpServer taken;
        QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
        serve->setPort(taken.serverPort());
        serve->start();
        QVERIFY(QTest::qWaitFor([&] { return serve->state() == QLatin1String("stopped"); }, 30000));
        QVERIFY2(serve->error().contains(QLatin1String("Address already in use")), qPrintable(serve->error()));
        taken.close();

        // The server dies while serving.
        const quint16 port = freePort();
        QVERIFY(port != 0);
        serve->setPort(port);
        serve->start();
        QVERIFY(serve->error().isEmpty()); // a new start clears the last error
        QVERIFY2(QTest::qWaitFor([&] { return serve->running(); }, 30000), qPrintable(serve->error()));
        const auto running = servers(model_);
        QCOMPARE(running.size(), size_t(1));
        ::kill(running[0].first, SIGKILL);
        QVERIFY(QTest::qWaitFor([&] { return serve->state() == QLatin1String("stopped"); }, 10000));
        QVERIFY2(serve->error().contains(QLatin1String("stopped unexpectedly")), qPrintable(serve->error()));

        // Ports below 1024 are not offered.
        serve->setPort(80);
        QCOMPARE(serve->port(), 1024);
    }

    // Through the window: Settings (Ctrl+,) → Start serving shows the address to copy; Stop ends it.
    void settingsStartsAndStops() {
        QTemporaryDir data;
        AppController app(data.path(), std::make_unique<EngineChatEngine>());
        LoadedUi ui;
        QVERIFY(showWithModel(app, ui, model_));
        const quint16 port = freePort();
        QVERIFY(port != 0);
        app.serve()->setPort(port);
        QTest::keyClick(ui.window, Qt::Key_Comma, Qt::ControlModifier);
        QObject* button = nullptr;
        QVERIFY(QTest::qWaitFor([&] { return (button = ui.window->findChild<QObject*>(QStringLiteral("serveButton"))) != nullptr; }, 5000));
        QVERIFY(button->property("enabled").toBool());
        QVERIFY(QMetaObject::invokeMethod(button, "clicked"));
        QVERIFY2(QTest::qWaitFor([&] { return app.serve()->running(); }, 30000), qPrintable(app.serve()->error()));
        QObject* urlField = nullptr;
        QVERIFY(QTest::qWaitFor([&] { return (urlField = ui.window->findChild<QObject*>(QStringLiteral("serveUrlField"))) != nullptr; }, 5000));
        QCOMPARE(urlField->property("text").toString(), app.serve()->url());
        QObject* keyField = ui.window->findChild<QObject*>(QStringLiteral("serveKeyField"));
        QVERIFY(keyField);
        QCOMPARE(keyField->property("text").toString(), app.serve()->apiKey());
        QCOMPARE(button->property("text").toString(), QStringLiteral("Stop serving"));
        QVERIFY(QMetaObject::invokeMethod(button, "clicked"));
        QVERIFY(QTest::qWaitFor([&] { return app.serve()->state() == QLatin1String("stopped"); }, 10000));
        QVERIFY(servers(model_).empty());
    }

    void policyAndMissingProgram() {
        // The administrator forbids it: refused before anything starts, with the file named.
        ServeController forbidden(nullptr, nullptr, false, QStringLiteral("/etc/xdg/latent-chat/latent-chat.conf"));
        QVERIFY(!forbidden.allowed());
        QVERIFY(forbidden.unavailableNote().contains(QLatin1String("administrator")));
        QVERIFY(forbidden.unavailableNote().contains(QLatin1String("/etc/xdg/latent-chat/latent-chat.conf")));
        forbidden.start();
        QCOMPARE(forbidden.state(), QStringLiteral("stopped"));
        QCOMPARE(forbidden.error(), forbidden.policyNote());

        // The latent program is not there, or is not a program that runs.
        QTemporaryDir data;
        auto app = appWithModel(data.path());
        QVERIFY(app);
        struct RestoreCli {
            QByteArray saved = qgetenv("LATENT_CLI");
            ~RestoreCli() { qputenv("LATENT_CLI", saved); }
        } restore;
        qputenv("LATENT_CLI", dir_.filePath(QStringLiteral("no-such-latent")).toUtf8());
        QCOMPARE(ServeController::cliPath(), QString());
        QVERIFY(app->serve()->unavailableNote().contains(QLatin1String("not installed")));
        app->serve()->start();
        QCOMPARE(app->serve()->state(), QStringLiteral("stopped"));
        qputenv("LATENT_CLI", dir_.path().toUtf8()); // a directory is not a program
        QCOMPARE(ServeController::cliPath(), QString());
        // An executable file the kernel cannot run: the start fails and says so.
        const QString bogus = dir_.filePath(QStringLiteral("bogus-latent"));
        {
            QFile f(bogus);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("not a program\n");
        }
        QVERIFY(QFile::setPermissions(bogus, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner));
        qputenv("LATENT_CLI", bogus.toUtf8());
        QCOMPARE(ServeController::cliPath(), bogus);
        app->serve()->start();
        QVERIFY(QTest::qWaitFor([&] { return app->serve()->state() == QLatin1String("stopped"); }, 10000));
        QVERIFY2(app->serve()->error().contains(QLatin1String("could not be started")), qPrintable(app->serve()->error()));
    }

    // Stop while the server is still starting cancels it: no server left, no error.
    void cancelWhileStarting() {
        QTemporaryDir data;
        auto app = appWithModel(data.path());
        QVERIFY(app);
        const quint16 port = startOnFreePort(*app->serve());
        QVERIFY(port != 0);
        QCOMPARE(app->serve()->state(), QStringLiteral("starting"));
        app->serve()->stop();
        QVERIFY(QTest::qWaitFor([&] { return app->serve()->state() == QLatin1String("stopped"); }, 10000));
        QCOMPARE(app->serve()->error(), QString());
        QVERIFY(QTest::qWaitFor([&] { return servers(model_).empty(); }, 5000));
        QCOMPARE(http(port, "GET", "/health").status, 0);
    }
};

QTEST_MAIN(TestServeController)
#include "test_serve_controller.moc"
