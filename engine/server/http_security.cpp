#include "server/http_security.h"

#include <algorithm>
#include <cctype>

namespace latent::server {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string bracketed(std::string_view host) {
    if (host.find(':') != std::string_view::npos && !host.starts_with("[")) return "[" + std::string(host) + "]";
    return std::string(host);
}

} // namespace

std::vector<std::string> allowed_host_names(std::string_view bind_host, const std::vector<std::string>& extra) {
    std::vector<std::string> names = {"localhost", "127.0.0.1", "[::1]"};
    if (bind_host != "0.0.0.0" && bind_host != "::" && bind_host != "[::]" && !bind_host.empty()) names.push_back(lower(bracketed(bind_host)));
    for (const std::string& e : extra) names.push_back(lower(bracketed(e)));
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

bool host_header_allowed(std::string_view host_header, const std::vector<std::string>& allowed, uint16_t bound_port) {
    if (host_header.empty() || host_header.size() > 255) return false;
    std::string_view name = host_header, port;
    if (host_header.front() == '[') {
        const size_t close = host_header.find(']');
        if (close == std::string_view::npos) return false;
        name = host_header.substr(0, close + 1);
        const std::string_view rest = host_header.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
            if (port.empty()) return false;
        }
    } else {
        const size_t colon = host_header.rfind(':');
        if (colon != std::string_view::npos) {
            name = host_header.substr(0, colon);
            port = host_header.substr(colon + 1);
            if (port.empty()) return false;
        }
    }
    if (name.empty() || name == "[]") return false;
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
        if (std::stoul(std::string(port)) != bound_port) return false;
    }
    const std::string n = lower(name);
    return std::find(allowed.begin(), allowed.end(), n) != allowed.end();
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

std::string_view bearer_token(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer ";
    if (authorization.size() <= scheme.size()) return {};
    if (lower(authorization.substr(0, scheme.size())) != scheme) return {};
    std::string_view key = authorization.substr(scheme.size());
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    return key;
}

bool is_loopback_host(std::string_view host) {
    const std::string h = lower(host);
    return h == "localhost" || h == "::1" || h == "[::1]" || h.starts_with("127.");
}

} // namespace latent::server
