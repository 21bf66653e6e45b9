// The app's remote-endpoint mode: RemoteChatEngine (through SourceChatEngine, as the app runs
// it) against a real `latent serve` with a generated model — connecting and listing models,
// streaming, stop, and the plain errors (unreachable, 401, 429, timeout) — plus the SSE parser
// and a scripted endpoint that sends vLLM's `reasoning` field, comments and CRLF lines.
#include "controllers/endpoint_policy.h"
#include "inference/fake_chat_engine.h"
#include "inference/remote_chat_engine.h"
#include "inference/source_chat_engine.h"
#include "inference/sse_parser.h"
#include "serve_client.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

#include <thread>

using namespace latent::test;

// JSON text without raw string literals (which moc in Qt 6.4 cannot read): J({"a": 1}).
#define J(...) #__VA_ARGS__

namespace {

// A tiny endpoint on a background thread: answers GET /v1/models and streams a fixed SSE body
// for POST; or, with `silent`, accepts and never answers.
class ScriptedEndpoint {
public:
    ScriptedEndpoint(QByteArray sse, bool silent) {
        thread_ = std::thread([this, sse = std::move(sse), silent] {
            QTcpServer server;
            server.listen(QHostAddress::LocalHost, 0);
            port_ = server.serverPort();
            ready_ = true;
            std::vector<std::unique_ptr<QTcpSocket>> held;
            while (!quit_) {
                if (!server.waitForNewConnection(50)) continue;
                std::unique_ptr<QTcpSocket> socket(server.nextPendingConnection());
                QByteArray request;
                while (!request.contains("\r\n\r\n") && socket->waitForReadyRead(1000)) request += socket->readAll();
                if (silent) {
                    held.push_back(std::move(socket));
                    continue;
                }
                QByteArray body = request.startsWith("GET") ? QByteArray(J({"object":"list","data":[{"id":"scripted","object":"model","max_model_len":2048}]})) : sse;
                const QByteArray type = request.startsWith("GET") ? "application/json" : "text/event-stream";
                socket->write("HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
                socket->waitForBytesWritten(1000);
                socket->disconnectFromHost();
                if (socket->state() != QAbstractSocket::UnconnectedState) socket->waitForDisconnected(1000);
            }
        });
        while (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ~ScriptedEndpoint() {
        quit_ = true;
        thread_.join();
    }
    QString url() const { return QStringLiteral("http://127.0.0.1:%1/v1").arg(port_); }

private:
    std::thread thread_;
    std::atomic<bool> ready_{false}, quit_{false};
    std::atomic<quint16> port_{0};
};

std::vector<ChatTurn> ask(const QString& text) { return {ChatTurn{ChatTurn::Role::User, text}}; }

SamplingSettings greedy(int maxTokens) {
    SamplingSettings s;
    s.temperature = 0;
    s.maxNewTokens = maxTokens;
    return s;
}

} // namespace

class TestRemoteChatEngine : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path model_;

    std::unique_ptr<SourceChatEngine> engine(bool remoteAllowed = true) {
        return std::make_unique<SourceChatEngine>(std::make_unique<FakeChatEngine>(), std::make_unique<RemoteChatEngine>(), remoteAllowed);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = to_path(dir_.filePath("tiny.gguf"));
        std::string output;
        QCOMPARE(run_cli({"make-model", "--shape", "tiny", "--type", "q8_0", "--out", model_.string()}, output), 0);
    }

    void sse_parser_data() {
        QTest::addColumn<QList<QByteArray>>("pieces");
        QTest::addColumn<QStringList>("data");
        QTest::newRow("simple") << QList<QByteArray>{"data: a\n\ndata: b\n\n"} << QStringList{"a", "b"};
        QTest::newRow("split anywhere") << QList<QByteArray>{"da", "ta: he", "llo\n", "\ndata:x\n", "\n"} << QStringList{"hello", "x"};
        QTest::newRow("crlf split") << QList<QByteArray>{"data: a\r", "\n\r", "\ndata: b\r\n\r\n"} << QStringList{"a", "b"};
        QTest::newRow("cr only") << QList<QByteArray>{"data: a\r\rdata: b\r\r"} << QStringList{"a", "b"};
        QTest::newRow("comments ignored") << QList<QByteArray>{": ping\n\n: ping\ndata: a\n\n"} << QStringList{"a"};
        QTest::newRow("multi-line data") << QList<QByteArray>{"data: a\ndata: b\n\n"} << QStringList{"a\nb"};
        QTest::newRow("unfinished event dropped") << QList<QByteArray>{"data: a\n\ndata: b\n"} << QStringList{"a"};
        QTest::newRow("other fields") << QList<QByteArray>{"event: x\nid: 3\nretry: 5\ndata: a\n\n"} << QStringList{"a"};
    }
    void sse_parser() {
        QFETCH(QList<QByteArray>, pieces);
        QFETCH(QStringList, data);
        SseParser parser;
        QStringList got;
        for (const QByteArray& p : pieces) {
            for (const SseEvent& e : parser.feed(p)) got << QString::fromUtf8(e.data);
        }
        QCOMPARE(got, data);
    }
    void sse_parser_limits_lines() {
        SseParser parser(1024);
        QVERIFY(parser.feed("data: " + QByteArray(2000, 'x')).empty());
        QVERIFY(parser.failed());
    }

    // Connect, list, stream: the streamed text is the server's greedy answer.
    void streams_from_latent_serve() {
        ServeProcess server(model_, {"--parallel", "2", "--ctx", "512", "--alias", "tiny", "--api-key", "sk-app"});
        QVERIFY2(server.ok(), server.output().c_str());
        const QString url = QStringLiteral("http://127.0.0.1:%1/v1").arg(server.port());
        QCOMPARE(RemoteChatEngine::listModels(url, "sk-app"), QStringList{"tiny"});

        auto e = engine();
        LoadSettings settings;
        settings.apiKey = "sk-app";
        settings.remoteModel = "tiny";
        const ModelFacts facts = e->load(url, settings, nullptr);
        QCOMPARE(facts.name, QString("tiny"));
        QCOMPARE(facts.backend, QString("remote"));
        QVERIFY(!facts.path.contains("sk-app"));
        QString streamed;
        int pieces = 0;
        const EngineResult r = e->generate(ask("Hello?"), greedy(12), [&](std::string_view p) {
            streamed += QString::fromUtf8(p.data(), static_cast<qsizetype>(p.size()));
            ++pieces;
        }, nullptr);
        QVERIFY2(r.end == EngineResult::End::Complete || r.end == EngineResult::End::MaxTokens, qPrintable(r.message));
        QCOMPARE(streamed, r.text);
        QVERIFY(pieces >= 1);
        QVERIFY(r.generatedTokens >= 1 && r.generatedTokens <= 12);
        QVERIFY(r.promptTokens > 0);

        // The same request without streaming, straight to the server, gives the same text.
        const latent::test::HttpReply plain = http(server.port(), "POST", "/v1/chat/completions",
                                                   J({"model":"tiny","messages":[{"role":"user","content":"Hello?"}],"max_tokens":12,"temperature":0,"top_p":0.95,"top_k":40,"min_p":0.05}),
                                                   "Authorization: Bearer sk-app\r\n");
        QCOMPARE(plain.status, 200);
        const QJsonObject reply = QJsonDocument::fromJson(QByteArray::fromStdString(plain.body)).object();
        QCOMPARE(reply.value("choices").toArray().at(0).toObject().value("message").toObject().value("content").toString(), r.text);
    }

    // Stop from another thread ends the answer at once; the server frees the sequence.
    void stop_aborts_the_stream() {
        ServeProcess server(model_, {"--parallel", "1", "--ctx", "1024"});
        QVERIFY2(server.ok(), server.output().c_str());
        auto e = engine();
        e->load(QStringLiteral("http://127.0.0.1:%1/v1").arg(server.port()), LoadSettings{}, nullptr);
        std::atomic<bool> stop{false};
        QElapsedTimer timer;
        timer.start();
        SamplingSettings s = greedy(1000);
        const EngineResult r = e->generate(ask("Talk."), s, [&](std::string_view) { stop = true; }, &stop);
        QCOMPARE(r.end, EngineResult::End::Stopped);
        QVERIFY2(timer.elapsed() < 5000, "stopping took too long");
        QTRY_VERIFY_WITH_TIMEOUT(http(server.port(), "GET", "/metrics").body.find("latent_requests_cancelled_total 1") != std::string::npos, 5000);
    }

    void plain_errors_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");
        QTest::newRow("unreachable") << "unreachable" << "connection refused";
        QTest::newRow("wrong key") << "key" << "refused the API key (HTTP 401)";
        QTest::newRow("timeout") << "timeout" << "did not answer in time";
    }
    void plain_errors() {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        std::unique_ptr<ServeProcess> server;
        std::unique_ptr<ScriptedEndpoint> silent;
        QString url;
        LoadSettings settings;
        settings.remoteTimeoutMs = 800;
        if (kind == "unreachable") {
            QTcpServer probe;
            probe.listen(QHostAddress::LocalHost, 0);
            url = QStringLiteral("http://127.0.0.1:%1/v1").arg(probe.serverPort());
            probe.close(); // nothing listens there now
        } else if (kind == "key") {
            server = std::make_unique<ServeProcess>(model_, std::vector<std::string>{"--ctx", "64", "--api-key", "right"});
            url = QStringLiteral("http://127.0.0.1:%1/v1").arg(server->port());
            settings.apiKey = "wrong-key-123";
        } else {
            silent = std::make_unique<ScriptedEndpoint>(QByteArray(), true);
            url = silent->url();
        }
        auto e = engine();
        try {
            e->load(url, settings, nullptr);
            QFAIL("connected");
        } catch (const std::exception& ex) {
            const QString text = QString::fromUtf8(ex.what());
            QVERIFY2(text.contains(message), qPrintable(text));
            QVERIFY(!text.contains("wrong-key-123"));
        }
    }

