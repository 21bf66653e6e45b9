#include "chunker.h"

#include "utf8.h"

#include <optional>

namespace latent::documents {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\v'; }

// A heading's title for the path: its text without Markdown markers, whitespace collapsed.
std::string heading_title(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        if (is_space(c) || ((c == '#' || c == '=') && (out.empty() || space))) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    while (!out.empty() && (out.back() == '#' || out.back() == '-' || out.back() == '=' || out.back() == ' ')) out.pop_back();
    if (out.size() > 200) out.resize(utf8_floor(out, 200));
    return out;
}

class Packer {
public:
    Packer(const std::string& text, const ChunkOptions& options) : text_(text), options_(options) {}

    void emit(size_t begin, size_t end, int page) {
        while (begin < end && is_space(text_[begin])) ++begin;
        while (end > begin && is_space(text_[end - 1])) --end;
        if (begin < end) chunks_.push_back(Chunk{begin, end, page, path_});
    }
    void flush() {
        if (current_) emit(current_->begin, current_->end, current_->page);
        current_.reset();
    }
    // A block longer than max_bytes: windows cut at whitespace, overlapping by overlap_bytes.
    void windows(const Block& b, const Deadline& deadline) {
        size_t s = b.begin;
        while (true) {
            deadline.check();
            size_t e = std::min(s + options_.max_bytes, b.end);
            if (e < b.end) {
                size_t cut = e;
                while (cut > s + options_.max_bytes / 2 && !is_space(text_[cut - 1])) --cut;
                e = cut > s + options_.max_bytes / 2 ? cut : utf8_floor(text_, e); // no whitespace (CJK): a code point boundary
            }
            emit(s, e, b.page);
            if (e >= b.end) break;
            // The next window starts about overlap_bytes before this one's end, just after a space.
            size_t next = std::max(s + 1, e > options_.overlap_bytes ? e - options_.overlap_bytes : s + 1);
            while (next < e && !is_space(text_[next - 1])) ++next;
            s = std::min(next, e);
        }
    }

    struct Open {
        size_t begin, end;
        int page;
    };
    std::optional<Open> current_;
    std::string path_;
    std::vector<Chunk> chunks_;

private:
    const std::string& text_;
    const ChunkOptions& options_;
};

} // namespace

std::vector<Chunk> chunk_document(const ExtractedDocument& doc, const ChunkOptions& options, const Deadline& deadline) {
    Packer packer(doc.text, options);
    std::vector<std::pair<int, std::string>> headings; // the open heading levels and titles
    Block last{};                                       // the last block in the open chunk,
    bool have_last = false;                             // when there is one
    size_t n = 0;
    for (const Block& b : doc.blocks) {
        if (++n % 1024 == 0) deadline.check();
        if (b.kind == BlockKind::Heading) {
            packer.flush();
            while (!headings.empty() && headings.back().first >= b.level) headings.pop_back();
            headings.emplace_back(b.level, heading_title(std::string_view(doc.text).substr(b.begin, b.end - b.begin)));
            packer.path_.clear();
            for (const auto& [level, title] : headings) packer.path_ += (packer.path_.empty() ? "" : " > ") + title;
            packer.current_ = Packer::Open{b.begin, b.end, b.page};
            have_last = false; // the heading itself is never the overlap
            continue;
        }
        if (packer.current_ && packer.current_->page != b.page) {
            packer.flush();
            have_last = false;
        }
        if (b.end - b.begin > options.max_bytes) {
            packer.flush();
            packer.windows(b, deadline);
            have_last = false;
            continue;
        }
        if (packer.current_ && b.end - packer.current_->begin > options.target_bytes) {
            packer.flush();
            const bool overlap = have_last && last.end - last.begin <= options.overlap_bytes;
            packer.current_ = Packer::Open{overlap ? last.begin : b.begin, b.end, b.page};
        } else if (packer.current_) {
            packer.current_->end = b.end;
        } else {
            packer.current_ = Packer::Open{b.begin, b.end, b.page};
        }
        last = b;
        have_last = true;
    }
    packer.flush();
    return std::move(packer.chunks_);
}

} // namespace latent::documents
