// The pieces of `latent serve` that need no socket: the strict JSON reader, request parsing and
// range checks (every bad field named, with status 400), the Host / key / bearer checks, and
// the response shapes (read back with the JSON reader).
#include "core/error.h"
#include "server/http_security.h"
#include "server/json_value.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

#include <QtTest>

using namespace latent;
using namespace latent::server;

// JSON text without raw string literals (which moc in Qt 6.4 cannot read): J({"a": 1}).
#define J(...) #__VA_ARGS__

class TestServeProtocol : public QObject {
    Q_OBJECT

private slots:
    void json_accepts_valid_documents() {
        const JsonValue v = parse_json(J( {"a": [1, -2.5e3, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}, "a2": 9007199254740993} ));
        QVERIFY(v.is_object());
        const JsonValue* a = v.find("a");
        QVERIFY(a && a->is_array());
        QCOMPARE(a->items().size(), size_t(6));
        QVERIFY(a->items()[0].is_integer());
        QCOMPARE(a->items()[0].as_integer(), int64_t(1));
        QCOMPARE(a->items()[1].as_number(), -2500.0);
        QVERIFY(!a->items()[1].is_integer());
        QCOMPARE(QString::fromStdString(a->items()[5].as_string()), QString::fromUtf8("x\u00e9\U0001F600\n"));
        QCOMPARE(v.find("a2")->as_integer(), int64_t(9007199254740993));
        QVERIFY(v.find("missing") == nullptr);
    }