    // One sequence, no queue: a second answer while the first runs gets the busy message.
    void busy_endpoint_is_429() {
        ServeProcess server(model_, {"--parallel", "1", "--max-queue", "0", "--ctx", "1024", "--backend", "ref"}); // slow: the first answer outlasts the test
        QVERIFY2(server.ok(), server.output().c_str());
        Connection running(server.port());
        running.send(http_request("POST", "/v1/chat/completions", server.port(),
                                  J({"messages":[{"role":"user","content":"x"}],"max_tokens":900,"ignore_eos":true,"stream":true})));
        QVERIFY(running.read_until("\"content\":\"", std::chrono::seconds(20)));
        auto e = engine();
        e->load(QStringLiteral("http://127.0.0.1:%1/v1").arg(server.port()), LoadSettings{}, nullptr);
        const EngineResult r = e->generate(ask("second"), greedy(3), nullptr, nullptr);
        QCOMPARE(r.end, EngineResult::End::Error);
        QVERIFY2(r.message.contains("busy (HTTP 429)"), qPrintable(r.message));
    }

    // vLLM sends reasoning as `reasoning`; comments and CRLF lines are fine.
    void reasoning_field_and_comments() {
        const QByteArray sse = ": ping\r\n\r\n"
                               "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
                               "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Let me think.\"}}]}\r\n\r\n"
                               ": keep-alive\r\n\r\n"
                               "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\" More.\"}}]}\r\n\r\n"
                               "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The answer.\"},\"finish_reason\":\"stop\"}]}\r\n\r\n"
                               "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\r\n\r\n"
                               "data: [DONE]\r\n\r\n";
        ScriptedEndpoint endpoint(sse, false);
        auto e = engine();
        const ModelFacts facts = e->load(endpoint.url(), LoadSettings{}, nullptr);
        QCOMPARE(facts.contextSize, 2048); // vLLM's max_model_len
        const EngineResult r = e->generate(ask("q"), greedy(16), nullptr, nullptr);
        QCOMPARE(r.end, EngineResult::End::Complete);
        QCOMPARE(r.promptTokens, 5);
        QCOMPARE(r.generatedTokens, 9);
        const ChatEngine::Split split = ChatEngine::splitReasoning(r.text, e->promptOpensReasoning());
        QCOMPARE(split.reasoning, QString("Let me think. More."));
        QCOMPARE(split.answer, QString("The answer."));
    }

