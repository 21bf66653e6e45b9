// Limits that keep one hostile or broken file from crashing, hanging or exhausting the indexer.
// Every limit that trips becomes that file's reason ("failed: decompressed size over 64 MiB (zip
// bomb?)"); the rest of the run goes on.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace latent::documents {

struct Limits {
    uint64_t max_file_bytes = uint64_t{64} << 20;        // a file larger than this is skipped (PDFs: max_pdf_bytes)
    uint64_t max_pdf_bytes = uint64_t{256} << 20;        // PDFs are often large for little text
    uint64_t max_text_bytes = uint64_t{32} << 20;        // extracted UTF-8 text per document
    uint64_t max_entry_bytes = uint64_t{64} << 20;       // one decompressed zip member (DOCX, ODT, EPUB)
    uint64_t max_archive_bytes = uint64_t{256} << 20;    // all decompressed members of one archive together
    uint32_t max_archive_entries = 20000;                // members listed in one archive
    uint32_t max_depth = 256;                            // XML/HTML element nesting
    uint32_t max_pages = 5000;                           // PDF pages
    uint64_t max_line_bytes = uint64_t{1} << 20;         // one line of a plain-text file
    std::chrono::milliseconds max_time_per_file{30000};  // extraction, chunking and tokenizing of one file
    uint32_t max_dir_depth = 64;                         // folder nesting while scanning
    uint64_t max_files = 1000000;                        // files in one scan
};

} // namespace latent::documents
