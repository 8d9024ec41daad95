// One HTTP exchange over libcurl, and the pool that makes them cheap: easy handles are
// reused, and every handle shares one connection cache (and DNS and TLS sessions), so
// requests from any thread ride on warm connections. Thread-safe.
// Bodies stream: a request body from memory or from a range of a local file, a response
// body into memory or, when the status is 2xx, into a local file.
#pragma once

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../detail/file.hpp"
#include "../../detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "../../error.hpp"
#include "../../version.hpp"

namespace s4db {
inline namespace v0 {
namespace s3 {

struct http_request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;                    // sent when body_file is null
  const detail::file* body_file = nullptr;  // else this range of a file is sent
  std::uint64_t body_offset = 0, body_length = 0;
  const detail::file* response_file = nullptr;  // a 2xx body goes here, from offset 0
  // A 2xx body kept in memory longer than this fails the exchange (transport_failure
  // CURLE_FILESIZE_EXCEEDED, not retried): memory stays bounded by what the caller expects.
  std::uint64_t max_body = 16 << 20;
  // A 200 to a range request (the server ignored Range): its first `skip_on_200` bytes are
  // dropped, and the transfer ends, complete, once max_body bytes are kept.
  std::uint64_t skip_on_200 = 0;
  bool range = false;
};

// An error status's body is kept up to this (an S3 error document is well under 1 KiB);
// the transfer stops there, and the response has the status and the start of the body.
inline constexpr std::size_t max_error_body = 8 << 10;

struct http_response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // unless it went to response_file
  std::uint64_t file_bytes = 0;                // bytes written to response_file
  bool new_connection = false;
  // An earlier attempt of this request failed in a way that may have applied it.
  bool may_have_applied = false;
};

// A transfer that failed below HTTP: no connection, a timeout, a dropped connection.
struct transport_failure {
  CURLcode code;
  std::string message;
  bool retryable() const {
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        return true;
      default:
        return false;
    }
  }
  // Whether the server may have received the whole request and acted on it: the failure
  // came after the connection was up (a timeout, a reset, no answer).
  bool after_send() const {
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        return true;
      default:
        return false;
    }
  }
};

class http_client {
 public:
  struct options {
    long connect_ms = 10'000;
    long stall_ms = 30'000;
    // Slower than this for stall_ms is a stall; and an exchange may take no longer than
    // connect_ms + stall_ms + (its bytes) / min_speed: a server dripping bytes ends too.
    long min_speed = 1024;
    std::string ca_file;       // PEM certificate authorities; "" for the system's
    long max_connections = 5;  // kept open for reuse (libcurl's default is 5)
  };

