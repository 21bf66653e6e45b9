// PDF through QtPdf (PDFium, BSD-licensed): the text layer of each page. Each page's paragraphs
// (blank-line separated, else the whole page) become blocks carrying the page number; chunks
// never cross a page. A PDF without any text is "no text layer (scanned?)".
#include "extractors.h"

#include "text_decode.h"
#include "utf8.h"

#include <QPdfDocument>
#include <QPdfSelection>
#include <QString>

namespace latent::documents {

ExtractedDocument extract_pdf(const std::string& path, const Limits& limits, const Deadline& deadline) {
    QPdfDocument pdf;
    const QPdfDocument::Error error = pdf.load(QString::fromStdString(path));
    switch (error) {
    case QPdfDocument::Error::None: break;
    case QPdfDocument::Error::IncorrectPassword: fail("password-protected PDF");
    case QPdfDocument::Error::UnsupportedSecurityScheme: fail("PDF encrypted with an unsupported security scheme");
    case QPdfDocument::Error::FileNotFound: fail("cannot open the file");
    default: fail("not a valid PDF (damaged or not a PDF)");
    }
    const int pages = pdf.pageCount();
    if (pages < 0 || static_cast<uint32_t>(pages) > limits.max_pages) fail("more than " + std::to_string(limits.max_pages) + " pages (page limit)");
    TextBuilder builder(limits, deadline);
    bool any_text = false;
    for (int page = 0; page < pages; ++page) {
        deadline.check();
        const std::string text = normalise_line_ends(repair_utf8(pdf.getAllText(page).text().toStdString()));
        size_t begin = 0;
        while (begin < text.size()) {
            size_t end = text.find("\n\n", begin);
            if (end == std::string::npos) end = text.size();
            builder.begin_block(BlockKind::Paragraph, 0, page + 1);
            builder.append(std::string_view(text).substr(begin, end - begin));
            builder.end_block();
            begin = end + 2;
        }
        if (text.find_first_not_of(" \t\n\f") != std::string::npos) any_text = true;
    }
    pdf.close();
    if (!any_text) fail(pages == 0 ? "PDF has no pages" : "no text layer (scanned?)");
    return builder.finish("pdf", pages);
}

} // namespace latent::documents
