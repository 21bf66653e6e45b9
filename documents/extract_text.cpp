// Plain text, source code and Markdown: the decoded file is the extracted text itself, so a
// chunk's range is also its place in the file; structure comes from a line scan (paragraphs;
// Markdown headings, list items and fenced code).
#include "extractors.h"

#include "text_decode.h"

#include <string_view>

namespace latent::documents {
namespace {

struct Line {
    size_t begin, end; // without the "\n"
};

std::vector<Line> split_lines(const std::string& text, const Limits& limits, const Deadline& deadline) {
    std::vector<Line> lines;
    size_t begin = 0;
    while (begin <= text.size()) {
        size_t end = text.find('\n', begin);
        if (end == std::string::npos) end = text.size();
        if (end - begin > limits.max_line_bytes) {
            fail("a line longer than " + std::to_string(limits.max_line_bytes) + " bytes (minified, or not text?)");
        }
        lines.push_back({begin, end});
        if (lines.size() % 65536 == 0) deadline.check();
        begin = end + 1;
    }
    return lines;
}

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t\f\v") == std::string_view::npos; }

size_t indent(std::string_view line) {
    const size_t n = line.find_first_not_of(' ');
    return n == std::string_view::npos ? line.size() : n;
}

// "# Title" … "###### Title": the level, else 0.
int atx_level(std::string_view line) {
    const size_t lead = indent(line);
    if (lead > 3) return 0;
    size_t n = 0;
    while (lead + n < line.size() && line[lead + n] == '#') ++n;
    if (n == 0 || n > 6) return 0;
    if (lead + n < line.size() && line[lead + n] != ' ' && line[lead + n] != '\t') return 0;
    return static_cast<int>(n);
}

bool is_fence(std::string_view line, std::string_view& fence) {
    const size_t lead = indent(line);
    if (lead > 3 || lead + 3 > line.size()) return false;
    const char c = line[lead];
    if (c != '`' && c != '~') return false;
    size_t n = 0;
    while (lead + n < line.size() && line[lead + n] == c) ++n;
    if (n < 3) return false;
    fence = line.substr(lead, n);
    return true;
}

// "===" or "---" under a paragraph line: the setext heading level, else 0.
int setext_level(std::string_view line) {
    const size_t lead = indent(line);
    if (lead > 3 || lead >= line.size()) return 0;
    const char c = line[lead];
    if (c != '=' && c != '-') return 0;
    for (size_t i = lead; i < line.size(); ++i) {
        if (line[i] != c && line[i] != ' ' && line[i] != '\t') return 0;
    }
    return c == '=' ? 1 : 2;
}

bool is_list_item(std::string_view line) {
    size_t i = indent(line);
    if (i >= line.size()) return false;
    if (line[i] == '-' || line[i] == '*' || line[i] == '+') return i + 1 < line.size() && line[i + 1] == ' ';
    const size_t digits = i;
    while (i < line.size() && i - digits < 9 && line[i] >= '0' && line[i] <= '9') ++i;
    return i > digits && i + 1 < line.size() && (line[i] == '.' || line[i] == ')') && line[i + 1] == ' ';
}

void push(std::vector<Block>& blocks, BlockKind kind, int level, const std::vector<Line>& lines, size_t first, size_t last) {
    blocks.push_back(Block{kind, level, lines[first].begin, lines[last].end, 0});
}

std::vector<Block> paragraph_blocks(const std::vector<Line>& lines, const std::string& text, BlockKind kind) {
    std::vector<Block> blocks;
    size_t i = 0;
    while (i < lines.size()) {
        if (is_blank(std::string_view(text).substr(lines[i].begin, lines[i].end - lines[i].begin))) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j + 1 < lines.size() && !is_blank(std::string_view(text).substr(lines[j + 1].begin, lines[j + 1].end - lines[j + 1].begin))) ++j;
        push(blocks, kind, 0, lines, i, j);
        i = j + 1;
    }
    return blocks;
}

std::vector<Block> markdown_blocks(const std::vector<Line>& lines, const std::string& text) {
    std::vector<Block> blocks;
    const auto at = [&](size_t k) { return std::string_view(text).substr(lines[k].begin, lines[k].end - lines[k].begin); };
    size_t i = 0;
    while (i < lines.size()) {
        const std::string_view line = at(i);
        std::string_view fence;
        if (is_blank(line)) {
            ++i;
        } else if (is_fence(line, fence)) {
            size_t j = i + 1;
            while (j < lines.size() && at(j).substr(indent(at(j))).substr(0, fence.size()) != fence) ++j;
            const size_t last = j < lines.size() ? j : lines.size() - 1;
            push(blocks, BlockKind::Code, 0, lines, i, last);
            i = last + 1;
        } else if (const int level = atx_level(line)) {
            push(blocks, BlockKind::Heading, level, lines, i, i);
            ++i;
        } else if (i + 1 < lines.size() && setext_level(at(i + 1)) && !is_list_item(line)) {
            push(blocks, BlockKind::Heading, setext_level(at(i + 1)), lines, i, i + 1);
            i += 2;
        } else {
            // A paragraph or list item runs until a blank line, a heading, a fence or the next item.
            const bool item = is_list_item(line);
            size_t j = i;
            while (j + 1 < lines.size()) {
                const std::string_view next = at(j + 1);
                std::string_view f;
                if (is_blank(next) || atx_level(next) || is_fence(next, f) || is_list_item(next)) break;
                if (!item && j + 2 < lines.size() && setext_level(at(j + 2))) break;
                ++j;
            }
            push(blocks, item ? BlockKind::ListItem : BlockKind::Paragraph, 0, lines, i, j);
            i = j + 1;
        }
    }
    return blocks;
}

} // namespace

ExtractedDocument extract_plain(std::string_view bytes, const std::string& format, const Limits& limits, const Deadline& deadline) {
    ExtractedDocument doc;
    doc.format = format;
    doc.text = decode_text(bytes).text;
    if (doc.text.size() > limits.max_text_bytes) fail("extracted text over " + std::to_string(limits.max_text_bytes >> 20) + " MiB");
    const std::vector<Line> lines = split_lines(doc.text, limits, deadline);
    if (format == "markdown") {
        doc.blocks = markdown_blocks(lines, doc.text);
    } else {
        doc.blocks = paragraph_blocks(lines, doc.text, format == "code" ? BlockKind::Code : BlockKind::Paragraph);
    }
    return doc;
}

} // namespace latent::documents
