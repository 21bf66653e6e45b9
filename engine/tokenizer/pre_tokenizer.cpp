#include "tokenizer/pre_tokenizer.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <optional>

namespace latent::tokenizer {

namespace {

// Spec §5.3, verbatim (the \x{HHHH} forms).
constexpr std::string_view kDeepseekLlmLatin =
    R"re(\s?[A-Za-z\x{00B5}\x{00C0}-\x{00D6}\x{00D8}-\x{00F6}\x{00F8}-\x{01BA}\x{01BC}-\x{01BF}\x{01C4}-\x{0293}\x{0295}-\x{02AF}\x{0370}-\x{0373}\x{0376}\x{0377}\x{037B}-\x{037D}\x{037F}\x{0386}\x{0388}-\x{038A}\x{038C}\x{038E}-\x{03A1}\x{03A3}-\x{03F5}\x{03F7}-\x{0481}\x{048A}-\x{052F}\x{0531}-\x{0556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";
constexpr std::string_view kDeepseekLlmPunct = R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";
constexpr std::string_view kCjkHangul = R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

constexpr std::array<std::string_view, 6> kDeepseekLlm = {
    R"re([\r\n])re", kDeepseekLlmLatin, kDeepseekLlmPunct, R"re(\s+$)re", kCjkHangul, R"re(\p{N}+)re",
};

constexpr std::array<std::string_view, 3> kDeepseekV3 = {
    R"re(\p{N}{1,3})re",
    R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
};

constexpr std::array<std::string_view, 5> kDeepseekCoder = {
    R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kCjkHangul, R"re(\p{N})re",
};

// What `\s` means (rule 1): Unicode White_Space.
constexpr std::string_view kSpaceClassBody = R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// Length of the escape sequence starting at pattern[pos] == '\\'.
size_t escape_length(std::string_view pattern, size_t pos) {
    if (pos + 1 >= pattern.size()) throw Error("pre-tokenizer pattern ends with a lone backslash");
    const char kind = pattern[pos + 1];
    if ((kind == 'x' || kind == 'p' || kind == 'P') && pos + 2 < pattern.size() && pattern[pos + 2] == '{') {
        const size_t close = pattern.find('}', pos + 3);
        if (close == std::string_view::npos) throw Error("pre-tokenizer pattern has an unterminated \\" + std::string(1, kind) + "{");
        return close - pos + 1;
    }
    if (kind == 'x') { // \xhh: up to two hex digits
        size_t length = 2;
        while (length < 4 && pos + length < pattern.size() && std::isxdigit(static_cast<unsigned char>(pattern[pos + length]))) ++length;
        return length;
    }
    return 2;
}

std::string describe_pcre2_error(int code) {
    std::array<PCRE2_UCHAR, 256> buffer{};
    pcre2_get_error_message(code, buffer.data(), buffer.size());
    return std::string(reinterpret_cast<const char*>(buffer.data()));
}

// The text as the patterns see it (rule 3: ill-formed bytes as U+FFFD), with offset maps both
// ways. Offsets are only meaningful at character starts and at the end.
struct MatchView {
    std::string text;
    std::vector<uint32_t> to_view;   // (source size + 1) source offset -> view offset
    std::vector<uint32_t> to_source; // (view size + 1) view offset -> source offset
};

MatchView build_view(std::string_view source) {
    MatchView view;
    view.text.reserve(source.size());
    view.to_view.assign(source.size() + 1, 0);
    view.to_source.reserve(source.size() + 1);
    for (size_t pos = 0; pos < source.size();) {
        const utf8::Decoded d = utf8::decode(source, pos);
        const size_t view_start = view.text.size();
        if (d.status != utf8::Decoded::Status::Valid) view.text.append(utf8::kReplacementUtf8);
        else view.text.append(source.substr(pos, d.length));
        view.to_view[pos] = static_cast<uint32_t>(view_start);
        view.to_source.resize(view.text.size());
        view.to_source[view_start] = static_cast<uint32_t>(pos);
        pos += d.length;
    }
    view.to_view[source.size()] = static_cast<uint32_t>(view.text.size());
    view.to_source.push_back(static_cast<uint32_t>(source.size()));
    return view;
}

} // namespace

std::string translate_pattern(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size() + 32);
    size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] == '[') {
            size_t j = i + 1;
            const bool negated = j < pattern.size() && pattern[j] == '^';
            if (negated) ++j;
            if (j < pattern.size() && pattern[j] == ']') throw Error("pre-tokenizer pattern has a class starting with ']', which is not supported");
            std::string body;
            while (j < pattern.size() && pattern[j] != ']') {
                if (pattern[j] == '\\' && j + 1 < pattern.size() && (pattern[j + 1] == 's' || pattern[j + 1] == 'S')) {
                    if (pattern[j + 1] == 'S') throw Error("pre-tokenizer pattern uses \\S inside a class, which is not supported");
                    body += kSpaceClassBody;
                    j += 2;
                    continue;
                }
                const size_t length = pattern[j] == '\\' ? escape_length(pattern, j) : utf8::decode(pattern, j).length;
                if (length == 0) throw Error("pre-tokenizer pattern is not valid UTF-8");
                body += pattern.substr(j, length);
                j += length;
            }
            if (j >= pattern.size()) throw Error("pre-tokenizer pattern has an unterminated class");
            out += (negated ? "[^" : "[") + body + "]";
            i = j + 1;
            continue;
        }
        if (pattern[i] == '\\') {
            const size_t length = escape_length(pattern, i);
            const std::string_view escape = pattern.substr(i, length);
            if (escape == R"(\s)") out += "[" + std::string(kSpaceClassBody) + "]";
            else if (escape == R"(\S)") out += "[^" + std::string(kSpaceClassBody) + "]";
            else out += escape;
            i += length;
            continue;
        }
        out += pattern[i];
        ++i;
    }
    return out;
}

