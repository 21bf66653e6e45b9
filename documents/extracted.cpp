#include "extracted.h"

namespace latent::documents {

void fail(const std::string& reason) { throw DocumentError(DocumentError::Kind::Failed, reason); }
void skip(const std::string& reason) { throw DocumentError(DocumentError::Kind::Skipped, reason); }

void Deadline::check() const {
    if (std::chrono::steady_clock::now() > end_) {
        const long long ms = budget_.count();
        fail("took longer than " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") + " (time limit per file)");
    }
}

void TextBuilder::separate_blocks() {
    std::string& t = doc_.text;
    if (t.empty()) return;
    while (!t.empty() && t.back() == ' ') t.pop_back();
    if (t.size() >= 2 && t.compare(t.size() - 2, 2, "\n\n") == 0) return;
    t += t.back() == '\n' ? "\n" : "\n\n";
}

void TextBuilder::begin_block(BlockKind kind, int level, int page) {
    end_block();
    separate_start_ = doc_.text.size();
    separate_blocks();
    current_ = Block{kind, level, doc_.text.size(), doc_.text.size(), page};
    open_ = true;
    pending_space_ = false;
}

void TextBuilder::end_block() {
    if (!open_) return;
    open_ = false;
    std::string& t = doc_.text;
    while (t.size() > current_.begin && (t.back() == ' ' || t.back() == '\n')) t.pop_back();
    if (t.size() == current_.begin) {
        t.resize(separate_start_); // an empty block leaves nothing behind
        return;
    }
    current_.end = t.size();
    doc_.blocks.push_back(current_);
}

void TextBuilder::append(std::string_view utf8, bool preformatted) {
    if (!open_) begin_block(BlockKind::Paragraph);
    std::string& t = doc_.text;
    if (preformatted) {
        t.append(utf8);
    } else {
        for (const char c : utf8) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                pending_space_ = true;
                continue;
            }
            if (pending_space_ && t.size() > current_.begin && t.back() != '\n') t += ' ';
            pending_space_ = false;
            t += c;
        }
    }
    if (t.size() > limits_.max_text_bytes) fail("extracted text over " + std::to_string(limits_.max_text_bytes >> 20) + " MiB");
    if (++appends_ % 256 == 0) deadline_.check();
}

void TextBuilder::line_break() {
    if (!open_) return;
    std::string& t = doc_.text;
    while (t.size() > current_.begin && t.back() == ' ') t.pop_back();
    if (t.size() > current_.begin && t.back() != '\n') t += '\n';
    pending_space_ = false;
}

ExtractedDocument TextBuilder::finish(std::string format, int pages) {
    end_block();
    while (!doc_.text.empty() && doc_.text.back() == '\n') doc_.text.pop_back();
    doc_.format = std::move(format);
    doc_.pages = pages;
    return std::move(doc_);
}

} // namespace latent::documents
