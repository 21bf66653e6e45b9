// `latent docs index|search|list`: the document library from the command line (the contract
// scripts and tests use). JSON shapes:
//   index --json  {"indexed": N, "failed": [{"path", "reason"}], "skipped": [{"path", "reason"}],
//                  "updated": N, "unchanged": N, "removed": N}
//   search --json [{"path", "page", "start", "end", "text", "score"}, …] best first; page null
//                 outside PDFs; start/end in code points of the extracted text
//   list --json   [{"path", "collection", "status", "reason", "format", "pages", "chunks", "bytes"}, …]
// `index` exits 0 when it ran, even when some files failed (they are listed); Ctrl+C stops it
// after the current file (exit 130), and the next run resumes.
#include "cli_args.h"
#include "commands.h"
#include "docs_support.h"

#include "core/json_writer.h"
#include "documents/indexer.h"
#include "documents/retriever.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace latent::cli {
namespace {

using namespace latent::documents;

std::atomic<bool> g_stop_indexing{false};
void on_sigint_indexing(int) { g_stop_indexing.store(true); }

const OptionSpec kDbOption{"--db", "", true, "the document index (an SQLite file; created by index)"};
const OptionSpec kJsonOption{"--json", "", false, "print JSON"};
const OptionSpec kCollectionOption{"--collection", "-c", true, "collection name (default: \"default\"; search and list: all)"};
const OptionSpec kHelpOption{"--help", "-h", false, "show this help"};

void write_outcomes(JsonWriter& json, const std::vector<FileOutcome>& list) {
    json.begin_array();
    for (const FileOutcome& f : list) json.begin_object().key("path").value(f.path).key("reason").value(f.reason).end_object();
    json.end_array();
}

int docs_index(const std::vector<std::string>& argv) {
    const std::vector<OptionSpec> specs = {kDbOption, kCollectionOption, kJsonOption, kHelpOption};
    const Args args = Args::parse("docs index", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("docs index", "--db DB [--collection NAME] [--json] PATH...", specs).c_str(), stdout);
        return kExitOk;
    }
    if (args.positional().empty()) throw UsageError("give at least one file or folder to index");
    Library library(args.require("--db"));
    const int64_t collection = library.ensure_collection(args.get("--collection").value_or("default"));
    IndexOptions options;
    options.cancel = &g_stop_indexing;
    const bool tty = isatty(STDERR_FILENO);
    options.progress = [tty](const IndexProgress& p) {
        if (tty && p.total > 0) std::fprintf(stderr, "\r[%zu/%zu] indexing…", p.done, p.total);
    };
    std::signal(SIGINT, on_sigint_indexing);
    const IndexReport report = index_paths(library, collection, args.positional(), options);
    std::signal(SIGINT, SIG_DFL);
    if (tty) std::fputs("\r\033[K", stderr);
    if (args.flag("--json")) {
        JsonWriter json;
        json.begin_object().key("indexed").value(static_cast<uint64_t>(report.indexed)).key("failed");
        write_outcomes(json, report.failed);
        json.key("skipped");
        write_outcomes(json, report.skipped);
        json.key("updated").value(static_cast<uint64_t>(report.updated)).key("unchanged").value(static_cast<uint64_t>(report.unchanged));
        json.key("removed").value(static_cast<uint64_t>(report.removed)).key("cancelled").value(report.cancelled);
        json.end_object();
        std::printf("%s\n", json.str().c_str());
    } else {
        std::printf("indexed %zu files (%zu extracted now, %zu unchanged), %zu removed, %zu failed, %zu skipped\n", report.indexed, report.updated,
                    report.unchanged, report.removed, report.failed.size(), report.skipped.size());
        for (const FileOutcome& f : report.failed) std::printf("failed: %s: %s\n", f.path.c_str(), f.reason.c_str());
        for (const FileOutcome& f : report.skipped) std::printf("skipped: %s: %s\n", f.path.c_str(), f.reason.c_str());
    }
    return report.cancelled ? kExitCancelled : kExitOk;
}

