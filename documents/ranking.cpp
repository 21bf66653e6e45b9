#include "ranking.h"

#include "sqlite_statement.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace latent::documents {
namespace {

constexpr double kK1 = 1.2; // FTS5's bm25() constants
constexpr double kB = 0.75;

// What latent_bm25 computes once per statement (cached as FTS5 auxiliary data).
struct QueryStatistics {
    std::vector<double> idf; // (phrases) inverse document frequency, FTS5's formula
    double average_tokens = 1; // tokens per row over the whole table
};

struct PhraseSample {
    int64_t limit = 0;    // stop after this many matches
    int64_t matches = 0;  // matches seen
    int64_t last_rowid = 0;
};

int count_match(const Fts5ExtensionApi* api, Fts5Context* fts, void* user) {
    auto* sample = static_cast<PhraseSample*>(user);
    sample->last_rowid = api->xRowid(fts);
    return ++sample->matches >= sample->limit ? SQLITE_DONE : SQLITE_OK;
}

int compute_statistics(const Fts5ExtensionApi* api, Fts5Context* fts, int64_t max_rowid, int64_t sample_rows, QueryStatistics& out) {
    sqlite3_int64 rows = 0, tokens = 0;
    int rc = api->xRowCount(fts, &rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    if (rc != SQLITE_OK) return rc;
    rows = std::max<sqlite3_int64>(rows, 1);
    out.average_tokens = std::max(1.0, static_cast<double>(tokens) / static_cast<double>(rows));
    const int phrases = api->xPhraseCount(fts);
    out.idf.assign(static_cast<size_t>(std::max(phrases, 0)), 0);
    for (int i = 0; i < phrases; ++i) {
        PhraseSample sample;
        sample.limit = sample_rows;
        rc = api->xQueryPhrase(fts, i, &sample, count_match);
        if (rc != SQLITE_OK) return rc;
        double hits = static_cast<double>(sample.matches);
        if (sample.matches >= sample_rows && sample.last_rowid > 0) {
            // The sample stopped early: density of the first rowids times the whole range.
            hits = std::min(static_cast<double>(rows), static_cast<double>(sample_rows) * static_cast<double>(max_rowid) / static_cast<double>(sample.last_rowid));
        }
        const double idf = std::log((static_cast<double>(rows) - hits + 0.5) / (hits + 0.5));
        out.idf[static_cast<size_t>(i)] = idf <= 0 ? 1e-6 : idf;
    }
    return SQLITE_OK;
}

void latent_bm25(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* context, int n_args, sqlite3_value** args) {
    if (n_args != 2) {
        sqlite3_result_error(context, "latent_bm25(chunk_fts, max_rowid, sample_rows): wrong number of arguments", -1);
        return;
    }
    auto* stats = static_cast<QueryStatistics*>(api->xGetAuxdata(fts, 0));
    int rc = SQLITE_OK;
    if (!stats) {
        const int64_t max_rowid = std::max<int64_t>(1, sqlite3_value_int64(args[0]));
        const int64_t sample_rows = std::max<int64_t>(1, sqlite3_value_int64(args[1]));
        auto* fresh = new QueryStatistics;
        rc = compute_statistics(api, fts, max_rowid, sample_rows, *fresh);
        if (rc == SQLITE_OK) rc = api->xSetAuxdata(fts, fresh, [](void* p) { delete static_cast<QueryStatistics*>(p); }); // owns it, even on failure
        else delete fresh;
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(context, rc);
            return;
        }
        stats = fresh;
    }
    std::vector<double> frequency(stats->idf.size(), 0);
    int instances = 0;
    rc = api->xInstCount(fts, &instances);
    for (int i = 0; rc == SQLITE_OK && i < instances; ++i) {
        int phrase = 0, column = 0, offset = 0;
        rc = api->xInst(fts, i, &phrase, &column, &offset);
        if (rc == SQLITE_OK && phrase >= 0 && static_cast<size_t>(phrase) < frequency.size()) frequency[static_cast<size_t>(phrase)] += 1;
    }
    int row_tokens = 0;
    if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &row_tokens);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(context, rc);
        return;
    }
    const double length = 1 - kB + kB * static_cast<double>(row_tokens) / stats->average_tokens;
    double score = 0;
    for (size_t i = 0; i < frequency.size(); ++i) score += stats->idf[i] * frequency[i] * (kK1 + 1) / (frequency[i] + kK1 * length);
    sqlite3_result_double(context, score);
}

} // namespace

void register_ranking_functions(sqlite3* db) {
    // The FTS5 API pointer comes from SELECT fts5(?1) with a pointer bound to ?1.
    fts5_api* api = nullptr;
    {
        Statement s(db, "SELECT fts5(?1)");
        sqlite3_bind_pointer(s.handle(), 1, &api, "fts5_api_ptr", nullptr);
        s.step();
    }
    if (!api || api->iVersion < 2) throw LibraryError("this SQLite has no FTS5 (the document index needs it)");
    if (api->xCreateFunction(api, "latent_bm25", nullptr, latent_bm25, nullptr) != SQLITE_OK) {
        throw LibraryError("cannot register latent_bm25 on the document index connection");
    }
}

} // namespace latent::documents
