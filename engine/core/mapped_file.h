// A read-only memory map of a whole file. Model files are never copied into memory: tensors
// point into the map, and the kernel pages in only what is touched.
//
// The file can change under the map (truncated, rewritten or replaced while a model is loaded).
// The map records the file's identity when it is opened and keeps a descriptor, so that
// check_unchanged() can tell before each request whether the bytes are still those that were
// loaded, and it is guarded against SIGBUS (core/mapping_faults.h): a truncation during
// evaluation marks it faulted instead of killing the process.
#pragma once

#include "core/error.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace latent {

// Thrown when a mapped model file changed on disk after it was loaded. The message starts with
// kModelFileChangedMessage and names the file and what changed.
class ModelFileChanged : public Error {
public:
    ModelFileChanged(const std::filesystem::path& path, const std::string& detail);
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline constexpr const char* kModelFileChangedMessage = "the model file changed on disk; reload it";

// What identifies the bytes of a file: the inode, its size and its modification time.
struct FileIdentity {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
};

// What a file of type st_mode is when it is not a regular file, for error messages: "a
// directory", "a FIFO", "a character device", "a block device", "a socket", else "not a regular
// file".
std::string file_kind_name(uint32_t st_mode);

// Maps the pages of [data, data + bytes) of a file map into the process's page tables now
// (Linux's MADV_POPULATE_READ; read from disk where they are not cached), so that the first
// pass over them does not take one page fault per 4 KiB. Best effort: does nothing where the
// kernel lacks it. Blocks for as long as the reads take; not for the GUI thread.
void prefault_mapped(const void* data, size_t bytes);

// Reads one byte of every page of [data, data + bytes). Pages that prefault_mapped put into the
// page tables can still cost a trap on their first access: where the hypervisor keeps shadow
// page tables of its own (measured on a PVM cloud VM: the first pass over 2 GiB of prefaulted
// expert weights ran at 7.5 GB/s, later ones at 18) and where the first access must set the
// page's accessed bit. One load per page takes that cost at load time instead of in the first
// tokens. Reading a page of a truncated file raises SIGBUS: call it where that is handled (a
// ThreadPool task).
void touch_mapped(const void* data, size_t bytes);

// How much of the file maps that hold the given addresses the kernel maps with 2 MiB pages
// (/proc/self/smaps: Size and FilePmdMapped of each distinct mapping). A generated token reads
// a few MiB from each of hundreds of places in a model file; with 4 KiB pages the TLB misses
// cost about a quarter of the speed. Whether the page cache holds the file in 2 MiB folios is
// decided when it is read from disk (MappedFile::open asks for it); a file cached earlier in
// small pages stays so until it leaves the cache. Both zero where unknown (not Linux).
struct HugePageUse {
    uint64_t mapped_bytes = 0;
    uint64_t huge_bytes = 0;
};
HugePageUse huge_page_use(const std::vector<const void*>& addresses);

// What MappedFile::reload_in_huge_pages did.
struct HugePageReload {
    bool supported = false;       // the kernel tells which pages are huge (PAGEMAP_SCAN, Linux 6.7)
    uint64_t small_bytes = 0;     // of the ranges' whole 2 MiB pieces, bytes mapped in small pages before
    uint64_t reloaded_bytes = 0;  // pieces dropped from the page cache and read back
    uint64_t now_huge_bytes = 0;  // of those, what came back in 2 MiB pages
    double seconds = 0;
    std::string stopped;          // why it stopped before the end ("" when it did not)
};

// MemAvailable of /proc/meminfo in bytes, 0 when unknown.
uint64_t available_memory_bytes();

class MappedFile {
public:
    // Throws latent::Error naming the path and the OS error. Anything but a regular file (a
    // directory, a FIFO, a device) is refused before it is opened, so a FIFO cannot block.
    static std::unique_ptr<MappedFile> open(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }
    const FileIdentity& identity() const { return identity_; }

    // Whether an access to the map hit a page the file no longer has (SIGBUS caught). Cheap
    // (one atomic load): checked after every evaluated batch.
    bool faulted() const;
    // Throws ModelFileChanged when the map faulted, the open file's size or modification time
    // differ from when it was mapped, or the path now names another file. A path that no longer
    // exists is not a change: the map still holds the deleted file's bytes. One fstat and one
    // stat: checked before each request.
    void check_unchanged() const;

    // Puts the given ranges of this map (addresses inside it) into 2 MiB pages where the page
    // cache holds them in small ones: the file was cached earlier in small folios (while it was
    // downloaded or copied, or read by a program that did not ask for huge pages), which costs
    // generation speed until the file leaves the cache (3.6% on one VM, about a quarter on
    // another: see README, CPU speed). Each whole 2 MiB piece of the ranges that is in memory in
    // small pages is unmapped, dropped from the page cache (posix_fadvise DONTNEED: clean pages
    // that no other process maps) and read back through this map, which asks for huge pages.
    // Stops when the first pieces do not come back huge (a kernel or file system without large
    // folios, or the pages mapped elsewhere) and when the reads would take longer than
    // max_seconds (a slow disk). Only before the map is in use: a reader of a piece in flight
    // would fault it back in small pages (and still read the right bytes). Blocks on disk reads:
    // not for the GUI thread.
    HugePageReload reload_in_huge_pages(const std::vector<std::pair<const uint8_t*, size_t>>& ranges, double max_seconds) const;

private:
    MappedFile() = default;
    std::filesystem::path path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    int fd_ = -1;         // kept open: identity checks, and the fault handler's fstat
    int fault_slot_ = -1; // core/mapping_faults.h slot, -1 when unguarded
    FileIdentity identity_;
};

} // namespace latent
