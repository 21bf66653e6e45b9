#include "core/mapped_file.h"

#include "core/mapping_faults.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace latent {
namespace {

FileIdentity identity_of(const struct stat& st) {
    FileIdentity id;
    id.device = static_cast<uint64_t>(st.st_dev);
    id.inode = static_cast<uint64_t>(st.st_ino);
    id.size = static_cast<uint64_t>(st.st_size);
    id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + static_cast<int64_t>(st.st_mtim.tv_nsec);
    return id;
}

[[noreturn]] void refuse_kind(const std::filesystem::path& path, mode_t mode) {
    const std::string kind = file_kind_name(mode);
    throw Error(path.string() + " is " + (kind == "not a regular file" ? kind : kind + ", not a regular file"));
}

#if defined(__linux__)
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// PAGEMAP_SCAN (Linux 6.7, <linux/fs.h>), spelled out for older headers.
struct PmScanArg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct PageRegion {
    uint64_t start, end, categories;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPageIsPresent = uint64_t{1} << 3;
constexpr uint64_t kPageIsHuge = uint64_t{1} << 6;

// Calls f(start, end) for each run of [begin, end) that is in memory in small pages; false when
// the kernel cannot tell (before 6.7).
template <class F>
bool for_small_pages(int pagemap, uintptr_t begin, uintptr_t end, F&& f) {
    PageRegion regions[64];
    PmScanArg a{};
    a.size = sizeof a;
    a.start = begin;
    a.end = end;
    a.vec = reinterpret_cast<uintptr_t>(regions);
    a.vec_len = 64;
    a.category_inverted = kPageIsHuge; // present and not huge
    a.category_mask = kPageIsHuge | kPageIsPresent;
    a.return_mask = kPageIsHuge | kPageIsPresent;
    while (a.start < end) {
        const long n = ::ioctl(pagemap, kPagemapScan, &a);
        if (n < 0) return false;
        for (long i = 0; i < n; ++i) f(static_cast<uintptr_t>(regions[i].start), static_cast<uintptr_t>(regions[i].end));
        if (a.walk_end <= a.start) break; // no progress: never loop
        a.start = a.walk_end;
    }
    return true;
}
#endif

} // namespace

void prefault_mapped(const void* data, size_t bytes) {
#ifndef MADV_POPULATE_READ
    constexpr int MADV_POPULATE_READ = 22; // Linux 5.14; older kernels answer EINVAL
#endif
    if (data == nullptr || bytes == 0) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(data) / page * page;
    const uintptr_t end = reinterpret_cast<uintptr_t>(data) + bytes;
    // In 64 MiB steps, so that a truncated file (EFAULT) loses only its tail.
    constexpr uintptr_t kStep = uintptr_t{64} << 20;
    for (uintptr_t p = begin; p < end; p += kStep) {
        if (::madvise(reinterpret_cast<void*>(p), std::min(kStep, end - p), MADV_POPULATE_READ) != 0 && errno == EINVAL) return;
    }
}

void touch_mapped(const void* data, size_t bytes) {
    if (data == nullptr || bytes == 0) return;
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const auto* p = static_cast<const volatile uint8_t*>(data);
    const size_t first = (page - reinterpret_cast<uintptr_t>(data) % page) % page; // first page boundary
    if (first > 0) (void)p[0];
    for (size_t offset = first; offset < bytes; offset += page) (void)p[offset];
}

HugePageUse huge_page_use(const std::vector<const void*>& addresses) {
    HugePageUse use;
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    bool counted = false; // the current mapping holds one of the addresses
    while (std::getline(smaps, line)) {
        // A mapping's header: "start-end perms offset dev inode path"; its fields follow.
        uintptr_t start = 0, end = 0;
        char dash = 0;
        std::istringstream header(line);
        if (line.find(':') > line.find(' ') && (header >> std::hex >> start >> dash >> end) && dash == '-') {
            counted = false;
            for (const void* a : addresses) {
                const auto p = reinterpret_cast<uintptr_t>(a);
                if (p >= start && p < end) counted = true;
            }
            continue;
        }
        if (!counted) continue;
        uint64_t kib = 0;
        if (line.rfind("Size:", 0) == 0 && std::istringstream(line.substr(5)) >> kib) use.mapped_bytes += kib << 10;
        if (line.rfind("FilePmdMapped:", 0) == 0 && std::istringstream(line.substr(14)) >> kib) use.huge_bytes += kib << 10;
    }
    return use;
}

uint64_t available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string line;
    while (std::getline(meminfo, line)) {
        unsigned long long kib = 0;
        if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kib) == 1) return static_cast<uint64_t>(kib) * 1024;
    }
    return 0;
}

std::string file_kind_name(uint32_t st_mode) {
    const auto mode = static_cast<mode_t>(st_mode);
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

ModelFileChanged::ModelFileChanged(const std::filesystem::path& path, const std::string& detail)
    : Error(std::string(kModelFileChangedMessage) + ": " + path.string() + (detail.empty() ? "" : " (" + detail + ")")), path_(path) {}

std::unique_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
    // stat first so that a FIFO is refused before open() could wait for a writer; O_NONBLOCK and
    // the fstat below close the race with a file swapped in between.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) refuse_kind(path, st.st_mode);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error("cannot stat " + path.string() + ": " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        refuse_kind(path, st.st_mode);
    }
    std::unique_ptr<MappedFile> file(new MappedFile());
    file->path_ = path;
    file->fd_ = fd;
    file->identity_ = identity_of(st);
    file->size_ = file->identity_.size;
    if (file->size_ > 0) {
        void* addr = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED) throw Error("cannot map " + path.string() + ": " + std::strerror(errno)); // the destructor closes fd
        file->data_ = static_cast<const uint8_t*>(addr);
