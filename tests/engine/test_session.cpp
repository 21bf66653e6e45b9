// Sessions and generation over a scripted fake backend: prefix reuse, streaming, every stop
// reason, cancellation, backend failures and statistics. The model is a real tiny generated file
// (real tokenizer and chat format); the fake backend ignores its weights and answers from a
// script ("after these tokens, emit that one") with one-hot logits, sampled greedily.
#include "core/error.h"
#include "engine.h"
#include "model/model_builder.h"
#include "model/synthetic_vocab.h"
#include "session/stop_strings.h"
#include "test_support.h"
#include "tokenizer/utf8.h"

#include <QtTest>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

using namespace latent;

Q_DECLARE_METATYPE(std::vector<std::string>)

namespace {

using Tokens = std::vector<int32_t>;

Tokens concat(std::initializer_list<Tokens> parts) {
    Tokens out;
    for (const Tokens& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

bool ends_with(const Tokens& sequence, const Tokens& suffix) {
    return suffix.size() <= sequence.size() && std::equal(suffix.rbegin(), suffix.rend(), sequence.rbegin());
}

// A backend whose "forward pass" looks the cache contents up in a script. Rules say: when the
// evaluated sequence ends with `context`, the next token is `next`; the longest matching context
// wins; with no match the next token is `fallback`.
class FakeBackend : public Backend {
public:
    FakeBackend(const Model& model, uint32_t n_ctx) : model_(&model), n_ctx_(n_ctx) { fallback = *model.tokenizer().eos(); }

    std::string_view name() const override { return "fake"; }
    const Model& model() const override { return *model_; }
    uint32_t context_size() const override { return n_ctx_; }
    uint32_t n_cached() const override { return static_cast<uint32_t>(cache.size()); }
    uint64_t bytes_per_token() const override { return 0; }

    void truncate(uint32_t n) override {
        if (n > cache.size()) throw Error("fake: truncate past the cache");
        cache.resize(n);
        truncations.push_back(n);
    }

    void evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) override {
        const size_t call = batch_sizes.size() + failed_calls;
        if (before_evaluate) before_evaluate(call, tokens.size());
        if (throw_on_call && *throw_on_call == call) {
            ++failed_calls;
            throw Error("fake backend failure");
        }
        if (cache.size() + tokens.size() > n_ctx_) throw Error("fake: batch does not fit the context");
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        const auto n_vocab = static_cast<size_t>(model_->config().n_vocab);
        Tokens sequence = cache;
        size_t row_out = 0;
        for (size_t i = 0; i < tokens.size(); ++i) {
            sequence.push_back(tokens[i]);
            if (row_out < logit_rows.size() && logit_rows[row_out] == i) {
                float* row = logits + row_out * n_vocab;
                std::fill(row, row + n_vocab, 0.0f);
                row[static_cast<size_t>(next_token(sequence))] = 10.0f;
                ++row_out;
            }
        }
        cache = std::move(sequence);
        batch_sizes.push_back(tokens.size());
    }

    // After `context`, emit `reply` token by token.
    void script(const Tokens& context, const Tokens& reply) {
        Tokens key = context;
        for (int32_t token : reply) {
            rules.push_back({key, token});
            key.push_back(token);
        }
    }

    int32_t next_token(const Tokens& sequence) const {
        const std::pair<Tokens, int32_t>* best = nullptr;
        for (const auto& rule : rules) {
            if (ends_with(sequence, rule.first) && (best == nullptr || rule.first.size() > best->first.size())) best = &rule;
        }
        return best ? best->second : fallback;
    }

    size_t evaluated_total() const {
        size_t total = 0;
        for (size_t n : batch_sizes) total += n;
        return total;
    }
    void clear_counts() {
        batch_sizes.clear();
        truncations.clear();
    }

    Tokens cache;                                            // the "KV cache": tokens at positions [0, n)
    std::vector<size_t> batch_sizes;                         // tokens per successful evaluate call
    std::vector<uint32_t> truncations;                       // arguments of truncate, in order
    std::vector<std::pair<Tokens, int32_t>> rules;           // (context suffix, next token)
    int32_t fallback = 0;                                    // next token when no rule matches
    std::optional<size_t> throw_on_call;                     // evaluate call index (0-based, all calls) that throws
    std::function<void(size_t call, size_t n_tokens)> before_evaluate; // hook run at the start of every call
    std::chrono::microseconds delay{0};                      // simulated compute time per call

private:
    const Model* model_;
    uint32_t n_ctx_;
    size_t failed_calls = 0;
};

GenerationParams greedy() {
    GenerationParams params;
    params.sampling.temperature = 0.0f;
    params.sampling.repeat_penalty = 1.0f;
    return params;
}

struct Collected {
    std::vector<std::string> pieces;
    std::string text() const {
        std::string all;
        for (const auto& p : pieces) all += p;
        return all;
    }
};

PieceCallback collect(Collected& out) {
    return [&out](std::string_view piece) { out.pieces.emplace_back(piece); };
}

} // namespace

class TestSession : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Model> r1_model_;