  explicit http_client(options o) : options_(std::move(o)) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &http_client::lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &http_client::unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;
  ~http_client() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
    curl_share_cleanup(share_);
  }

  // Performs the exchange; throws transport_failure when no HTTP status came back, or
  // when `interrupted` (if given) returned true while it ran (CURLE_ABORTED_BY_CALLBACK).
  http_response perform(const http_request& request, const std::function<bool()>* interrupted = nullptr) {
    handle h(*this);
    exchange x(request);
    CURL* c = h.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // never rewrite ./ or ../ inside object keys
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SHARE, share_);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, std::max(1L, options_.min_speed));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, options_.stall_ms / 1000));
    // The shared connection cache keeps at most this many idle connections: below the
    // number of parallel transfers, every transfer past it would open a new connection.
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, options_.max_connections);
    curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &exchange::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &exchange::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    x.interrupted = interrupted && *interrupted ? interrupted : nullptr;
    x.started = std::chrono::steady_clock::now();
    x.budget_ms = options_.connect_ms + options_.stall_ms;
    x.min_speed = std::max(1L, options_.min_speed);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &exchange::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    x.curl = c;
    if (request.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET" || request.body_file || !request.body.empty()) {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &exchange::on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, &x);
      curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &exchange::on_seek);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
      const auto length = request.body_file ? request.body_length : request.body.size();
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    }
    curl_slist* list = nullptr;
    for (const auto& [name, value] : request.headers) list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    const bool typed = std::any_of(request.headers.begin(), request.headers.end(), [](const auto& header) {
      return header.first.size() == 12 && ::strncasecmp(header.first.c_str(), "content-type", 12) == 0;
    });
    if (!typed) list = curl_slist_append(list, "Content-Type:");  // none rather than curl's default
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.response.status);
    long connects = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    x.response.new_connection = connects > 0;
    if (connects > 0) connections_opened_ += static_cast<std::uint64_t>(connects);
    if (x.stopped == exchange::stop::complete || x.stopped == exchange::stop::error_body)
      return std::move(x.response);  // ended on purpose: all that was wanted is here
    if (x.stopped == exchange::stop::too_long)
      throw transport_failure{CURLE_FILESIZE_EXCEEDED,
                              "the body ran past the " + std::to_string(request.max_body) + " bytes expected"};
    if (x.stopped == exchange::stop::deadline)
      throw transport_failure{CURLE_OPERATION_TIMEDOUT, "the exchange took longer than its deadline of " +
                                                            std::to_string(x.deadline_ms()) + " ms"};
    if (rc != CURLE_OK) throw transport_failure{rc, *error ? error : curl_easy_strerror(rc)};
    return std::move(x.response);
  }

  std::uint64_t connections_opened() const noexcept { return connections_opened_; }

 private:
  struct exchange {
    explicit exchange(const http_request& r) : request(r), read_at(r.body_offset) {}
    const http_request& request;
    http_response response;
    std::uint64_t read_at;
    std::uint64_t write_at = 0;
    CURL* curl = nullptr;
    bool to_file = false, decided = false;
    long status = 0;
    std::uint64_t skipped = 0;
    enum class stop { no, complete, error_body, too_long, deadline } stopped = stop::no;
    const std::function<bool()>* interrupted = nullptr;
    std::chrono::steady_clock::time_point started;
    long budget_ms = 0, min_speed = 1;
    std::uint64_t bytes_known = 0;  // the most bytes this exchange was seen to move

    long deadline_ms() const {
      return budget_ms +
             static_cast<long>(std::min<std::uint64_t>(bytes_known / static_cast<std::uint64_t>(min_speed), 1u << 30) *
                               1000);
    }

    static size_t on_header(char* data, size_t size, size_t n, void* self) {
      auto& x = *static_cast<exchange*>(self);
      const std::string_view line(data, size * n);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
          value.remove_suffix(1);
        x.response.headers[name] = std::string(value);
      }
      return size * n;
    }

    static size_t on_body(char* data, size_t size, size_t n, void* self) {
      auto& x = *static_cast<exchange*>(self);
      if (!x.decided) {
        curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &x.status);
        x.to_file = x.request.response_file && x.status >= 200 && x.status < 300;
        x.decided = true;
      }
      if (!x.to_file) return x.keep(std::string_view(data, size * n));
      try {
        x.request.response_file->write_at(x.write_at, std::string_view(data, size * n));
      } catch (const store_error&) {
        return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
      }
      x.write_at += size * n;
      x.response.file_bytes = x.write_at;
      return size * n;
    }

    static size_t on_read(char* buffer, size_t size, size_t n, void* self) {
      auto& x = *static_cast<exchange*>(self);
      const auto& r = x.request;
      const std::uint64_t end = r.body_file ? r.body_offset + r.body_length : r.body.size();
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(size * n, end - x.read_at));
      if (want == 0) return 0;
      if (r.body_file) {
        try {
          const std::string chunk = r.body_file->read_at(x.read_at, want);
          if (chunk.size() != want) return CURL_READFUNC_ABORT;  // the file shrank under us
          std::copy(chunk.begin(), chunk.end(), buffer);
        } catch (const store_error&) {
          return CURL_READFUNC_ABORT;
        }
      } else {
        std::copy_n(r.body.data() + x.read_at, want, buffer);
      }
      x.read_at += want;
      return want;
    }

    // Appends a piece of a body kept in memory, within its bounds; returns what curl is
    // to hear (fewer bytes than given stops the transfer).
    std::size_t keep(std::string_view piece) {
      const std::size_t given = piece.size();
      auto& body = response.body;
      if (status < 200 || status >= 300) {
        body.append(piece.substr(0, max_error_body - std::min(max_error_body, body.size())));
        if (body.size() < max_error_body) return given;
        stopped = stop::error_body;
        return 0;
      }
      const bool whole_object = request.range && status == 200;  // the server ignored Range
      if (whole_object && skipped < request.skip_on_200) {
        const auto drop = static_cast<std::size_t>(std::min<std::uint64_t>(request.skip_on_200 - skipped, given));
        skipped += drop;
        piece.remove_prefix(drop);
      }
      const std::uint64_t room = request.max_body - std::min<std::uint64_t>(request.max_body, body.size());
      if (piece.size() > room && !whole_object) {
        stopped = stop::too_long;
        return 0;
      }
      body.append(piece.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(room, piece.size()))));
      if (!whole_object || body.size() < request.max_body) return given;
      stopped = stop::complete;  // all of the range is here; the rest of the object is not wanted
      return 0;
    }

    // Stops the transfer (returns 1) on an interruption or past the exchange's deadline.
    static int on_progress(void* self, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
      auto& x = *static_cast<exchange*>(self);
      if (x.interrupted && (*x.interrupted)()) return 1;
      for (curl_off_t v : {dltotal, dlnow, ultotal, ulnow})
        x.bytes_known = std::max(x.bytes_known, static_cast<std::uint64_t>(std::max<curl_off_t>(v, 0)));
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - x.started).count();
      if (elapsed <= x.deadline_ms()) return 0;
      x.stopped = stop::deadline;
      return 1;
    }

    static int on_seek(void* self, curl_off_t offset, int origin) {
      auto& x = *static_cast<exchange*>(self);
      if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
      x.read_at = (x.request.body_file ? x.request.body_offset : 0) + static_cast<std::uint64_t>(offset);
      return CURL_SEEKFUNC_OK;
    }
  };

  // An easy handle borrowed from the pool for one exchange, reset and returned after.
  class handle {
   public:
    explicit handle(http_client& owner) : owner_(owner) {
      {
        std::lock_guard lock(owner_.pool_mutex_);
        if (!owner_.idle_.empty()) {
          curl_ = owner_.idle_.back();
          owner_.idle_.pop_back();
        }
      }
      if (!curl_) curl_ = curl_easy_init();
      if (!curl_) detail::throw_store("curl_easy_init failed", 0, false);
    }
    ~handle() {
      curl_easy_reset(curl_);
      std::lock_guard lock(owner_.pool_mutex_);
      owner_.idle_.push_back(curl_);
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    CURL* get() const noexcept { return curl_; }

   private:
    http_client& owner_;
    CURL* curl_ = nullptr;
  };

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<http_client*>(self)->locks_[static_cast<std::size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<http_client*>(self)->locks_[static_cast<std::size_t>(data)].unlock();
  }

  static constexpr const char* user_agent = "s4db/" S4DB_VERSION_STRING;

  options options_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks_;
  std::mutex pool_mutex_;
  std::vector<CURL*> idle_;
  std::atomic<std::uint64_t> connections_opened_{0};
};

}  // namespace s3
}  // namespace v0
}  // namespace s4db
