// Incremental indexing (touch, edit, delete, rename, a bad file among good ones), resume
// after SIGKILL in the middle of a run, and the `latent docs` command-line contract (JSON
// shapes, exit statuses).
#include "corpus.h"
#include "test_support.h"

#include "documents/indexer.h"
#include "documents/retriever.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include <csignal>
#include <sys/stat.h>
#include <sys/types.h>

using namespace latent;
using namespace latent::documents;
namespace fs = std::filesystem;

namespace {

struct Run {
    int exit_code = -1;
    QByteArray out, err;
};

Run run_cli(const QStringList& args, int timeout_ms = 120000) {
    QProcess p;
    p.start(QString::fromStdString(test::cli_path().string()), args);
    if (!p.waitForStarted(10000)) return {};
    p.closeWriteChannel();
    if (!p.waitForFinished(timeout_ms)) {
        p.kill();
        p.waitForFinished(10000);
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(), p.readAllStandardError()};
}

QJsonDocument parse(const QByteArray& bytes) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError) qWarning("not JSON: %s", bytes.constData());
    return doc;
}

std::vector<std::string> paths_found(Library& library, const std::string& query) {
    std::vector<std::string> out;
    for (const Passage& p : search(library, query, SearchOptions{})) out.push_back(fs::path(p.path).filename().string());
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

int64_t scalar(const std::string& db, const char* sql) {
    sqlite3* handle = nullptr;
    sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_busy_timeout(handle, 5000);
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -1;
    if (sqlite3_prepare_v2(handle, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(handle);
    return value;
}

// Every indexed document's chunks are exact ranges of its text, and the FTS index has one row
// per chunk: what a consistent index looks like after any interruption.
void check_consistent(const std::string& db) {
    Library library(db, false);
    Statement check(library.handle(), "PRAGMA integrity_check");
    QVERIFY(check.step());
    QCOMPARE(check.text(0), std::string("ok"));
    check.reset();
    QCOMPARE(scalar(db, "SELECT count(*) FROM chunk_fts"), scalar(db, "SELECT count(*) FROM chunks"));
    for (const DocumentInfo& d : library.documents()) {
        if (d.status != "indexed") continue;
        QVERIFY(d.chunks > 0);
        const std::string text = library.document_text(d.id);
        for (const StoredChunk& c : library.chunks(d.id)) QCOMPARE(c.text, test::code_point_slice(text, c.start, c.end));
    }
}

void set_mtime_later(const std::string& path, int seconds) {
    fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(seconds));
}

} // namespace

class TestIndexing : public QObject {
    Q_OBJECT

private slots:
    void incremental_rescans() {
        QTemporaryDir dir;
        const std::string root = dir.filePath("notes").toStdString();
        fs::create_directories(root + "/sub");
        test::write_bytes(root + "/a.txt", "Apples are alphaword fruit.\n");
        test::write_bytes(root + "/b.md", "# B\n\nBananas are betaword yellow.\n");
        test::write_bytes(root + "/sub/c.txt", "Cherries are gammaword red.\n");
        test::write_bytes(root + "/sub/d.html", "<p>Dates are deltaword sweet.</p>");
        test::write_bytes(root + "/broken.pdf", "%PDF-1.7 nothing here");
        Library library(dir.filePath("index.db").toStdString());
        const int64_t collection = library.ensure_collection("notes");

        IndexReport r = index_paths(library, collection, {root}, IndexOptions{});
        QCOMPARE(r.indexed, size_t{4});
        QCOMPARE(r.updated, size_t{4});
        QCOMPARE(r.failed.size(), size_t{1}); // the broken PDF is reported; the others are indexed
        QVERIFY(r.failed[0].reason.find("not a valid PDF") != std::string::npos);

        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(r.updated, size_t{0});
        QCOMPARE(r.unchanged, size_t{5});
        QCOMPARE(r.indexed, size_t{4});

        // Touch: a new mtime, the same content: not extracted again.
        set_mtime_later(root + "/a.txt", 5);
        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(r.updated, size_t{0});
        const auto touched = library.document(collection, root + "/a.txt");
        struct stat st {};
        QCOMPARE(::stat((root + "/a.txt").c_str(), &st), 0);
        QCOMPARE(touched->facts.mtime_ns, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);

        // Edit: extracted again; the old words leave the index.
        test::write_bytes(root + "/a.txt", "Apricots are omegaword orange.\n");
        set_mtime_later(root + "/a.txt", 10);
        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(r.updated, size_t{1});
        QVERIFY(contains(paths_found(library, "omegaword"), "a.txt"));
        QVERIFY(paths_found(library, "alphaword").empty());

        // Delete.
        fs::remove(root + "/sub/c.txt");
        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(r.removed, size_t{1});
        QVERIFY(paths_found(library, "gammaword").empty());
        QVERIFY(!library.document(collection, root + "/sub/c.txt"));

        // Rename: the old path leaves, the new one is indexed.
        fs::rename(root + "/b.md", root + "/sub/renamed.md");
        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(r.removed, size_t{1});
        QCOMPARE(r.updated, size_t{1});
        QCOMPARE(paths_found(library, "betaword"), std::vector<std::string>{"renamed.md"});

        // A file changed into a bad one keeps the run going and says why.
        test::write_bytes(root + "/sub/d.html", std::string("\0\0\0binary", 9));
        r = rescan_collection(library, collection, IndexOptions{});
        QCOMPARE(library.document(collection, root + "/sub/d.html")->status, std::string("skipped"));
        QVERIFY(paths_found(library, "deltaword").empty());
        check_consistent(dir.filePath("index.db").toStdString());
    }

    void cancel_then_resume() {
        QTemporaryDir dir;
        const std::string root = dir.filePath("many").toStdString();
        fs::create_directories(root);
        for (int i = 0; i < 40; ++i) test::write_bytes(root + "/f" + std::to_string(i) + ".txt", "file number " + std::to_string(i) + " token" + std::to_string(i));
        Library library(dir.filePath("index.db").toStdString());
        const int64_t collection = library.ensure_collection("c");
        std::atomic<bool> cancel{false};
        IndexOptions options;
        options.cancel = &cancel;
        size_t seen = 0;
        options.progress = [&](const IndexProgress& p) {
            if (p.done == 15) cancel = true;
            seen = std::max(seen, p.total);
        };
        IndexReport r = index_paths(library, collection, {root}, options);
        QVERIFY(r.cancelled);
        QCOMPARE(seen, size_t{40});
        QCOMPARE(r.updated, size_t{16}); // the file in hand is finished, then the run stops
        cancel = false;
        options.progress = {};
        r = rescan_collection(library, collection, options);
        QCOMPARE(r.unchanged, size_t{16});
        QCOMPARE(r.updated, size_t{24});
    }

    void cli_contract() {
        QTemporaryDir dir;
        const std::string root = dir.filePath("docs").toStdString();
        fs::create_directories(root);
        test::write_bytes(root + "/guide.md", "# Guide\n\nThe kestrel setting controls the fan speed.\n");
        test::write_bytes(root + "/paper.pdf", test::make_pdf({{"Intro page."}, {"The kestrel constant is 7.25 exactly."}}));
        test::write_bytes(root + "/bad.docx", "not a zip");
        test::write_bytes(root + "/blob.txt", std::string("\x01\x02\0\0", 4));
        const QString db = dir.filePath("index.db");

        Run r = run_cli({"docs", "index", "--db", db, "--json", QString::fromStdString(root)});
        QCOMPARE(r.exit_code, 0); // it ran, although some files failed
        const QJsonObject index = parse(r.out).object();
        QCOMPARE(index.value("indexed").toInt(-1), 2);
        QCOMPARE(index.value("failed").toArray().size(), 1);
        QCOMPARE(index.value("skipped").toArray().size(), 1);
        const QJsonObject failed = index.value("failed").toArray().at(0).toObject();
        QCOMPARE(failed.value("path").toString(), QString::fromStdString(root + "/bad.docx"));
        QVERIFY(failed.value("reason").toString().contains("zip"));
        QVERIFY(index.value("skipped").toArray().at(0).toObject().value("reason").toString().contains("binary"));

        r = run_cli({"docs", "search", "--db", db, "--top", "5", "--json", "kestrel"});
        QCOMPARE(r.exit_code, 0);
        const QJsonArray hits = parse(r.out).array();
        QCOMPARE(hits.size(), 2);
        Library library(db.toStdString(), false);
        for (const QJsonValue& v : hits) {
            const QJsonObject hit = v.toObject();
            QCOMPARE(QStringList(hit.keys()), (QStringList{"end", "page", "path", "score", "start", "text"}));
            const QString path = hit.value("path").toString();
            QVERIFY(path.startsWith('/'));
            QCOMPARE(hit.value("page").isNull(), !path.endsWith(".pdf"));
            if (path.endsWith(".pdf")) QCOMPARE(hit.value("page").toInt(), 2);
            QVERIFY(hit.value("score").isDouble());
            QVERIFY(hit.value("text").toString().contains("kestrel"));
            const auto doc = library.document(*library.find_collection("default"), path.toStdString());
            QCOMPARE(hit.value("text").toString(), QString::fromStdString(test::code_point_slice(library.document_text(doc->id), hit.value("start").toInteger(),
                                                                                                  hit.value("end").toInteger())));
        }
        QCOMPARE(parse(run_cli({"docs", "search", "--db", db, "--json", "nothingmatchesthis"}).out).array().size(), 0);

        r = run_cli({"docs", "list", "--db", db, "--json"});
        QCOMPARE(r.exit_code, 0);
        const QJsonArray list = parse(r.out).array();
        QCOMPARE(list.size(), 4);
        for (const QJsonValue& v : list) QVERIFY(QStringList({"indexed", "failed", "skipped"}).contains(v.toObject().value("status").toString()));

        // Exit statuses: 1 when the work fails, 2 for a wrong command line.
        r = run_cli({"docs", "search", "--db", dir.filePath("missing.db"), "x"});
        QCOMPARE(r.exit_code, 1);
        QVERIFY(r.err.contains("no document index"));
        QVERIFY(!fs::exists(dir.filePath("missing.db").toStdString()));
        QCOMPARE(run_cli({"docs", "index", "--db", db}).exit_code, 2);
        QCOMPARE(run_cli({"docs", "frobnicate"}).exit_code, 2);
        QCOMPARE(run_cli({"docs", "search", "--db", db, "--top", "0", "x"}).exit_code, 2);
        test::write_bytes(dir.filePath("other.db").toStdString(), "this is not sqlite at all, just text that is long enough to look like a header");
        r = run_cli({"docs", "index", "--db", dir.filePath("other.db"), QString::fromStdString(root)});
        QCOMPARE(r.exit_code, 1);
    }

    void resume_after_sigkill() {
        QTemporaryDir dir;
        const std::string root = dir.filePath("corpus").toStdString();
        constexpr int kFiles = 3000;
        for (int d = 0; d < 30; ++d) fs::create_directories(root + "/d" + std::to_string(d));
        std::string filler;
        for (int k = 0; k < 60; ++k) filler += "lorem ipsum dolor sit amet consectetur ";
        for (int i = 0; i < kFiles; ++i) {
            test::write_bytes(root + "/d" + std::to_string(i % 30) + "/f" + std::to_string(i) + ".md",
                              "# File " + std::to_string(i) + "\n\nunique" + std::to_string(i) + " " + filler + "\n\n" + filler + "\n");
        }
        const std::string db = dir.filePath("index.db").toStdString();
        QProcess p;
        p.start(QString::fromStdString(test::cli_path().string()), {"docs", "index", "--db", QString::fromStdString(db), QString::fromStdString(root)});
        QVERIFY(p.waitForStarted(10000));
        int64_t committed = 0;
        for (int tries = 0; tries < 20000 && p.state() == QProcess::Running; ++tries) {
            if (fs::exists(db)) committed = scalar(db, "SELECT count(*) FROM documents WHERE status = 'indexed'");
            if (committed >= 30) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        QVERIFY2(p.state() == QProcess::Running, "the run ended before it could be killed (make the corpus larger)");
        ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);

        check_consistent(db);
        const int64_t before = scalar(db, "SELECT count(*) FROM documents WHERE status = 'indexed'");
        QVERIFY(before >= 30 && before < kFiles);
        const Run r = run_cli({"docs", "index", "--db", QString::fromStdString(db), "--json", QString::fromStdString(root)}, 300000);
        QCOMPARE(r.exit_code, 0);
        const QJsonObject report = parse(r.out).object();
        QCOMPARE(report.value("indexed").toInt(), kFiles);
        QCOMPARE(report.value("unchanged").toInt(), static_cast<int>(before)); // the committed files are not extracted again
        QCOMPARE(report.value("updated").toInt(), kFiles - static_cast<int>(before));
        check_consistent(db);
        Library library(db, false);
        QCOMPARE(paths_found(library, "unique2999"), std::vector<std::string>{"f2999.md"});
        qInfo("killed after %lld of %d files were committed; the second run extracted the other %lld", static_cast<long long>(before), kFiles,
              static_cast<long long>(kFiles - before));
    }
};

QTEST_GUILESS_MAIN(TestIndexing)
#include "test_indexing.moc"