    void json_rejects_invalid_documents_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::newRow("empty") << QByteArray("");
        QTest::newRow("trailing comma") << QByteArray("[1,]");
        QTest::newRow("two values") << QByteArray("{} {}");
        QTest::newRow("single quotes") << QByteArray("{'a': 1}");
        QTest::newRow("leading zero") << QByteArray("01");
        QTest::newRow("bare word") << QByteArray("nul");
        QTest::newRow("control char") << QByteArray("\"a\x01\"");
        QTest::newRow("lone surrogate") << QByteArray("\"\\udc00\"");
        QTest::newRow("bad utf8") << QByteArray("\"\xff\"");
        QTest::newRow("unterminated") << QByteArray("{\"a\": \"x");
        QTest::newRow("huge exponent") << QByteArray("1e999");
        QTest::newRow("too deep") << QByteArray(200, '[') + QByteArray(200, ']');
    }
    void json_rejects_invalid_documents() {
        QFETCH(QByteArray, text);
        try {
            parse_json(std::string_view(text.constData(), static_cast<size_t>(text.size())));
            QFAIL("accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).starts_with("invalid JSON at byte"), e.what());
        }
    }

    void request_defaults_and_fields() {
        const CompletionRequest r = parse_completion_request(
            J({"model":"m","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},{"role":"assistant","content":null},{"role":"user","content":"again"}],
                "temperature":0.5,"top_p":0.9,"top_k":7,"min_p":0.1,"presence_penalty":-1,"frequency_penalty":1.5,"seed":-3,"max_completion_tokens":12,"max_tokens":99,
                "stop":["a","bc"],"stream":true,"stream_options":{"include_usage":true},"n":1,"user":"ignored","logprobs":false}),
            true, RequestLimits{});
        QCOMPARE(r.messages.size(), size_t(4));
        QCOMPARE(r.messages[0].role, chat::ChatMessage::System);
        QCOMPARE(r.messages[1].content, std::string("hi there"));
        QCOMPARE(r.messages[2].content, std::string());
        QCOMPARE(r.params.sampling.temperature, 0.5f);
        QCOMPARE(r.params.sampling.top_k, 7);
        QCOMPARE(r.params.sampling.min_p, 0.1f);
        QCOMPARE(r.params.sampling.presence_penalty, -1.0f);
        QCOMPARE(r.params.sampling.frequency_penalty, 1.5f);
        QCOMPARE(r.params.sampling.seed, static_cast<uint64_t>(-3));
        QVERIFY(r.seeded);
        QCOMPARE(r.params.max_new_tokens, 12); // max_completion_tokens wins
        QCOMPARE(r.params.stop_strings, (std::vector<std::string>{"a", "bc"}));
        QVERIFY(r.stream && r.include_usage);

        const CompletionRequest c = parse_completion_request(J({"prompt":["once"],"stop":"x"}), false, RequestLimits{});
        QCOMPARE(c.prompt, std::string("once"));
        QCOMPARE(c.params.max_new_tokens, RequestLimits{}.default_max_tokens);
        QVERIFY(!c.seeded);
    }

    void request_errors_name_the_field_data() {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("chat");
        QTest::addColumn<QString>("param");
        QTest::newRow("not an object") << QByteArray("[1]") << true << "";
        QTest::newRow("malformed") << QByteArray("{\"messages\": [") << true << "";
        QTest::newRow("no messages") << QByteArray("{}") << true << "messages";
        QTest::newRow("empty messages") << QByteArray(J({"messages":[]})) << true << "messages";
        QTest::newRow("messages not array") << QByteArray(J({"messages":"hi"})) << true << "messages";
        QTest::newRow("unknown role") << QByteArray(J({"messages":[{"role":"wizard","content":"x"}]})) << true << "messages[0].role";
        QTest::newRow("tool role") << QByteArray(J({"messages":[{"role":"user","content":"x"},{"role":"tool","content":"x"}]})) << true << "messages[1].role";
        QTest::newRow("content number") << QByteArray(J({"messages":[{"role":"user","content":5}]})) << true << "messages[0].content";
        QTest::newRow("image part") << QByteArray(J({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]})) << true << "messages[0].content[0].type";
        QTest::newRow("user content missing") << QByteArray(J({"messages":[{"role":"user"}]})) << true << "messages[0].content";
        QTest::newRow("temperature type") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})) << true << "temperature";
        QTest::newRow("temperature range") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"temperature":2.5})) << true << "temperature";
        QTest::newRow("top_p range") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"top_p":1.5})) << true << "top_p";
        QTest::newRow("min_p range") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"min_p":-0.1})) << true << "min_p";
        QTest::newRow("top_k fraction") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"top_k":2.5})) << true << "top_k";
        QTest::newRow("presence range") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"presence_penalty":3})) << true << "presence_penalty";
        QTest::newRow("frequency range") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"frequency_penalty":-2.01})) << true << "frequency_penalty";
        QTest::newRow("max_tokens zero") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"max_tokens":0})) << true << "max_tokens";
        QTest::newRow("max_tokens huge") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"max_tokens":100000000})) << true << "max_tokens";
        QTest::newRow("max_completion_tokens type") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"max_completion_tokens":"9"})) << true << "max_completion_tokens";
        QTest::newRow("seed fraction") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"seed":1.5})) << true << "seed";
        QTest::newRow("n=2") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"n":2})) << true << "n";
        QTest::newRow("stop type") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"stop":5})) << true << "stop";
        QTest::newRow("too many stops") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})) << true << "stop";
        QTest::newRow("empty stop") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"stop":[""]})) << true << "stop[0]";
        QTest::newRow("stream type") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"stream":"yes"})) << true << "stream";
        QTest::newRow("stream_options without stream") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})) << true << "stream_options";
        QTest::newRow("tools") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})) << true << "tools";
        QTest::newRow("logprobs") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"logprobs":true})) << true << "logprobs";
        QTest::newRow("json mode") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})) << true << "response_format";
        QTest::newRow("model type") << QByteArray(J({"messages":[{"role":"user","content":"x"}],"model":7})) << true << "model";
        QTest::newRow("prompt missing") << QByteArray(J({"max_tokens":3})) << false << "prompt";
        QTest::newRow("prompt tokens") << QByteArray(J({"prompt":[1,2,3]})) << false << "prompt";
        QTest::newRow("echo") << QByteArray(J({"prompt":"x","echo":true})) << false << "echo";
    }
    void request_errors_name_the_field() {
        QFETCH(QByteArray, body);
        QFETCH(bool, chat);
        QFETCH(QString, param);
        try {
            parse_completion_request(std::string_view(body.constData(), static_cast<size_t>(body.size())), chat, RequestLimits{});
            QFAIL("accepted");
        } catch (const ApiError& e) {
            QCOMPARE(e.status, 400);
            QCOMPARE(QString::fromStdString(e.type), QString("invalid_request_error"));
            QCOMPARE(QString::fromStdString(e.param), param);
            QVERIFY(std::strlen(e.what()) > 10);
        }
    }

    void too_many_messages() {
        RequestLimits limits;
        limits.max_messages = 3;
        const std::string body = J({"messages":[{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"user","content":"a"}]});
        QVERIFY_THROWS_EXCEPTION(ApiError, parse_completion_request(body, true, limits));
    }

    void host_header_checks_data() {
        QTest::addColumn<QString>("bind");
        QTest::addColumn<QString>("host");
        QTest::addColumn<bool>("allowed");
        QTest::newRow("loopback name") << "127.0.0.1" << "localhost:8080" << true;
        QTest::newRow("loopback ip no port") << "127.0.0.1" << "127.0.0.1" << true;
        QTest::newRow("ipv6 loopback") << "127.0.0.1" << "[::1]:8080" << true;
        QTest::newRow("case") << "127.0.0.1" << "LocalHost:8080" << true;
        QTest::newRow("extra name") << "127.0.0.1" << "box.lan:8080" << true;
        QTest::newRow("rebinding") << "127.0.0.1" << "evil.example:8080" << false;
        QTest::newRow("empty name") << "127.0.0.1" << ":8080" << false;
        QTest::newRow("empty") << "127.0.0.1" << "" << false;
        QTest::newRow("wrong port") << "127.0.0.1" << "localhost:8081" << false;
        QTest::newRow("empty port") << "127.0.0.1" << "localhost:" << false;
        QTest::newRow("junk port") << "127.0.0.1" << "localhost:80a" << false;
        QTest::newRow("suffix trick") << "127.0.0.1" << "localhost.evil.example" << false;
        QTest::newRow("bound ip") << "192.168.1.5" << "192.168.1.5:8080" << true;
        QTest::newRow("wildcard is not a name") << "0.0.0.0" << "0.0.0.0:8080" << false;
        QTest::newRow("bracket junk") << "127.0.0.1" << "[::1]x" << false;
        QTest::newRow("empty brackets") << "127.0.0.1" << "[]:8080" << false;
    }
    void host_header_checks() {
        QFETCH(QString, bind);
        QFETCH(QString, host);
        QFETCH(bool, allowed);
        const auto names = allowed_host_names(bind.toStdString(), {"Box.LAN"});
        QCOMPARE(host_header_allowed(host.toStdString(), names, 8080), allowed);
    }

    void keys_and_bearer() {
        QVERIFY(constant_time_equal("secret-key", "secret-key"));
        QVERIFY(!constant_time_equal("secret-key", "secret-kez"));
        QVERIFY(!constant_time_equal("secret-key", "secret-key2"));
        QVERIFY(!constant_time_equal("", "x"));
        QVERIFY(constant_time_equal("", ""));
        QCOMPARE(bearer_token("Bearer abc"), std::string_view("abc"));
        QCOMPARE(bearer_token("bearer  abc "), std::string_view("abc"));
        QCOMPARE(bearer_token("Basic abc"), std::string_view());
        QCOMPARE(bearer_token("Bearer"), std::string_view());
        QVERIFY(is_loopback_host("127.0.0.1") && is_loopback_host("::1") && is_loopback_host("localhost"));
        QVERIFY(!is_loopback_host("0.0.0.0") && !is_loopback_host("192.168.0.1"));
    }

    void responses_are_openai_shaped() {
        ResponseIdentity id{"chatcmpl-1", 17, "m", true};
        const JsonValue chunk = parse_json(stream_chunk(id, "", "hé\"", "think", ""));
        QCOMPARE(chunk.find("object")->as_string(), std::string("chat.completion.chunk"));
        const JsonValue& choice = chunk.find("choices")->items().at(0);
        QCOMPARE(choice.find("delta")->find("content")->as_string(), std::string("hé\""));
        QCOMPARE(choice.find("delta")->find("reasoning_content")->as_string(), std::string("think"));
        QVERIFY(choice.find("finish_reason")->is_null());
        const JsonValue full = parse_json(full_response(id, "answer", "", "length", Usage{5, 7}));
        QCOMPARE(full.find("usage")->find("total_tokens")->as_integer(), int64_t(12));
        QCOMPARE(full.find("choices")->items().at(0).find("message")->find("content")->as_string(), std::string("answer"));
        QVERIFY(full.find("choices")->items().at(0).find("message")->find("reasoning_content") == nullptr);
        const JsonValue error = parse_json(error_body("bad", "invalid_request_error", "top_p"));
        QCOMPARE(error.find("error")->find("param")->as_string(), std::string("top_p"));
        QVERIFY(error.find("error")->find("code")->is_null());
        id.chat = false;
        const JsonValue text = parse_json(stream_chunk(id, "", "t", "", "stop"));
        QCOMPARE(text.find("object")->as_string(), std::string("text_completion"));
        QCOMPARE(text.find("choices")->items().at(0).find("text")->as_string(), std::string("t"));
        const JsonValue models = parse_json(models_body("tiny", 3));
        QCOMPARE(models.find("data")->items().at(0).find("id")->as_string(), std::string("tiny"));
    }
};

QTEST_GUILESS_MAIN(TestServeProtocol)
#include "test_serve_protocol.moc"
