// Tokenizer: the conformance kit (llama.cpp's ids for both DeepSeek pre-tokenizers, id for id),
// round trips on kit texts, random UTF-8 and invalid bytes, the streaming decoder on characters
// split across tokens, the special-token partition on a synthetic vocabulary, every fast path
// against its slow reference on random inputs, llama.cpp's regex dialect rules, and a table of
// malformed vocabularies that must each give an error naming the fault.
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>

using namespace latent;
using namespace latent::tokenizer;

namespace {

std::string format_ids(const std::vector<int32_t>& ids) {
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "]";
}

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// ---- Kit -----------------------------------------------------------------------------------

struct KitCase {
    std::string text;
    std::vector<int32_t> ids;             // no BOS, special tokens not parsed
    std::vector<int32_t> ids_bos_special; // BOS prepended, special tokens parsed
};

std::vector<int32_t> to_ids(const QJsonArray& array) {
    std::vector<int32_t> ids;
    for (const auto& value : array) ids.push_back(value.toInt());
    return ids;
}

std::vector<KitCase> read_kit_cases(const std::filesystem::path& path) {
    QFile file(QString::fromStdString(path.string()));
    if (!file.open(QIODevice::ReadOnly)) throw std::runtime_error("cannot read " + path.string());
    std::vector<KitCase> cases;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        if (line.isEmpty()) continue;
        QJsonParseError error{};
        const QJsonObject object = QJsonDocument::fromJson(line, &error).object();
        if (error.error != QJsonParseError::NoError) throw std::runtime_error("bad JSON line in " + path.string());
        cases.push_back({object.value("text").toString().toStdString(), to_ids(object.value("ids").toArray()),
                         to_ids(object.value("ids_bos_special").toArray())});
    }
    return cases;
}

// The kit vocabulary with the pre-tokenizer forced to `pre`, built once per pre-tokenizer.
const Tokenizer& kit_tokenizer(const std::filesystem::path& kit, const std::string& pre) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto& slot = cache[pre];
    if (!slot) {
        const auto file = gguf::File::open(kit / "vocab" / "deepseek-llm.gguf");
        Vocabulary vocabulary = load_vocabulary(*file);
        vocabulary.pre = pre;
        slot = std::make_unique<Tokenizer>(std::move(vocabulary));
    }
    return *slot;
}

const char* const kKitFiles[] = {"deepseek-llm", "deepseek-v3"};

// Timing limits hold only for optimised builds without sanitizers.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define LATENT_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LATENT_TEST_SANITIZED 1
#endif
#if defined(NDEBUG) && !defined(LATENT_TEST_SANITIZED)
constexpr bool kTimingIsMeaningful = true;
#else
constexpr bool kTimingIsMeaningful = false;
#endif

// ---- Synthetic vocabulary ------------------------------------------------------------------

// Ids 0..255: the byte-level character of each byte, in byte order. Then a few merged tokens,
// specials of every kind, and merges (one of which produces a text that is not a token).
struct Synthetic {
    Vocabulary vocabulary;
    std::map<std::string, int32_t> ids;

    int32_t add(std::string text, TokenType type) {
        const auto id = static_cast<int32_t>(vocabulary.tokens.size());
        vocabulary.tokens.push_back(text);
        vocabulary.types.push_back(type);
        ids[text] = id;
        return id;
    }
};

Synthetic synthetic_vocabulary() {
    Synthetic s;
    for (int byte = 0; byte < 256; ++byte) s.add(std::string(utf8::byte_to_utf8(static_cast<uint8_t>(byte))), TokenType::Normal);
    s.add("ab", TokenType::Normal);
    s.add("bc", TokenType::Normal);
    s.add("abc", TokenType::Normal);
    s.add("\xC4\xA0" "a", TokenType::Normal); // "Ġa" = " a"
    s.vocabulary.merges = {"a b", "b c", "ab c", "\xC4\xA0 a", "q r" /* "qr" is not a token */};
    s.add("<|bos|>", TokenType::Control);
    s.add("<|eos|>", TokenType::Control);
    s.add("<|im|>", TokenType::Control);
    s.add("<|im|>start", TokenType::Control);
    s.add("xa", TokenType::UserDefined);
    s.add("abcd", TokenType::UserDefined);
    s.add("<|end|>", TokenType::Control);
    s.add("<0x41>", TokenType::Byte);
    s.add("[unused]", TokenType::Unused);
    s.add("<unk>", TokenType::Unknown);
    s.vocabulary.bos = s.ids["<|bos|>"];
    s.vocabulary.eos = s.ids["<|eos|>"];
    s.vocabulary.add_bos = true;
    s.vocabulary.pre = "deepseek-v3";
    return s;
}

int32_t byte_id(char c) { return static_cast<uint8_t>(c); } // in the synthetic vocabulary

// A random string of code points drawn from ranges that exercise every pattern.
std::string random_utf8(std::mt19937& rng, size_t max_chars) {
    static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
        {0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D}, {0x00, 0x1F}, {0xA0, 0x24F}, {0x300, 0x36F},
        {0x370, 0x3FF}, {0x400, 0x4FF}, {0x0800, 0x08FF}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x4F00},
        {0xAC00, 0xAC80}, {0xFF01, 0xFF65}, {0x1F300, 0x1F6FF}, {0x10400, 0x1044F}, {0xFE00, 0xFE0F},
    };
    std::uniform_int_distribution<size_t> length(0, max_chars);
    std::uniform_int_distribution<size_t> pick(0, ranges.size() - 1);
    std::string out;
    const size_t n = length(rng);
    for (size_t i = 0; i < n; ++i) {
        const auto [lo, hi] = ranges[pick(rng)];
        utf8::append(out, std::uniform_int_distribution<uint32_t>(lo, hi)(rng));
    }
    return out;
}