    const tokenizer::Tokenizer& tok() const { return model_->tokenizer(); }
    int32_t eos() const { return *tok().eos(); }
    Tokens text_tokens(std::string_view text) const { return tok().encode(text, false, false); }
    // A raw prompt of n plain tokens (BOS first), distinct from any reply.
    Tokens raw_prompt(size_t n) const {
        Tokens prompt = {*tok().bos()};
        const Tokens words = text_tokens(" the quick brown fox jumps over the lazy dog and then some more words follow here");
        for (size_t i = 0; prompt.size() < n; ++i) prompt.push_back(words[i % words.size()]);
        return prompt;
    }
    int32_t byte_token(uint8_t byte) const { return *tok().find_token(gpt2_byte_token(byte)); }

private slots:
    void initTestCase() {
        const auto path = test::to_path(dir_.filePath("tiny.gguf"));
        build_model_file(*model_shape_preset("tiny"), BuildOptions{}, path);
        model_ = Model::load(path);
        ModelLoadOptions r1;
        r1.chat_format = "r1";
        r1_model_ = Model::load(path, r1);
    }

    // ---- Prefix reuse -------------------------------------------------------------------------

    // A follow-up turn evaluates only what is new: the EOS that closed the reply and the new
    // user message. The reply's own tokens were evaluated while decoding.
    void follow_up_turn_evaluates_only_new_tokens() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const Tokens p1 = raw_prompt(20), reply = text_tokens(" Hello there!"), question = text_tokens(" And now?");
        backend.script(p1, concat({reply, {eos()}}));

        const GenerationResult r1 = session.generate_tokens(p1, greedy(), {});
        QCOMPARE(r1.reason, StopReason::EndOfTurn);
        QCOMPARE(r1.text, std::string(" Hello there!"));
        QCOMPARE(r1.tokens, concat({reply, {eos()}}));
        QCOMPARE(session.tokens(), concat({p1, reply})); // the EOS was sampled, never evaluated
        QCOMPARE(backend.cache, session.tokens());
        QCOMPARE(r1.stats.n_prompt_evaluated, uint32_t(p1.size()));

