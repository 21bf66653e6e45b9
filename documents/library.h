// The document library: one SQLite file shared by the app and `latent docs`. Collections hold
// sources (folders and files the user added) and documents (one row per file, with its status
// and reason, its extracted text and its chunks); chunk_fts indexes the chunks (BM25).
//
// Schema (user_version 1):
//   collections(id, name UNIQUE, created_at)
//   sources(id, collection_id → collections, path)           what the user added, rescanned
//   documents(id, collection_id → collections, path, size, mtime_ns, hash, status, reason,
//             format, pages, text, indexed_at, extractor_version)  UNIQUE(collection_id, path)
//             status: indexed | updating | failed | skipped; text: the extracted text
//   chunks(id, document_id → documents, ordinal, page NULL outside PDFs, start, end, heading_path,
//          text)   start/end: code points in documents.text; text == that range
//   chunk_fts(body, heading, title) FTS5, rowid = chunks.id, kept in step by a trigger
// A dense-embedding stage can join later as chunk_vectors(chunk_id → chunks, model, vector)
// fused with BM25 by reciprocal rank; nothing here changes for it.
//
// One Library per thread (one connection). WAL journal with synchronous=NORMAL: a committed
// document survives a killed process (the index is derived data; a power cut may lose the
// last files, which the next scan indexes again). Every document is one transaction.
#pragma once

#include "chunker.h"
#include "extracted.h"
#include "sqlite_statement.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace latent::documents {

// Bumped when extraction or chunking changes: documents of older versions are indexed again.
inline constexpr int kExtractorVersion = 1;

struct CollectionInfo {
    int64_t id = 0;
    std::string name;
    int64_t documents = 0; // all rows, whatever their status
    int64_t indexed = 0;
};

struct FileFacts {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string hash; // content hash (hex), "" when not read
};

struct DocumentInfo {
    int64_t id = 0;
    int64_t collection_id = 0;
    std::string collection;
    std::string path;    // absolute
    std::string status;  // indexed | updating | failed | skipped
    std::string reason;  // why failed or skipped
    std::string format;
    int pages = 0;
    int64_t chunks = 0;
    FileFacts facts;
    int extractor_version = 0;
};

struct StoredChunk {
    int64_t id = 0;
    int ordinal = 0;
    int page = 0;        // 0: none
    int64_t start = 0;   // code points in the document text
    int64_t end = 0;
    std::string heading_path;
    std::string text;
};

class Library {
public:
    // Opens (creating when `create`) the index at `path`. Throws LibraryError: not a document
    // index, a newer schema, cannot open.
    explicit Library(const std::string& path, bool create = true);
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    int64_t ensure_collection(const std::string& name);
    std::optional<int64_t> find_collection(const std::string& name);
    std::vector<CollectionInfo> collections();
    void remove_collection(int64_t collection);

    void add_source(int64_t collection, const std::string& path);
    void remove_source(int64_t collection, const std::string& path); // and its documents
    std::vector<std::string> sources(int64_t collection);

    std::optional<DocumentInfo> document(int64_t collection, const std::string& path);
    std::optional<DocumentInfo> document_by_id(int64_t id);
    // All documents (of one collection when given), by path.
    std::vector<DocumentInfo> documents(std::optional<int64_t> collection = std::nullopt);
    // Paths of the collection's documents equal to `root` or inside it.
    std::vector<std::pair<int64_t, std::string>> documents_under(int64_t collection, const std::string& root);

    // Replaces the document's row, chunks and index entries in one transaction.
    void store_indexed(int64_t collection, const std::string& path, const FileFacts& facts, const ExtractedDocument& doc,
                       const std::vector<Chunk>& chunks, const std::vector<std::string>& chunk_terms, const std::string& title_terms);
    // A document that failed or was skipped: its row with the reason, no chunks.
    void store_problem(int64_t collection, const std::string& path, const FileFacts& facts, const std::string& status, const std::string& reason);
    // Same content, new size/mtime (a touched file).
    void store_facts(int64_t document, const FileFacts& facts);
    void set_status(int64_t document, const std::string& status);
    void remove_document(int64_t document);

    std::vector<StoredChunk> chunks(int64_t document);
    std::string document_text(int64_t document);
    // Code points [start, end) of a document's text.
    std::string text_range(int64_t document, int64_t start, int64_t end);
    int64_t chunk_count();

    sqlite3* handle() { return db_; }

private:
    void create_schema();
    int64_t upsert_document(int64_t collection, const std::string& path, const FileFacts& facts, const std::string& status,
                            const std::string& reason, const std::string& format, int pages, const std::string& text);
    sqlite3* db_ = nullptr;
};

} // namespace latent::documents
