#include "serve_client.h"

#include "test_support.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <stdexcept>

namespace latent::test {
namespace {

using Clock = std::chrono::steady_clock;

int spawn(const std::vector<std::string>& args, int& out_fd) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return -1;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        std::vector<char*> argv;
        const std::string cli = cli_path().string();
        argv.push_back(const_cast<char*>(cli.c_str()));
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(cli.c_str(), argv.data());
        _exit(127);
    }
    close(pipe_fds[1]);
    out_fd = pipe_fds[0];
    return pid;
}

// Reads what is available on fd within `ms` milliseconds; false at end of file.
bool read_some(int fd, std::string& out, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return true;
    char buffer[65536];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return false;
    out.append(buffer, static_cast<size_t>(n));
    return true;
}

int wait_status(int pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1000;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

} // namespace

ServeProcess::ServeProcess(const std::filesystem::path& model, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"serve", "-m", model.string(), "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    pid_ = spawn(all, out_fd_);
    if (pid_ < 0) return;
    const std::regex ready(R"(listening on http://[^:]+:(\d+))");
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
        if (!read_some(out_fd_, output_, 100)) break;
        std::smatch m;
        if (std::regex_search(output_, m, ready)) {
            port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
            return;
        }
    }
}

ServeProcess::~ServeProcess() { stop(); }

int ServeProcess::stop() {
    if (pid_ < 0) return -1000;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        int status = 0;
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            if (out_fd_ >= 0) close(out_fd_);
            out_fd_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
        usleep(50000);
    }
    kill(pid_, SIGKILL);
    const int status = wait_status(pid_);
    pid_ = -1;
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
    return status;
}

long ServeProcess::peak_rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

int run_cli(const std::vector<std::string>& args, std::string& output) {
    int fd = -1;
    const int pid = spawn(args, fd);
    if (pid < 0) return -1000;
    while (read_some(fd, output, 1000)) {
    }
    close(fd);
    return wait_status(pid);
}

Connection::Connection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) close();
}

Connection::~Connection() { close(); }

void Connection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool Connection::send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<size_t>(n);
    }
    return true;
}

std::string Connection::read_all(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fd_ >= 0 && Clock::now() < deadline) {
        if (!read_some(fd_, received_, 50)) break;
    }
    return received_;
}

bool Connection::read_until(const std::string& marker, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fd_ >= 0 && Clock::now() < deadline) {
        if (received_.find(marker) != std::string::npos) return true;
        if (!read_some(fd_, received_, 20)) break;
    }
    return received_.find(marker) != std::string::npos;
}

std::string http_request(const std::string& method, const std::string& path, uint16_t port, const std::string& body, const std::string& extra_headers) {
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
    if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra_headers + "\r\n" + body;
    return r;
}

HttpReply parse_reply(const std::string& raw) {
    HttpReply reply;
    reply.raw = raw;
    const size_t head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return reply;
    reply.status = std::stoi(raw.substr(9, 3));
    size_t line = raw.find("\r\n") + 2;
    while (line < head_end) {
        const size_t next = raw.find("\r\n", line);
        const std::string h = raw.substr(line, next - line);
        const size_t colon = h.find(':');
        std::string name = h.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        reply.headers[name] = h.substr(std::min(h.size(), colon + 2));
        line = next + 2;
    }
    const std::string rest = raw.substr(head_end + 4);
    if (reply.headers["transfer-encoding"] == "chunked") {
        size_t at = 0;
        while (at < rest.size()) {
            const size_t eol = rest.find("\r\n", at);
            if (eol == std::string::npos) break;
            const size_t size = std::stoul(rest.substr(at, eol - at), nullptr, 16);
            if (size == 0) break;
            reply.body += rest.substr(eol + 2, size);
            at = eol + 2 + size + 2;
        }
    } else {
        reply.body = rest;
    }
    return reply;
}

HttpReply http(uint16_t port, const std::string& method, const std::string& path, const std::string& body, const std::string& extra_headers) {
    Connection c(port);
    if (!c.connected() || !c.send(http_request(method, path, port, body, extra_headers))) return {};
    return parse_reply(c.read_all());
}

std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < body.size()) {
        size_t end = body.find("\n\n", at);
        if (end == std::string::npos) end = body.size();
        const std::string event = body.substr(at, end - at);
        if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
        at = end + 2;
    }
    return out;
}

} // namespace latent::test
