// Command-line parsing for `latent`: each subcommand declares its options; unknown options,
// missing values, stray arguments and values out of an option's range are errors that name the
// option (and the range), thrown as UsageError (exit status 2).
#pragma once

#include "core/error.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::cli {

// The command line itself is wrong (exit status 2, as opposed to 1 for a failure of the work).
class UsageError : public Error {
public:
    explicit UsageError(const std::string& message) : Error(message) {}
};

struct OptionSpec {
    std::string_view long_name;  // "--model"
    std::string_view short_name; // "-m" or empty
    bool takes_value;
    std::string_view help;
};

class Args {
public:
    // Parses argv after the subcommand name. Throws latent::Error on bad usage.
    static Args parse(std::string_view command, const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv);

    bool flag(std::string_view long_name) const { return values_.count(std::string(long_name)) > 0; }
    std::optional<std::string> get(std::string_view long_name) const;
    std::string require(std::string_view long_name) const;
    // The option's integer value in [min, max], else fallback when absent. Throws UsageError
    // "--top-k must be an integer from 0 to 1000000, got '-3'".
    int64_t get_int(std::string_view long_name, int64_t fallback, int64_t min, int64_t max) const;
    // The same for an unsigned 64-bit value (seeds): 0 … UINT64_MAX.
    uint64_t get_u64(std::string_view long_name, uint64_t fallback) const;
    // A finite number in [min, max]; "--temp must be a number from 0 to 100, got '-1'".
    double get_number(std::string_view long_name, double fallback, double min, double max) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::string command_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

std::string usage_text(std::string_view command, std::string_view synopsis, const std::vector<OptionSpec>& specs);

} // namespace latent::cli
