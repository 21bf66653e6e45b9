// Files named on the command line: prompt and text inputs are read with a bound, so that
// `--file /dev/zero` or a runaway pipe is an error rather than an allocation until memory runs
// out; anything that is not what an option expects (a directory, a FIFO given as an output) is
// refused with an error naming the option before anything could block on it.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace latent::cli {

// The most bytes a prompt or text input may have (64 MiB): far beyond any model's context, small
// enough to hold in memory twice.
inline constexpr size_t kMaxInputBytes = size_t{64} << 20;

// The whole content of `path` (a regular file, a FIFO, a character device such as /dev/stdin),
// at most kMaxInputBytes. A FIFO waits for its writer, as reading any pipe does. Throws
// latent::Error naming the option and the file: missing, unreadable, a directory, or longer
// than the limit.
std::string read_input_file(const std::string& path, std::string_view option);

// One line of `in` without its newline, at most kMaxInputBytes. Returns false at the end of
// input; throws latent::Error when a line is longer than the limit.
bool read_input_line(std::FILE* in, std::string& line);

// Throws latent::Error unless `path` may be created or overwritten as a regular file (an existing
// directory, FIFO, device or socket is refused: opening a FIFO for writing would wait for a reader).
void check_output_file(const std::string& path, std::string_view option);

} // namespace latent::cli