    void policy_forbids_endpoints() {
        auto e = engine(false);
        try {
            e->load("http://127.0.0.1:9/v1", LoadSettings{}, nullptr);
            QFAIL("connected");
        } catch (const std::exception& ex) {
            QVERIFY(QString(ex.what()).contains("turned off on this computer by its administrator"));
        }
        // The policy is the system settings' [Policy] AllowRemoteEndpoints, found in $XDG_CONFIG_DIRS.
        QVERIFY(QDir(dir_.path()).mkpath("xdg/latent-chat"));
        QFile conf(dir_.filePath("xdg/latent-chat/latent-chat.conf"));
        QVERIFY(conf.open(QIODevice::WriteOnly));
        conf.write("[Policy]\nAllowRemoteEndpoints=false\n");
        conf.close();
        const QByteArray savedDirs = qgetenv("XDG_CONFIG_DIRS");
        qputenv("XDG_CONFIG_DIRS", dir_.filePath("xdg").toUtf8());
        const EndpointPolicy forbidden = readEndpointPolicy();
        QCOMPARE(forbidden.allowRemoteEndpoints, false);
        QCOMPARE(forbidden.source, conf.fileName());
        qputenv("XDG_CONFIG_DIRS", dir_.filePath("nothing-here").toUtf8());
        QCOMPARE(readEndpointPolicy().allowRemoteEndpoints, true);
        // The file of the old mechanism is not read any more.
        qputenv("XDG_CONFIG_DIRS", dir_.filePath("old").toUtf8());
        QVERIFY(QDir(dir_.path()).mkpath("old/latent-chat"));
        QFile old(dir_.filePath("old/latent-chat/policy.conf"));
        QVERIFY(old.open(QIODevice::WriteOnly));
        old.write("[Policy]\nAllowRemoteEndpoints=false\n");
        old.close();
        QCOMPARE(readEndpointPolicy().allowRemoteEndpoints, true);
        if (savedDirs.isEmpty()) qunsetenv("XDG_CONFIG_DIRS");
        else qputenv("XDG_CONFIG_DIRS", savedDirs);
    }
};

QTEST_GUILESS_MAIN(TestRemoteChatEngine)
#include "test_remote_chat_engine.moc"
