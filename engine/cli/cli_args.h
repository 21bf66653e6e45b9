// Command-line parsing for `latent`: each subcommand declares its options; unknown options,
// missing values and stray arguments are errors that name the option.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::cli {

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
    int64_t get_int(std::string_view long_name, int64_t fallback) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::string command_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

std::string usage_text(std::string_view command, std::string_view synopsis, const std::vector<OptionSpec>& specs);

} // namespace latent::cli
