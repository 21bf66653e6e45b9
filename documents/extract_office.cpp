// DOCX, ODT and EPUB: zip archives of XML. The XML is read with QXmlStreamReader (no external
// entities, internal expansion bounded by Qt), its nesting bounded by max_depth. Paragraphs
// nest (text boxes, footnotes), so open paragraphs form a stack and each becomes a block when
// it closes.
#include "extractors.h"

#include "text_decode.h"
#include "zip_archive.h"

#include <QByteArray>
#include <QString>
#include <QXmlStreamReader>

#include <vector>

namespace latent::documents {
namespace {

struct OpenParagraph {
    BlockKind kind = BlockKind::Paragraph;
    int level = 0;
    std::string text; // "\n" where the document breaks a line
};

// Emits a finished paragraph as one block, keeping its line breaks.
void emit_paragraph(TextBuilder& builder, const OpenParagraph& p) {
    builder.begin_block(p.kind, p.level);
    size_t begin = 0;
    while (true) {
        const size_t nl = p.text.find('\n', begin);
        builder.append(std::string_view(p.text).substr(begin, nl == std::string::npos ? std::string::npos : nl - begin));
        if (nl == std::string::npos) break;
        builder.line_break();
        begin = nl + 1;
    }
    builder.end_block();
}

// Depth bookkeeping and error reporting shared by the XML readers.
class XmlWalk {
public:
    XmlWalk(const std::string& bytes, const std::string& member, const Limits& limits, const Deadline& deadline)
        : reader_(QByteArray::fromRawData(bytes.data(), static_cast<qsizetype>(bytes.size()))), member_(member), limits_(limits), deadline_(deadline) {}

    // The next token; StartElement raises the depth (bounded), EndElement lowers it.
    QXmlStreamReader::TokenType next() {
        const QXmlStreamReader::TokenType t = reader_.readNext();
        if (t == QXmlStreamReader::StartElement && ++depth_ > limits_.max_depth) {
            fail("XML nesting deeper than " + std::to_string(limits_.max_depth) + " elements in " + member_);
        }
        if (t == QXmlStreamReader::EndElement) --depth_;
        if (++tokens_ % 4096 == 0) deadline_.check();
        return t;
    }
    bool at_end() const { return reader_.atEnd(); }
    void check_errors() {
        if (reader_.hasError()) {
            fail("malformed XML in " + member_ + ": " + reader_.errorString().toStdString() + " (line " + std::to_string(reader_.lineNumber()) + ")");
        }
    }
    QXmlStreamReader& reader() { return reader_; }
    QStringView name() const { return reader_.name(); }
    std::string attribute(const char16_t* qualified) const { return reader_.attributes().value(QString::fromUtf16(qualified)).toString().toStdString(); }

private:
    QXmlStreamReader reader_;
    std::string member_;
    const Limits& limits_;
    const Deadline& deadline_;
    uint32_t depth_ = 0;
    uint64_t tokens_ = 0;
};

// "Heading1", "heading 2", "Title" → level; else 0.
int heading_level_of_style(const std::string& style) {
    if (style == "Title") return 1;
    std::string lower;
    for (const char c : style) if (c != ' ') lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("heading", 0) != 0 || lower.size() == 7) return 0;
    const std::string digits = lower.substr(7);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 2) return 0;
    return std::clamp(std::stoi(digits), 1, 6);
}

} // namespace

ExtractedDocument extract_docx(std::string_view bytes, const Limits& limits, const Deadline& deadline) {
    ZipArchive archive(bytes, limits, deadline);
    const std::string xml = archive.read("word/document.xml");
    XmlWalk walk(xml, "word/document.xml", limits, deadline);
    TextBuilder builder(limits, deadline);
    std::vector<OpenParagraph> open;
    bool in_text = false;
    while (!walk.at_end()) {
        const auto t = walk.next();
        if (t == QXmlStreamReader::StartElement) {
            const QStringView n = walk.name();
            if (n == u"p") {
                open.emplace_back();
            } else if (!open.empty() && n == u"pStyle") {
                if (const int level = heading_level_of_style(walk.attribute(u"w:val"))) {
                    open.back().kind = BlockKind::Heading;
                    open.back().level = level;
                }
            } else if (!open.empty() && n == u"numPr" && open.back().kind == BlockKind::Paragraph) {
                open.back().kind = BlockKind::ListItem;
            } else if (!open.empty() && n == u"t") {
                in_text = true;
            } else if (!open.empty() && n == u"tab") {
                open.back().text += '\t';
            } else if (!open.empty() && (n == u"br" || n == u"cr")) {
                open.back().text += '\n';
            }
        } else if (t == QXmlStreamReader::EndElement) {
            if (walk.name() == u"t") in_text = false;
            if (walk.name() == u"p" && !open.empty()) {
                emit_paragraph(builder, open.back());
                open.pop_back();
            }
        } else if (t == QXmlStreamReader::Characters && in_text && !open.empty()) {
            open.back().text += walk.reader().text().toString().toStdString();
            if (open.back().text.size() > limits.max_text_bytes) fail("extracted text over the limit");
        }
    }
    walk.check_errors();
    return builder.finish("docx");
}

