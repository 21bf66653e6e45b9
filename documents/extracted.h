// What extraction produces: one UTF-8 text per document (line ends normalised to "\n") and the
// structure found in it as blocks, each a byte range of that text. The text is what the index
// stores and the viewer shows; every chunk is an exact range of it.
#pragma once

#include "limits.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace latent::documents {

enum class BlockKind { Heading, Paragraph, ListItem, Code };

struct Block {
    BlockKind kind = BlockKind::Paragraph;
    int level = 0;      // heading level 1 … 6 (Heading only)
    size_t begin = 0;   // byte offset in ExtractedDocument::text
    size_t end = 0;     // one past the last byte
    int page = 0;       // 1-based PDF page, 0 outside PDFs
};

struct ExtractedDocument {
    std::string format; // "text", "code", "markdown", "html", "pdf", "docx", "odt", "epub"
    std::string text;   // UTF-8, "\n" line ends
    std::vector<Block> blocks; // in text order, non-overlapping
    int pages = 0;      // PDF page count, 0 otherwise
};

// Why a file was not indexed. Skipped: not meant to be (unsupported type, binary, too large);
// failed: meant to be but could not (malformed, a limit inside it, no text layer).
class DocumentError : public std::runtime_error {
public:
    enum class Kind { Failed, Skipped };
    DocumentError(Kind kind, const std::string& reason) : std::runtime_error(reason), kind_(kind) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

[[noreturn]] void fail(const std::string& reason);
[[noreturn]] void skip(const std::string& reason);

// The time limit of one file, checked in every loop of extraction and indexing.
class Deadline {
public:
    explicit Deadline(std::chrono::milliseconds budget) : budget_(budget), end_(std::chrono::steady_clock::now() + budget) {}
    void check() const; // throws DocumentError(Failed) once the budget is spent

private:
    std::chrono::milliseconds budget_;
    std::chrono::steady_clock::time_point end_;
};

// Appends text and records blocks for the structured formats (HTML, DOCX, ODT, EPUB, PDF).
// Blocks are separated by a blank line; text outside a block opens a paragraph. Enforces
// Limits::max_text_bytes and checks the deadline.
class TextBuilder {
public:
    TextBuilder(const Limits& limits, const Deadline& deadline) : limits_(limits), deadline_(deadline) {}

    void begin_block(BlockKind kind, int level = 0, int page = 0);
    void end_block(); // closes the open block (if any); an empty block is dropped
    // Appends UTF-8 text; runs of spaces, tabs and line ends collapse to one space unless
    // `preformatted`.
    void append(std::string_view utf8, bool preformatted = false);
    void line_break(); // a hard line break inside a block
    bool in_block() const { return open_; }

    ExtractedDocument finish(std::string format, int pages = 0);

private:
    void separate_blocks();
    const Limits& limits_;
    const Deadline& deadline_;
    ExtractedDocument doc_;
    Block current_;
    bool open_ = false;
    bool pending_space_ = false; // whitespace seen, written before the next visible character
    size_t separate_start_ = 0;  // text size before the open block's separator
    unsigned appends_ = 0;
};

} // namespace latent::documents
