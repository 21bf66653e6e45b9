#include "extractors.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace latent::documents {

std::string format_for_path(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const char* const kText[] = {".txt", ".text", ".log", ".csv", ".tsv", ".rst", ".tex", ".org", ".adoc", ".json", ".yaml",
                                         ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml", ".srt", ".vtt"};
    static const char* const kCode[] = {".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cu", ".cuh", ".py", ".js", ".mjs", ".ts",
                                         ".tsx", ".jsx", ".java", ".kt", ".go", ".rs", ".rb", ".php", ".cs", ".swift", ".scala", ".lua",
                                         ".pl", ".r", ".m", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".sql", ".css", ".scss", ".qml",
                                         ".cmake", ".mk", ".hs", ".ml", ".ex", ".exs", ".erl", ".clj", ".dart", ".zig", ".nim", ".jl", ".vue"};
    for (const char* e : kText) if (ext == e) return "text";
    for (const char* e : kCode) if (ext == e) return "code";
    if (ext == ".md" || ext == ".markdown" || ext == ".mdown" || ext == ".mkd") return "markdown";
    if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return "html";
    if (ext == ".pdf") return "pdf";
    if (ext == ".docx") return "docx";
    if (ext == ".odt") return "odt";
    if (ext == ".epub") return "epub";
    const std::string name = std::filesystem::path(path).filename().string();
    if (name == "README" || name == "LICENSE" || name == "CHANGELOG" || name == "Makefile" || name == "CMakeLists.txt") return "text";
    return {};
}

ExtractedDocument extract(const std::string& path, std::string_view bytes, const std::string& format, const Limits& limits,
                          const Deadline& deadline) {
    if (format == "text" || format == "code" || format == "markdown") return extract_plain(bytes, format, limits, deadline);
    if (format == "html") return extract_html(bytes, limits, deadline);
    if (format == "docx") return extract_docx(bytes, limits, deadline);
    if (format == "odt") return extract_odt(bytes, limits, deadline);
    if (format == "epub") return extract_epub(bytes, limits, deadline);
    if (format == "pdf") return extract_pdf(path, limits, deadline);
    skip("unsupported file type");
}

} // namespace latent::documents
