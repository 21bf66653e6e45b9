#include "server/http_server.h"

#include "core/error.h"
#include "server/http_security.h"
#include "server/openai_response.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <random>

namespace latent::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpServer::State {
    State(Scheduler& s, ServerOptions o) : scheduler(s), options(std::move(o)), acceptor(ioc), signals(ioc, SIGINT, SIGTERM) {}

    Scheduler& scheduler;
    ServerOptions options;
    net::io_context ioc{1};
    tcp::acceptor acceptor;
    net::signal_set signals;
    std::vector<std::string> allowed_hosts;
    uint16_t port = 0;
    std::atomic<uint32_t> connections{0};
    std::map<int, uint64_t> responses_by_status; // I/O thread only
    uint64_t next_id = 0;                        // I/O thread only
    std::string id_salt;
    int64_t started = 0;
};

namespace {

std::string status_line(int status) {
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

std::string chunked(std::string_view data) {
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + std::string(data) + "\r\n";
}

std::string sse(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket socket, std::shared_ptr<HttpServer::State> state) : stream_(std::move(socket)), state_(std::move(state)), ping_(stream_.get_executor()) {
        ++state_->connections;
    }
    ~Connection() {
        cancel_job();
        --state_->connections;
    }

    void start() {
        if (state_->connections > state_->options.max_connections) {
            respond(503, error_body("too many connections; try again later", "server_error", "", "server_overloaded"), false, "application/json", true);
            return;
        }
        read_request();
    }

private:
    const ServerOptions& options() const { return state_->options; }

    void read_request() {
        parser_.emplace();
        parser_->header_limit(options().max_header_bytes);
        parser_->body_limit(static_cast<std::uint64_t>(options().max_body_bytes));
        stream_.expires_after(std::chrono::seconds(options().idle_seconds));
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::operation_aborted) return close();
        if (ec == beast::error::timeout) {
            if (buffer_.size() == 0 && !parser_->got_some()) return close();
            return respond(408, error_body("the request was not received in time", "invalid_request_error"), false, "application/json", true);
        }
        if (ec == http::error::body_limit) {
            return respond(413, error_body("the request body is larger than this server's limit of " + std::to_string(options().max_body_bytes) + " bytes",
                                           "invalid_request_error", "", "request_too_large"),
                           false, "application/json", true);
        }
        if (ec == http::error::header_limit) {
            return respond(431, error_body("the request headers are larger than this server's limit of " + std::to_string(options().max_header_bytes) + " bytes",
                                           "invalid_request_error"),
                           false, "application/json", true);
        }
        if (ec) return respond(400, error_body("malformed HTTP request: " + ec.message(), "invalid_request_error"), false, "application/json", true);
        request_ = parser_->release();
        handle();
    }

    // Every answer but a stream goes through here. keep_alive false closes after writing.
    void respond(int status, const std::string& body, bool keep_alive, std::string_view content_type = "application/json", bool drain = false,
                 const std::string& extra_headers = {}) {
        ++state_->responses_by_status[status];
        std::string out = status_line(status);
        out += "Content-Type: " + std::string(content_type) + "\r\n";
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        out += cors_headers();
        out += extra_headers;
        out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
        out += "\r\n";
        out += body;
        write(std::move(out));
        after_writes_ = keep_alive ? After::ReadNext : drain ? After::Drain : After::Close;
    }

    void respond_error(const ApiError& e, bool keep_alive) {
        std::string extra;
        if (e.status == 401) extra = "WWW-Authenticate: Bearer\r\n";
        respond(e.status, error_body(e.what(), e.type, e.param, e.code), keep_alive, "application/json", false, extra);
    }

    std::string cors_headers() const {
        if (!origin_allowed_ || origin_.empty()) return {};
        return "Access-Control-Allow-Origin: " + origin_ + "\r\nVary: Origin\r\n";
    }

