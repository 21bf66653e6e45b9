// Document fixtures the tests build themselves: PDFs written by hand (a text layer in
// Helvetica, or none), DOCX/ODT/EPUB archives written with libzip, text in several encodings.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace latent::test {

void write_bytes(const std::string& path, const std::string& bytes);

// A PDF with one page per entry; each page's lines drawn as text (empty vector: a page with
// no text layer, like a scan).
std::string make_pdf(const std::vector<std::vector<std::string>>& pages);

// A zip archive at `path` with the given members (deflated).
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members);

struct OfficeParagraph {
    int heading = 0;   // 1 … 6 for a heading, 0 for body text
    bool list_item = false;
    std::string text;  // XML-escaped by the writers
};
void write_docx(const std::string& path, const std::vector<OfficeParagraph>& paragraphs);
void write_odt(const std::string& path, const std::vector<OfficeParagraph>& paragraphs);
// Chapters as XHTML bodies (already markup).
void write_epub(const std::string& path, const std::vector<std::string>& chapter_bodies);

std::string xml_escape(const std::string& text);
// UTF-8 → UTF-16 with a BOM (little or big endian).
std::string utf16_with_bom(const std::string& utf8, bool little_endian);
// Text of code points < 256 → Latin-1 bytes.
std::string latin1(const std::string& utf8);
// Python-style slicing: code points [start, end) of a UTF-8 string (the reference for ranges).
std::string code_point_slice(const std::string& utf8, long long start, long long end);

// A fresh seed per run (LATENT_TEST_SEED replays one), printed with what it seeds.
unsigned fresh_seed(const char* what);

} // namespace latent::test
