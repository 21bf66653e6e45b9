// The request checks of `latent serve` that protect a local server from the browser and the
// network (the failures seen in other local LLM servers: open binds, DNS rebinding, CSRF from
// web pages, unbounded requests):
//   - Host: a browser tricked by DNS rebinding sends the attacker's name in Host, so only the
//     names the server is bound to (plus loopback names and --allow-host names) are accepted,
//     with the bound port if a port is given; a missing or empty Host, or an empty name
//     (`Host: :8080`, the bypass of Ollama's check), is refused.
//   - Origin: browsers send it on cross-origin requests; unless --cors names that origin the
//     request is refused, so a web page cannot use the server even where Host passes.
//   - API key: compared in constant time (time depends on the lengths only, never on where
//     the first difference is).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent::server {

// Lower-cased names clients may put in Host for a server bound to bind_host: the bind host
// itself unless it is a wildcard (0.0.0.0, ::), always localhost, 127.0.0.1 and [::1], and
// the extra names.
std::vector<std::string> allowed_host_names(std::string_view bind_host, const std::vector<std::string>& extra);

// Whether a Host header value names this server: "name" or "name:port" with name (case
// insensitive) among allowed and port equal to bound_port. IPv6 literals are bracketed.
bool host_header_allowed(std::string_view host_header, const std::vector<std::string>& allowed, uint16_t bound_port);

// Whether `a` equals `b`, in time that does not depend on the position of the first difference.
bool constant_time_equal(std::string_view a, std::string_view b);

// The key of an "Authorization: Bearer KEY" header value, or empty.
std::string_view bearer_token(std::string_view authorization);

// Whether the bind address is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(std::string_view host);

} // namespace latent::server