#if defined(MADV_HUGEPAGE)
        // Ask for 2 MiB page-cache folios and mappings where the kernel can (Linux 6.x file
        // systems with large folios): a generated token reads a few MiB from each of ~200
        // experts spread over the file, and with 4 KiB pages the TLB misses cost ~25% of the
        // decode speed. Advice only; the kernel may ignore it.
        ::madvise(addr, file->size_, MADV_HUGEPAGE);
#endif
        file->fault_slot_ = mapping_faults::register_mapping(file->data_, file->size_, fd);
    }
    return file;
}

MappedFile::~MappedFile() {
    mapping_faults::unregister_mapping(fault_slot_);
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
}

HugePageReload MappedFile::reload_in_huge_pages(const std::vector<std::pair<const uint8_t*, size_t>>& ranges, double max_seconds) const {
    HugePageReload r;
#if defined(__linux__) && defined(MADV_DONTNEED)
#ifndef MADV_POPULATE_READ
    constexpr int MADV_POPULATE_READ = 22;
#endif
    const auto base = reinterpret_cast<uintptr_t>(data_);
    if (data_ == nullptr || size_ < kHugePage) return r;
    const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) return r;
    // The whole 2 MiB pieces of the map that the ranges touch, merged.
    const uintptr_t first = (base + kHugePage - 1) / kHugePage * kHugePage, last = (base + size_) / kHugePage * kHugePage;
    std::vector<std::pair<uintptr_t, uintptr_t>> spans;
    for (const auto& [data, bytes] : ranges) {
        if (bytes == 0) continue;
        const auto p = reinterpret_cast<uintptr_t>(data);
        const uintptr_t b = std::max(first, p / kHugePage * kHugePage), e = std::min(last, (p + bytes + kHugePage - 1) / kHugePage * kHugePage);
        if (b < e) spans.emplace_back(b, e);
    }
    std::sort(spans.begin(), spans.end());
    std::vector<uintptr_t> pieces; // starts of the pieces with small pages, ascending
    r.supported = true;
    for (size_t i = 0; i < spans.size() && r.supported; ++i) {
        const uintptr_t b = std::max(spans[i].first, pieces.empty() ? 0 : pieces.back() + kHugePage);
        if (b >= spans[i].second) continue;
        r.supported = for_small_pages(pagemap, b, spans[i].second, [&](uintptr_t s, uintptr_t e) {
            for (uintptr_t x = s / kHugePage * kHugePage; x < e; x += kHugePage) {
                if (pieces.empty() || pieces.back() < x) pieces.push_back(x);
            }
        });
    }
    r.small_bytes = pieces.size() * kHugePage;
    // A piece can be mapped by one entry only where its file offset is 2 MiB-aligned too.
    if (!r.supported || pieces.empty() || base % kHugePage != 0) {
        if (r.supported && !pieces.empty()) r.stopped = "the map does not start on a 2 MiB boundary";
        ::close(pagemap);
        return r;
    }
    const auto start = std::chrono::steady_clock::now();
    auto count_huge = [&](size_t from, size_t to) { // of pieces [from, to), bytes now wholly huge
        uint64_t huge = 0;
        for (size_t i = from; i < to; ++i) {
            bool small = false;
            for_small_pages(pagemap, pieces[i], pieces[i] + kHugePage, [&](uintptr_t, uintptr_t) { small = true; });
            if (!small) huge += kHugePage;
        }
        return huge;
    };
    constexpr size_t kProbe = 4; // pieces read back before judging whether it works here
    size_t done = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
        void* p = reinterpret_cast<void*>(pieces[i]);
        if (::madvise(p, kHugePage, MADV_DONTNEED) != 0) {
            r.stopped = std::string("unmapping a piece failed: ") + std::strerror(errno);
            break;
        }
        ::posix_fadvise(fd_, static_cast<off_t>(pieces[i] - base), static_cast<off_t>(kHugePage), POSIX_FADV_DONTNEED);
        const bool read = ::madvise(p, kHugePage, MADV_POPULATE_READ) == 0;
        done = i + 1;
        if (!read) { // the file shrank (EFAULT) or cannot be read
            r.stopped = std::string("reading the file back failed: ") + std::strerror(errno);
            break;
        }
        if (done == kProbe && count_huge(0, kProbe) == 0) {
            r.stopped = "the pieces read back came in small pages again (no 2 MiB folios for this file here, or another program maps them)";
            break;
        }
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (done >= kProbe && done < pieces.size() && elapsed / static_cast<double>(done) * static_cast<double>(pieces.size()) > max_seconds) {
            r.stopped = "reading it all back would take more than " + std::to_string(static_cast<int>(max_seconds)) + " s (a slow disk)";
            break;
        }
    }
    r.reloaded_bytes = done * kHugePage;
    r.now_huge_bytes = count_huge(0, done);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ::close(pagemap);
#else
    (void)ranges;
    (void)max_seconds;
#endif
    return r;
}

bool MappedFile::faulted() const { return mapping_faults::faulted(fault_slot_); }

void MappedFile::check_unchanged() const {
    if (faulted()) throw ModelFileChanged(path_, "it was truncated while in use");
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) {
        const FileIdentity now = identity_of(st);
        if (now.size != identity_.size) {
            throw ModelFileChanged(path_, "its size went from " + std::to_string(identity_.size) + " to " + std::to_string(now.size) + " bytes");
        }
        if (now.mtime_ns != identity_.mtime_ns) throw ModelFileChanged(path_, "it was rewritten");
    }
    if (::stat(path_.c_str(), &st) == 0) {
        const FileIdentity now = identity_of(st);
        if (now.device != identity_.device || now.inode != identity_.inode) throw ModelFileChanged(path_, "another file replaced it");
    }
}

} // namespace latent
