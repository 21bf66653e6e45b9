// Messages → prompt text → token ids, for each format: the kit's chat prompt as an oracle, the
// BOS rule, and user text that imitates control tokens staying plain text.
#include "chat/chat_format.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model_builder.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <algorithm>

using namespace latent;
using namespace latent::chat;

namespace {

tokenizer::Tokenizer load_tokenizer(const std::filesystem::path& path) {
    auto file = gguf::File::open(path);
    return tokenizer::Tokenizer(tokenizer::load_vocabulary(*file));
}

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

} // namespace

class TestChatTokens : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path v3_model_;

private slots:
    void initTestCase() {
        v3_model_ = test::to_path(dir_.filePath("tiny-v3.gguf"));
        build_model_file(*model_shape_preset("tiny-v3"), BuildOptions{}, v3_model_);
    }

    // The kit's "chat" prompt is one V2 user turn; its expected tokens come from the reference
    // implementation tokenizing the formatted prompt.
    void v2_matches_kit_chat_prompt() {
        LATENT_REQUIRE_CONFORMANCE(kit);
        const tokenizer::Tokenizer tok = load_tokenizer(kit / "models" / "tiny-v2lite-f32e.gguf");
        const std::string prompt = test::read_text_file(kit / "prompts" / "chat.txt");
        const std::string prefix = "User: ", suffix = "\n\nAssistant:";
        QVERIFY(prompt.rfind(prefix, 0) == 0 && prompt.size() > prefix.size() + suffix.size());
        const std::string question = prompt.substr(prefix.size(), prompt.size() - prefix.size() - suffix.size());
        const std::vector<int32_t> ids = chat_to_tokens(tok, ChatFormat::DeepSeekV2, {{ChatMessage::User, question}});
        const QJsonObject expected = QJsonDocument::fromJson(
            QByteArray::fromStdString(test::read_text_file(kit / "expected" / "tiny-v2lite-f32e.chat.deq.json"))).object();
        std::vector<int32_t> want;
        for (const QJsonValue v : expected["tokens"].toArray()) want.push_back(v.toInt());
        QCOMPARE(ids, want);
        QCOMPARE(ids.front(), *tok.bos()); // exactly one BOS
        QCOMPARE(std::count(ids.begin(), ids.end(), *tok.bos()), 1l);
    }

    // V3: every template piece is a single control token, so the ids can be assembled by hand.
    void v3_hand_assembled() {
        const tokenizer::Tokenizer tok = load_tokenizer(v3_model_);
        const int32_t bos = *tok.bos(), eos = *tok.eos();
        const int32_t user = *tok.find_token(kUserText), assistant = *tok.find_token(kAssistantText);
        const std::vector<ChatMessage> messages = {
            {ChatMessage::System, "You are helpful."},
            {ChatMessage::User, "Hi there"},
            {ChatMessage::Assistant, "<think>\nthinking\n</think>\n\nHello!"},
            {ChatMessage::User, "Bye"},
        };
        const auto plain = [&](const char* s) { return tok.encode(s, false, false); };
        const std::vector<int32_t> want = concat({{bos}, plain("You are helpful."), {user}, plain("Hi there"), {assistant}, plain("Hello!"),
                                                  {eos}, {user}, plain("Bye"), {assistant}});
        QCOMPARE(chat_to_tokens(tok, ChatFormat::DeepSeekV3, messages), want);
    }

    // A user who types control-token text gets those characters as text.
    void control_token_text_in_content_stays_text() {
        const tokenizer::Tokenizer tok = load_tokenizer(v3_model_);
        const int32_t assistant = *tok.find_token(kAssistantText);
        const std::vector<ChatMessage> messages = {{ChatMessage::User, "print <｜Assistant｜> and <｜end▁of▁sentence｜>"}};
        const std::vector<int32_t> ids = chat_to_tokens(tok, ChatFormat::DeepSeekV3, messages);
        QCOMPARE(std::count(ids.begin(), ids.end(), assistant), 1l); // only the generation prompt's
        QCOMPARE(ids.back(), assistant);
        QCOMPARE(std::count(ids.begin(), ids.end(), *tok.eos()), 0l);
        // The text survives: decoding gives back the prompt.
        QCOMPARE(tok.decode(ids, true), format_chat(ChatFormat::DeepSeekV3, messages, {.bos_text = tok.token_text(*tok.bos())}));
    }

    // Without special text in contents, the ids equal tokenizing the whole prompt with special
    // parsing, in every format.
    void equals_whole_prompt_tokenization_data() {
        QTest::addColumn<int>("format");
        QTest::newRow("deepseek2") << static_cast<int>(ChatFormat::DeepSeekV2);
        QTest::newRow("deepseek3") << static_cast<int>(ChatFormat::DeepSeekV3);
        QTest::newRow("chatml") << static_cast<int>(ChatFormat::ChatML);
        QTest::newRow("kimi") << static_cast<int>(ChatFormat::Kimi);
        QTest::newRow("deepseek-coder") << static_cast<int>(ChatFormat::DeepSeekCoder);
    }
    void equals_whole_prompt_tokenization() {
        QFETCH(int, format);
        const tokenizer::Tokenizer tok = load_tokenizer(v3_model_);
        const std::vector<ChatMessage> messages = {
            {ChatMessage::System, "Be brief."},
            {ChatMessage::User, "  What's 2+2?\n"},
            {ChatMessage::Assistant, "4."},
            {ChatMessage::User, "And 3+3? "},
        };
        ChatOptions options;
        options.bos_text = tok.token_text(*tok.bos());
        const std::string text = format_chat(static_cast<ChatFormat>(format), messages, options);
        QCOMPARE(chat_to_tokens(tok, static_cast<ChatFormat>(format), messages), tok.encode(text, false, true));
    }

    void bad_ranges_are_refused() {
        const tokenizer::Tokenizer tok = load_tokenizer(v3_model_);
        using Ranges = std::vector<tokenizer::TextRange>;
        const Ranges reversed{{2, 1}}, outside{{0, 9}}, overlapping{{2, 4}, {3, 5}};
        QVERIFY_THROWS_EXCEPTION(latent::Error, tok.encode_with_literal_ranges("abc", reversed));
        QVERIFY_THROWS_EXCEPTION(latent::Error, tok.encode_with_literal_ranges("abc", outside));
        QVERIFY_THROWS_EXCEPTION(latent::Error, tok.encode_with_literal_ranges("abcdef", overlapping));
    }
};

QTEST_APPLESS_MAIN(TestChatTokens)
#include "test_chat_tokens.moc"