ExtractedDocument extract_odt(std::string_view bytes, const Limits& limits, const Deadline& deadline) {
    ZipArchive archive(bytes, limits, deadline);
    const std::string xml = archive.read("content.xml");
    XmlWalk walk(xml, "content.xml", limits, deadline);
    TextBuilder builder(limits, deadline);
    std::vector<OpenParagraph> open;
    int list_items = 0; // open text:list-item elements
    while (!walk.at_end()) {
        const auto t = walk.next();
        if (t == QXmlStreamReader::StartElement) {
            const QStringView n = walk.name();
            if (n == u"h") {
                OpenParagraph p{BlockKind::Heading, 1, {}};
                const std::string level = walk.attribute(u"text:outline-level");
                if (!level.empty() && level.size() <= 2 && level.find_first_not_of("0123456789") == std::string::npos) p.level = std::clamp(std::stoi(level), 1, 6);
                open.push_back(p);
            } else if (n == u"p") {
                open.push_back({list_items > 0 ? BlockKind::ListItem : BlockKind::Paragraph, 0, {}});
            } else if (n == u"list-item") {
                ++list_items;
            } else if (!open.empty() && n == u"s") {
                const std::string count = walk.attribute(u"text:c");
                int spaces = 1;
                if (!count.empty() && count.size() <= 3 && count.find_first_not_of("0123456789") == std::string::npos) spaces = std::stoi(count);
                open.back().text.append(static_cast<size_t>(std::clamp(spaces, 1, 100)), ' ');
            } else if (!open.empty() && n == u"tab") {
                open.back().text += '\t';
            } else if (!open.empty() && n == u"line-break") {
                open.back().text += '\n';
            }
        } else if (t == QXmlStreamReader::EndElement) {
            const QStringView n = walk.name();
            if ((n == u"p" || n == u"h") && !open.empty()) {
                emit_paragraph(builder, open.back());
                open.pop_back();
            } else if (n == u"list-item" && list_items > 0) {
                --list_items;
            }
        } else if (t == QXmlStreamReader::Characters && !open.empty()) {
            open.back().text += walk.reader().text().toString().toStdString();
            if (open.back().text.size() > limits.max_text_bytes) fail("extracted text over the limit");
        }
    }
    walk.check_errors();
    return builder.finish("odt");
}

namespace {

// "a%20b/../c.xhtml" relative to `base_dir` → a normalised member name ("" when it leaves the archive).
std::string resolve_member(const std::string& base_dir, const std::string& href) {
    std::string decoded;
    for (size_t i = 0; i < href.size(); ++i) {
        if (href[i] == '%' && i + 2 < href.size() && std::isxdigit(static_cast<unsigned char>(href[i + 1])) && std::isxdigit(static_cast<unsigned char>(href[i + 2]))) {
            decoded += static_cast<char>(std::stoi(href.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else if (href[i] == '#') {
            break;
        } else {
            decoded += href[i];
        }
    }
    std::vector<std::string> parts;
    std::string path = base_dir + decoded;
    size_t begin = 0;
    while (begin <= path.size()) {
        size_t slash = path.find('/', begin);
        if (slash == std::string::npos) slash = path.size();
        const std::string part = path.substr(begin, slash - begin);
        if (part == "..") {
            if (parts.empty()) return {};
            parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        begin = slash + 1;
    }
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : "/") + p;
    return out;
}

} // namespace

ExtractedDocument extract_epub(std::string_view bytes, const Limits& limits, const Deadline& deadline) {
    ZipArchive archive(bytes, limits, deadline);
    std::string opf_path;
    {
        const std::string container = archive.read("META-INF/container.xml");
        XmlWalk walk(container, "META-INF/container.xml", limits, deadline);
        while (!walk.at_end() && opf_path.empty()) {
            if (walk.next() == QXmlStreamReader::StartElement && walk.name() == u"rootfile") opf_path = walk.attribute(u"full-path");
        }
        walk.check_errors();
    }
    if (opf_path.empty()) fail("EPUB container names no package document");
    const std::string opf_dir = opf_path.find('/') == std::string::npos ? "" : opf_path.substr(0, opf_path.rfind('/') + 1);
    std::vector<std::pair<std::string, std::string>> manifest; // id → href
    std::vector<std::string> spine;                             // idrefs in reading order
    {
        const std::string opf = archive.read(opf_path);
        XmlWalk walk(opf, opf_path, limits, deadline);
        while (!walk.at_end()) {
            if (walk.next() != QXmlStreamReader::StartElement) continue;
            if (walk.name() == u"item") manifest.emplace_back(walk.attribute(u"id"), walk.attribute(u"href"));
            else if (walk.name() == u"itemref") spine.push_back(walk.attribute(u"idref"));
        }
        walk.check_errors();
    }
    TextBuilder builder(limits, deadline);
    for (const std::string& idref : spine) {
        for (const auto& [id, href] : manifest) {
            if (id != idref) continue;
            const std::string member = resolve_member(opf_dir, href);
            if (member.empty() || !archive.contains(member)) fail("EPUB chapter '" + href + "' is missing");
            append_html(decode_text(archive.read(member)).text, builder, limits, deadline);
            builder.end_block();
            break;
        }
    }
    return builder.finish("epub");
}

} // namespace latent::documents
