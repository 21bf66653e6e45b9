#include "corpus.h"

#include <zip.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <fstream>
#include <stdexcept>

namespace latent::test {

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path);
}

std::string make_pdf(const std::vector<std::vector<std::string>>& pages) {
    std::vector<std::string> objects;
    objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
    std::string kids;
    for (size_t i = 0; i < pages.size(); ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
    objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>");
    const size_t font = 3 + 2 * pages.size();
    for (size_t i = 0; i < pages.size(); ++i) {
        objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 " + std::to_string(font) +
                          " 0 R >> >> /Contents " + std::to_string(4 + 2 * i) + " 0 R >>");
        std::string stream;
        if (!pages[i].empty()) {
            stream = "BT /F1 11 Tf 14 TL 56 740 Td\n";
            for (const std::string& line : pages[i]) {
                std::string escaped;
                for (const char c : line) {
                    if (c == '(' || c == ')' || c == '\\') escaped += '\\';
                    escaped += c;
                }
                stream += "(" + escaped + ") Tj T*\n";
            }
            stream += "ET";
        } else {
            stream = "0.5 g 56 56 500 680 re f"; // a grey rectangle: a page with no text
        }
        objects.push_back("<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream");
    }
    objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    std::string out = "%PDF-1.4\n";
    std::vector<size_t> offsets;
    for (size_t i = 0; i < objects.size(); ++i) {
        offsets.push_back(out.size());
        out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
    }
    const size_t xref = out.size();
    out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
    for (const size_t o : offsets) {
        char line[32];
        std::snprintf(line, sizeof line, "%010zu 00000 n \n", o);
        out += line;
    }
    out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
    return out;
}

void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members) {
    int error = 0;
    zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
    if (!archive) throw std::runtime_error("cannot create " + path);
    for (const auto& [name, content] : members) {
        zip_source_t* source = zip_source_buffer(archive, content.data(), content.size(), 0);
        const zip_int64_t index = zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE);
        if (index < 0) throw std::runtime_error("cannot add " + name);
        zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, 1);
    }
    if (zip_close(archive) != 0) throw std::runtime_error("cannot write " + path);
}

std::string xml_escape(const std::string& text) {
    std::string out;
    for (const char c : text) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else out += c;
    }
    return out;
}

void write_docx(const std::string& path, const std::vector<OfficeParagraph>& paragraphs) {
    std::string body;
    for (const OfficeParagraph& p : paragraphs) {
        body += "<w:p><w:pPr>";
        if (p.heading) body += "<w:pStyle w:val=\"Heading" + std::to_string(p.heading) + "\"/>";
        if (p.list_item) body += "<w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"1\"/></w:numPr>";
        body += "</w:pPr><w:r><w:t xml:space=\"preserve\">" + xml_escape(p.text) + "</w:t></w:r></w:p>";
    }
    const std::string document = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                                 "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>" +
                                 body + "</w:body></w:document>";
    write_zip(path, {{"[Content_Types].xml", "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"},
                     {"word/document.xml", document}});
}

void write_odt(const std::string& path, const std::vector<OfficeParagraph>& paragraphs) {
    std::string body;
    for (const OfficeParagraph& p : paragraphs) {
        if (p.heading) body += "<text:h text:outline-level=\"" + std::to_string(p.heading) + "\">" + xml_escape(p.text) + "</text:h>";
        else if (p.list_item) body += "<text:list><text:list-item><text:p>" + xml_escape(p.text) + "</text:p></text:list-item></text:list>";
        else body += "<text:p>" + xml_escape(p.text) + "</text:p>";
    }
    const std::string content = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                "<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "
                                "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\"><office:body><office:text>" +
                                body + "</office:text></office:body></office:document-content>";
    write_zip(path, {{"mimetype", "application/vnd.oasis.opendocument.text"}, {"content.xml", content}});
}

void write_epub(const std::string& path, const std::vector<std::string>& chapter_bodies) {
    std::vector<std::pair<std::string, std::string>> members = {
        {"mimetype", "application/epub+zip"},
        {"META-INF/container.xml", "<?xml version=\"1.0\"?><container version=\"1.0\" xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">"
                                   "<rootfiles><rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles></container>"}};
    std::string manifest, spine;
    // Chapters are listed in the manifest in reverse, so reading order must come from the spine.
    for (size_t i = chapter_bodies.size(); i-- > 0;) {
        manifest += "<item id=\"c" + std::to_string(i) + "\" href=\"text/ch" + std::to_string(i) + ".xhtml\" media-type=\"application/xhtml+xml\"/>";
    }
    for (size_t i = 0; i < chapter_bodies.size(); ++i) {
        spine += "<itemref idref=\"c" + std::to_string(i) + "\"/>";
        members.emplace_back("OEBPS/text/ch" + std::to_string(i) + ".xhtml",
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Chapter</title></head><body>" +
                                 chapter_bodies[i] + "</body></html>");
    }
    members.emplace_back("OEBPS/content.opf", "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\"><manifest>" + manifest +
                                                  "</manifest><spine>" + spine + "</spine></package>");
    write_zip(path, members);
}

namespace {
std::vector<unsigned> code_points(const std::string& s) {
    std::vector<unsigned> out;
    for (size_t i = 0; i < s.size();) {
        const unsigned char b = static_cast<unsigned char>(s[i]);
        const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        unsigned cp = n == 1 ? b : n == 2 ? b & 0x1Fu : n == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
        out.push_back(cp);
        i += n;
    }
    return out;
}
} // namespace

std::string utf16_with_bom(const std::string& utf8, bool little_endian) {
    std::string out = little_endian ? std::string("\xFF\xFE") : std::string("\xFE\xFF");
    const auto unit = [&](unsigned u) {
        const char lo = static_cast<char>(u & 0xFF), hi = static_cast<char>(u >> 8);
        out += little_endian ? lo : hi;
        out += little_endian ? hi : lo;
    };
    for (const unsigned cp : code_points(utf8)) {
        if (cp >= 0x10000) {
            unit(0xD800 + ((cp - 0x10000) >> 10));
            unit(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            unit(cp);
        }
    }
    return out;
}

std::string latin1(const std::string& utf8) {
    std::string out;
    for (const unsigned cp : code_points(utf8)) {
        if (cp > 0xFF) throw std::runtime_error("not Latin-1");
        out += static_cast<char>(cp);
    }
    return out;
}

std::string code_point_slice(const std::string& utf8, long long start, long long end) {
    std::string out;
    long long index = 0;
    for (size_t i = 0; i < utf8.size();) {
        const unsigned char b = static_cast<unsigned char>(utf8[i]);
        const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (index >= start && index < end) out.append(utf8, i, n);
        ++index;
        i += n;
    }
    return out;
}

unsigned fresh_seed(const char* what) {
    const char* fixed = std::getenv("LATENT_TEST_SEED");
    const unsigned seed = fixed ? static_cast<unsigned>(std::strtoul(fixed, nullptr, 10)) : std::random_device{}();
    std::fprintf(stderr, "%s: seed %u (LATENT_TEST_SEED=%u replays it)\n", what, seed, seed);
    return seed;
}

} // namespace latent::test
