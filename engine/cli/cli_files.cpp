#include "cli_files.h"

#include "core/error.h"
#include "core/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace latent::cli {
namespace {

std::string limit_text() { return std::to_string(kMaxInputBytes >> 20) + " MiB"; }

[[noreturn]] void fail(std::string_view option, const std::string& path, const std::string& why) {
    throw Error(std::string(option) + ": " + path + ": " + why);
}

// Closes the descriptor on every way out.
class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

} // namespace

std::string read_input_file(const std::string& path, std::string_view option) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(option, path, std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(option, path, "is a directory, not a file");
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxInputBytes) {
        fail(option, path, "is " + std::to_string(st.st_size) + " bytes; an input may have at most " + limit_text());
    }
    const Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(option, path, std::strerror(errno));
    if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) fail(option, path, "is a directory, not a file");

    std::string text;
    char buffer[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(option, path, std::strerror(errno));
        }
        if (n == 0) break;
        if (text.size() + static_cast<size_t>(n) > kMaxInputBytes) fail(option, path, "holds more than the " + limit_text() + " an input may have");
        text.append(buffer, static_cast<size_t>(n));
    }
    return text;
}

bool read_input_line(std::FILE* in, std::string& line) {
    line.clear();
    bool any = false;
    for (;;) {
        const int c = std::fgetc(in);
        if (c == EOF) return any;
        any = true;
        if (c == '\n') return true;
        if (line.size() >= kMaxInputBytes) throw Error("an input line holds more than the " + limit_text() + " an input may have");
        line.push_back(static_cast<char>(c));
    }
}

void check_output_file(const std::string& path, std::string_view option) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return; // created by the writer (which reports its own errors)
    if (!S_ISREG(st.st_mode)) fail(option, path, "is " + file_kind_name(st.st_mode) + ", not a regular file");
}

} // namespace latent::cli