    void handle() {
        const auto header = [&](http::field f) { return std::string(request_[f]); };
        std::string target(request_.target());
        if (const size_t q = target.find('?'); q != std::string::npos) target.resize(q);
        const bool keep_alive = request_.keep_alive();

        // Host (DNS rebinding), then Origin (web pages), then the key.
        if (request_.count(http::field::host) != 1 || !host_header_allowed(header(http::field::host), state_->allowed_hosts, state_->port)) {
            return respond_error(ApiError(403, "permission_error",
                                          "the Host header '" + header(http::field::host) +
                                              "' does not name this server (start latent serve with --allow-host NAME to accept another name)"),
                                 false);
        }
        origin_ = header(http::field::origin);
        if (!origin_.empty()) {
            origin_allowed_ = !options().cors_origin.empty() && (options().cors_origin == "*" || options().cors_origin == origin_);
            if (!origin_allowed_) {
                return respond_error(ApiError(403, "permission_error", "cross-origin requests from '" + origin_ + "' are refused (see latent serve --cors)"), false);
            }
        }
        if (request_.method() == http::verb::options) {
            std::string extra = "Allow: GET, POST, OPTIONS\r\n";
            if (origin_allowed_) extra += "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\nAccess-Control-Allow-Headers: Authorization, Content-Type\r\nAccess-Control-Max-Age: 600\r\n";
            return respond(204, "", keep_alive, "text/plain", false, extra);
        }
        if (target != "/health" && !options().api_key.empty() &&
            !constant_time_equal(bearer_token(header(http::field::authorization)), options().api_key)) {
            return respond_error(ApiError(401, "authentication_error", "a valid API key is required (Authorization: Bearer KEY)", "", "invalid_api_key"), keep_alive);
        }

        const bool get = request_.method() == http::verb::get, post = request_.method() == http::verb::post;
        const auto wrong_method = [&](const char* allowed) {
            respond_error(ApiError(405, "invalid_request_error", std::string("use ") + allowed + " for " + target), keep_alive);
        };
        if (target == "/health") return get ? respond(200, "{\"status\":\"ok\"}", keep_alive) : wrong_method("GET");
        if (target == "/v1/models") return get ? respond(200, models_body(options().model_id, state_->started), keep_alive) : wrong_method("GET");
        if (target == "/metrics") return get ? respond(200, metrics(), keep_alive, "text/plain; version=0.0.4") : wrong_method("GET");
        if (target == "/v1/chat/completions" || target == "/v1/completions") {
            if (!post) return wrong_method("POST");
            return start_completion(target == "/v1/chat/completions");
        }
        respond_error(ApiError(404, "invalid_request_error", "no route " + target, "", "unknown_url"), keep_alive);
    }