// ---- GGUF vocabularies ---------------------------------------------------------------------

// A small but complete tokenizer.* block; keys in `omit` are left out, then `edit` may change
// or replace any key.
std::vector<uint8_t> vocabulary_gguf(const std::function<void(gguf::Writer&)>& edit = nullptr,
                                     const QStringList& omit = {}) {
    const Synthetic s = synthetic_vocabulary();
    gguf::Writer writer;
    const auto keep = [&](const char* key) { return !omit.contains(QString(key)); };
    writer.set_string("general.architecture", "deepseek2");
    if (keep("tokenizer.ggml.model")) writer.set_string("tokenizer.ggml.model", "gpt2");
    if (keep("tokenizer.ggml.pre")) writer.set_string("tokenizer.ggml.pre", "deepseek-llm");
    if (keep("tokenizer.ggml.tokens")) writer.set_string_array("tokenizer.ggml.tokens", s.vocabulary.tokens);
    std::vector<int32_t> types;
    for (const TokenType type : s.vocabulary.types) types.push_back(static_cast<int32_t>(type));
    if (keep("tokenizer.ggml.token_type")) writer.set_i32_array("tokenizer.ggml.token_type", types);
    if (keep("tokenizer.ggml.merges")) writer.set_string_array("tokenizer.ggml.merges", s.vocabulary.merges);
    writer.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*s.vocabulary.bos));
    writer.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*s.vocabulary.eos));
    writer.set_bool("tokenizer.ggml.add_bos_token", true);
    writer.set_bool("tokenizer.ggml.add_eos_token", false);
    if (edit) edit(writer);
    return writer.to_bytes();
}

Vocabulary load_from_bytes(const std::vector<uint8_t>& bytes) {
    const auto file = gguf::File::from_memory(bytes.data(), bytes.size(), "vocab.gguf");
    return load_vocabulary(*file);
}

} // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private slots:
    // Kit
    void kit_cases_data();
    void kit_cases();
    void kit_round_trips();
    void kit_prompt_tokens_data();
    void kit_prompt_tokens();
    void kit_vocabulary_loads_fast();
    void kit_special_ids_and_end_of_generation();
    // Round trips and streaming
    void random_utf8_round_trips();
    void invalid_utf8_round_trips_as_raw_bytes();
    void streaming_decoder_holds_back_split_characters();
    void streaming_decoder_on_kit_emoji();
    void streaming_decoder_random_streams();
    void utf8_take_complete_data();
    void utf8_take_complete();
    // Special tokens, BPE, pre-tokenizer, decoding
    void special_tokens_longest_first();
    void special_tokens_parse_special_flag();
    void special_partition_matches_reference();
    void bpe_merges_by_rank();
    void bpe_matches_reference();
    void pre_tokenizer_dialect_data();
    void pre_tokenizer_dialect();
    void translate_pattern_rules();
    void decoding_rules();
    // Loading
    void gguf_vocabulary_round_trip();
    void malformed_vocabulary_data();
    void malformed_vocabulary();
};

// ---- Kit -----------------------------------------------------------------------------------

void TestTokenizer::kit_cases_data() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    QTest::addColumn<QString>("pre");
    QTest::addColumn<int>("index");
    for (const char* pre : kKitFiles) {
        const auto cases = read_kit_cases(kit / "tokenizer" / (std::string(pre) + ".jsonl"));
        QVERIFY2(!cases.empty(), "the kit's jsonl file has no cases");
        for (size_t i = 0; i < cases.size(); ++i) {
            QTest::newRow(qPrintable(QString("%1 #%2").arg(QString(pre)).arg(static_cast<int>(i), 2, 10, QChar('0')))) << QString(pre) << static_cast<int>(i);
        }
    }
}

void TestTokenizer::kit_cases() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    QFETCH(QString, pre);
    QFETCH(int, index);
    static std::map<QString, std::vector<KitCase>> files;
    auto& cases = files[pre];
    if (cases.empty()) cases = read_kit_cases(kit / "tokenizer" / (pre.toStdString() + ".jsonl"));
    const KitCase& c = cases.at(static_cast<size_t>(index));
    const Tokenizer& tokenizer = kit_tokenizer(kit, pre.toStdString());

    const auto ids = tokenizer.encode(c.text, false, false);
    QVERIFY2(ids == c.ids, ("ids: got " + format_ids(ids) + " want " + format_ids(c.ids) + " for " + hex(c.text)).c_str());
    const auto ids_bos_special = tokenizer.encode(c.text, true, true);
    QVERIFY2(ids_bos_special == c.ids_bos_special,
             ("ids_bos_special: got " + format_ids(ids_bos_special) + " want " + format_ids(c.ids_bos_special)).c_str());
}

void TestTokenizer::kit_round_trips() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    for (const char* pre : kKitFiles) {
        const Tokenizer& tokenizer = kit_tokenizer(kit, pre);
        for (const KitCase& c : read_kit_cases(kit / "tokenizer" / (std::string(pre) + ".jsonl"))) {
            QCOMPARE(tokenizer.decode(tokenizer.encode(c.text, false, false)), c.text);
            // Parsed specials come back only when rendered; the BOS is then rendered too.
            const std::string bos_text = tokenizer.token_text(*tokenizer.bos());
            QCOMPARE(tokenizer.decode(tokenizer.encode(c.text, true, true), true), bos_text + c.text);
            // The BPE fast path agrees with its reference on every word of the kit.
            for (const std::string& word : tokenizer.pre_tokenize(c.text)) {
                QVERIFY2(tokenizer.bpe_word(word) == tokenizer.bpe_word_reference(word), hex(word).c_str());
            }
        }
    }
}

