// A small HTTP proxy on 127.0.0.1 in front of a real server, for tests and benchmarks: it
// fails the first requests it is told to (answering 503 SlowDown, dropping the connection,
// or forwarding the request and dropping the server's answer: a lost response), can hold every request for a fixed
// delay (network latency), forwards bytes both ways untouched, and records every request line and Range header it saw
// and how many requests were in flight at once. Bounded: it serves only loopback and stops (joining its threads) on
// destruction.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s4db_test {

class fault_proxy {
 public:
  enum class fault { slow_down_503, drop_connection, lose_response };

  // upstream: "http://127.0.0.1:PORT"
  explicit fault_proxy(const std::string& upstream) {
    upstream_port_ = static_cast<std::uint16_t>(std::stoi(upstream.substr(upstream.rfind(':') + 1)));
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 64) != 0)
      throw std::runtime_error("fault_proxy: cannot listen on 127.0.0.1");
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~fault_proxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : connections_) t.join();
  }

  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The next requests fail, one fault each, in this order; nullopt lets one through.
  void inject(std::vector<std::optional<fault>> faults) {
    std::lock_guard lock(mutex_);
    faults_ = std::move(faults);
  }

  // "GET /bucket/key" for each request seen (failed ones too), and their Range headers.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Holds each request this long before forwarding it.
  void delay_requests(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

  // The most requests that were being served at the same moment.
  int max_in_flight() const { return max_in_flight_; }
  // TCP connections clients opened to the proxy.
  int connections_accepted() const { return connections_accepted_; }
  // The User-Agent header of each request seen.
  std::vector<std::string> user_agents() const {
    std::lock_guard lock(mutex_);
    return user_agents_;
  }

  std::vector<std::string> ranges() const {
    std::lock_guard lock(mutex_);
    return ranges_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    requests_.clear();
    ranges_.clear();
  }

 private:
  struct in_flight_request {
    fault_proxy& proxy;
    explicit in_flight_request(fault_proxy& p) : proxy(p) {
      const int now = ++proxy.in_flight_;
      int seen = proxy.max_in_flight_;
      while (now > seen && !proxy.max_in_flight_.compare_exchange_weak(seen, now)) {
      }
    }
    ~in_flight_request() { --proxy.in_flight_; }
  };

  void accept_loop() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      ++connections_accepted_;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, client] { serve(client); });
    }
  }

  // Reads one request head from `fd` into `buffer`; false when the peer closed.
  static bool read_head(int fd, std::string& buffer) {
    char chunk[4096];
    while (buffer.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  }

  void record(const std::string& buffer, std::size_t head_end) {
    const std::string head = buffer.substr(0, head_end);
    const std::string line = head.substr(0, head.find("\r\n"));
    std::lock_guard lock(mutex_);
    requests_.push_back(line.substr(0, line.rfind(' ')));
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto header = [&](const std::string& name) {
      const auto at = lower.find("\r\n" + name + ":");
      if (at == std::string::npos) return std::string();
      const auto start = head.find_first_not_of(' ', at + 3 + name.size());
      return head.substr(start, head.find("\r\n", at + 2) - start);
    };
    ranges_.push_back(header("range"));
    user_agents_.push_back(header("user-agent"));
  }

  static std::uint64_t content_length(const std::string& head) {
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoull(head.substr(at + 17));
  }

  void serve(int client) {
    std::string buffer;
    int upstream = -1;
    std::uint64_t body_left = 0;  // bytes of the current request body still to forward
    bool head_request = false;    // its reply has no body
    bool lose_reply = false;      // forward the request, then close without the reply
    std::optional<in_flight_request> guard;
    for (;;) {
      if (body_left == 0) {
        if (!read_head(client, buffer)) break;
        const auto head_end = buffer.find("\r\n\r\n") + 4;
        record(buffer, head_end);
        std::optional<fault> f;
        {
          std::lock_guard lock(mutex_);
          if (!faults_.empty()) {
            f = faults_.front();  // nullopt: this one passes
            faults_.erase(faults_.begin());
          }
        }
        if (f && *f == fault::lose_response) {
          lose_reply = true;
        } else if (f) {
          if (*f == fault::slow_down_503) {
            const std::string body =
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            const std::string reply = "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
            (void)::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
          }
          break;  // dropped, or closed after the 503
        }
        guard.emplace(*this);
        if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
        body_left = content_length(buffer.substr(0, head_end));
        head_request = buffer.starts_with("HEAD ");
        if (upstream < 0 && (upstream = connect_upstream()) < 0) break;
        const std::size_t now = std::min<std::size_t>(buffer.size(), head_end + body_left);
        if (::send(upstream, buffer.data(), now, MSG_NOSIGNAL) < 0) break;
        body_left -= now - head_end;
        buffer.erase(0, now);
        if (body_left == 0 && !pump_reply(client, upstream, head_request, guard, lose_reply)) break;
        continue;
      }
      char chunk[65536];
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      const ssize_t n = ::recv(client, chunk, std::min<std::uint64_t>(sizeof chunk, body_left), 0);
      if (n <= 0 || ::send(upstream, chunk, static_cast<std::size_t>(n), MSG_NOSIGNAL) < 0) break;
      body_left -= static_cast<std::uint64_t>(n);
      if (body_left == 0 && !pump_reply(client, upstream, head_request, guard, lose_reply)) break;
    }
    if (upstream >= 0) ::close(upstream);
    ::close(client);
  }

  // Copies one whole reply (head, then a Content-Length or chunked body) to the client, or
  // with `lose` reads it and returns false (the connection closes without it). The request
  // stops counting as in flight once its reply is read, before it is sent on.
  bool pump_reply(int client, int upstream, bool head_request, std::optional<in_flight_request>& guard, bool lose) {
    std::string reply;
    if (!read_head(upstream, reply)) return false;
    const auto head_end = reply.find("\r\n\r\n") + 4;
    const std::string head = reply.substr(0, head_end);
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool no_body = head.starts_with("HTTP/1.1 204") || head.starts_with("HTTP/1.1 304") || head_request;
    const bool chunked = !no_body && lower.find("transfer-encoding: chunked") != std::string::npos;
    const std::uint64_t want = head_end + (no_body || chunked ? 0 : content_length(head));
    auto complete = [&] {
      return chunked ? reply.find("\r\n0\r\n\r\n", head_end - 2) != std::string::npos : reply.size() >= want;
    };
    char chunk[65536];
    while (!complete()) {
      pollfd p{upstream, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return false;
      const ssize_t n = ::recv(upstream, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      reply.append(chunk, static_cast<std::size_t>(n));
    }
    guard.reset();
    return !lose && ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL) >= 0;
  }

  int connect_upstream() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(upstream_port_);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  std::uint16_t upstream_port_ = 0, port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<long> delay_ms_{0};
  std::atomic<int> in_flight_{0}, max_in_flight_{0}, connections_accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::vector<std::optional<fault>> faults_;
  std::vector<std::string> requests_, ranges_, user_agents_;
};

}  // namespace s4db_test