    void start_completion(bool chat) {
        const std::string content_type(request_[http::field::content_type]);
        if (!content_type.starts_with("application/json")) {
            return respond_error(ApiError(415, "invalid_request_error", "the body must be JSON (Content-Type: application/json)"), false);
        }
        auto job = std::make_shared<Job>();
        try {
            job->request = parse_completion_request(request_.body(), chat, options().limits);
        } catch (const ApiError& e) {
            return respond_error(e, false);
        }
        request_.body().clear();
        request_.body().shrink_to_fit();
        identity_.chat = chat;
        identity_.id = (chat ? "chatcmpl-" : "cmpl-") + state_->id_salt + std::to_string(++state_->next_id);
        identity_.created = static_cast<int64_t>(std::time(nullptr));
        identity_.model = job->request.model.empty() ? options().model_id : job->request.model;
        stream_mode_ = job->request.stream;
        include_usage_ = job->request.include_usage;
        job->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options().max_request_seconds);
        job->on_event = [weak = weak_from_this(), ex = stream_.get_executor()](JobEvent e) {
            net::post(ex, [weak, e = std::move(e)]() mutable {
                if (auto self = weak.lock()) self->on_event(std::move(e));
            });
        };
        switch (state_->scheduler.submit(job)) {
        case Scheduler::Submit::Accepted: break;
        case Scheduler::Submit::QueueFull:
            return respond_error(ApiError(429, "rate_limit_error", "all sequences are busy and the queue is full; retry later", "", "queue_full"), false);
        case Scheduler::Submit::Unavailable:
            return respond_error(ApiError(503, "server_error", "the server cannot take requests now (shutting down, or the model file changed)"), false);
        }
        job_ = std::move(job);
        watch_disconnect();
    }

    // While a generation runs the client sends nothing; a read that ends means it went away.
    void watch_disconnect() {
        stream_.socket().async_read_some(net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                self->cancel_job();
                return;
            }
            if (self->job_) self->watch_disconnect(); // stray bytes after the request: ignored
        });
    }

    void cancel_job() {
        if (!job_) return;
        job_->cancelled = true;
        state_->scheduler.notify();
        job_.reset();
    }

    void on_event(JobEvent e) {
        if (!job_) return;
        switch (e.kind) {
        case JobEvent::Kind::Started:
            usage_.prompt_tokens = e.prompt_tokens;
            if (stream_mode_) {
                ++state_->responses_by_status[200];
                std::string head = status_line(200) + "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n" + cors_headers() +
                                   "Connection: close\r\n\r\n";
                write(std::move(head));
                headers_sent_ = true;
                if (identity_.chat) write(chunked(sse(stream_chunk(identity_, "assistant", "", "", ""))));
                schedule_ping();
            }
            break;
        case JobEvent::Kind::Delta:
            if (stream_mode_) {
                write(chunked(sse(stream_chunk(identity_, "", e.content, e.reasoning, ""))));
            } else {
                content_ += e.content;
                reasoning_ += e.reasoning;
            }
            break;
        case JobEvent::Kind::Done:
            usage_.completion_tokens = e.completion_tokens;
            job_.reset();
            ping_.cancel();
            if (stream_mode_) {
                std::string tail = sse(stream_chunk(identity_, "", "", "", e.finish_reason));
                if (include_usage_) tail += sse(usage_chunk(identity_, usage_));
                tail += "data: [DONE]\n\n";
                write(chunked(tail) + "0\r\n\r\n");
                after_writes_ = After::Close;
            } else {
                respond(200, full_response(identity_, content_, reasoning_, e.finish_reason, usage_), false);
            }
            break;
        case JobEvent::Kind::Failed:
            job_.reset();
            ping_.cancel();
            if (headers_sent_) {
                write(chunked(sse(error_body(e.message, e.error_type))) + "0\r\n\r\n");
                after_writes_ = After::Close;
            } else {
                respond_error(ApiError(e.status, e.error_type, e.message), false);
            }
            break;
        }
    }

    void schedule_ping() {
        ping_.expires_after(std::chrono::milliseconds(options().sse_ping_ms));
        ping_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || !self->job_) return;
            if (!self->wrote_since_ping_) self->write(chunked(": ping\n\n"));
            self->wrote_since_ping_ = false;
            self->schedule_ping();
        });
    }

    void write(std::string data) {
        wrote_since_ping_ = true;
        queue_.push_back(std::move(data));
        if (!writing_) write_next();
    }

    void write_next() {
        if (queue_.empty()) {
            writing_ = false;
            switch (after_writes_) {
            case After::Nothing: return;
            case After::ReadNext: after_writes_ = After::Nothing; return read_request();
            case After::Close: return close();
            case After::Drain: return drain();
            }
            return;
        }
        writing_ = true;
        stream_.expires_after(std::chrono::seconds(options().idle_seconds));
        net::async_write(stream_, net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                self->cancel_job();
                self->queue_.clear();
                self->writing_ = false;
                self->close();
                return;
            }
            self->queue_.pop_front();
            self->write_next();
        });
    }

    // After an early error (413, 431…) the client may still be sending: reading what it sends
    // (for a short while) before closing lets it read our answer instead of a reset.
    void drain() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(std::chrono::seconds(2));
        stream_.async_read_some(net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code e, size_t) {
            if (e) return self->close();
            self->drain_more();
        });
    }
    void drain_more() {
        stream_.async_read_some(net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code e, size_t) {
            if (e) return self->close();
            self->drain_more();
        });
    }

    void close() {
        cancel_job();
        ping_.cancel();
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    std::string metrics() const {
        const SchedulerStats s = state_->scheduler.stats();
        std::string out;
        auto metric = [&](const char* name, const char* type, const char* help, const std::string& value) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + value + "\n";
        };
        out += "# HELP latent_http_responses_total HTTP responses sent, by status code.\n# TYPE latent_http_responses_total counter\n";
        for (const auto& [status, n] : state_->responses_by_status) out += "latent_http_responses_total{code=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
        metric("latent_requests_completed_total", "counter", "Generations that finished.", std::to_string(s.requests_done));
        metric("latent_requests_failed_total", "counter", "Generations that failed after admission.", std::to_string(s.requests_failed));
        metric("latent_requests_cancelled_total", "counter", "Generations cancelled by a disconnect.", std::to_string(s.requests_cancelled));
        metric("latent_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", std::to_string(s.prompt_tokens));
        metric("latent_prompt_tokens_evaluated_total", "counter", "Prompt tokens evaluated (the rest reused cached prefixes).", std::to_string(s.prompt_tokens_evaluated));
        metric("latent_generated_tokens_total", "counter", "Tokens generated.", std::to_string(s.generated_tokens));
        metric("latent_decode_steps_total", "counter", "Batched decode steps.", std::to_string(s.decode_steps));
        metric("latent_generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s.", std::to_string(s.generation_tokens_per_s));
        metric("latent_queue_depth", "gauge", "Requests waiting for a free sequence.", std::to_string(s.queued));
        metric("latent_sequences_active", "gauge", "Sequences serving a request.", std::to_string(s.active));
        metric("latent_sequences", "gauge", "Sequences (--parallel).", std::to_string(s.sequences));
        metric("latent_connections", "gauge", "Open HTTP connections.", std::to_string(state_->connections.load()));
        return out;
    }

    enum class After { Nothing, ReadNext, Close, Drain };

    beast::tcp_stream stream_;
    std::shared_ptr<HttpServer::State> state_;
    net::steady_timer ping_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;
    std::string origin_;
    bool origin_allowed_ = false;
    std::deque<std::string> queue_;
    bool writing_ = false;
    After after_writes_ = After::Nothing;
    std::array<char, 512> watch_buffer_{};

    std::shared_ptr<Job> job_;
    ResponseIdentity identity_;
    Usage usage_;
    bool stream_mode_ = false, include_usage_ = false, headers_sent_ = false, wrote_since_ping_ = false;
    std::string content_, reasoning_;
};