// The kit's models carry DeepSeek Coder's real vocabulary (32,256 tokens, user-defined FIM and
// chat tokens); their expectations list the prompt tokens llama.cpp produced (BOS, specials).
void TestTokenizer::kit_prompt_tokens_data() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("prompt");
    for (const char* model : {"tiny-v2lite-f32e", "tiny-v3-f32e", "tiny-v3-q8_0"}) {
        for (const char* prompt : {"chat", "short", "long"}) QTest::addRow("%s %s", model, prompt) << QString(model) << QString(prompt);
    }
}

void TestTokenizer::kit_prompt_tokens() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    QFETCH(QString, model);
    QFETCH(QString, prompt);
    const auto expected_path = kit / "expected" / (model + "." + prompt + ".deq.json").toStdString();
    const QJsonObject expected = QJsonDocument::fromJson(QByteArray::fromStdString(test::read_text_file(expected_path))).object();
    const std::vector<int32_t> want = to_ids(expected.value("tokens").toArray());
    QVERIFY(!want.empty());

    const auto file = gguf::File::open(kit / "models" / (model + ".gguf").toStdString());
    const Tokenizer tokenizer(load_vocabulary(*file));
    const std::string text = test::read_text_file(kit / "prompts" / (prompt + ".txt").toStdString());
    const auto ids = tokenizer.encode(text, true, true);
    QVERIFY2(ids == want, ("got " + format_ids(ids) + "\nwant " + format_ids(want)).c_str());
    QCOMPARE(tokenizer.decode(ids), text);
}

void TestTokenizer::kit_vocabulary_loads_fast() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    QElapsedTimer timer;
    timer.start();
    const auto file = gguf::File::open(kit / "vocab" / "deepseek-llm.gguf");
    Tokenizer tokenizer(load_vocabulary(*file));
    const qint64 elapsed = timer.elapsed();
    qInfo("102,400 tokens and %zu merges loaded and indexed in %lld ms", tokenizer.vocabulary().merges.size(),
          static_cast<long long>(elapsed));
    QCOMPARE(tokenizer.n_vocab(), 102400);
    if (kTimingIsMeaningful) QVERIFY2(elapsed < 1000, "loading the kit vocabulary took a second or more");
}

void TestTokenizer::kit_special_ids_and_end_of_generation() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    const Tokenizer& tokenizer = kit_tokenizer(kit, "deepseek-llm");
    QCOMPARE(tokenizer.bos(), std::optional<int32_t>(100000));
    QCOMPARE(tokenizer.eos(), std::optional<int32_t>(100001));
    QVERIFY(tokenizer.add_bos());
    QVERIFY(tokenizer.is_eog(100001));
    QVERIFY(!tokenizer.is_eog(100000));
    QVERIFY(!tokenizer.is_eog(17464));
    QCOMPARE(tokenizer.find_token("\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>").has_value(), false);
    QCOMPARE(tokenizer.find_token("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"), std::optional<int32_t>(100001));
    QCOMPARE(tokenizer.token_type(100000), TokenType::Control);
    QCOMPARE(tokenizer.token_type(100014), TokenType::UserDefined);
    // CONTROL text is plain text unless special parsing is asked for.
    const std::string bos_text = tokenizer.token_text(100000);
    QVERIFY(tokenizer.encode(bos_text, false, false).size() > 1);
    QCOMPARE(tokenizer.encode(bos_text, false, true), std::vector<int32_t>{100000});
    QCOMPARE(tokenizer.token_piece(100000), std::string());
    QCOMPARE(tokenizer.token_piece(100000, true), bos_text);
}

// ---- Round trips and streaming -------------------------------------------------------------

void TestTokenizer::random_utf8_round_trips() {
    Synthetic s = synthetic_vocabulary();
    std::vector<std::unique_ptr<Tokenizer>> owned;
    std::vector<const Tokenizer*> tokenizers;
    for (const auto pre : PreTokenizer::supported_names()) {
        s.vocabulary.pre = std::string(pre);
        owned.push_back(std::make_unique<Tokenizer>(s.vocabulary));
        tokenizers.push_back(owned.back().get());
    }
    if (const auto kit = test::conformance_dir()) {
        for (const char* pre : kKitFiles) tokenizers.push_back(&kit_tokenizer(*kit, pre));
    }
    std::mt19937 rng(20250601);
    for (int round = 0; round < 400; ++round) {
        std::string text = random_utf8(rng, 40);
        if (round % 5 == 0) text += "<|im|>start xa" + random_utf8(rng, 5); // specials inside
        for (const Tokenizer* tokenizer : tokenizers) {
            const auto ids = tokenizer->encode(text, false, false);
            QVERIFY2(tokenizer->decode(ids) == text, ("round trip failed for " + hex(text) + " with " + tokenizer->pre_tokenizer().name()).c_str());
            const auto special_ids = tokenizer->encode(text, false, true);
            QVERIFY2(tokenizer->decode(special_ids, true) == text, ("special round trip failed for " + hex(text)).c_str());
        }
    }
}

