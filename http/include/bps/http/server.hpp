#pragma once

// The HTTP/1.1 server (Boost.Beast over Asio, keep-alive, a pool of I/O threads).
// Beast stays inside server.cpp: a handler sees plain request and response
// structs. The server enforces the limits: header and body size, the time to
// receive a request, the time a handler may take, and requests in flight.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace bps::http {

struct server_options {
  std::string address = "127.0.0.1";
  /// 0: any free port (see server::port()).
  uint16_t port = 8080;
  int io_threads = 1;
  size_t max_header_bytes = 8192;
  size_t max_body_bytes = 65536;
  /// A request must arrive whole within this time (slow clients are cut off).
  std::chrono::milliseconds read_timeout{10000};
  /// A handler that has not answered within this time gets a 503 sent for it.
  std::chrono::milliseconds handler_timeout{60000};
  /// Requests being handled at once; beyond it, 503 at once.
  size_t max_in_flight = 10000;
  /// Event streams (text/event-stream) open at once; beyond it, 503.
  size_t max_streams = 100;
  /// What an event stream may hold unsent (a client that does not read); beyond it
  /// the stream is closed (the client reconnects and reloads).
  size_t stream_buffer_bytes = 1 << 20;
  /// An idle event stream gets a comment line this often (keeps proxies from
  /// closing it, and finds clients that left).
  std::chrono::milliseconds stream_heartbeat{15000};
};

struct request {
  std::string method;
  std::string target;
  std::string content_type;
  std::string authorization;
  std::string idempotency_key;
  bool has_idempotency_key = false;
  std::string body;
};

/// The handler's end of a Server-Sent Events stream. Thread-safe.
class event_sink {
public:
  virtual ~event_sink() = default;
  /// Queues one event (`event: <event>`, `data: <data>`, one data line per line of
  /// `data`). False once the stream is closed (the client left or read too slowly,
  /// or the server stops): forget the sink then.
  virtual bool send(std::string_view event, std::string_view data) = 0;
  /// Whether the stream is still open.
  virtual bool open() const = 0;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// Set (with status 200): the answer is an event stream (text/event-stream; the
  /// body and content type are not used). The server sends the status and headers,
  /// then hands the stream's sink to this function (on an I/O thread; it must not
  /// block). The stream lasts until the client leaves or the server stops.
  std::function<void(std::shared_ptr<event_sink>)> stream;
};

/// Answers a request. Call exactly once, from any thread; later calls are ignored.
using responder = std::function<void(response)>;
using handler = std::function<void(request&&, responder)>;

/// Called for every answer the server sends itself (limits, timeouts), so that
/// metrics can count them: (status, why) where `why` is one of "request not read"
/// (400, 408, 413, 431: the request was not whole or not HTTP), "refused while
/// draining", "refused when overloaded", "handler timed out" and "stopped while
/// handling" (all 503).
using refusal_observer = std::function<void(int, std::string_view)>;

class server {
public:
  static caf::expected<std::unique_ptr<server>> start(const server_options& opts, handler h,
                                                      refusal_observer on_refusal = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Begins a graceful stop: the listening socket is closed (new connections are
  /// refused from the moment this returns), a request that arrives on an open connection is
  /// answered 503 `shutting_down` with `Retry-After`, and every answer from now on closes its
  /// connection. Requests in flight are still answered by their handlers.
  void drain();

  /// Ends the stop: whatever is still in flight is answered 503 `shutting_down`,
  /// every connection is closed once its answer is written, and the I/O threads
  /// are joined. After `bound` the I/O threads are stopped at once (answers not
  /// written by then are cut off). Idempotent; the destructor calls it. A
  /// responder called afterwards does nothing.
  void stop(std::chrono::milliseconds bound = std::chrono::milliseconds{2000});

  /// The port it listens on.
  uint16_t port() const noexcept;
  /// Requests being handled now.
  uint64_t in_flight() const noexcept;
  uint64_t connections() const noexcept;
  /// Event streams open now.
  uint64_t streams() const noexcept;

  struct impl;

private:
  explicit server(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

} // namespace bps::http