void accept_next(const std::shared_ptr<HttpServer::State>& state) {
    state->acceptor.async_accept(net::make_strand(state->ioc), [state](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) return;
        if (!ec) std::make_shared<Connection>(std::move(socket), state)->start();
        accept_next(state);
    });
}

} // namespace

HttpServer::HttpServer(Scheduler& scheduler, ServerOptions options) : state_(std::make_shared<State>(scheduler, std::move(options))) {
    State& s = *state_;
    const std::string host = s.options.host == "localhost" ? "127.0.0.1" : s.options.host;
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) throw Error("--host '" + s.options.host + "' is not an IP address (use e.g. 127.0.0.1, 0.0.0.0, ::1)");
    const tcp::endpoint endpoint(address, s.options.port);
    s.acceptor.open(endpoint.protocol(), ec);
    if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(endpoint, ec);
    if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) + ": " + ec.message());
    s.port = s.acceptor.local_endpoint().port();
    s.allowed_hosts = allowed_host_names(s.options.host, s.options.allowed_hosts);
    std::random_device rd;
    char salt[16];
    std::snprintf(salt, sizeof salt, "%08x-", rd());
    s.id_salt = salt;
    s.started = static_cast<int64_t>(std::time(nullptr));
}

HttpServer::~HttpServer() = default;

uint16_t HttpServer::port() const { return state_->port; }

void HttpServer::run() {
    accept_next(state_);
    state_->signals.async_wait([state = state_](beast::error_code ec, int) {
        if (!ec) state->ioc.stop();
    });
    state_->ioc.run();
}

void HttpServer::stop() { state_->ioc.stop(); }

} // namespace latent::server
