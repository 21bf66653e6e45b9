// Test support: an sqlite3_vfs that wraps the platform's default one and can be told to make
// xWrite / xSync / xTruncate fail — with SQLITE_FULL (a full disk), SQLITE_IOERR_WRITE (EIO) or
// any code — after a number of such calls, or from now on, and to stop failing. install()
// registers it as the process's default VFS ("latent_fault"), so every connection the app opens
// goes through it without a hook in the app; while no fault is armed it only counts calls.
//
//   fault_vfs::install();
//   fault_vfs::failAfter(3, SQLITE_FULL); // the first 3 write calls succeed, every later one fails
//   ...
//   fault_vfs::stop();                    // the disk has room again
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstring>

namespace fault_vfs {

struct Plan {
    std::atomic<int> failAfter{-1};   // -1: nothing fails; n ≥ 0: write calls after the first n fail
    std::atomic<int> code{SQLITE_FULL};
    std::atomic<int> calls{0};        // write calls since the last arm
    std::atomic<int> failures{0};     // of them, how many were made to fail
};

inline Plan& plan() {
    static Plan instance;
    return instance;
}

// Counts from zero again; write calls after the first `n` fail with `code` until stop().
inline void failAfter(int n, int code) {
    Plan& p = plan();
    p.failAfter = -1;
    p.calls = 0;
    p.failures = 0;
    p.code = code;
    p.failAfter = n;
}
inline void failFromNow(int code) { failAfter(0, code); }
inline void stop() { plan().failAfter = -1; }
// Only counts (for measuring how many write calls a sequence makes).
inline void countFromNow() {
    stop();
    plan().calls = 0;
    plan().failures = 0;
}
inline int calls() { return plan().calls; }
inline int failures() { return plan().failures; }

namespace detail {

struct File {
    sqlite3_file base;   // must come first: SQLite sees this
    sqlite3_file* real;  // the wrapped VFS's file, stored right after this struct
};

inline sqlite3_vfs*& wrapped() {
    static sqlite3_vfs* vfs = nullptr;
    return vfs;
}

inline sqlite3_file* real(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real; }

// One write-like call: false when it is to fail.
inline bool allowWrite() {
    Plan& p = plan();
    const int n = p.failAfter;
    const int seen = p.calls++;
    if (n < 0 || seen < n) return true;
    ++p.failures;
    return false;
}

inline int xClose(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
inline int xRead(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
    return real(f)->pMethods->xRead(real(f), out, amount, offset);
}
inline int xWrite(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
    if (!allowWrite()) return plan().code;
    return real(f)->pMethods->xWrite(real(f), data, amount, offset);
}
inline int xTruncate(sqlite3_file* f, sqlite3_int64 size) {
    if (!allowWrite()) return plan().code;
    return real(f)->pMethods->xTruncate(real(f), size);
}
inline int xSync(sqlite3_file* f, int flags) {
    if (!allowWrite()) return plan().code;
    return real(f)->pMethods->xSync(real(f), flags);
}
inline int xFileSize(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
inline int xLock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
inline int xUnlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
inline int xCheckReservedLock(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
inline int xFileControl(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
inline int xSectorSize(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
inline int xDeviceCharacteristics(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
inline int xShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
inline int xShmLock(sqlite3_file* f, int offset, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), offset, n, flags); }
inline void xShmBarrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
inline int xShmUnmap(sqlite3_file* f, int deleteFlag) { return real(f)->pMethods->xShmUnmap(real(f), deleteFlag); }
inline int xFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
    return real(f)->pMethods->xFetch(real(f), offset, amount, out);
}
inline int xUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) { return real(f)->pMethods->xUnfetch(real(f), offset, page); }

inline const sqlite3_io_methods* methods(int version) {
    // The same version as the wrapped file's methods, so SQLite never calls what it lacks.
    static const sqlite3_io_methods v1 = {1, xClose, xRead, xWrite, xTruncate, xSync, xFileSize, xLock, xUnlock,
                                          xCheckReservedLock, xFileControl, xSectorSize, xDeviceCharacteristics,
                                          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    static const sqlite3_io_methods v2 = {2, xClose, xRead, xWrite, xTruncate, xSync, xFileSize, xLock, xUnlock,
                                          xCheckReservedLock, xFileControl, xSectorSize, xDeviceCharacteristics,
                                          xShmMap, xShmLock, xShmBarrier, xShmUnmap, nullptr, nullptr};
    static const sqlite3_io_methods v3 = {3, xClose, xRead, xWrite, xTruncate, xSync, xFileSize, xLock, xUnlock,
                                          xCheckReservedLock, xFileControl, xSectorSize, xDeviceCharacteristics,
                                          xShmMap, xShmLock, xShmBarrier, xShmUnmap, xFetch, xUnfetch};
    return version >= 3 ? &v3 : version == 2 ? &v2 : &v1;
}

inline int xOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* outFlags) {
    auto* wrapper = reinterpret_cast<File*>(file);
    wrapper->real = reinterpret_cast<sqlite3_file*>(wrapper + 1);
    std::memset(wrapper->real, 0, static_cast<std::size_t>(wrapped()->szOsFile));
    const int rc = wrapped()->xOpen(wrapped(), name, wrapper->real, flags, outFlags);
    wrapper->base.pMethods = wrapper->real->pMethods ? methods(wrapper->real->pMethods->iVersion) : nullptr;
    return rc;
}

} // namespace detail

// Registers the VFS as the default one (once per process).
inline void install() {
    static sqlite3_vfs vfs;
    if (detail::wrapped()) return;
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    detail::wrapped() = base;
    // Everything but xOpen goes straight to the wrapped VFS, which finds what it needs in the
    // copied fields (pAppData, mxPathname).
    vfs = *base;
    vfs.zName = "latent_fault";
    vfs.szOsFile = static_cast<int>(sizeof(detail::File)) + base->szOsFile;
    vfs.xOpen = detail::xOpen;
    vfs.pNext = nullptr;
    sqlite3_vfs_register(&vfs, 1);
}

} // namespace fault_vfs
