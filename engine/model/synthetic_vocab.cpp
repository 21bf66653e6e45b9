#include "model/synthetic_vocab.h"

#include "core/error.h"
#include "model/random_weights.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace latent {

namespace {

// Written for this project; plain prose with the words, numbers and punctuation of everyday
// chat, so the learned merges cover common English.
constexpr std::string_view kSampleText =
    "The morning was quiet, and the house still smelled of coffee. She opened the window, looked at the "
    "garden, and decided that today she would finally write the letter she had been thinking about for "
    "weeks. It was not a long letter. It only had to say what she meant, and say it clearly.\n\n"
    "User: Can you help me plan a trip to the mountains for three days?\n"
    "Assistant: Of course. On the first day you could drive to the village, check in at the hotel, and "
    "take a short walk by the lake. On the second day, start early and hike to the top of the ridge; the "
    "view is worth the climb. On the third day, rest, visit the market, and drive back in the afternoon.\n\n"
    "User: What should I pack?\n"
    "Assistant: Pack warm clothes, a rain jacket, good shoes, water, a map, and some food for the hike. "
    "The weather in the mountains can change quickly, so it is better to be ready for cold and wet days.\n\n"
    "A computer program is a list of instructions. The computer reads each instruction and does what it "
    "says, one step after another. When the program is written well, the steps are simple and the result "
    "is correct. When it is written badly, the same steps can take a long time, use too much memory, or "
    "give the wrong answer. Good programmers test their programs, read them again, and make them simpler.\n\n"
    "In 2024 the city counted 12,500 visitors in March, 18,200 in June and 9,750 in November. The numbers "
    "were higher than in 2023, when there were 10,100, 16,400 and 8,900 visitors in the same months.\n\n"
    "There is an old story about a man who planted trees. Every day he walked into the hills with a bag of "
    "seeds and a long stick. He made a small hole in the ground, dropped a seed into it, and covered it "
    "again. He did this for many years, and he never asked anyone for help. When people came back to the "
    "valley after the war, they found a forest where there had been nothing but dry grass and stones. The "
    "water had returned, the birds had returned, and the village was alive again.\n\n"
    "Questions are how we learn. Why is the sky blue? How does a plane stay in the air? What happens to "
    "the water when it rains? Each answer leads to another question, and that is a good thing: it means "
    "that we are still thinking, still curious, and still learning something new every day.\n\n"
    "Please remember to save your work before you close the program. If you have any questions, write to "
    "us and we will answer as soon as we can. Thank you for reading, and have a nice day!\n";

constexpr std::string_view kSpecialTexts[kSyntheticSpecialCount] = {
    "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<\xEF\xBD\x9CUser\xEF\xBD\x9C>",
    "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>",
    "<think>",
    "</think>",
};
constexpr int32_t kSpecialTypes[kSyntheticSpecialCount] = {kTokenControl, kTokenControl, kTokenControl,
                                                           kTokenControl, kTokenUserDefined, kTokenUserDefined};

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_punct(char c) { return c > ' ' && c < 0x7F && !is_letter(c) && !is_digit(c); }

// A simplified DeepSeek pre-tokenizer over ASCII text: newlines alone, an optional space followed by
// a run of letters or of punctuation, digit runs of at most three, other whitespace runs.
std::vector<std::string> pre_tokenize(std::string_view text) {
    std::vector<std::string> words;
    size_t i = 0;
    while (i < text.size()) {
        const size_t start = i;
        const char c = text[i];
        if (c == '\n' || c == '\r') {
            ++i;
        } else if (is_digit(c)) {
            while (i < text.size() && is_digit(text[i]) && i - start < 3) ++i;
        } else {
            const bool spaced = c == ' ' && i + 1 < text.size();
            const char first = spaced ? text[i + 1] : c;
            if (is_letter(first) || is_punct(first)) {
                const bool letters = is_letter(first);
                i += spaced ? 2 : 1;
                while (i < text.size() && (letters ? is_letter(text[i]) : is_punct(text[i]))) ++i;
            } else {
                while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
                if (i == start) ++i; // any other byte stands alone
            }
        }
        words.emplace_back(text.substr(start, i - start));
    }
    return words;
}

// Plain BPE on the sample text until no pair occurs twice. Symbols are indices into `texts`
// (the 256 byte tokens first); returns the merges as (left, right) text pairs in rank order.
std::vector<std::pair<std::string, std::string>> learn_sample_merges() {
    std::vector<std::string> texts;
    for (int b = 0; b < 256; ++b) texts.push_back(gpt2_byte_token(static_cast<uint8_t>(b)));

    std::map<std::string, uint32_t> word_counts;
    for (const std::string& word : pre_tokenize(kSampleText)) ++word_counts[word];
    struct Word {
        std::vector<uint32_t> symbols;
        uint32_t count;
    };
    std::vector<Word> words;
    for (const auto& [text, count] : word_counts) {
        Word w{{}, count};
        for (char c : text) w.symbols.push_back(static_cast<uint8_t>(c));
        words.push_back(std::move(w));
    }

    std::vector<std::pair<std::string, std::string>> merges;
    std::unordered_set<std::string> known(texts.begin(), texts.end());
    for (;;) {
        std::unordered_map<uint64_t, uint32_t> pair_counts;
        for (const Word& w : words)
            for (size_t i = 0; i + 1 < w.symbols.size(); ++i)
                pair_counts[(uint64_t{w.symbols[i]} << 32) | w.symbols[i + 1]] += w.count;
        uint64_t best = 0;
        uint32_t best_count = 0;
        for (const auto& [pair, count] : pair_counts)
            if (count > best_count || (count == best_count && pair < best)) {
                best = pair;
                best_count = count;
            }
        if (best_count < 2) break;
        const uint32_t left = static_cast<uint32_t>(best >> 32), right = static_cast<uint32_t>(best & 0xFFFFFFFF);
        std::string joined = texts[left] + texts[right];
        if (known.contains(joined)) break; // cannot happen with byte-disjoint pre-tokens; stop cleanly
        known.insert(joined);
        const uint32_t id = static_cast<uint32_t>(texts.size());
        merges.emplace_back(texts[left], texts[right]);
        texts.push_back(std::move(joined));
        for (Word& w : words) {
            std::vector<uint32_t> out;
            out.reserve(w.symbols.size());
            for (size_t i = 0; i < w.symbols.size(); ++i) {
                if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
                    out.push_back(id);
                    ++i;
                } else {
                    out.push_back(w.symbols[i]);
                }
            }
            w.symbols = std::move(out);
        }
    }
    return merges;
}

