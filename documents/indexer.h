// Incremental, resumable indexing of files and folders into a collection. Each file is
// committed when done (one transaction), so a cancelled or killed run resumes where it stopped:
// the next run finds the committed files unchanged. A file is unchanged when its size and
// mtime match; when they differ its content hash decides (a touched file is not re-extracted).
// Files that left a scanned folder (deleted, renamed) leave the index. One file's failure never
// stops the run; it is recorded with its reason.
#pragma once

#include "chunker.h"
#include "library.h"
#include "limits.h"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace latent::documents {

struct IndexProgress {
    size_t done = 0;   // files examined so far
    size_t total = 0;  // files found by the scan
    std::string path;  // the file being examined
};

struct IndexOptions {
    Limits limits;
    ChunkOptions chunking;
    const std::atomic<bool>* cancel = nullptr;                // checked before each file
    std::function<void(const IndexProgress&)> progress;       // called before each file (on the indexing thread)
};

struct FileOutcome {
    std::string path;
    std::string reason;
};

struct IndexReport {
    size_t indexed = 0;   // files under the given paths that are indexed now (extracted this run or unchanged)
    size_t updated = 0;   // files extracted and indexed in this run
    size_t unchanged = 0; // files found as already indexed (size and mtime, or content hash, equal)
    size_t removed = 0;   // documents that left the index (deleted or renamed files)
    std::vector<FileOutcome> failed;
    std::vector<FileOutcome> skipped;
    bool cancelled = false;
};

// Absolute, lexically normal form of a path (symbolic links are kept, not resolved).
std::string absolute_path(const std::string& path);

// Adds `paths` (files or folders) as sources of the collection and indexes them.
IndexReport index_paths(Library& library, int64_t collection, const std::vector<std::string>& paths, const IndexOptions& options);

// Indexes every source of the collection again (what a rescan or a restart does).
IndexReport rescan_collection(Library& library, int64_t collection, const IndexOptions& options);

// 64-bit content hash (hex) used for change detection.
std::string content_hash(std::string_view bytes);

} // namespace latent::documents
