// MappedFile::reload_in_huge_pages: a file the page cache holds in small pages (written 4 KiB at a
// time in shuffled order, as a download or copy can leave it) is read back in 2 MiB pages where
// the ranges ask, and only there; the bytes read through the map stay the file's; a file that
// shrank under the map stops the reload with a reason instead of a crash. Kernels that cannot
// tell huge pages from small ones (before Linux 6.7) and file systems without 2 MiB folios skip,
// saying so.
#include "core/mapped_file.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace latent;

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kPage = 4096;

uint8_t pattern(size_t offset) { return static_cast<uint8_t>((offset * 131 + offset / kPage * 7) >> 3); }

// A file of `bytes` bytes written one 4 KiB page at a time in shuffled order, then synced (clean
// pages), so that the page cache holds it in small folios.
bool write_shuffled(const std::filesystem::path& path, size_t bytes) {
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    std::vector<size_t> pages(bytes / kPage);
    std::iota(pages.begin(), pages.end(), size_t{0});
    std::shuffle(pages.begin(), pages.end(), std::mt19937_64(7));
    std::vector<uint8_t> buf(kPage);
    bool ok = true;
    for (size_t p : pages) {
        for (size_t i = 0; i < kPage; ++i) buf[i] = pattern(p * kPage + i);
        ok = ok && ::pwrite(fd, buf.data(), kPage, static_cast<off_t>(p * kPage)) == static_cast<ssize_t>(kPage);
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

uint64_t huge_bytes(const MappedFile& map) { return huge_page_use({map.data()}).huge_bytes; }

bool content_intact(const MappedFile& map) {
    for (size_t i = 0; i < map.size(); ++i) {
        if (map.data()[i] != pattern(i)) return false;
    }
    return true;
}

} // namespace

class TestHugePageReload : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;

    // The file mapped and in memory in small pages; skips where that cannot be set up.
    std::unique_ptr<MappedFile> small_paged(const char* name, size_t bytes) {
        const std::filesystem::path path = dir_.filePath(name).toStdString();
        if (!write_shuffled(path, bytes)) return nullptr;
        auto map = MappedFile::open(path);
        prefault_mapped(map->data(), map->size());
        if (reinterpret_cast<uintptr_t>(map->data()) % (2 * kMiB) != 0) return nullptr;
        return map;
    }

private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void small_pages_come_back_huge_where_asked() {
        auto map = small_paged("small.bin", 16 * kMiB);
        if (!map) QSKIP("the file map does not start on a 2 MiB boundary here");
        if (huge_bytes(*map) != 0) QSKIP("the page cache already holds the shuffled writes in 2 MiB pages");
        // Ranges: a few bytes inside [4, 6) MiB, and [9, 12) MiB: pieces [4, 6), [8, 10), [10, 12).
        const std::vector<std::pair<const uint8_t*, size_t>> ranges = {{map->data() + 4 * kMiB + 100, 100}, {map->data() + 9 * kMiB, 3 * kMiB}};
        const HugePageReload r = map->reload_in_huge_pages(ranges, 60.0);
        if (!r.supported) QSKIP("the kernel cannot tell which pages are huge (PAGEMAP_SCAN, Linux 6.7): no reload");
        QCOMPARE(r.small_bytes, uint64_t{6 * kMiB});
        if (r.now_huge_bytes == 0) QSKIP(qPrintable(QString("no 2 MiB folios for this file system here: ") + QString::fromStdString(r.stopped)));
        QVERIFY2(r.stopped.empty(), r.stopped.c_str());
        QCOMPARE(r.reloaded_bytes, uint64_t{6 * kMiB});
        QCOMPARE(r.now_huge_bytes, uint64_t{6 * kMiB});
        QCOMPARE(huge_bytes(*map), uint64_t{6 * kMiB}); // and nothing else changed
        QVERIFY(content_intact(*map));

        // Again: nothing left to do there. The whole map: the other 10 MiB.
        const HugePageReload again = map->reload_in_huge_pages(ranges, 60.0);
        QCOMPARE(again.small_bytes, uint64_t{0});
        QCOMPARE(again.reloaded_bytes, uint64_t{0});
        const HugePageReload all = map->reload_in_huge_pages({{map->data(), map->size()}}, 60.0);
        QCOMPARE(all.small_bytes, uint64_t{10 * kMiB});
        QCOMPARE(all.now_huge_bytes, uint64_t{10 * kMiB});
        QCOMPARE(huge_bytes(*map), uint64_t{16 * kMiB});
        QVERIFY(content_intact(*map));
    }

    void ranges_outside_the_map_or_empty_do_nothing() {
        auto map = small_paged("outside.bin", 8 * kMiB);
        if (!map) QSKIP("the file map does not start on a 2 MiB boundary here");
        const uint8_t other[16] = {};
        for (const auto& ranges : std::vector<std::vector<std::pair<const uint8_t*, size_t>>>{
                 {}, {{other, sizeof other}}, {{map->data() + map->size(), 4 * kMiB}}, {{map->data() + 3 * kMiB, 0}}}) {
            const HugePageReload r = map->reload_in_huge_pages(ranges, 60.0);
            QCOMPARE(r.small_bytes, uint64_t{0});
            QCOMPARE(r.reloaded_bytes, uint64_t{0});
        }
        QVERIFY(content_intact(*map));
    }

    // The file's tail cut off after it was mapped: the reload stops where the file ends, says
    // why, and the bytes still in the file read back unchanged.
    void a_file_that_shrank_stops_the_reload() {
        auto map = small_paged("shrunk.bin", 12 * kMiB);
        if (!map) QSKIP("the file map does not start on a 2 MiB boundary here");
        QCOMPARE(::truncate(dir_.filePath("shrunk.bin").toStdString().c_str(), static_cast<off_t>(5 * kMiB)), 0);
        const HugePageReload r = map->reload_in_huge_pages({{map->data(), map->size()}}, 60.0);
        if (!r.supported) QSKIP("the kernel cannot tell which pages are huge (PAGEMAP_SCAN, Linux 6.7): no reload");
        // Truncation dropped the pages past the end: pieces [0, 2), [2, 4) and [4, 6) MiB are left,
        // the last of them running past the file's end, which cannot be read back.
        QCOMPARE(r.small_bytes, uint64_t{6 * kMiB});
        QCOMPARE(r.reloaded_bytes, uint64_t{6 * kMiB});
        QVERIFY2(r.stopped.find("reading the file back failed") != std::string::npos, r.stopped.c_str());
        QVERIFY(r.now_huge_bytes <= uint64_t{4 * kMiB});
        for (size_t i = 0; i < 5 * kMiB; i += 997) QCOMPARE(map->data()[i], pattern(i));
    }
};

QTEST_GUILESS_MAIN(TestHugePageReload)
#include "test_huge_page_reload.moc"
