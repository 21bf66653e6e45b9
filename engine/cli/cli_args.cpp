#include "cli_args.h"

#include "core/error.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace latent::cli {

Args Args::parse(std::string_view command, const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv) {
    Args args;
    args.command_ = std::string(command);
    auto find_spec = [&](std::string_view name) -> const OptionSpec* {
        for (const OptionSpec& s : specs) {
            if (s.long_name == name || (!s.short_name.empty() && s.short_name == name)) return &s;
        }
        return nullptr;
    };
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-' || arg == "--") {
            if (arg == "--") {
                for (size_t k = i + 1; k < argv.size(); ++k) args.positional_.push_back(argv[k]);
                break;
            }
            args.positional_.push_back(arg);
            continue;
        }
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (const size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        const OptionSpec* spec = find_spec(name);
        if (!spec) throw UsageError("unknown option '" + name + "' for 'latent " + std::string(command) + "' (see --help)");
        const std::string key(spec->long_name);
        if (spec->takes_value) {
            if (inline_value) {
                args.values_[key] = *inline_value;
            } else {
                if (i + 1 >= argv.size()) throw UsageError("option '" + name + "' needs a value");
                args.values_[key] = argv[++i];
            }
        } else {
            if (inline_value) throw UsageError("option '" + name + "' takes no value");
            args.values_[key] = "1";
        }
    }
    return args;
}

std::optional<std::string> Args::get(std::string_view long_name) const {
    const auto it = values_.find(std::string(long_name));
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::string Args::require(std::string_view long_name) const {
    const auto v = get(long_name);
    if (!v) throw UsageError("'latent " + command_ + "' needs " + std::string(long_name));
    return *v;
}

int64_t Args::get_int(std::string_view long_name, int64_t fallback, int64_t min, int64_t max) const {
    const auto v = get(long_name);
    if (!v) return fallback;
    const auto fail = [&] {
        throw UsageError(std::string(long_name) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" + *v + "'");
    };
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE || n < min || n > max) fail();
    return n;
}

uint64_t Args::get_u64(std::string_view long_name, uint64_t fallback) const {
    const auto v = get(long_name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    // strtoull accepts "-1" as UINT64_MAX: only plain digits are taken.
    const bool digits = !v->empty() && (*v)[0] >= '0' && (*v)[0] <= '9';
    if (!digits || *end != '\0' || errno == ERANGE) {
        throw UsageError(std::string(long_name) + " must be an integer from 0 to " + std::to_string(UINT64_MAX) + ", got '" + *v + "'");
    }
    return n;
}

double Args::get_number(std::string_view long_name, double fallback, double min, double max) const {
    const auto v = get(long_name);
    if (!v) return fallback;
    char* end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(x) || x < min || x > max) {
        const auto shown = [](double b) {
            std::string t = std::to_string(b);
            t.erase(t.find_last_not_of('0') + 1);
            if (!t.empty() && t.back() == '.') t.pop_back();
            return t;
        };
        throw UsageError(std::string(long_name) + " must be a number from " + shown(min) + " to " + shown(max) + ", got '" + *v + "'");
    }
    return x;
}

std::string usage_text(std::string_view command, std::string_view synopsis, const std::vector<OptionSpec>& specs) {
    std::string out = "usage: latent " + std::string(command) + " " + std::string(synopsis) + "\n\noptions:\n";
    for (const OptionSpec& s : specs) {
        std::string names = "  ";
        if (!s.short_name.empty()) names += std::string(s.short_name) + ", ";
        names += std::string(s.long_name);
        if (s.takes_value) names += " VALUE";
        if (names.size() < 28) names.resize(28, ' ');
        out += names + " " + std::string(s.help) + "\n";
    }
    return out;
}

} // namespace latent::cli