struct PreTokenizer::CompiledPattern {
    pcre2_code* code = nullptr;
    std::string source; // translated PCRE2 pattern
    ~CompiledPattern() { pcre2_code_free(code); }
};

const std::vector<std::string_view>& PreTokenizer::supported_names() {
    static const std::vector<std::string_view> names = {"deepseek-llm", "deepseek-v3", "deepseek-coder"};
    return names;
}

bool PreTokenizer::is_supported(std::string_view name) {
    const auto& names = supported_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string_view> PreTokenizer::patterns_for(std::string_view name) {
    if (name == "deepseek-llm") return {kDeepseekLlm.begin(), kDeepseekLlm.end()};
    if (name == "deepseek-v3") return {kDeepseekV3.begin(), kDeepseekV3.end()};
    if (name == "deepseek-coder") return {kDeepseekCoder.begin(), kDeepseekCoder.end()};
    return {};
}

PreTokenizer::PreTokenizer(std::string_view name) : name_(name) {
    if (!is_supported(name)) {
        std::string list;
        for (const auto supported : supported_names()) list += (list.empty() ? "" : ", ") + std::string(supported);
        throw Error("unsupported pre-tokenizer \"" + std::string(name) + "\" (supported: " + list + ")");
    }
    for (const std::string_view pattern : patterns_for(name)) {
        auto compiled = std::make_unique<CompiledPattern>();
        compiled->source = translate_pattern(pattern);
        int error_code = 0;
        PCRE2_SIZE error_offset = 0;
        compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled->source.data()), compiled->source.size(),
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error_code, &error_offset, nullptr);
        if (compiled->code == nullptr) {
            throw Error("pre-tokenizer \"" + name_ + "\": pattern failed to compile at offset " + std::to_string(error_offset) +
                        ": " + describe_pcre2_error(error_code));
        }
        pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE); // interpreter fallback if JIT is unavailable
        patterns_.push_back(std::move(compiled));
    }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::vector<TextSpan> PreTokenizer::split(std::string_view text) const {
    if (text.empty()) return {};
    if (text.size() >= std::numeric_limits<uint32_t>::max() / 3) throw Error("text too long to pre-tokenize");

    // Valid UTF-8 is matched as it is; otherwise through a view with U+FFFD for the bad bytes.
    std::optional<MatchView> replaced;
    if (!utf8::is_valid(text)) replaced = build_view(text);
    const std::string_view view_text = replaced ? std::string_view(replaced->text) : text;
    const auto to_view = [&](size_t source) -> size_t { return replaced ? replaced->to_view[source] : source; };
    const auto to_source = [&](size_t view) -> size_t { return replaced ? replaced->to_source[view] : view; };

    // Pieces are byte ranges of the original text.
    std::vector<TextSpan> pieces{{0, text.size()}};
    std::vector<TextSpan> next;
    for (const auto& pattern : patterns_) {
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
            pcre2_match_data_create_from_pattern(pattern->code, nullptr), &pcre2_match_data_free);
        if (!match_data) throw Error("pre-tokenizer: out of memory for match data");
        next.clear();
        next.reserve(pieces.size() * 2);
        for (const TextSpan piece : pieces) {
            const size_t base = to_view(piece.begin);
            const size_t length = to_view(piece.end) - base;
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(view_text.data() + base);
            const auto source_at = [&](size_t offset) -> size_t { return to_source(base + offset); };
            size_t gap_start = 0;
            size_t search_from = 0;
            uint32_t options = 0;
            while (search_from <= length) {
                int rc = pcre2_match(pattern->code, subject, length, search_from, options | PCRE2_NO_UTF_CHECK, match_data.get(), nullptr);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT) { // very long runs: the interpreter keeps its frames on the heap
                    rc = pcre2_match(pattern->code, subject, length, search_from, options | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                                     match_data.get(), nullptr);
                }
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) throw Error("pre-tokenizer \"" + name_ + "\": regex match failed: " + describe_pcre2_error(rc));
                const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
                const size_t match_begin = ovector[0];
                const size_t match_end = ovector[1];
                if (match_begin > gap_start) next.push_back({source_at(gap_start), source_at(match_begin)});
                if (match_end > match_begin) next.push_back({source_at(match_begin), source_at(match_end)});
                gap_start = match_end;
                search_from = match_end;
                // After an empty match, the next match may not be empty at the same place.
                options = match_end == match_begin ? PCRE2_NOTEMPTY_ATSTART : 0;
                if (match_end == match_begin && match_end == length) break;
            }
            if (gap_start < length) next.push_back({source_at(gap_start), piece.end});
        }
        pieces.swap(next);
    }
    return pieces;
}

} // namespace latent::tokenizer