void TestTokenizer::invalid_utf8_round_trips_as_raw_bytes() {
    const Tokenizer tokenizer(synthetic_vocabulary().vocabulary);
    // Ill-formed input is tokenized as the raw bytes it is (the patterns see U+FFFD).
    const std::string samples[] = {
        "\xFF", "a\x80" "b", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xED\xA0\x80", "\xC0\xAF", "\xF4\x90\x80\x80",
        "ok \xFE\xFE ok", std::string("nul\0inside", 10),
    };
    for (const std::string& text : samples) {
        const auto ids = tokenizer.encode(text, false, true);
        QVERIFY2(tokenizer.decode(ids) == text, hex(text).c_str());
    }
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 300; ++round) {
        std::string text(static_cast<size_t>(byte(rng) % 24), '\0');
        for (char& c : text) c = static_cast<char>(byte(rng));
        QVERIFY2(tokenizer.decode(tokenizer.encode(text, false, false)) == text, hex(text).c_str());
    }
}

void TestTokenizer::streaming_decoder_holds_back_split_characters() {
    const Tokenizer tokenizer(synthetic_vocabulary().vocabulary);
    // No merges cover non-ASCII bytes, so "😀" (F0 9F 98 80) becomes four byte tokens.
    const std::string emoji = "\xF0\x9F\x98\x80";
    const auto ids = tokenizer.encode("a" + emoji + "b", false, false);
    QCOMPARE(ids.size(), size_t{6});
    StreamingDecoder decoder(tokenizer);
    QCOMPARE(decoder.feed(ids[0]), std::string("a"));
    for (size_t i = 1; i < 4; ++i) {
        QCOMPARE(decoder.feed(ids[i]), std::string()); // never a partial character
        QVERIFY(decoder.has_pending());
    }
    QCOMPARE(decoder.feed(ids[4]), emoji);
    QCOMPARE(decoder.feed(ids[5]), std::string("b"));
    QCOMPARE(decoder.flush(), std::string());

    // An unfinished character at the end comes out as one U+FFFD.
    QCOMPARE(decoder.feed(byte_id('\xF0')), std::string());
    QCOMPARE(decoder.feed(byte_id('\x9F')), std::string());
    QCOMPARE(decoder.flush(), std::string(utf8::kReplacementUtf8));
    QVERIFY(!decoder.has_pending());
    // A lead byte followed by something that cannot continue it is replaced at once.
    QCOMPARE(decoder.feed(byte_id('\xE2')), std::string());
    QCOMPARE(decoder.feed(byte_id('x')), std::string(utf8::kReplacementUtf8) + "x");
    // CONTROL tokens render as nothing unless asked.
    const auto bos = *tokenizer.bos();
    QCOMPARE(decoder.feed(bos), std::string());
    StreamingDecoder rendering(tokenizer, true);
    QCOMPARE(rendering.feed(bos), std::string("<|bos|>"));
}

void TestTokenizer::streaming_decoder_on_kit_emoji() {
    LATENT_REQUIRE_CONFORMANCE(kit);
    const Tokenizer& tokenizer = kit_tokenizer(kit, "deepseek-llm");
    const std::string text = "emoji \xF0\x9F\x98\x80\xF0\x9F\x9A\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and \xE2\x9D\xA4\xEF\xB8\x8F";
    const auto ids = tokenizer.encode(text, false, false);
    StreamingDecoder decoder(tokenizer);
    std::string streamed;
    size_t held_back = 0;
    for (const int32_t id : ids) {
        const std::string chunk = decoder.feed(id);
        QVERIFY2(utf8::is_valid(chunk), hex(chunk).c_str());
        if (chunk.empty()) ++held_back;
        streamed += chunk;
    }
    streamed += decoder.flush();
    QCOMPARE(streamed, text);
    QVERIFY2(held_back > 0, "expected at least one emoji to span several tokens");
}

void TestTokenizer::streaming_decoder_random_streams() {
    const Tokenizer tokenizer(synthetic_vocabulary().vocabulary);
    std::mt19937 rng(99);
    // Valid text: the stream reproduces it exactly, chunk by chunk well-formed.
    for (int round = 0; round < 200; ++round) {
        const std::string text = random_utf8(rng, 30);
        StreamingDecoder decoder(tokenizer);
        std::string streamed;
        for (const int32_t id : tokenizer.encode(text, false, false)) {
            const std::string chunk = decoder.feed(id);
            QVERIFY(utf8::is_valid(chunk));
            streamed += chunk;
        }
        streamed += decoder.flush();
        QCOMPARE(streamed, text);
    }
    // Arbitrary ids: still well-formed, and equal to sanitising the whole decode at once.
    std::uniform_int_distribution<int32_t> any_id(0, tokenizer.n_vocab() - 1);
    for (int round = 0; round < 200; ++round) {
        std::vector<int32_t> ids(static_cast<size_t>(any_id(rng) % 16));
        for (int32_t& id : ids) id = any_id(rng);
        StreamingDecoder decoder(tokenizer);
        std::string streamed;
        for (const int32_t id : ids) {
            const std::string chunk = decoder.feed(id);
            QVERIFY(utf8::is_valid(chunk));
            streamed += chunk;
        }
        const std::string tail = decoder.flush();
        QVERIFY(utf8::is_valid(tail));
        streamed += tail;
        QCOMPARE(streamed, utf8::sanitize(tokenizer.decode(ids)));
    }
}

