#include "indexer.h"

#include "extractors.h"
#include "segmenter.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace latent::documents {
namespace fs = std::filesystem;
namespace {

struct FoundFile {
    std::string path;
    std::string problem;        // non-empty: not a file to read (reason)
    bool problem_is_failure = false;
};

std::string size_text(uint64_t bytes) {
    if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// Walks a source: regular files, with problems (loops, broken links, permissions) as entries.
class Walker {
public:
    Walker(const Limits& limits, std::vector<FoundFile>& out) : limits_(limits), out_(out) {}

    void walk(const std::string& path, uint32_t depth) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            const int err = errno;
            struct stat lst {};
            const bool is_link = ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
            if (err == ELOOP) add(path, "symbolic link loop", false);
            else if (err == ENOENT && is_link) add(path, "broken symbolic link", true);
            else if (err == ENOENT) add(path, "no such file or directory", true);
            else add(path, std::string("cannot read: ") + std::strerror(err), true);
            return;
        }
        if (S_ISREG(st.st_mode)) {
            if (out_.size() < limits_.max_files) out_.push_back({path, {}, false});
            return;
        }
        if (!S_ISDIR(st.st_mode)) {
            add(path, "not a regular file", false);
            return;
        }
        const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
        if (std::find(open_dirs_.begin(), open_dirs_.end(), id) != open_dirs_.end()) {
            add(path, "symbolic link loop", false);
            return;
        }
        if (depth > limits_.max_dir_depth) {
            add(path, "folder nesting deeper than " + std::to_string(limits_.max_dir_depth) + " levels", false);
            return;
        }
        std::error_code ec;
        fs::directory_iterator it(path, fs::directory_options::none, ec);
        if (ec) {
            add(path, "cannot list the folder: " + ec.message(), true);
            return;
        }
        std::vector<std::string> names;
        for (const fs::directory_entry& entry : it) {
            const std::string name = entry.path().filename().string();
            if (!name.empty() && name[0] != '.') names.push_back(name); // hidden files and folders (.git) are not documents
        }
        std::sort(names.begin(), names.end());
        open_dirs_.push_back(id);
        for (const std::string& name : names) walk(path == "/" ? "/" + name : path + "/" + name, depth + 1);
        open_dirs_.pop_back();
    }

private:
    void add(const std::string& path, const std::string& reason, bool failure) { out_.push_back({path, reason, failure}); }
    const Limits& limits_;
    std::vector<FoundFile>& out_;
    std::vector<std::pair<dev_t, ino_t>> open_dirs_; // the folders on the current path (loop detection)
};

bool read_file(const std::string& path, uint64_t size, std::string& bytes, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = std::string("cannot read: ") + std::strerror(errno);
        return false;
    }
    bytes.resize(size);
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    bytes.resize(static_cast<size_t>(in.gcount()));
    if (in.bad()) {
        error = "read error";
        return false;
    }
    return true;
}

class Run {
public:
    Run(Library& library, int64_t collection, const IndexOptions& options) : library_(library), collection_(collection), options_(options) {}

    void source(const std::string& root, std::vector<FoundFile>& files) { Walker(options_.limits, files).walk(root, 0); }

    // Indexes the files found under `roots`, then removes documents under them that were not found.
    IndexReport index(const std::vector<std::string>& roots) {
        std::vector<FoundFile> files;
        for (const std::string& root : roots) source(root, files);
        std::set<std::string> seen;
        for (size_t i = 0; i < files.size(); ++i) {
            if (options_.cancel && options_.cancel->load()) {
                report_.cancelled = true;
                return report_;
            }
            if (options_.progress) options_.progress({i, files.size(), files[i].path});
            seen.insert(files[i].path);
            one_file(files[i]);
        }
        if (options_.progress) options_.progress({files.size(), files.size(), {}});
        for (const std::string& root : roots) {
            for (const auto& [id, path] : library_.documents_under(collection_, root)) {
                if (seen.count(path)) continue;
                library_.remove_document(id);
                ++report_.removed;
            }
        }
        return std::move(report_);
    }

private:
    void problem(const std::string& path, const FileFacts& facts, bool failed, const std::string& reason) {
        library_.store_problem(collection_, path, facts, failed ? "failed" : "skipped", reason);
        (failed ? report_.failed : report_.skipped).push_back({path, reason});
    }

