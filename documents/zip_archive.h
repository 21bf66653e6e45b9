// A zip archive held in memory (DOCX, ODT, EPUB), read with libzip under the Limits: members
// listed, bytes decompressed per member and in total. Sizes are counted while decompressing,
// never taken from the (untrusted) headers, so a zip bomb stops at the limit.
#pragma once

#include "extracted.h"

#include <memory>
#include <string>
#include <string_view>

struct zip;

namespace latent::documents {

class ZipArchive {
public:
    // Throws DocumentError(Failed, "not a zip archive ...") when libzip cannot open it.
    ZipArchive(std::string_view bytes, const Limits& limits, const Deadline& deadline);
    ~ZipArchive();
    ZipArchive(const ZipArchive&) = delete;
    ZipArchive& operator=(const ZipArchive&) = delete;

    bool contains(const std::string& name) const;
    // The member's decompressed bytes; a missing member or a limit is a DocumentError.
    std::string read(const std::string& name);

private:
    zip* archive_ = nullptr;
    const Limits& limits_;
    const Deadline& deadline_;
    uint64_t total_read_ = 0;
};

} // namespace latent::documents