void TestTokenizer::utf8_take_complete_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("emitted");
    QTest::addColumn<QByteArray>("held");
    const QByteArray fffd("\xEF\xBF\xBD");
    QTest::newRow("ascii") << QByteArray("abc") << QByteArray("abc") << QByteArray();
    QTest::newRow("truncated 4-byte") << QByteArray("a\xF0\x9F\x98") << QByteArray("a") << QByteArray("\xF0\x9F\x98");
    QTest::newRow("truncated 2-byte") << QByteArray("\xC3") << QByteArray() << QByteArray("\xC3");
    QTest::newRow("lone continuation") << QByteArray("\x80" "a") << fffd + "a" << QByteArray();
    QTest::newRow("surrogate") << QByteArray("\xED\xA0\x80") << fffd + fffd + fffd << QByteArray();
    QTest::newRow("overlong") << QByteArray("\xC0\xAF") << fffd + fffd << QByteArray();
    QTest::newRow("broken 3-byte") << QByteArray("\xE2\x82" "x") << fffd + "x" << QByteArray();
    QTest::newRow("above U+10FFFF") << QByteArray("\xF4\x90") << fffd + fffd << QByteArray();
    QTest::newRow("E0 needs A0..BF") << QByteArray("\xE0\x80") << fffd + fffd << QByteArray();
    QTest::newRow("complete") << QByteArray("\xE2\x82\xAC") << QByteArray("\xE2\x82\xAC") << QByteArray();
}

void TestTokenizer::utf8_take_complete() {
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, emitted);
    QFETCH(QByteArray, held);
    std::string buffer = input.toStdString();
    QCOMPARE(QByteArray::fromStdString(utf8::take_complete(buffer, false)), emitted);
    QCOMPARE(QByteArray::fromStdString(buffer), held);
    const std::string final_tail = utf8::take_complete(buffer, true);
    QCOMPARE(QByteArray::fromStdString(final_tail), held.isEmpty() ? QByteArray() : QByteArray("\xEF\xBF\xBD"));
    QVERIFY(buffer.empty());
}

// ---- Special tokens, BPE, pre-tokenizer, decoding -------------------------------------------

void TestTokenizer::special_tokens_longest_first() {
    const Synthetic s = synthetic_vocabulary();
    const Tokenizer tokenizer(s.vocabulary);
    const auto id = [&](const std::string& text) { return s.ids.at(text); };
    // "abcd" (4) is taken before "xa" (2) although "xa" starts first: the reference goes
    // token by token, longest first, not left to right.
    QCOMPARE(tokenizer.encode("xabcd", false, false), (std::vector<int32_t>{byte_id('x'), id("abcd")}));
    // The longer CONTROL text wins over its own prefix.
    QCOMPARE(tokenizer.encode("<|im|>start", false, true), std::vector<int32_t>{id("<|im|>start")});
    QCOMPARE(tokenizer.encode("<|im|>stop", false, true),
             (std::vector<int32_t>{id("<|im|>"), byte_id('s'), byte_id('t'), byte_id('o'), byte_id('p')}));
    // Adjacent specials, repeated occurrences.
    QCOMPARE(tokenizer.encode("<|im|><|im|>startxa", false, true),
             (std::vector<int32_t>{id("<|im|>"), id("<|im|>start"), id("xa")}));
    // add_special prepends BOS (add_bos) and no EOS (add_eos false).
    QCOMPARE(tokenizer.encode("xa", true, false), (std::vector<int32_t>{id("<|bos|>"), id("xa")}));
}

void TestTokenizer::special_tokens_parse_special_flag() {
    const Synthetic s = synthetic_vocabulary();
    const Tokenizer tokenizer(s.vocabulary);
    // Without parse_special, CONTROL and UNKNOWN texts are plain text, USER_DEFINED still match.
    const auto plain = tokenizer.encode("<|end|>xa<unk>", false, false);
    QCOMPARE(plain.back(), byte_id('>'));
    QVERIFY(std::find(plain.begin(), plain.end(), s.ids.at("xa")) != plain.end());
    QVERIFY(std::find(plain.begin(), plain.end(), s.ids.at("<|end|>")) == plain.end());
    QCOMPARE(tokenizer.encode("<|end|>xa<unk>", false, true),
             (std::vector<int32_t>{s.ids.at("<|end|>"), s.ids.at("xa"), s.ids.at("<unk>")}));
}

void TestTokenizer::special_partition_matches_reference() {
    // Overlapping, nested and equal-length specials over a tiny alphabet, so that every
    // ordering rule is exercised; the one-pass matcher must equal llama.cpp's procedure.
    const std::vector<std::pair<int32_t, std::string>> always = {{10, "ab"}, {11, "ba"}, {12, "aba"}, {13, "bb"}, {14, "c"}};
    const std::vector<std::pair<int32_t, std::string>> on_request = {{20, "abab"}, {21, "cab"}, {22, "bac"}, {23, "ab"}, {9, "bb"}};
    SpecialTokenMatcher matcher;
    for (const auto& [id, text] : always) matcher.add(id, text, true);
    for (const auto& [id, text] : on_request) matcher.add(id, text, false);
    std::vector<std::pair<int32_t, std::string>> all = always;
    all.insert(all.end(), on_request.begin(), on_request.end());

    std::mt19937 rng(3);
    std::uniform_int_distribution<int> letter(0, 3);
    for (int round = 0; round < 2000; ++round) {
        std::string text(static_cast<size_t>(letter(rng) * 4 + letter(rng)), 'a');
        for (char& c : text) c = "abcx"[letter(rng)];
        for (const bool parse_special : {false, true}) {
            const auto fast = matcher.partition(text, parse_special);
            const auto slow = partition_reference(text, parse_special ? all : always);
            QCOMPARE(fast.size(), slow.size());
            for (size_t i = 0; i < fast.size(); ++i) {
                QVERIFY2(fast[i].begin == slow[i].begin && fast[i].end == slow[i].end && fast[i].token == slow[i].token,
                         (text + (parse_special ? " (special)" : "")).c_str());
            }
        }
    }
}