    void one_file(const FoundFile& file) {
        const std::string& path = file.path;
        if (!file.problem.empty()) {
            problem(path, {}, file.problem_is_failure, file.problem);
            return;
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            problem(path, {}, true, std::string("cannot read: ") + std::strerror(errno));
            return;
        }
        FileFacts facts;
        facts.size = static_cast<uint64_t>(st.st_size);
        facts.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        const std::optional<DocumentInfo> old = library_.document(collection_, path);
        const bool same_version = old && old->extractor_version == kExtractorVersion;
        if (same_version && old->status != "updating" && old->facts.size == facts.size && old->facts.mtime_ns == facts.mtime_ns) {
            count_unchanged(*old);
            return;
        }
        const std::string format = format_for_path(path);
        if (format.empty()) {
            problem(path, facts, false, "unsupported file type");
            return;
        }
        const uint64_t max_bytes = format == "pdf" ? options_.limits.max_pdf_bytes : options_.limits.max_file_bytes;
        if (facts.size > max_bytes) {
            problem(path, facts, false, "file larger than " + size_text(max_bytes) + " (file size limit)");
            return;
        }
        std::string bytes, error;
        if (!read_file(path, facts.size, bytes, error)) {
            problem(path, facts, true, error);
            return;
        }
        facts.size = bytes.size();
        facts.hash = content_hash(bytes);
        if (same_version && old->facts.hash == facts.hash && (old->status == "indexed" || old->status == "failed" || old->status == "skipped")) {
            library_.store_facts(old->id, facts); // touched, not changed
            count_unchanged(*old);
            return;
        }
        if (old && old->status == "indexed") library_.set_status(old->id, "updating");
        try {
            const Deadline deadline(options_.limits.max_time_per_file);
            const ExtractedDocument doc = extract(path, bytes, format, options_.limits, deadline);
            bytes = std::string(); // the extracted text is what is kept
            const std::vector<Chunk> chunks = chunk_document(doc, options_.chunking, deadline);
            std::vector<std::string> terms;
            terms.reserve(chunks.size());
            for (const Chunk& c : chunks) {
                terms.push_back(index_terms(std::string_view(doc.text).substr(c.begin, c.end - c.begin)));
                deadline.check();
            }
            library_.store_indexed(collection_, path, facts, doc, chunks, terms, index_terms(fs::path(path).stem().string()));
            ++report_.updated;
            ++report_.indexed;
        } catch (const DocumentError& e) {
            problem(path, facts, e.kind() == DocumentError::Kind::Failed, e.what());
        } catch (const LibraryError&) {
            throw; // the index itself failed: the run cannot go on
        } catch (const std::bad_alloc&) {
            problem(path, facts, true, "out of memory while extracting");
        } catch (const std::exception& e) {
            problem(path, facts, true, std::string("cannot extract: ") + e.what());
        }
    }

    void count_unchanged(const DocumentInfo& old) {
        ++report_.unchanged;
        if (old.status == "indexed") ++report_.indexed;
        else (old.status == "failed" ? report_.failed : report_.skipped).push_back({old.path, old.reason});
    }

    Library& library_;
    int64_t collection_;
    const IndexOptions& options_;
    IndexReport report_;
};

} // namespace

std::string absolute_path(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::absolute(path, ec);
    if (ec) p = path;
    std::string out = p.lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

IndexReport index_paths(Library& library, int64_t collection, const std::vector<std::string>& paths, const IndexOptions& options) {
    std::vector<std::string> roots;
    for (const std::string& p : paths) {
        roots.push_back(absolute_path(p));
        library.add_source(collection, roots.back());
    }
    return Run(library, collection, options).index(roots);
}

IndexReport rescan_collection(Library& library, int64_t collection, const IndexOptions& options) {
    return Run(library, collection, options).index(library.sources(collection));
}

std::string content_hash(std::string_view bytes) {
    // 64-bit multiply-xorshift over 8-byte words (not cryptographic: it detects edits).
    uint64_t h = 0x9E3779B97F4A7C15ull ^ bytes.size();
    size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, bytes.data() + i, 8);
        w *= 0xBF58476D1CE4E5B9ull;
        w ^= w >> 31;
        h = (h ^ w) * 0x94D049BB133111EBull;
        h ^= h >> 29;
    }
    for (; i < bytes.size(); ++i) h = (h ^ static_cast<unsigned char>(bytes[i])) * 0x100000001B3ull;
    h ^= h >> 33;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

} // namespace latent::documents
