// The HTTP side of `latent serve`: Boost.Beast over Boost.Asio on one I/O thread (many idle
// streaming connections cost a socket and a small buffer each), routes, security checks
// (http_security.h), limits, and the OpenAI wire format (SSE for streams). Generation itself
// runs on the scheduler's thread; its events are posted back to the connection.
//
// Routes: GET /health (no key needed), GET /v1/models, POST /v1/chat/completions,
// POST /v1/completions, GET /metrics (Prometheus text format). Anything else is 404 (405 for a
// known path with the wrong method). A completion response closes its connection afterwards.
#pragma once

#include "server/openai_request.h"
#include "server/scheduler.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latent::server {

struct ServerOptions {
    std::string host = "127.0.0.1";       // address to bind
    uint16_t port = 8080;                 // 0: any free port (port() says which)
    std::string api_key;                  // required on every route but /health when not empty
    std::vector<std::string> allowed_hosts; // extra names accepted in the Host header
    std::string cors_origin;              // the one origin (or "*") allowed cross-origin; empty: none
    std::string model_id;                 // the name /v1/models lists
    size_t max_body_bytes = 4u << 20;     // larger bodies: 413
    uint32_t max_header_bytes = 16u << 10; // larger request heads: 431
    uint32_t idle_seconds = 30;           // a connection that sends nothing (or reads nothing) for this long is closed
    uint32_t max_request_seconds = 600;   // a generation running longer is ended (408)
    uint32_t max_connections = 256;       // more at once: 503 and close
    uint32_t sse_ping_ms = 5000;          // SSE comment lines while a stream waits for its first token
    RequestLimits limits;
};

class HttpServer {
public:
    // Binds and listens (throws latent::Error when it cannot).
    HttpServer(Scheduler& scheduler, ServerOptions options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    uint16_t port() const;
    // Serves until SIGINT/SIGTERM or stop().
    void run();
    void stop();

    struct State; // the listening socket, options and counters the connections share

private:
    std::shared_ptr<State> state_;
};

} // namespace latent::server
