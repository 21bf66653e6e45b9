// `latent serve` end to end: the real binary on a loopback port with a generated model, driven
// with raw HTTP. Answers are checked against an in-process Session on the same model (the
// oracle: greedy text and token counts must be identical), concurrency against the same
// requests run one by one, and every refusal for its status code and message.
#include "core/json_writer.h"
#include "engine.h"
#include "model/model_builder.h"
#include "serve_client.h"
#include "server/json_value.h"
#include "test_support.h"

#include <QtTest>

#include <thread>

using namespace latent;
using namespace latent::test;
using server::JsonValue;
using server::parse_json;

namespace {

constexpr uint32_t kCtx = 1024;

std::string chat_body(const std::string& user, int max_tokens, const std::string& extra = {}) {
    return "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":" + JsonWriter::escape(user) + "}],\"max_tokens\":" + std::to_string(max_tokens) +
           ",\"temperature\":0" + extra + "}";
}

std::string content_of(const JsonValue& response) {
    return response.find("choices")->items().at(0).find("message")->find("content")->as_string();
}

// The streamed text of an SSE chat body, its finish reason and usage (when sent).
struct Streamed {
    std::string content;
    std::string finish_reason;
    int64_t prompt_tokens = -1, completion_tokens = -1;
    bool done = false;
};

Streamed parse_stream(const std::string& body) {
    Streamed s;
    for (const std::string& data : sse_data(body)) {
        if (data == "[DONE]") {
            s.done = true;
            continue;
        }
        const JsonValue chunk = parse_json(data);
        if (const JsonValue* usage = chunk.find("usage"); usage && usage->is_object()) {
            s.prompt_tokens = usage->find("prompt_tokens")->as_integer();
            s.completion_tokens = usage->find("completion_tokens")->as_integer();
        }
        for (const JsonValue& choice : chunk.find("choices")->items()) {
            if (const JsonValue* delta = choice.find("delta")) {
                if (const JsonValue* c = delta->find("content")) s.content += c->as_string();
            }
            if (const JsonValue* text = choice.find("text")) s.content += text->as_string();
            if (const JsonValue* f = choice.find("finish_reason"); f && f->is_string()) s.finish_reason = f->as_string();
        }
    }
    return s;
}

int64_t metric(uint16_t port, const std::string& name, const std::string& auth = {}) {
    const HttpReply r = http(port, "GET", "/metrics", {}, auth);
    const size_t at = r.body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(r.body.substr(at + name.size() + 2));
}

} // namespace