const std::vector<std::pair<std::string, std::string>>& sample_merges() {
    static const std::vector<std::pair<std::string, std::string>> merges = learn_sample_merges();
    return merges;
}

} // namespace

std::string gpt2_byte_token(uint8_t byte) {
    const auto keeps_code = [](uint32_t b) {
        return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t cp = byte;
    if (!keeps_code(byte)) {
        uint32_t n = 0;
        for (uint32_t b = 0; b < byte; ++b)
            if (!keeps_code(b)) ++n;
        cp = 0x100 + n;
    }
    std::string out;
    append_utf8(out, cp);
    return out;
}

std::string_view synthetic_vocab_sample_text() { return kSampleText; }

SyntheticVocab make_synthetic_vocab(uint32_t n_vocab, uint32_t special_start) {
    if (n_vocab < 256 + kSyntheticSpecialCount)
        throw Error("synthetic vocabulary needs at least " + std::to_string(256 + kSyntheticSpecialCount) +
                    " tokens, got " + std::to_string(n_vocab));
    if (special_start > n_vocab - kSyntheticSpecialCount)
        throw Error("synthetic vocabulary: special tokens at " + std::to_string(special_start) + " do not fit in " +
                    std::to_string(n_vocab) + " tokens");

    const size_t n_normal = n_vocab - kSyntheticSpecialCount;
    std::vector<std::string> normal;
    normal.reserve(n_normal);
    std::unordered_set<std::string> known;
    for (std::string_view special : kSpecialTexts) known.emplace(special);
    for (int b = 0; b < 256; ++b) {
        normal.push_back(gpt2_byte_token(static_cast<uint8_t>(b)));
        known.insert(normal.back());
    }

    SyntheticVocab vocab;
    vocab.merges.reserve(n_normal - 256);
    for (const auto& [left, right] : sample_merges()) {
        if (normal.size() == n_normal) break;
        std::string joined = left + right;
        if (!known.insert(joined).second) break; // later merges may build on it: stop here
        vocab.merges.push_back(left + " " + right);
        normal.push_back(std::move(joined));
    }

    // Filler merges: an existing token extended by a short one (a byte or a learned token), kept
    // to at most 24 bytes of text. Rejections are rare, so this runs in linear time.
    const size_t short_tokens = normal.size();
    WeightRng rng(0x5eed'70c3'b00cull);
    size_t rejections = 0;
    while (normal.size() < n_normal) {
        const size_t left = rng.next() % normal.size();
        const size_t right = rng.next() % short_tokens;
        if (normal[left].size() + normal[right].size() > 24 || known.contains(normal[left] + normal[right])) {
            if (++rejections > 1000000) throw Error("synthetic vocabulary: cannot generate more merges");
            continue;
        }
        std::string joined = normal[left] + normal[right];
        known.insert(joined);
        vocab.merges.push_back(normal[left] + " " + normal[right]);
        normal.push_back(std::move(joined));
    }

    vocab.tokens.reserve(n_vocab);
    vocab.token_types.reserve(n_vocab);
    size_t next_normal = 0;
    for (uint32_t id = 0; id < n_vocab; ++id) {
        if (id >= special_start && id < special_start + kSyntheticSpecialCount) {
            vocab.tokens.emplace_back(kSpecialTexts[id - special_start]);
            vocab.token_types.push_back(kSpecialTypes[id - special_start]);
        } else {
            vocab.tokens.push_back(std::move(normal[next_normal++]));
            vocab.token_types.push_back(kTokenNormal);
        }
    }
    vocab.bos_id = special_start;
    vocab.eos_id = special_start + 1;
    vocab.user_id = special_start + 2;
    vocab.assistant_id = special_start + 3;
    vocab.think_id = special_start + 4;
    vocab.think_end_id = special_start + 5;
    return vocab;
}

} // namespace latent