void TestTokenizer::bpe_merges_by_rank() {
    const Synthetic s = synthetic_vocabulary();
    const Tokenizer tokenizer(s.vocabulary);
    // "a b" (rank 0) beats "b c" (rank 1); then "ab c" (rank 2) makes "abc".
    QCOMPARE(tokenizer.bpe_word("abc"), std::vector<int32_t>{s.ids.at("abc")});
    QCOMPARE(tokenizer.bpe_word("bc"), std::vector<int32_t>{s.ids.at("bc")});
    QCOMPARE(tokenizer.bpe_word("abab"), (std::vector<int32_t>{s.ids.at("ab"), s.ids.at("ab")}));
    QCOMPARE(tokenizer.bpe_word(" a"), std::vector<int32_t>{s.ids.at("\xC4\xA0" "a")});
    // A merge whose result is not a token falls back to the tokens of its bytes.
    QCOMPARE(tokenizer.bpe_word("qr"), (std::vector<int32_t>{byte_id('q'), byte_id('r')}));
    QCOMPARE(tokenizer.bpe_word(""), std::vector<int32_t>{});
}

void TestTokenizer::bpe_matches_reference() {
    std::vector<const Tokenizer*> tokenizers;
    const Tokenizer synthetic(synthetic_vocabulary().vocabulary);
    tokenizers.push_back(&synthetic);
    if (const auto kit = test::conformance_dir()) tokenizers.push_back(&kit_tokenizer(*kit, "deepseek-llm"));
    std::mt19937 rng(11);
    const std::string alphabet = "abcqr etinosh\n\t.,'0123456789";
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> length(0, 64);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 1500; ++round) {
        std::string word(static_cast<size_t>(length(rng)), ' ');
        for (char& c : word) c = round % 3 == 0 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)];
        if (round % 3 == 1) word = random_utf8(rng, 12);
        for (const Tokenizer* tokenizer : tokenizers) {
            QVERIFY2(tokenizer->bpe_word(word) == tokenizer->bpe_word_reference(word), hex(word).c_str());
        }
    }
}

void TestTokenizer::pre_tokenizer_dialect_data() {
    QTest::addColumn<QString>("pre");
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QStringList>("words");
    // Unicode rules where llama.cpp agrees with HF.
    QTest::newRow("v3 digits in threes") << "deepseek-v3" << QByteArray("1234567") << QStringList{"123", "456", "7"};
    QTest::newRow("v3 words and punctuation") << "deepseek-v3" << QByteArray("Hi, you!\n\nok") << QStringList{"Hi", ",", " you", "!\n\n", "ok"};
    QTest::newRow("llm digits split alone") << "deepseek-llm" << QByteArray("ab 12") << QStringList{"ab", " ", "12"};
    QTest::newRow("llm trailing spaces") << "deepseek-llm" << QByteArray("a  ") << QStringList{"a", "  "};
    // Rule 2: '~' is a math symbol (Sm) for \p{S}, as in HF (llama.cpp splits " ~" apart).
    QTest::newRow("v3 tilde path") << "deepseek-v3" << QByteArray("cd ~/x") << QStringList{"cd", " ~/", "x"};
    QTest::newRow("v3 tilde after space") << "deepseek-v3" << QByteArray("a ~") << QStringList{"a", " ~"};
    QTest::newRow("v3 tilde before letters") << "deepseek-v3" << QByteArray("~user ~~ !~") << QStringList{"~user", " ~~", " !~"};
    QTest::newRow("v3 destructor") << "deepseek-v3" << QByteArray("Foo::~Foo()") << QStringList{"Foo", "::~", "Foo", "()"};
    QTest::newRow("v3 approximately") << "deepseek-v3" << QByteArray("~5%") << QStringList{"~", "5", "%"};
    QTest::newRow("llm tilde is punctuation") << "deepseek-llm" << QByteArray("a ~/b") << QStringList{"a", " ~/", "b"};
    // Rule 1: non-ASCII whitespace is \s and also itself: U+2003 lies in the range
    // [\x{0800}-\x{4E00}] of the CJK pattern, U+3000 in [\x{3000}-\x{3002}].
    QTest::newRow("llm ideographic space") << "deepseek-llm" << QByteArray("\xE3\x80\x82\xE3\x80\x80\xE4\xBD\xA0")
                                           << QStringList{"\xE3\x80\x82", "\xE3\x80\x80", "\xE4\xBD\xA0"};
    QTest::newRow("llm em space before word") << "deepseek-llm" << QByteArray("x\xE2\x80\x83y") << QStringList{"x", "\xE2\x80\x83", "y"};
    QTest::newRow("llm em space inside CJK") << "deepseek-llm" << QByteArray("\xE4\xBD\xA0\xE2\x80\x83\xE5\xA5\xBD")
                                             << QStringList{"\xE4\xBD\xA0\xE2\x80\x83\xE5\xA5\xBD"};
    QTest::newRow("llm ideographic space before a full stop") << "deepseek-llm" << QByteArray("a\xE3\x80\x80\xE3\x80\x82")
                                                              << QStringList{"a", "\xE3\x80\x80\xE3\x80\x82"};
    QTest::newRow("v3 next line is whitespace") << "deepseek-v3" << QByteArray("a \xC2\x85") << QStringList{"a", " \xC2\x85"};
    QTest::newRow("v3 no-break spaces") << "deepseek-v3" << QByteArray("\xC2\xA0\xC2\xA0x") << QStringList{"\xC2\xA0", "\xC2\xA0x"};
    // Rule 3: an ill-formed byte splits like U+FFFD (a symbol) but stays itself.
    QTest::newRow("llm invalid byte") << "deepseek-llm" << QByteArray("a\xFF" "b") << QStringList{"a", QString(), "b"};
}

