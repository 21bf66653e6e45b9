// Extraction of one file's bytes into an ExtractedDocument, by format. Everything in a file is
// untrusted: every function here throws DocumentError with a reason for the user, never
// crashes, and honours the Limits and the Deadline.
#pragma once

#include "extracted.h"

#include <string>
#include <string_view>

namespace latent::documents {

// The format a file name asks for ("text", "code", "markdown", "html", "pdf", "docx", "odt",
// "epub"), or "" when the type is not supported.
std::string format_for_path(const std::string& path);

// Dispatches on `format`. `path` is only read by the PDF reader (QtPdf opens files by name).
ExtractedDocument extract(const std::string& path, std::string_view bytes, const std::string& format, const Limits& limits,
                          const Deadline& deadline);

// The individual formats.
ExtractedDocument extract_plain(std::string_view bytes, const std::string& format, const Limits& limits, const Deadline& deadline);
// Appends the blocks of an HTML/XHTML text (UTF-8) to `builder`.
void append_html(std::string_view html, TextBuilder& builder, const Limits& limits, const Deadline& deadline);
ExtractedDocument extract_html(std::string_view bytes, const Limits& limits, const Deadline& deadline);
ExtractedDocument extract_docx(std::string_view bytes, const Limits& limits, const Deadline& deadline);
ExtractedDocument extract_odt(std::string_view bytes, const Limits& limits, const Deadline& deadline);
ExtractedDocument extract_epub(std::string_view bytes, const Limits& limits, const Deadline& deadline);
ExtractedDocument extract_pdf(const std::string& path, const Limits& limits, const Deadline& deadline);

} // namespace latent::documents
