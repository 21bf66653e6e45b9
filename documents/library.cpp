#include "library.h"

#include "ranking.h"
#include "utf8.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace latent::documents {
namespace {

constexpr int kSchemaVersion = 1;

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Byte offsets of `text` → code point offsets, for a sorted list of byte offsets.
std::vector<int64_t> code_point_offsets(const std::string& text, const std::vector<size_t>& sorted_bytes) {
    std::vector<int64_t> out(sorted_bytes.size());
    size_t byte = 0;
    int64_t chars = 0;
    for (size_t k = 0; k < sorted_bytes.size(); ++k) {
        for (; byte < sorted_bytes[k]; ++byte) chars += (static_cast<unsigned char>(text[byte]) & 0xC0) != 0x80;
        out[k] = chars;
    }
    return out;
}

const char* const kDocumentColumns =
    "d.id, d.collection_id, c.name, d.path, d.status, d.reason, d.format, d.pages, "
    "(SELECT count(*) FROM chunks WHERE document_id = d.id), d.size, d.mtime_ns, d.hash, d.extractor_version "
    "FROM documents d JOIN collections c ON c.id = d.collection_id ";

DocumentInfo read_document(const Statement& s) {
    DocumentInfo d;
    d.id = s.integer(0);
    d.collection_id = s.integer(1);
    d.collection = s.text(2);
    d.path = s.text(3);
    d.status = s.text(4);
    d.reason = s.text(5);
    d.format = s.text(6);
    d.pages = static_cast<int>(s.integer(7));
    d.chunks = s.integer(8);
    d.facts.size = static_cast<uint64_t>(s.integer(9));
    d.facts.mtime_ns = s.integer(10);
    d.facts.hash = s.text(11);
    d.extractor_version = static_cast<int>(s.integer(12));
    return d;
}

} // namespace