void TestTokenizer::pre_tokenizer_dialect() {
    QFETCH(QString, pre);
    QFETCH(QByteArray, text);
    QFETCH(QStringList, words);
    const PreTokenizer pre_tokenizer(pre.toStdString());
    const std::string input = text.toStdString();
    QStringList got;
    for (const TextSpan span : pre_tokenizer.split(input)) {
        const std::string word = input.substr(span.begin, span.end - span.begin);
        got << (utf8::is_valid(word) ? QString::fromStdString(word) : QString()); // ill-formed words as null
    }
    QCOMPARE(got, words);
}

void TestTokenizer::translate_pattern_rules() {
    // \s and \S: Unicode White_Space, in and outside classes; everything else unchanged.
    const std::string ws = R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
    QCOMPARE(translate_pattern(R"(\s+(?!\S))"), "[" + ws + "]+(?![^" + ws + "])");
    QCOMPARE(translate_pattern(R"(\p{S}|[\s\x{3000}])"), R"(\p{S}|[)" + ws + R"(\x{3000}])");
    QCOMPARE(translate_pattern(R"([\[\\\]~]\p{N}{1,3})"), std::string(R"([\[\\\]~]\p{N}{1,3})"));
    QCOMPARE(translate_pattern(R"([!-~]~\p{L})"), std::string(R"([!-~]~\p{L})"));
    QVERIFY_THROWS_EXCEPTION(Error, translate_pattern(R"([a)"));
    QVERIFY_THROWS_EXCEPTION(Error, translate_pattern(R"([^\S])"));
    QVERIFY_THROWS_EXCEPTION(Error, PreTokenizer("gpt-4o"));
}

void TestTokenizer::decoding_rules() {
    const Synthetic s = synthetic_vocabulary();
    const Tokenizer tokenizer(s.vocabulary);
    QCOMPARE(tokenizer.token_piece(s.ids.at("\xC4\xA0" "a")), std::string(" a"));
    QCOMPARE(tokenizer.token_piece(byte_id('\n')), std::string("\n"));
    QCOMPARE(tokenizer.token_piece(s.ids.at("xa")), std::string("xa"));        // USER_DEFINED: verbatim
    QCOMPARE(tokenizer.token_piece(s.ids.at("<|end|>")), std::string());      // CONTROL: hidden
    QCOMPARE(tokenizer.token_piece(s.ids.at("<|end|>"), true), std::string("<|end|>"));
    QCOMPARE(tokenizer.token_piece(s.ids.at("<unk>")), std::string());        // UNKNOWN: hidden
    QCOMPARE(tokenizer.token_piece(s.ids.at("<0x41>")), std::string("A"));    // BYTE
    QCOMPARE(tokenizer.token_piece(s.ids.at("[unused]"), true), std::string()); // UNUSED
    QCOMPARE(tokenizer.decode({s.ids.at("ab"), s.ids.at("<|eos|>"), byte_id('!')}), std::string("ab!"));
    QVERIFY_THROWS_EXCEPTION(Error, tokenizer.token_piece(tokenizer.n_vocab()));
    QVERIFY_THROWS_EXCEPTION(Error, tokenizer.decode({-1}));
    QVERIFY_THROWS_EXCEPTION(Error, tokenizer.token_text(-5));
    // End of generation: EOS and the known end texts, nothing else.
    QVERIFY(tokenizer.is_eog(s.ids.at("<|eos|>")));
    QVERIFY(tokenizer.is_eog(s.ids.at("<|end|>")));
    QVERIFY(!tokenizer.is_eog(s.ids.at("<|bos|>")));
    QVERIFY(!tokenizer.is_eog(-1));
    QCOMPARE(tokenizer.find_token("abc"), std::optional<int32_t>(s.ids.at("abc")));
    QVERIFY(!tokenizer.find_token("zzz"));
}

// ---- Loading -------------------------------------------------------------------------------

void TestTokenizer::gguf_vocabulary_round_trip() {
    const Synthetic s = synthetic_vocabulary();
    const Vocabulary loaded = load_from_bytes(vocabulary_gguf());
    QCOMPARE(loaded.tokens, s.vocabulary.tokens);
    QVERIFY(loaded.types == s.vocabulary.types);
    QCOMPARE(loaded.merges, s.vocabulary.merges);
    QCOMPARE(loaded.pre, std::string("deepseek-llm"));
    QCOMPARE(loaded.bos, s.vocabulary.bos);
    QCOMPARE(loaded.eos, s.vocabulary.eos);
    QVERIFY(!loaded.pad && !loaded.eot);
    QVERIFY(loaded.add_bos && !loaded.add_eos);

    // Absent token_type: every token NORMAL.
    const Vocabulary plain = load_from_bytes(vocabulary_gguf(nullptr, {"tokenizer.ggml.token_type"}));
    QCOMPARE(plain.types.size(), plain.tokens.size());
    QVERIFY(std::all_of(plain.types.begin(), plain.types.end(), [](TokenType t) { return t == TokenType::Normal; }));
    // Integer types other than u32 are accepted for ids.
    const Vocabulary signed_ids = load_from_bytes(vocabulary_gguf([](gguf::Writer& w) { w.set_i32("tokenizer.ggml.eos_token_id", 3); }));
    QCOMPARE(signed_ids.eos, std::optional<int32_t>(3));

    // A repeated token text is allowed; looking it up gives the last id (as llama.cpp).
    Synthetic s2 = synthetic_vocabulary();
    const int32_t duplicate = s2.add("ab", TokenType::Normal);
    const Tokenizer tokenizer(s2.vocabulary);
    QCOMPARE(tokenizer.find_token("ab"), std::optional<int32_t>(duplicate));
    QCOMPARE(tokenizer.encode("ab", false, false), std::vector<int32_t>{duplicate});
}