        backend.clear_counts();
        const Tokens p2 = concat({p1, reply, {eos()}, question});
        const GenerationResult r2 = session.generate_tokens(p2, greedy(), {});
        QCOMPARE(r2.stats.n_reused, uint32_t(p1.size() + reply.size()));
        QCOMPARE(r2.stats.n_prompt_evaluated, uint32_t(1 + question.size()));
        QCOMPARE(backend.batch_sizes.front(), size_t(1 + question.size())); // one prefill chunk
        QCOMPARE(r2.reason, StopReason::EndOfTurn);                          // fallback: EOS
    }

    // The same through the chat format: the second turn's rendered prompt starts with the first
    // prompt and the reply, so only the rest is evaluated.
    void follow_up_chat_turn_reuses_cache() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const GenerationParams params = greedy();
        std::vector<chat::ChatMessage> messages = {{chat::ChatMessage::User, "Hi"}};
        const Tokens p1 = session.prompt_tokens(messages, params);
        backend.script(p1, concat({text_tokens(" Hello!"), {eos()}}));

        const GenerationResult r1 = session.generate(messages, params, {});
        QCOMPARE(r1.text, std::string(" Hello!"));
        QVERIFY(!r1.started_in_reasoning);

        messages.push_back({chat::ChatMessage::Assistant, chat::split_reasoning(r1.text).answer});
        messages.push_back({chat::ChatMessage::User, "How are you?"});
        const Tokens p2 = session.prompt_tokens(messages, params);
        const Tokens cached = session.tokens();
        const auto common = static_cast<uint32_t>(std::mismatch(cached.begin(), cached.end(), p2.begin(), p2.end()).first - cached.begin());
        QVERIFY2(common >= p1.size(), "the second prompt must extend the first");

        backend.clear_counts();
        const GenerationResult r2 = session.generate(messages, params, {});
        QCOMPARE(r2.stats.n_reused, common);
        QCOMPARE(r2.stats.n_prompt_evaluated, uint32_t(p2.size()) - common);
        QCOMPARE(r2.stats.n_prompt_tokens, uint32_t(p2.size()));
        QVERIFY(r2.stats.n_reused >= p1.size());
    }

    void prefix_reuse_data() {
        QTest::addColumn<size_t>("kept");       // tokens of the first prompt the second keeps
        QTest::addColumn<size_t>("appended");   // new tokens after them
        QTest::addColumn<uint32_t>("reused");   // expected n_reused
        QTest::addColumn<uint32_t>("evaluated"); // expected prompt tokens evaluated
        QTest::newRow("identical prompt: last token again") << size_t(16) << size_t(0) << 15u << 1u;
        QTest::newRow("shorter prompt (regenerate)") << size_t(10) << size_t(0) << 9u << 1u;
        QTest::newRow("edit of an earlier message") << size_t(6) << size_t(5) << 6u << 5u;
        QTest::newRow("edit at the start") << size_t(0) << size_t(8) << 0u << 8u;
    }
    // A prompt that diverges from the history cuts the cache back to the common prefix.
    void prefix_reuse() {
        QFETCH(size_t, kept);
        QFETCH(size_t, appended);
        QFETCH(uint32_t, reused);
        QFETCH(uint32_t, evaluated);
        FakeBackend backend(*model_, 512);
        Session session(backend);
        GenerationParams params = greedy();
        params.max_new_tokens = 0; // prompt only
        const Tokens first = raw_prompt(16);
        session.generate_tokens(first, params, {});
        QCOMPARE(session.tokens(), first);

        Tokens second(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(kept));
        for (size_t i = 0; i < appended; ++i) second.push_back(byte_token(static_cast<uint8_t>('A' + i)));
        backend.clear_counts();
        const GenerationResult r = session.generate_tokens(second, params, {});
        QCOMPARE(r.reason, StopReason::MaxTokens);
        QCOMPARE(r.stats.n_reused, reused);
        QCOMPARE(r.stats.n_prompt_evaluated, evaluated);
        QCOMPARE(backend.evaluated_total(), size_t(evaluated));
        QCOMPARE(backend.truncations, std::vector<uint32_t>{reused});
        QCOMPARE(session.tokens(), second);
        QCOMPARE(backend.cache, second);
    }

    void prefill_in_chunks_asks_only_last_row() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        GenerationParams params = greedy();
        params.prefill_chunk = 8;
        const Tokens prompt = raw_prompt(21);
        backend.script(prompt, {byte_token('x'), eos()});
        const GenerationResult r = session.generate_tokens(prompt, params, {});
        QCOMPARE(r.text, std::string("x"));
        // 8 + 8 + 5 prompt tokens, then one decode step for "x".
        QCOMPARE(backend.batch_sizes, (std::vector<size_t>{8, 8, 5, 1}));
    }

    // ---- Streaming ----------------------------------------------------------------------------

    // Tokens that split multi-byte characters: every piece is complete UTF-8, and the pieces
    // concatenate to the result's text.
    void streaming_pieces_are_complete_utf8() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const std::string want = "a\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80!"; // "aé €😀!"
        Tokens reply;
        for (unsigned char c : want) reply.push_back(byte_token(c));
        const Tokens prompt = raw_prompt(5);
        backend.script(prompt, concat({reply, {eos()}}));

        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, greedy(), collect(got));
        QCOMPARE(r.reason, StopReason::EndOfTurn);
        QCOMPARE(r.text, want);
        QCOMPARE(got.text(), want);
        for (const std::string& piece : got.pieces) {
            QVERIFY(!piece.empty());
            QVERIFY2(tokenizer::utf8::is_valid(piece), piece.c_str());
        }
        QCOMPARE(got.pieces, (std::vector<std::string>{"a", "\xC3\xA9", " ", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "!"}));
    }

    // A reply cut inside a character ends with U+FFFD rather than a broken byte.
    void unfinished_character_becomes_replacement() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const Tokens prompt = raw_prompt(5);
        backend.script(prompt, {byte_token('o'), byte_token('k'), byte_token(0xE2), byte_token(0x82), eos()});
        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, greedy(), collect(got));
        QCOMPARE(r.text, std::string("ok") + std::string(tokenizer::utf8::kReplacementUtf8));
        QCOMPARE(got.text(), r.text);
    }

    // ---- Stop conditions ----------------------------------------------------------------------

    void max_tokens_data() {
        QTest::addColumn<int32_t>("max_new_tokens");
        QTest::newRow("none") << 0;
        QTest::newRow("one") << 1;
        QTest::newRow("five") << 5;
    }
    void max_tokens() {
        QFETCH(int32_t, max_new_tokens);
        FakeBackend backend(*model_, 512);
        backend.fallback = byte_token('z'); // never ends by itself
        Session session(backend);
        GenerationParams params = greedy();
        params.max_new_tokens = max_new_tokens;
        const Tokens prompt = raw_prompt(7);
        const GenerationResult r = session.generate_tokens(prompt, params, {});
        QCOMPARE(r.reason, StopReason::MaxTokens);
        QVERIFY(r.message.find(std::to_string(max_new_tokens)) != std::string::npos);
        QCOMPARE(r.stats.n_generated, uint32_t(max_new_tokens));
        QCOMPARE(r.text, std::string(size_t(max_new_tokens), 'z'));
        // The last sampled token is not evaluated: the next turn evaluates it with its prompt.
        QCOMPARE(session.tokens().size(), prompt.size() + size_t(std::max(max_new_tokens - 1, 0)));
        QCOMPARE(backend.cache, session.tokens());
    }

    void stop_strings_data() {
        QTest::addColumn<std::vector<std::string>>("pieces"); // reply, one encode() per piece
        QTest::addColumn<std::vector<std::string>>("stops");
        QTest::addColumn<QString>("reason");
        QTest::addColumn<std::string>("text");
        using V = std::vector<std::string>;
        QTest::newRow("inside one token") << V{"Hello", " END", " more"} << V{"END"} << "stop_string" << std::string("Hello ");
        QTest::newRow("split across tokens") << V{"Hel", "lo E", "N", "D", "tail"} << V{"END"} << "stop_string" << std::string("Hello ");
        QTest::newRow("at the very start") << V{"E", "ND", "x"} << V{"END"} << "stop_string" << std::string();
        QTest::newRow("looks partial, is not") << V{"a", " E", "N", "d", "!"} << V{"END"} << "end_of_turn" << std::string("a ENd!");
        QTest::newRow("partial at end of reply") << V{"a E", "N"} << V{"END"} << "end_of_turn" << std::string("a EN");
        QTest::newRow("earliest of several") << V{"one two three"} << V{"three", "two"} << "stop_string" << std::string("one ");
        QTest::newRow("newline stop") << V{"line one\n", "line two"} << V{"\n"} << "stop_string" << std::string("line one");
        QTest::newRow("empty stop ignored") << V{"abc"} << V{""} << "end_of_turn" << std::string("abc");
        QTest::newRow("multi-byte stop split") << V{"x\xC3", "\xA9y"} << V{"\xC3\xA9"} << "stop_string" << std::string("x");
    }
    void stop_strings() {
        QFETCH(std::vector<std::string>, pieces);
        QFETCH(std::vector<std::string>, stops);
        QFETCH(QString, reason);
        QFETCH(std::string, text);
        FakeBackend backend(*model_, 512);
        Session session(backend);
        Tokens reply;
        for (const std::string& piece : pieces) {
            const Tokens ids = text_tokens(piece);
            reply.insert(reply.end(), ids.begin(), ids.end());
        }
        const Tokens prompt = raw_prompt(5);
        backend.script(prompt, concat({reply, {eos()}}));
        GenerationParams params = greedy();
        params.stop_strings = stops;

        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, params, collect(got));
        QCOMPARE(QString::fromUtf8(stop_reason_name(r.reason)), reason);
        QCOMPARE(r.text, text);
        QCOMPARE(got.text(), text);
        for (const std::string& piece : got.pieces) {
            QVERIFY(tokenizer::utf8::is_valid(piece));
            for (const std::string& stop : stops) QVERIFY(stop.empty() || piece.find(stop) == std::string::npos);
        }
        QCOMPARE(backend.cache, session.tokens());
    }

    // A possible start of a stop string is held back until the next token decides it.
    void partial_stop_string_is_held_back() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const Tokens prompt = raw_prompt(5);
        backend.script(prompt, {byte_token('a'), byte_token(' '), byte_token('E'), byte_token('N'), byte_token('d'), eos()});
        GenerationParams params = greedy();
        params.stop_strings = {"END"};
        Collected got;
        session.generate_tokens(prompt, params, collect(got));
        QCOMPARE(got.pieces, (std::vector<std::string>{"a", " ", "ENd"}));
    }

    void stop_string_filter_data() {
        QTest::addColumn<std::vector<std::string>>("pushes");
        QTest::addColumn<std::vector<std::string>>("stops");
        QTest::addColumn<std::vector<std::string>>("emitted"); // per push, then finish()
        QTest::addColumn<bool>("stopped");
        using V = std::vector<std::string>;
        QTest::newRow("no stops") << V{"ab", "c"} << V{} << V{"ab", "c", ""} << false;
        QTest::newRow("hold then release") << V{"xE", "g"} << V{"END"} << V{"x", "Eg", ""} << false;
        QTest::newRow("hold then stop") << V{"xE", "NDy", "z"} << V{"END"} << V{"x", "", "", ""} << true;
        QTest::newRow("overlapping prefixes") << V{"aa", "ab"} << V{"aab"} << V{"", "a", ""} << true;
        QTest::newRow("finish releases partial") << V{"xEN"} << V{"END"} << V{"x", "EN"} << false;
        QTest::newRow("longest partial of two") << V{"q<|e"} << V{"<|end|>", "e!"} << V{"q", "<|e"} << false;
    }
    void stop_string_filter() {
        QFETCH(std::vector<std::string>, pushes);
        QFETCH(std::vector<std::string>, stops);
        QFETCH(std::vector<std::string>, emitted);
        QFETCH(bool, stopped);
        StopStringFilter filter(stops);
        std::vector<std::string> got;
        for (const std::string& p : pushes) got.push_back(filter.push(p));
        got.push_back(filter.finish());
        QCOMPARE(got, emitted);
        QCOMPARE(filter.stopped(), stopped);
    }

    // ---- Context limits -----------------------------------------------------------------------

    void context_full_during_decode() {
        const Tokens prompt = raw_prompt(10);
        FakeBackend backend(*model_, static_cast<uint32_t>(prompt.size() + 3));
        backend.fallback = byte_token('z');
        Session session(backend);
        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, greedy(), collect(got));
        QCOMPARE(r.reason, StopReason::ContextFull);
        QCOMPARE(r.message, "context full: " + std::to_string(prompt.size() + 3) + " tokens");
        // Three tokens fill the cache; the fourth is sampled from the last logits but has no room.
        QCOMPARE(r.stats.n_generated, 4u);
        QCOMPARE(r.text, std::string("zzzz"));
        QCOMPARE(got.text(), r.text);
        QCOMPARE(session.tokens().size(), prompt.size() + 3);
    }

    void prompt_too_long_is_reported() {
        const Tokens prompt = raw_prompt(10);
        FakeBackend backend(*model_, 9);
        Session session(backend);
        GenerationResult r;
        try {
            r = session.generate_tokens(prompt, greedy(), {});
        } catch (...) {
            QFAIL("generate must not throw");
        }
        QCOMPARE(r.reason, StopReason::ContextFull);
        QCOMPARE(r.message, std::string("prompt is 10 tokens but the context holds 9"));
        QVERIFY(backend.batch_sizes.empty());
        QCOMPARE(r.stats.n_generated, 0u);
        QCOMPARE(r.stats.n_prompt_tokens, 10u);

        // Exactly the context: one token can be sampled, none evaluated.
        FakeBackend exact(*model_, 10);
        exact.fallback = byte_token('z');
        Session fits(exact);
        const GenerationResult r2 = fits.generate_tokens(prompt, greedy(), {});
        QCOMPARE(r2.reason, StopReason::ContextFull);
        QCOMPARE(r2.text, std::string("z"));
    }

    void empty_prompt_is_an_error_not_a_throw() {
        FakeBackend backend(*model_, 64);
        Session session(backend);
        const GenerationResult r = session.generate_tokens({}, greedy(), {});
        QCOMPARE(r.reason, StopReason::Error);
        QVERIFY(!r.message.empty());
    }

    // ---- Cancellation -------------------------------------------------------------------------

    void cancel_between_tokens() {
        FakeBackend backend(*model_, 512);
        backend.fallback = byte_token('z');
        Session session(backend);
        const Tokens prompt = raw_prompt(6);
        std::atomic<bool> cancel{false};
        int pieces = 0;
        const GenerationResult r = session.generate_tokens(prompt, greedy(), [&](std::string_view) {
            if (++pieces == 3) cancel = true;
        }, &cancel);
        QCOMPARE(r.reason, StopReason::Cancelled);
        QCOMPARE(r.text, std::string("zzz"));
        QCOMPARE(r.stats.n_generated, 3u);
        // Only fully evaluated tokens count: the third was sampled but not evaluated.
        QCOMPARE(session.tokens().size(), prompt.size() + 2);
        QCOMPARE(backend.cache, session.tokens());

        // The session goes on from there.
        cancel = false;
        backend.clear_counts();
        GenerationParams params = greedy();
        params.max_new_tokens = 2;
        const GenerationResult again = session.generate_tokens(concat({prompt, {byte_token('z'), byte_token('z'), byte_token('z')}}), params, {}, &cancel);
        QCOMPARE(again.reason, StopReason::MaxTokens);
        QCOMPARE(again.stats.n_prompt_evaluated, 1u);
    }

    void cancel_between_prefill_chunks() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        const Tokens prompt = raw_prompt(20);
        GenerationParams params = greedy();
        params.prefill_chunk = 4;
        std::atomic<bool> cancel{false};
        backend.before_evaluate = [&](size_t call, size_t) {
            if (call == 1) cancel = true; // during the second chunk
        };
        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, params, collect(got), &cancel);
        QCOMPARE(r.reason, StopReason::Cancelled);
        QVERIFY(r.text.empty());
        QVERIFY(got.pieces.empty());
        QCOMPARE(backend.batch_sizes, (std::vector<size_t>{4, 4}));
        QCOMPARE(r.stats.n_prompt_evaluated, 8u);
        QCOMPARE(r.stats.n_generated, 0u);
        QCOMPARE(session.tokens(), Tokens(prompt.begin(), prompt.begin() + 8));

        // Resuming keeps the finished chunks.
        cancel = false;
        backend.before_evaluate = nullptr;
        backend.clear_counts();
        const GenerationResult resumed = session.generate_tokens(prompt, params, {}, &cancel);
        QCOMPARE(resumed.stats.n_reused, 8u);
        QCOMPARE(resumed.stats.n_prompt_evaluated, 12u);
        QCOMPARE(resumed.reason, StopReason::EndOfTurn);
    }

    void cancel_before_start_evaluates_nothing() {
        FakeBackend backend(*model_, 512);
        Session session(backend);
        std::atomic<bool> cancel{true};
        const GenerationResult r = session.generate_tokens(raw_prompt(8), greedy(), {}, &cancel);
        QCOMPARE(r.reason, StopReason::Cancelled);
        QVERIFY(backend.batch_sizes.empty());
    }

    // ---- Failures -----------------------------------------------------------------------------

    void backend_error_data() {
        QTest::addColumn<size_t>("failing_call");
        QTest::addColumn<uint32_t>("cached_after"); // prompt 12 tokens in chunks of 5, then decode
        QTest::newRow("first prefill chunk") << size_t(0) << 0u;
        QTest::newRow("second prefill chunk") << size_t(1) << 5u;
        QTest::newRow("second decode step") << size_t(4) << 13u;
    }
    void backend_error() {
        QFETCH(size_t, failing_call);
        QFETCH(uint32_t, cached_after);
        FakeBackend backend(*model_, 512);
        backend.fallback = byte_token('z');
        backend.throw_on_call = failing_call;
        Session session(backend);
        GenerationParams params = greedy();
        params.prefill_chunk = 5;
        params.max_new_tokens = 10;
        const Tokens prompt = raw_prompt(12);
        Collected got;
        const GenerationResult r = session.generate_tokens(prompt, params, collect(got));
        QCOMPARE(r.reason, StopReason::Error);
        QCOMPARE(r.message, std::string("fake backend failure"));
        QCOMPARE(got.text(), r.text);
        QCOMPARE(uint32_t(session.tokens().size()), cached_after);
        QCOMPARE(backend.cache, session.tokens());

        // Usable afterwards.
        const GenerationResult again = session.generate_tokens(prompt, params, {});
        QCOMPARE(again.reason, StopReason::MaxTokens);
        QCOMPARE(again.text, std::string(10, 'z'));
    }

    void piece_callback_exception_is_an_error() {
        FakeBackend backend(*model_, 512);
        backend.fallback = byte_token('z');
        Session session(backend);
        const GenerationResult r = session.generate_tokens(raw_prompt(5), greedy(), [](std::string_view) {
            throw std::runtime_error("ui went away");
        });
        QCOMPARE(r.reason, StopReason::Error);
        QCOMPARE(r.message, std::string("ui went away"));
        QCOMPARE(backend.cache, session.tokens());
    }

    // A session starts from an empty cache whatever the backend held, and reset() empties it.
    void reset_and_foreign_cache_rows() {
        FakeBackend backend(*model_, 64);
        backend.cache = {1, 2, 3};
        Session session(backend);
        QVERIFY(backend.cache.empty());
        const Tokens prompt = raw_prompt(6);
        session.generate_tokens(prompt, greedy(), {});
        QCOMPARE(session.tokens(), prompt);
        backend.cache.push_back(7); // behind the session's back
        backend.clear_counts();
        const GenerationResult r = session.generate_tokens(prompt, greedy(), {});
        QCOMPARE(r.stats.n_reused, uint32_t(prompt.size() - 1));
        QCOMPARE(backend.cache, prompt);
        session.reset();
        QVERIFY(session.tokens().empty());
        QVERIFY(backend.cache.empty());
    }

    void evaluate_prompt_returns_last_logits() {
        FakeBackend backend(*model_, 64);
        Session session(backend);
        const Tokens prompt = raw_prompt(9);
        backend.script(prompt, {byte_token('q')});
        const std::vector<float> logits = session.evaluate_prompt(prompt, 4);
        QCOMPARE(logits.size(), size_t(model_->config().n_vocab));
        QCOMPARE(int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin()), byte_token('q'));
        QCOMPARE(session.tokens(), prompt);
        QVERIFY_THROWS_EXCEPTION(Error, session.evaluate_prompt(raw_prompt(65)));
        QVERIFY_THROWS_EXCEPTION(Error, session.evaluate_prompt({}));
    }

    // ---- Chat format ----------------------------------------------------------------------------

    // R1's generation prompt opens a think block; the result says so, so the caller can split
    // the reasoning off the streamed text.
    void think_prefix_follows_chat_format() {
        FakeBackend backend(*r1_model_, 512);
        Session session(backend);
        const std::vector<chat::ChatMessage> messages = {{chat::ChatMessage::User, "Why?"}};
        GenerationParams params = greedy();
        const Tokens with_think = session.prompt_tokens(messages, params);
        const Tokens think = r1_model_->tokenizer().encode("<think>\n", false, true);
        QVERIFY(ends_with(with_think, think));
        backend.script(with_think, concat({text_tokens("hmm"), r1_model_->tokenizer().encode("</think>", false, true), text_tokens("Because."), {eos()}}));
        const GenerationResult r = session.generate(messages, params, {});
        QVERIFY(r.started_in_reasoning);
        const chat::ReasoningSplit split = chat::split_reasoning(r.text, r.started_in_reasoning);
        QCOMPARE(split.reasoning, std::string("hmm"));
        QCOMPARE(split.answer, std::string("Because."));

        params.think_prefix = false;
        QVERIFY(!ends_with(session.prompt_tokens(messages, params), think));
        QVERIFY(!session.generate(messages, params, {}).started_in_reasoning);
    }

    // ---- Statistics ---------------------------------------------------------------------------

    void stats_are_filled_and_sane() {
        FakeBackend backend(*model_, 512);
        backend.fallback = byte_token('z');
        backend.delay = std::chrono::microseconds(500);
        Session session(backend);
        GenerationParams params = greedy();
        params.max_new_tokens = 6;
        params.prefill_chunk = 4;
        const Tokens prompt = raw_prompt(10);
        const GenerationResult r = session.generate_tokens(prompt, params, {});
        const GenerationStats& s = r.stats;
        QCOMPARE(s.n_prompt_tokens, 10u);
        QCOMPARE(s.n_reused, 0u);
        QCOMPARE(s.n_prompt_evaluated, 10u);
        QCOMPARE(s.n_generated, 6u);
        QCOMPARE(r.tokens.size(), size_t(6));
        QVERIFY(s.prompt_ms > 0.0);
        QVERIFY(s.time_to_first_token_ms >= s.prompt_ms);
        QVERIFY(s.generation_ms > 0.0);
        QVERIFY(s.prompt_tokens_per_s > 0.0 && s.prompt_tokens_per_s < 1e6);
        QVERIFY(s.generation_tokens_per_s > 0.0 && s.generation_tokens_per_s < 1e5);
        // 5 decode steps of >= 0.5 ms each between the first and the last token.
        QVERIFY(s.generation_tokens_per_s <= 5.0 / 2.5e-3 + 1e-9);
    }

    // ---- A real backend -------------------------------------------------------------------------

    // The session over the reference backend: greedy generation is deterministic, and logits
    // after prefix reuse equal those of a fresh evaluation (truncate really forgets the rows).
    void reference_backend_end_to_end() {
        std::string note;
        BackendOptions options;
        options.n_ctx = 64;
        std::unique_ptr<Backend> backend = create_backend(*model_, BackendKind::Ref, options, &note);
        QVERIFY(note.empty());
        QCOMPARE(backend->name(), std::string_view("ref"));
        Session session(*backend);
        GenerationParams params = greedy();
        params.max_new_tokens = 6;
        params.prefill_chunk = 3;
        const Tokens prompt = raw_prompt(8);
        Collected got;
        const GenerationResult first = session.generate_tokens(prompt, params, collect(got));
        QVERIFY2(first.reason == StopReason::MaxTokens || first.reason == StopReason::EndOfTurn, first.message.c_str());
        QCOMPARE(got.text(), first.text);
        for (const std::string& piece : got.pieces) QVERIFY(tokenizer::utf8::is_valid(piece));

        session.reset();
        const GenerationResult second = session.generate_tokens(prompt, params, {});
        QCOMPARE(second.tokens, first.tokens);

        // Diverge after 5 tokens, then compare with a fresh evaluation of the same prompt.
        Tokens edited(prompt.begin(), prompt.begin() + 5);
        edited.push_back(byte_token('Q'));
        edited.push_back(byte_token('R'));
        const std::vector<float> reused = session.evaluate_prompt(edited, 2);
        session.reset();
        const std::vector<float> fresh = session.evaluate_prompt(edited, 2);
        QCOMPARE(reused.size(), fresh.size());
        for (size_t i = 0; i < fresh.size(); ++i) QVERIFY(std::abs(reused[i] - fresh[i]) <= 1e-4f * (1.0f + std::abs(fresh[i])));
    }

    // Loading through the public API reports progress and can be cancelled.
    void load_progress_and_cancel() {
        const auto path = test::to_path(dir_.filePath("tiny.gguf"));
        std::vector<float> seen;
        ModelLoadOptions options;
        options.prefetch = true;
        options.progress = [&](float p) {
            seen.push_back(p);
            return true;
        };
        QVERIFY(Model::load(path, options) != nullptr);
        QVERIFY(seen.size() >= 2);
        QVERIFY(std::is_sorted(seen.begin(), seen.end()));
        QCOMPARE(seen.back(), 1.0f);

        int calls = 0;
        options.progress = [&](float) { return ++calls < 3; };
        QVERIFY_THROWS_EXCEPTION(Cancelled, Model::load(path, options));
    }

    void backend_kinds() {
        QCOMPARE(backend_kind_from_name("CUDA"), std::optional<BackendKind>(BackendKind::Cuda));
        QCOMPARE(backend_kind_from_name("auto"), std::optional<BackendKind>(BackendKind::Auto));
        QVERIFY(!backend_kind_from_name("gpu").has_value());
        for (std::string_view name : backend_kind_names()) QCOMPARE(backend_kind_name(*backend_kind_from_name(name)), name);
        QVERIFY(backend_kind_available(BackendKind::Cpu));
        QVERIFY(backend_kind_available(BackendKind::Ref));
    }

    void names() {
        QCOMPARE(stop_reason_name(StopReason::EndOfTurn), std::string_view("end_of_turn"));
        QCOMPARE(stop_reason_name(StopReason::ContextFull), std::string_view("context_full"));
        QCOMPARE(stop_reason_name(StopReason::Cancelled), std::string_view("cancelled"));
    }
};

QTEST_APPLESS_MAIN(TestSession)
#include "test_session.moc"
