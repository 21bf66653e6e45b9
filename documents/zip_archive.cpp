#include "zip_archive.h"

#include <zip.h>

#include <vector>

namespace latent::documents {

ZipArchive::ZipArchive(std::string_view bytes, const Limits& limits, const Deadline& deadline) : limits_(limits), deadline_(deadline) {
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
    if (!source) {
        zip_error_fini(&error);
        fail("not a zip archive (cannot read it)");
    }
    archive_ = zip_open_from_source(source, ZIP_RDONLY, &error);
    if (!archive_) {
        const std::string message = zip_error_strerror(&error);
        zip_source_free(source);
        zip_error_fini(&error);
        fail("not a valid zip archive: " + message);
    }
    zip_error_fini(&error);
    const zip_int64_t entries = zip_get_num_entries(archive_, 0);
    if (entries < 0 || static_cast<uint64_t>(entries) > limits_.max_archive_entries) {
        zip_discard(archive_);
        archive_ = nullptr;
        fail("archive lists more than " + std::to_string(limits_.max_archive_entries) + " members");
    }
}

ZipArchive::~ZipArchive() {
    if (archive_) zip_discard(archive_);
}

bool ZipArchive::contains(const std::string& name) const { return zip_name_locate(archive_, name.c_str(), 0) >= 0; }

std::string ZipArchive::read(const std::string& name) {
    const zip_int64_t index = zip_name_locate(archive_, name.c_str(), 0);
    if (index < 0) fail("archive member '" + name + "' is missing");
    zip_file_t* file = zip_fopen_index(archive_, static_cast<zip_uint64_t>(index), 0);
    if (!file) fail("cannot open archive member '" + name + "': " + zip_strerror(archive_));
    std::string out;
    std::vector<char> buffer(size_t{64} << 10);
    while (true) {
        const zip_int64_t n = zip_fread(file, buffer.data(), buffer.size());
        if (n < 0) {
            const std::string message = zip_file_strerror(file);
            zip_fclose(file);
            fail("archive member '" + name + "' is damaged: " + message);
        }
        if (n == 0) break;
        out.append(buffer.data(), static_cast<size_t>(n));
        total_read_ += static_cast<uint64_t>(n);
        if (out.size() > limits_.max_entry_bytes || total_read_ > limits_.max_archive_bytes) {
            zip_fclose(file);
            fail("decompressed size over " + std::to_string((out.size() > limits_.max_entry_bytes ? limits_.max_entry_bytes : limits_.max_archive_bytes) >> 20) +
                 " MiB (zip bomb?)");
        }
        deadline_.check();
    }
    zip_fclose(file);
    return out;
}

} // namespace latent::documents