void TestTokenizer::malformed_vocabulary_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QStringList>("expected"); // substrings of the error message
    const QStringList names = {
        "wrong tokenizer model", "missing tokenizer model", "unknown pre-tokenizer", "missing pre-tokenizer",
        "bos id out of range", "eos id negative", "padding id out of range", "token_type too short",
        "token_type unknown value", "token_type not integers", "merge without a space", "merge with unknown side",
        "merge with empty right side", "empty vocabulary", "missing merges", "missing tokens",
    };
    const QList<QStringList> expected = {
        {"tokenizer.ggml.model", "\"llama\""}, {"tokenizer.ggml.model", "missing"},
        {"tokenizer.ggml.pre", "\"qwen2\"", "deepseek-llm"}, {"tokenizer.ggml.pre", "missing"},
        {"tokenizer.ggml.bos_token_id", "999999"}, {"tokenizer.ggml.eos_token_id", "-1"},
        {"tokenizer.ggml.padding_token_id", "270"}, {"tokenizer.ggml.token_type", "3 entries", "270"},
        {"tokenizer.ggml.token_type[256]", "9"}, {"tokenizer.ggml.token_type"},
        {"tokenizer.ggml.merges[1]", "\"ab\""}, {"tokenizer.ggml.merges[0]", "\"zz\""},
        {"tokenizer.ggml.merges[0]", "right side"}, {"tokenizer.ggml.tokens", "empty"},
        {"tokenizer.ggml.merges", "missing"}, {"tokenizer.ggml.tokens", "missing"},
    };
    for (qsizetype i = 0; i < names.size(); ++i) QTest::newRow(qPrintable(names[i])) << static_cast<int>(i) << expected[i];
}

void TestTokenizer::malformed_vocabulary() {
    QFETCH(int, which);
    QFETCH(QStringList, expected);
    const size_t n_tokens = synthetic_vocabulary().vocabulary.tokens.size();
    QCOMPARE(n_tokens, size_t{270}); // the expected messages above name this size
    std::vector<uint8_t> bytes;
    switch (which) {
    case 0: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_string("tokenizer.ggml.model", "llama"); }); break;
    case 1: bytes = vocabulary_gguf(nullptr, {"tokenizer.ggml.model"}); break;
    case 2: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_string("tokenizer.ggml.pre", "qwen2"); }); break;
    case 3: bytes = vocabulary_gguf(nullptr, {"tokenizer.ggml.pre"}); break;
    case 4: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_u32("tokenizer.ggml.bos_token_id", 999999); }); break;
    case 5: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_i32("tokenizer.ggml.eos_token_id", -1); }); break;
    case 6: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_u32("tokenizer.ggml.padding_token_id", 270); }); break;
    case 7: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1}); }); break;
    case 8:
        bytes = vocabulary_gguf([&](gguf::Writer& w) {
            std::vector<int32_t> types(n_tokens, 1);
            types[256] = 9;
            w.set_i32_array("tokenizer.ggml.token_type", types);
        });
        break;
    case 9:
        bytes = vocabulary_gguf([&](gguf::Writer& w) { w.set_f32_array("tokenizer.ggml.token_type", std::vector<float>(n_tokens, 1.0f)); });
        break;
    case 10: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_string_array("tokenizer.ggml.merges", {"a b", "ab"}); }); break;
    case 11: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_string_array("tokenizer.ggml.merges", {"a zz"}); }); break;
    case 12: bytes = vocabulary_gguf([](gguf::Writer& w) { w.set_string_array("tokenizer.ggml.merges", {"a "}); }); break;
    case 13:
        bytes = vocabulary_gguf([](gguf::Writer& w) {
            w.set_string_array("tokenizer.ggml.tokens", {});
            w.set_i32_array("tokenizer.ggml.token_type", {});
            w.set_string_array("tokenizer.ggml.merges", {});
        });
        break;
    case 14: bytes = vocabulary_gguf(nullptr, {"tokenizer.ggml.merges"}); break;
    case 15: bytes = vocabulary_gguf(nullptr, {"tokenizer.ggml.tokens"}); break;
    default: QFAIL("unknown case");
    }

    try {
        load_from_bytes(bytes);
        QFAIL("the vocabulary was accepted");
    } catch (const Error& e) {
        const QString message = QString::fromUtf8(e.what());
        for (const QString& part : expected) {
            QVERIFY2(message.contains(part), qPrintable("message \"" + message + "\" lacks \"" + part + "\""));
        }
        QVERIFY2(message.startsWith("vocab.gguf"), qPrintable("message does not name the file: " + message));
    }
}

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