Library::Library(const std::string& path, bool create) {
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (!create && !std::filesystem::exists(path)) throw LibraryError("no document index at " + path + " (create one with 'latent docs index')");
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw LibraryError("cannot open the document index " + path + ": " + message);
    }
    try {
        sqlite3_busy_timeout(db_, 10000);
        exec(db_, "PRAGMA foreign_keys = ON");
        Statement version(db_, "PRAGMA user_version");
        version.step();
        const int64_t found = version.integer(0);
        version.reset();
        if (found > kSchemaVersion) throw LibraryError(path + " is a document index of a newer Latent Chat (schema " + std::to_string(found) + ")");
        if (found == 0) {
            Statement tables(db_, "SELECT count(*) FROM sqlite_master");
            tables.step();
            if (tables.integer(0) != 0) throw LibraryError(path + " is not a Latent Chat document index");
            tables.reset();
            exec(db_, "PRAGMA journal_mode = WAL");
            create_schema();
        }
        exec(db_, "PRAGMA synchronous = NORMAL");
        register_ranking_functions(db_);
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

Library::~Library() { sqlite3_close(db_); }

void Library::create_schema() {
    Transaction t(db_);
    exec(db_, R"sql(
CREATE TABLE collections(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE sources(id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
                     path TEXT NOT NULL, UNIQUE(collection_id, path));
CREATE TABLE documents(id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
                       path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL,
                       status TEXT NOT NULL CHECK(status IN ('indexed', 'updating', 'failed', 'skipped')),
                       reason TEXT NOT NULL DEFAULT '', format TEXT NOT NULL DEFAULT '', pages INTEGER NOT NULL DEFAULT 0,
                       text TEXT NOT NULL DEFAULT '', indexed_at INTEGER NOT NULL, extractor_version INTEGER NOT NULL,
                       UNIQUE(collection_id, path));
CREATE TABLE chunks(id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                    ordinal INTEGER NOT NULL, page INTEGER, start INTEGER NOT NULL, end INTEGER NOT NULL,
                    heading_path TEXT NOT NULL, text TEXT NOT NULL, UNIQUE(document_id, ordinal));
CREATE VIRTUAL TABLE chunk_fts USING fts5(body, heading, title, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_delete AFTER DELETE ON chunks BEGIN DELETE FROM chunk_fts WHERE rowid = old.id; END;
PRAGMA user_version = 1;
)sql");
    t.commit();
}

int64_t Library::ensure_collection(const std::string& name) {
    if (const auto id = find_collection(name)) return *id;
    Statement s(db_, "INSERT INTO collections(name, created_at) VALUES(?1, ?2)");
    s.bind(1, name).bind(2, now_seconds()).run();
    return sqlite3_last_insert_rowid(db_);
}

std::optional<int64_t> Library::find_collection(const std::string& name) {
    Statement s(db_, "SELECT id FROM collections WHERE name = ?1");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    const int64_t id = s.integer(0);
    s.reset();
    return id;
}

std::vector<CollectionInfo> Library::collections() {
    Statement s(db_, "SELECT c.id, c.name, (SELECT count(*) FROM documents WHERE collection_id = c.id), "
                     "(SELECT count(*) FROM documents WHERE collection_id = c.id AND status = 'indexed') FROM collections c ORDER BY c.name");
    std::vector<CollectionInfo> out;
    while (s.step()) out.push_back({s.integer(0), s.text(1), s.integer(2), s.integer(3)});
    return out;
}

void Library::remove_collection(int64_t collection) {
    Statement s(db_, "DELETE FROM collections WHERE id = ?1");
    s.bind(1, collection).run();
}

void Library::add_source(int64_t collection, const std::string& path) {
    Statement s(db_, "INSERT OR IGNORE INTO sources(collection_id, path) VALUES(?1, ?2)");
    s.bind(1, collection).bind(2, path).run();
}

void Library::remove_source(int64_t collection, const std::string& path) {
    Transaction t(db_);
    Statement s(db_, "DELETE FROM sources WHERE collection_id = ?1 AND path = ?2");
    s.bind(1, collection).bind(2, path).run();
    for (const auto& [id, p] : documents_under(collection, path)) remove_document(id);
    t.commit();
}

std::vector<std::string> Library::sources(int64_t collection) {
    Statement s(db_, "SELECT path FROM sources WHERE collection_id = ?1 ORDER BY path");
    s.bind(1, collection);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
}

std::optional<DocumentInfo> Library::document(int64_t collection, const std::string& path) {
    Statement s(db_, std::string("SELECT ") + kDocumentColumns + "WHERE d.collection_id = ?1 AND d.path = ?2");
    s.bind(1, collection).bind(2, path);
    if (!s.step()) return std::nullopt;
    DocumentInfo d = read_document(s);
    s.reset();
    return d;
}

std::optional<DocumentInfo> Library::document_by_id(int64_t id) {
    Statement s(db_, std::string("SELECT ") + kDocumentColumns + "WHERE d.id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    DocumentInfo d = read_document(s);
    s.reset();
    return d;
}

std::vector<DocumentInfo> Library::documents(std::optional<int64_t> collection) {
    Statement s(db_, std::string("SELECT ") + kDocumentColumns + (collection ? "WHERE d.collection_id = ?1 " : "") + "ORDER BY c.name, d.path");
    if (collection) s.bind(1, *collection);
    std::vector<DocumentInfo> out;
    while (s.step()) out.push_back(read_document(s));
    return out;
}

std::vector<std::pair<int64_t, std::string>> Library::documents_under(int64_t collection, const std::string& root) {
    // A range on the path (root + "/" … root + "0", '0' following '/') rather than LIKE, whose
    // wildcards could appear in paths.
    std::string dir = root;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    const std::string low = dir == "/" ? "/" : dir + "/";
    const std::string high = dir == "/" ? "0" : dir + "0";
    Statement s(db_, "SELECT id, path FROM documents WHERE collection_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4))");
    s.bind(1, collection).bind(2, dir).bind(3, low).bind(4, high);
    std::vector<std::pair<int64_t, std::string>> out;
    while (s.step()) out.emplace_back(s.integer(0), s.text(1));
    return out;
}

int64_t Library::upsert_document(int64_t collection, const std::string& path, const FileFacts& facts, const std::string& status,
                                 const std::string& reason, const std::string& format, int pages, const std::string& text) {
    Statement s(db_, "INSERT INTO documents(collection_id, path, size, mtime_ns, hash, status, reason, format, pages, text, indexed_at, extractor_version) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                     "ON CONFLICT(collection_id, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, hash = excluded.hash, "
                     "status = excluded.status, reason = excluded.reason, format = excluded.format, pages = excluded.pages, text = excluded.text, "
                     "indexed_at = excluded.indexed_at, extractor_version = excluded.extractor_version RETURNING id");
    s.bind(1, collection).bind(2, path).bind(3, static_cast<int64_t>(facts.size)).bind(4, facts.mtime_ns).bind(5, facts.hash);
    s.bind(6, status).bind(7, reason).bind(8, format).bind(9, static_cast<int64_t>(pages)).bind(10, text).bind(11, now_seconds());
    s.bind(12, static_cast<int64_t>(kExtractorVersion));
    if (!s.step()) throw LibraryError("document index: upsert of " + path + " returned no row");
    const int64_t id = s.integer(0);
    s.run();
    Statement clear(db_, "DELETE FROM chunks WHERE document_id = ?1");
    clear.bind(1, id).run();
    return id;
}

void Library::store_indexed(int64_t collection, const std::string& path, const FileFacts& facts, const ExtractedDocument& doc,
                            const std::vector<Chunk>& chunks, const std::vector<std::string>& chunk_terms, const std::string& title_terms) {
    std::vector<size_t> offsets;
    offsets.reserve(chunks.size() * 2);
    for (const Chunk& c : chunks) {
        offsets.push_back(c.begin);
        offsets.push_back(c.end);
    }
    std::sort(offsets.begin(), offsets.end());
    offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
    const std::vector<int64_t> chars = code_point_offsets(doc.text, offsets);
    const auto to_chars = [&](size_t byte) { return chars[static_cast<size_t>(std::lower_bound(offsets.begin(), offsets.end(), byte) - offsets.begin())]; };

    Transaction t(db_);
    const int64_t id = upsert_document(collection, path, facts, "indexed", "", doc.format, doc.pages, doc.text);
    Statement chunk(db_, "INSERT INTO chunks(document_id, ordinal, page, start, end, heading_path, text) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    Statement fts(db_, "INSERT INTO chunk_fts(rowid, body, heading, title) VALUES(?1, ?2, ?3, ?4)");
    for (size_t k = 0; k < chunks.size(); ++k) {
        const Chunk& c = chunks[k];
        chunk.bind(1, id).bind(2, static_cast<int64_t>(k));
        if (c.page > 0) chunk.bind(3, static_cast<int64_t>(c.page));
        else chunk.bind_null(3);
        chunk.bind(4, to_chars(c.begin)).bind(5, to_chars(c.end)).bind(6, c.heading_path);
        chunk.bind(7, std::string_view(doc.text).substr(c.begin, c.end - c.begin));
        chunk.run();
        fts.bind(1, sqlite3_last_insert_rowid(db_)).bind(2, chunk_terms[k]).bind(3, c.heading_path).bind(4, title_terms).run();
    }
    t.commit();
}

void Library::store_problem(int64_t collection, const std::string& path, const FileFacts& facts, const std::string& status, const std::string& reason) {
    Transaction t(db_);
    upsert_document(collection, path, facts, status, reason, "", 0, "");
    t.commit();
}

void Library::store_facts(int64_t document, const FileFacts& facts) {
    Statement s(db_, "UPDATE documents SET size = ?2, mtime_ns = ?3 WHERE id = ?1");
    s.bind(1, document).bind(2, static_cast<int64_t>(facts.size)).bind(3, facts.mtime_ns).run();
}

void Library::set_status(int64_t document, const std::string& status) {
    Statement s(db_, "UPDATE documents SET status = ?2 WHERE id = ?1");
    s.bind(1, document).bind(2, status).run();
}

void Library::remove_document(int64_t document) {
    Statement s(db_, "DELETE FROM documents WHERE id = ?1");
    s.bind(1, document).run();
}

std::vector<StoredChunk> Library::chunks(int64_t document) {
    Statement s(db_, "SELECT id, ordinal, page, start, end, heading_path, text FROM chunks WHERE document_id = ?1 ORDER BY ordinal");
    s.bind(1, document);
    std::vector<StoredChunk> out;
    while (s.step()) {
        out.push_back({s.integer(0), static_cast<int>(s.integer(1)), s.is_null(2) ? 0 : static_cast<int>(s.integer(2)), s.integer(3), s.integer(4),
                       s.text(5), s.text(6)});
    }
    return out;
}

std::string Library::document_text(int64_t document) {
    Statement s(db_, "SELECT text FROM documents WHERE id = ?1");
    s.bind(1, document);
    if (!s.step()) return {};
    std::string text = s.text(0);
    s.reset();
    return text;
}

std::string Library::text_range(int64_t document, int64_t start, int64_t end) {
    Statement s(db_, "SELECT substr(text, ?2, ?3) FROM documents WHERE id = ?1");
    s.bind(1, document).bind(2, start + 1).bind(3, std::max<int64_t>(0, end - start));
    if (!s.step()) return {};
    std::string text = s.text(0);
    s.reset();
    return text;
}

int64_t Library::chunk_count() {
    Statement s(db_, "SELECT count(*) FROM chunks");
    s.step();
    const int64_t n = s.integer(0);
    s.reset();
    return n;
}

} // namespace latent::documents