class TestServe : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path model_path_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<ServeProcess> server_; // --parallel 4, no key

    // Greedy generation of the same chat in-process: the oracle.
    GenerationResult oracle(const std::string& user, int max_tokens, std::vector<std::string> stop = {}) {
        BackendOptions options;
        options.n_ctx = kCtx;
        options.n_threads = 2;
        auto backend = create_cpu_backend(*model_, options);
        Session session(*backend);
        GenerationParams params;
        params.sampling.temperature = 0;
        params.max_new_tokens = max_tokens;
        params.prefill_chunk = 16; // as the server is started
        params.stop_strings = std::move(stop);
        return session.generate({{chat::ChatMessage::User, user}}, params, nullptr);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_path_ = to_path(dir_.filePath("tiny.gguf"));
        BuildOptions build;
        build.scheme = WeightScheme::Q8_0;
        build_model_file(*model_shape_preset("tiny"), build, model_path_);
        model_ = Model::load(model_path_);
        server_ = std::make_unique<ServeProcess>(model_path_, std::vector<std::string>{"--parallel", "4", "--ctx", std::to_string(kCtx), "--threads", "2",
                                                                                        "--alias", "tiny", "--max-body", "65536", "--sse-ping-ms", "20",
                                                                                        "--prefill-chunk", "16"});
        QVERIFY2(server_->ok(), server_->output().c_str());
    }
    void cleanupTestCase() { QCOMPARE(server_->stop(), 0); }

    void health_models_metrics() {
        const uint16_t port = server_->port();
        HttpReply r = http(port, "GET", "/health");
        QCOMPARE(r.status, 200);
        QCOMPARE(QString::fromStdString(r.body), QString("{\"status\":\"ok\"}"));
        r = http(port, "GET", "/v1/models");
        QCOMPARE(r.status, 200);
        QCOMPARE(parse_json(r.body).find("data")->items().at(0).find("id")->as_string(), std::string("tiny"));
        r = http(port, "GET", "/metrics");
        QCOMPARE(r.status, 200);
        for (const char* name : {"latent_generated_tokens_total", "latent_generation_tokens_per_second", "latent_queue_depth", "latent_http_responses_total{code=\"200\"}"}) {
            QVERIFY2(r.body.find(name) != std::string::npos, name);
        }
        QCOMPARE(http(port, "GET", "/nope").status, 404);
        QCOMPARE(http(port, "POST", "/v1/models", "{}").status, 405);
        QCOMPARE(http(port, "GET", "/v1/chat/completions").status, 405);
    }

    // Non-streaming and streaming answers equal the in-process session's greedy answer, and the
    // usage numbers equal its token counts.
    void chat_matches_session() {
        const GenerationResult expected = oracle("Tell me about latent attention.", 24);
        QVERIFY(expected.stats.n_generated > 0);
        const HttpReply r = http(server_->port(), "POST", "/v1/chat/completions", chat_body("Tell me about latent attention.", 24));
        QCOMPARE(r.status, 200);
        const JsonValue body = parse_json(r.body);
        QCOMPARE(content_of(body), expected.text);
        QCOMPARE(body.find("object")->as_string(), std::string("chat.completion"));
        QCOMPARE(body.find("usage")->find("prompt_tokens")->as_integer(), int64_t(expected.stats.n_prompt_tokens));
        QCOMPARE(body.find("usage")->find("completion_tokens")->as_integer(), int64_t(expected.stats.n_generated));
        QCOMPARE(body.find("usage")->find("total_tokens")->as_integer(), int64_t(expected.stats.n_prompt_tokens + expected.stats.n_generated));
        const std::string finish = body.find("choices")->items().at(0).find("finish_reason")->as_string();
        QCOMPARE(finish, std::string(expected.reason == StopReason::MaxTokens ? "length" : "stop"));

        const HttpReply s = http(server_->port(), "POST", "/v1/chat/completions",
                                 chat_body("Tell me about latent attention.", 24, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        QCOMPARE(s.status, 200);
        QCOMPARE(QString::fromStdString(s.headers.at("content-type")), QString("text/event-stream"));
        const Streamed streamed = parse_stream(s.body);
        QVERIFY(streamed.done);
        QCOMPARE(streamed.content, expected.text);
        QCOMPARE(streamed.finish_reason, finish);
        QCOMPARE(streamed.prompt_tokens, int64_t(expected.stats.n_prompt_tokens));
        QCOMPARE(streamed.completion_tokens, int64_t(expected.stats.n_generated));
        // Without include_usage no usage chunk is sent.
        const Streamed plain = parse_stream(http(server_->port(), "POST", "/v1/chat/completions", chat_body("Tell me about latent attention.", 24, ",\"stream\":true")).body);
        QCOMPARE(plain.content, expected.text);
        QCOMPARE(plain.completion_tokens, int64_t(-1));
    }

    void completions_count_prompt_tokens() {
        const std::string prompt = "The quick brown fox";
        const size_t expected_prompt = model_->tokenizer().encode(prompt, true, true).size();
        const HttpReply r = http(server_->port(), "POST", "/v1/completions", "{\"prompt\":" + JsonWriter::escape(prompt) + ",\"max_tokens\":7,\"temperature\":0,\"ignore_eos\":true}");
        QCOMPARE(r.status, 200);
        const JsonValue body = parse_json(r.body);
        QCOMPARE(body.find("object")->as_string(), std::string("text_completion"));
        QCOMPARE(body.find("usage")->find("prompt_tokens")->as_integer(), int64_t(expected_prompt));
        QCOMPARE(body.find("usage")->find("completion_tokens")->as_integer(), int64_t(7));
        QCOMPARE(body.find("choices")->items().at(0).find("finish_reason")->as_string(), std::string("length"));
    }

    // A stop string taken from the middle of the greedy answer cuts it right there.
    void stop_strings() {
        const GenerationResult full = oracle("Stop somewhere.", 40);
        if (full.text.size() < 12) QSKIP("the generated model's answer is too short to cut");
        const std::string stop = full.text.substr(full.text.size() / 2, 3);
        const size_t cut = full.text.find(stop);
        const std::string extra = ",\"stop\":[" + JsonWriter::escape(stop) + "]";
        const JsonValue body = parse_json(http(server_->port(), "POST", "/v1/chat/completions", chat_body("Stop somewhere.", 40, extra)).body);
        QCOMPARE(content_of(body), full.text.substr(0, cut));
        QCOMPARE(body.find("choices")->items().at(0).find("finish_reason")->as_string(), std::string("stop"));
        const Streamed s = parse_stream(http(server_->port(), "POST", "/v1/chat/completions", chat_body("Stop somewhere.", 40, extra + ",\"stream\":true")).body);
        QCOMPARE(s.content, full.text.substr(0, cut));
    }

    void seed_determinism() {
        auto ask = [&](int seed) {
            const std::string extra = ",\"temperature\":1.0,\"top_k\":0,\"top_p\":1,\"min_p\":0,\"ignore_eos\":true,\"seed\":" + std::to_string(seed);
            const std::string body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Roll dice.\"}],\"max_tokens\":24" + extra + "}";
            const HttpReply r = http(server_->port(), "POST", "/v1/chat/completions", body);
            return r.status == 200 ? content_of(parse_json(r.body)) : std::string("status ") + std::to_string(r.status);
        };
        const std::string a = ask(42), b = ask(42), c = ask(43);
        QCOMPARE(a, b);
        QVERIFY2(a != c, "different seeds gave the same 24 tokens");
    }

    // Four streams at once (one decode batch per step) answer exactly what each answers alone.
    void concurrent_streams_equal_sequential() {
        const uint16_t port = server_->port();
        const std::vector<std::string> questions = {"First question?", "A second, longer question about caches?", "Third.", "Fourth one here, please."};
        std::vector<std::string> alone;
        for (const auto& q : questions) {
            alone.push_back(parse_stream(http(port, "POST", "/v1/chat/completions", chat_body(q, 32, ",\"stream\":true")).body).content);
            QCOMPARE(alone.back(), oracle(q, 32).text);
        }
        const int64_t steps_before = metric(port, "latent_decode_steps_total");
        const int64_t tokens_before = metric(port, "latent_generated_tokens_total");
        std::vector<std::unique_ptr<Connection>> connections;
        for (const auto& q : questions) {
            connections.push_back(std::make_unique<Connection>(port));
            QVERIFY(connections.back()->send(http_request("POST", "/v1/chat/completions", port, chat_body(q, 32, ",\"stream\":true"))));
        }
        std::vector<std::thread> readers;
        for (auto& c : connections) readers.emplace_back([&c] { c->read_all(); });
        for (auto& t : readers) t.join();
        for (size_t i = 0; i < questions.size(); ++i) QCOMPARE(parse_stream(parse_reply(connections[i]->received()).body).content, alone[i]);
        // They were batched: fewer decode steps than tokens decoded.
        const int64_t steps = metric(port, "latent_decode_steps_total") - steps_before;
        const int64_t tokens = metric(port, "latent_generated_tokens_total") - tokens_before;
        qInfo("4 concurrent streams: %lld tokens in %lld decode steps", static_cast<long long>(tokens), static_cast<long long>(steps));
        QVERIFY2(steps < tokens - static_cast<int64_t>(questions.size()), "the streams were not decoded together");
    }

    // A long prompt streams SSE comment pings before its first token (on the slow float32
    // reference backend, so the prefill surely outlasts several ping intervals).
    void pings_during_prefill() {
        ServeProcess s(model_path_, {"--parallel", "1", "--ctx", "512", "--backend", "ref", "--sse-ping-ms", "10", "--prefill-chunk", "8"});
        QVERIFY2(s.ok(), s.output().c_str());
        std::string prompt;
        for (int i = 0; i < 40; ++i) prompt += "lorem ipsum dolor ";
        QElapsedTimer timer;
        timer.start();
        const HttpReply r = http(s.port(), "POST", "/v1/completions",
                                 "{\"prompt\":" + JsonWriter::escape(prompt) + ",\"max_tokens\":2,\"stream\":true,\"temperature\":0}");
        QCOMPARE(r.status, 200);
        const size_t ping = r.body.find(": ping\n\n"), data = r.body.find("data: ");
        qInfo("prefill and 2 tokens took %lld ms", static_cast<long long>(timer.elapsed()));
        QVERIFY2(ping != std::string::npos && ping < data, r.body.substr(0, 300).c_str());
        QVERIFY(parse_stream(r.body).done);
    }

    void bad_requests_data() {
        QTest::addColumn<QString>("request"); // raw head (without the final blank line); {PORT} is replaced
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("message"); // part of error.message
        const QString post = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: close\r\nContent-Type: application/json\r\n";
        QTest::newRow("malformed JSON") << post << QByteArray("{\"messages\": [") << 400 << "not valid JSON";
        QTest::newRow("wrong type") << post << QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}") << 400 << "'temperature' must be a number";
        QTest::newRow("unknown role") << post << QByteArray("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}") << 400 << "unknown role 'wizard'";
        QTest::newRow("out of range") << post << QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":7}") << 400 << "'top_p' must be from 0 to 1";
        QTest::newRow("n=3") << post << QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":3}") << 400 << "only n = 1";
        QTest::newRow("prompt too long") << post << QByteArray("{\"messages\":[{\"role\":\"user\",\"content\":\"" + QByteArray(6000, 'z') + " " + QByteArray(6000, 'q') + "\"}]}") << 400 << "this server takes at most";
        QTest::newRow("not JSON content type") << QString(post).replace("application/json", "text/plain") << QByteArray("{}") << 415 << "must be JSON";
        QTest::newRow("oversized body") << "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nContent-Type: application/json\r\n" << QByteArray(200000, ' ') << 413 << "larger than this server's limit";
        QTest::newRow("huge header") << "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nX-Big: " + QString(40000, 'h') + "\r\n" << QByteArray() << 431 << "headers are larger";
        QTest::newRow("rebinding host") << "GET /v1/models HTTP/1.1\r\nHost: evil.example:{PORT}\r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("empty host name") << "GET /v1/models HTTP/1.1\r\nHost: :{PORT}\r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("empty host") << "GET /v1/models HTTP/1.1\r\nHost: \r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("missing host") << "GET /v1/models HTTP/1.1\r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("two hosts") << "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nHost: evil.example\r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("wrong port") << "GET /v1/models HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n" << QByteArray() << 403 << "does not name this server";
        QTest::newRow("cross origin") << "GET /v1/models HTTP/1.1\r\nHost: localhost:{PORT}\r\nOrigin: http://evil.example\r\nConnection: close\r\n" << QByteArray() << 403 << "cross-origin";
        QTest::newRow("garbage") << "BLAH\r\n" << QByteArray() << 400 << "malformed HTTP";
    }
    void bad_requests() {
        QFETCH(QString, request);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, message);
        const uint16_t port = server_->port();
        std::string head = request.replace("{PORT}", QString::number(port)).toStdString();
        if (!body.isEmpty()) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        Connection c(port);
        c.send(head + "\r\n" + body.toStdString());
        const HttpReply r = parse_reply(c.read_all(std::chrono::seconds(20)));
        QCOMPARE(r.status, status);
        const JsonValue error = parse_json(r.body);
        const std::string text = error.find("error")->find("message")->as_string();
        QVERIFY2(text.find(message.toStdString()) != std::string::npos, text.c_str());
        QVERIFY(error.find("error")->find("type")->is_string());
        QCOMPARE(http(port, "GET", "/health").status, 200); // still serving
    }

    void cors_when_allowed() {
        ServeProcess s(model_path_, {"--parallel", "1", "--ctx", "64", "--cors", "http://app.example"});
        QVERIFY2(s.ok(), s.output().c_str());
        HttpReply r = http(s.port(), "OPTIONS", "/v1/chat/completions", {}, "Origin: http://app.example\r\nAccess-Control-Request-Method: POST\r\n");
        QCOMPARE(r.status, 204);
        QCOMPARE(QString::fromStdString(r.headers["access-control-allow-origin"]), QString("http://app.example"));
        QVERIFY(r.headers["access-control-allow-headers"].find("Authorization") != std::string::npos);
        r = http(s.port(), "GET", "/v1/models", {}, "Origin: http://app.example\r\n");
        QCOMPARE(r.status, 200);
        QCOMPARE(QString::fromStdString(r.headers["access-control-allow-origin"]), QString("http://app.example"));
        QCOMPARE(http(s.port(), "GET", "/v1/models", {}, "Origin: http://other.example\r\n").status, 403);
        QVERIFY(http(server_->port(), "GET", "/v1/models").headers.count("access-control-allow-origin") == 0); // off by default
    }

    void api_key() {
        ServeProcess s(model_path_, {"--parallel", "1", "--ctx", "64", "--api-key", "sk-local-test"});
        QVERIFY2(s.ok(), s.output().c_str());
        QCOMPARE(http(s.port(), "GET", "/health").status, 200); // the one open route
        for (const std::string path : {"/v1/models", "/metrics"}) {
            QCOMPARE(http(s.port(), "GET", path).status, 401);
            QCOMPARE(http(s.port(), "GET", path, {}, "Authorization: Bearer sk-local-tesT\r\n").status, 401);
            QCOMPARE(http(s.port(), "GET", path, {}, "Authorization: Bearer sk-local-test\r\n").status, 200);
        }
        const HttpReply r = http(s.port(), "POST", "/v1/chat/completions", chat_body("hi", 2), "Authorization: Bearer wrong\r\n");
        QCOMPARE(r.status, 401);
        QCOMPARE(parse_json(r.body).find("error")->find("type")->as_string(), std::string("authentication_error"));
        QCOMPARE(QString::fromStdString(r.headers.at("www-authenticate")), QString("Bearer"));
        QCOMPARE(http(s.port(), "POST", "/v1/chat/completions", chat_body("hi", 2), "Authorization: Bearer sk-local-test\r\n").status, 200);
    }

    void network_bind_needs_a_key() {
        std::string output;
        QCOMPARE(run_cli({"serve", "-m", model_path_.string(), "--host", "0.0.0.0", "--port", "0"}, output), 2);
        QVERIFY2(output.find("--api-key") != std::string::npos && output.find("--no-auth") != std::string::npos, output.c_str());
    }

    // Hanging up mid-stream frees the sequence at once: with one sequence, the next request is
    // served right away although the first asked for 900 more tokens.
    void disconnect_frees_the_sequence() {
        ServeProcess s(model_path_, {"--parallel", "1", "--ctx", "1024", "--threads", "2"});
        QVERIFY2(s.ok(), s.output().c_str());
        {
            Connection c(s.port());
            c.send(http_request("POST", "/v1/chat/completions", s.port(), chat_body("Talk for a long time.", 900, ",\"stream\":true,\"ignore_eos\":true")));
            QVERIFY(c.read_until("\"content\":\"", std::chrono::seconds(20)));
        }
        QElapsedTimer timer;
        timer.start();
        const HttpReply r = http(s.port(), "POST", "/v1/chat/completions", chat_body("Quick one.", 3));
        QCOMPARE(r.status, 200);
        QCOMPARE(metric(s.port(), "latent_requests_cancelled_total"), int64_t(1));
        QVERIFY2(metric(s.port(), "latent_generated_tokens_total") < 600, "the first generation kept running");
        qInfo("next request answered %lld ms after the hang-up", static_cast<long long>(timer.elapsed()));
    }

    // One sequence, one queue place: a third request is refused with 429 while the first runs.
    void full_queue_is_429() {
        ServeProcess s(model_path_, {"--parallel", "1", "--max-queue", "1", "--ctx", "1024", "--threads", "2", "--backend", "ref"}); // slow: the first request surely outlasts the checks
        QVERIFY2(s.ok(), s.output().c_str());
        Connection running(s.port()), waiting(s.port());
        running.send(http_request("POST", "/v1/chat/completions", s.port(), chat_body("Long.", 900, ",\"stream\":true,\"ignore_eos\":true")));
        QVERIFY(running.read_until("\"content\":\"", std::chrono::seconds(20)));
        waiting.send(http_request("POST", "/v1/chat/completions", s.port(), chat_body("Waiting.", 3)));
        QTRY_COMPARE_WITH_TIMEOUT(metric(s.port(), "latent_queue_depth"), int64_t(1), 5000);
        const HttpReply refused = http(s.port(), "POST", "/v1/chat/completions", chat_body("Refused.", 3));
        QCOMPARE(refused.status, 429);
        QCOMPARE(parse_json(refused.body).find("error")->find("type")->as_string(), std::string("rate_limit_error"));
        running.close();
        QCOMPARE(parse_reply(waiting.read_all(std::chrono::seconds(30))).status, 200);
    }

    // 120 clients at once, each sending a 48 KB chat: most are refused (429) or answered; the
    // server's peak memory stays bounded and it keeps serving.
    void flood_stays_bounded() {
        ServeProcess s(model_path_, {"--parallel", "2", "--max-queue", "2", "--ctx", "256", "--max-connections", "200", "--threads", "2"});
        QVERIFY2(s.ok(), s.output().c_str());
        const long before = s.peak_rss_kib();
        const std::string body = chat_body(std::string(48000, 'a'), 4);
        std::vector<std::unique_ptr<Connection>> clients;
        for (int i = 0; i < 120; ++i) {
            clients.push_back(std::make_unique<Connection>(s.port()));
            clients.back()->send(http_request("POST", "/v1/chat/completions", s.port(), body));
        }
        std::map<int, int> statuses;
        for (auto& c : clients) ++statuses[parse_reply(c->read_all(std::chrono::seconds(60))).status];
        const long after = s.peak_rss_kib();
        QString summary;
        for (const auto& [status, n] : statuses) summary += QString("%1×%2 ").arg(n).arg(status);
        qInfo("flood: %s; peak RSS %ld → %ld KiB", qPrintable(summary), before, after);
        QVERIFY2(statuses.count(0) == 0, "a client got no answer");
        QVERIFY2(after - before < 200 * 1024, "the flood grew the server by more than 200 MiB");
        QCOMPARE(http(s.port(), "GET", "/health").status, 200);
    }
};

QTEST_GUILESS_MAIN(TestServe)
#include "test_serve.moc"