int docs_search(const std::vector<std::string>& argv) {
    const std::vector<OptionSpec> specs = {kDbOption, {"--top", "-k", true, "passages to return, 1 … 1000 (default 5)"}, kCollectionOption, kJsonOption, kHelpOption};
    const Args args = Args::parse("docs search", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("docs search", "--db DB [--top K] [--collection NAME] [--json] QUERY", specs).c_str(), stdout);
        return kExitOk;
    }
    SearchOptions options;
    options.top_k = static_cast<size_t>(args.get_int("--top", 5, 1, 1000));
    if (args.positional().empty()) throw UsageError("give the query to search for");
    std::string query;
    for (const std::string& word : args.positional()) query += (query.empty() ? "" : " ") + word;
    Library library(args.require("--db"), false);
    if (const auto name = args.get("--collection")) {
        const auto id = library.find_collection(*name);
        if (!id) throw Error("no collection named '" + *name + "' in " + args.require("--db"));
        options.collections.push_back(*id);
    }
    const std::vector<Passage> passages = search(library, query, options);
    if (args.flag("--json")) {
        JsonWriter json;
        json.begin_array();
        for (const Passage& p : passages) {
            json.begin_object().key("path").value(p.path).key("page");
            if (p.page > 0) json.value(p.page);
            else json.null();
            json.key("start").value(p.start).key("end").value(p.end).key("text").value(p.text).key("score").value(p.score, 6).end_object();
        }
        json.end_array();
        std::printf("%s\n", json.str().c_str());
    } else {
        if (passages.empty()) std::printf("no passage matches\n");
        for (size_t i = 0; i < passages.size(); ++i) {
            const Passage& p = passages[i];
            std::printf("[%zu] %s%s (characters %lld-%lld, score %.3f)%s%s\n%s\n\n", i + 1, p.path.c_str(), p.page ? (", page " + std::to_string(p.page)).c_str() : "",
                        static_cast<long long>(p.start), static_cast<long long>(p.end), p.score, p.heading_path.empty() ? "" : "\n    in: ",
                        p.heading_path.c_str(), p.text.c_str());
        }
    }
    return kExitOk;
}

int docs_list(const std::vector<std::string>& argv) {
    const std::vector<OptionSpec> specs = {kDbOption, kCollectionOption, kJsonOption, kHelpOption};
    const Args args = Args::parse("docs list", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("docs list", "--db DB [--collection NAME] [--json]", specs).c_str(), stdout);
        return kExitOk;
    }
    if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional().front() + "'");
    Library library(args.require("--db"), false);
    std::optional<int64_t> collection;
    if (const auto name = args.get("--collection")) {
        collection = library.find_collection(*name);
        if (!collection) throw Error("no collection named '" + *name + "' in " + args.require("--db"));
    }
    const std::vector<DocumentInfo> docs = library.documents(collection);
    if (args.flag("--json")) {
        JsonWriter json;
        json.begin_array();
        for (const DocumentInfo& d : docs) {
            json.begin_object().key("path").value(d.path).key("collection").value(d.collection).key("status").value(d.status);
            json.key("reason").value(d.reason).key("format").value(d.format).key("pages").value(d.pages).key("chunks").value(d.chunks);
            json.key("bytes").value(static_cast<uint64_t>(d.facts.size)).end_object();
        }
        json.end_array();
        std::printf("%s\n", json.str().c_str());
    } else {
        for (const CollectionInfo& c : library.collections()) {
            if (collection && c.id != *collection) continue;
            std::printf("collection %s: %lld documents, %lld indexed\n", c.name.c_str(), static_cast<long long>(c.documents), static_cast<long long>(c.indexed));
        }
        for (const DocumentInfo& d : docs) {
            std::printf("  %-8s %-8s %6lld chunks  %s%s%s\n", d.status.c_str(), d.format.c_str(), static_cast<long long>(d.chunks), d.path.c_str(),
                        d.reason.empty() ? "" : ": ", d.reason.c_str());
        }
    }
    return kExitOk;
}

} // namespace

int docs_command(const std::vector<std::string>& argv) {
    const std::string usage = "usage: latent docs index|search|list [options] (latent docs SUBCOMMAND --help for its options)\n";
    if (argv.empty()) throw UsageError("give a subcommand: index, search or list");
    if (argv.front() == "--help" || argv.front() == "-h") {
        std::fputs(usage.c_str(), stdout);
        return kExitOk;
    }
    const std::vector<std::string> rest(argv.begin() + 1, argv.end());
    try {
        if (argv.front() == "index") return docs_index(rest);
        if (argv.front() == "search") return docs_search(rest);
        if (argv.front() == "list") return docs_list(rest);
    } catch (const LibraryError& e) {
        throw Error(e.what());
    }
    throw UsageError("unknown subcommand '" + argv.front() + "' (index, search or list)");
}

} // namespace latent::cli
