// Chunking that follows the document's structure: a heading starts a new chunk (and stays with
// the text under it), blocks (paragraphs, list items, code) are packed up to a target size, a
// page break always ends a chunk, and a block longer than the maximum is cut at whitespace into
// overlapping windows. Consecutive chunks of one section overlap by the previous chunk's last
// block when it is short (a list item, a one-line paragraph), so a fact at a boundary is found
// whole in at least one chunk. Every chunk is an exact byte range of the extracted text,
// trimmed of surrounding whitespace.
#pragma once

#include "extracted.h"

#include <string>
#include <vector>

namespace latent::documents {

struct ChunkOptions {
    size_t target_bytes = 1200; // pack blocks up to this (about 300 tokens of English)
    size_t max_bytes = 1600;    // a longer block is cut into windows of at most this
    size_t overlap_bytes = 200; // overlap between windows, and the largest block repeated at a boundary
};

struct Chunk {
    size_t begin = 0, end = 0; // bytes in ExtractedDocument::text
    int page = 0;              // 1-based PDF page, 0 elsewhere
    std::string heading_path;  // "Installation > Linux > Debian"
};

std::vector<Chunk> chunk_document(const ExtractedDocument& doc, const ChunkOptions& options, const Deadline& deadline);

} // namespace latent::documents
