// A thin RAII layer over the SQLite C API for the document library: prepared statements with
// typed binds and columns, and errors as LibraryError naming the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace latent::documents {

class LibraryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind_null(int index);
    // One step: true while a row is available, false when done. Throws on errors.
    bool step();
    void run() { while (step()) {} }
    void reset() { sqlite3_reset(stmt_); sqlite3_clear_bindings(stmt_); }

    int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
    bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    double real(int column) const { return sqlite3_column_double(stmt_, column); }
    std::string text(int column) const;
    sqlite3_stmt* handle() { return stmt_; } // for the binds this class has no method for (pointers)

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

void exec(sqlite3* db, const char* sql);

// BEGIN IMMEDIATE … COMMIT; rolled back when destroyed uncommitted.
class Transaction {
public:
    explicit Transaction(sqlite3* db);
    ~Transaction();
    void commit();

private:
    sqlite3* db_;
    bool done_ = false;
};

} // namespace latent::documents
