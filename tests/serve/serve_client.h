// Test helpers for `latent serve`: start the real binary on a free loopback port, and talk raw
// HTTP/1.1 to it over POSIX sockets (so a test controls every byte, can stop reading, or hang
// up mid-stream).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace latent::test {

// A running `latent serve -m MODEL --port 0 ARGS…`; stopped (SIGTERM, then SIGKILL) on destruction.
class ServeProcess {
public:
    ServeProcess(const std::filesystem::path& model, const std::vector<std::string>& args);
    ~ServeProcess();
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;

    bool ok() const { return port_ != 0; }
    uint16_t port() const { return port_; }
    int pid() const { return pid_; }
    const std::string& output() const { return output_; } // what it printed before it was ready (or failed)
    // Peak resident memory (VmHWM) and current (VmRSS) in KiB, from /proc.
    long peak_rss_kib() const;
    // Stops it and returns the exit status (or -signal).
    int stop();

private:
    int pid_ = -1;
    uint16_t port_ = 0;
    std::string output_;
    int out_fd_ = -1;
};

// Runs `latent ARGS…` to completion; returns the exit status and fills output (stdout+stderr).
int run_cli(const std::vector<std::string>& args, std::string& output);

struct HttpReply {
    int status = 0;                             // 0: no status line arrived
    std::map<std::string, std::string> headers; // lower-case names
    std::string body;                           // de-chunked
    std::string raw;                            // every byte received
};

// A connected socket to 127.0.0.1:port.
class Connection {
public:
    explicit Connection(uint16_t port);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const { return fd_ >= 0; }
    bool send(const std::string& bytes);
    // Reads until the peer closes (or the timeout); returns what arrived.
    std::string read_all(std::chrono::milliseconds timeout = std::chrono::seconds(60));
    // Reads until `marker` has arrived (true) or the timeout / close (false); keeps the bytes.
    bool read_until(const std::string& marker, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    const std::string& received() const { return received_; }
    void close();

private:
    int fd_ = -1;
    std::string received_;
};

// "POST /path HTTP/1.1" with Host 127.0.0.1:port, Content-Type JSON, Connection: close and the
// extra header lines given ("Name: value\r\n" each).
std::string http_request(const std::string& method, const std::string& path, uint16_t port, const std::string& body = {},
                         const std::string& extra_headers = {});
HttpReply parse_reply(const std::string& raw);
// One request on a fresh connection.
HttpReply http(uint16_t port, const std::string& method, const std::string& path, const std::string& body = {},
               const std::string& extra_headers = {});

// The `data:` payloads of an SSE body, in order (comment lines and other fields skipped).
std::vector<std::string> sse_data(const std::string& body);

} // namespace latent::test
