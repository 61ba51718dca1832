#include "bps/http/server.hpp"

#include <array>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bps/error.hpp"
#include "bps/http/api.hpp"

namespace bps::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

/// What the server needs of a connection when it stops.
class connection {
public:
  virtual ~connection() = default;
  /// Answers what is in flight with 503 and closes once the answer is written.
  virtual void shut() = 0;
};

} // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  server_options opts;
  handler handle;
  refusal_observer on_refusal;
  net::io_context ioc;
  /// Keeps the I/O threads running until stop(), also while no connection is open
  /// (a drained server): what stop() hands to a connection's strand must run, or
  /// the handler, the connection it holds and this server would keep each other
  /// alive forever.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{
    net::make_work_guard(ioc)};
  // The acceptor's handlers run on its own strand, so that closing it (drain)
  // never races with re-arming it.
  net::strand<net::io_context::executor_type> accept_strand{net::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  std::vector<std::thread> threads;
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> streams{0};
  uint16_t port = 0;
  /// Set by drain(): no new connections, requests get 503, answers close.
  std::atomic<bool> draining{false};
  /// Set by stop(): in-flight requests get 503, idle connections close.
  std::atomic<bool> stopping{false};

  // Live connections, for stop(). A connection removes itself when destroyed.
  std::mutex connections_mutex;
  std::unordered_map<connection*, std::weak_ptr<connection>> live;

  // I/O threads still running (they end once nothing is left to do).
  std::mutex threads_mutex;
  std::condition_variable threads_done;
  int threads_running = 0;
  bool stopped = false;

  void accept();
  void close_acceptor();
};

namespace {

response refusal(int status, std::string code, std::string message) {
  response r;
  r.status = status;
  r.body = error_json({status, std::move(code), std::move(message), std::nullopt});
  return r;
}

response shutting_down() {
  auto r = refusal(503, "shutting_down",
                   "the server is shutting down and takes no new requests; retry shortly "
                   "(another node may take it now)");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

class session;

/// The sink of a session's event stream: formats events and hands them to the
/// session's strand; counts what is queued, so that a client that does not read is
/// cut off instead of filling memory.
class stream_sink : public event_sink {
public:
  stream_sink(std::weak_ptr<session> s, size_t limit) : session_(std::move(s)), limit_(limit) {}

  bool send(std::string_view event, std::string_view data) override;
  bool open() const override {
    return !closed_.load();
  }
  /// Queues raw text (the session's own lines: headers, heartbeats, goodbye).
  bool push(std::string text);
  void close() {
    closed_ = true;
  }
  void sent(size_t bytes) {
    queued_ -= bytes;
  }
  void count(size_t bytes) {
    queued_ += bytes;
  }

private:
  std::weak_ptr<session> session_; // holds the server (and its io_context) while alive
  size_t limit_;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> closed_{false};
};

class session : public connection, public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, std::shared_ptr<server::impl> srv)
    : srv_(std::move(srv)), stream_(std::move(socket)), read_timer_(stream_.get_executor()),
      request_timer_(stream_.get_executor()), heartbeat_timer_(stream_.get_executor()) {
    ++srv_->connections;
  }

  ~session() override {
    {
      std::lock_guard<std::mutex> lock{srv_->connections_mutex};
      srv_->live.erase(this);
    }
    --srv_->connections;
  }

  void start() {
    {
      std::lock_guard<std::mutex> lock{srv_->connections_mutex};
      srv_->live.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::read, shared_from_this()));
  }

  void shut() override {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->on_shut(); });
  }

  /// From any thread: hands a function to the session's strand.
  template <class F>
  void post(F&& f) {
    net::post(stream_.get_executor(), std::forward<F>(f));
  }

  /// On the strand: queues text of the event stream for writing.
  void enqueue(std::string text) {
    if (phase_ != phase::streaming || ending_)
      return sink_->sent(text.size());
    pending_.push_back(std::move(text));
    if (!writing_)
      write_next();
  }

  /// On the strand: ends the event stream (after `last`, if any, is written).
  void end_stream(std::string last = {}) {
    if (phase_ != phase::streaming || ending_)
      return;
    sink_->close();
    if (!last.empty()) {
      sink_->count(last.size()); // taken off again once written, like every text
      pending_.push_back(std::move(last));
    }
    ending_ = true;
    heartbeat_timer_.cancel();
    if (writing_)
      return; // the write in progress goes on with what is queued, then finishes
    if (pending_.empty())
      return finish_stream();
    write_next();
  }

private:
  enum class phase { reading, handling, writing, streaming, closed };

  void on_shut() {
    keep_alive_ = false;
    switch (phase_) {
      case phase::reading: {
        // Idle, or a request still arriving: nothing is owed; on_read closes.
        beast::error_code ignored;
        stream_.socket().cancel(ignored);
        break;
      }
      case phase::handling:
        // The handler has not answered: the client hears that the server stops
        // (unless the handler's answer is on its way to this strand already).
        if (answered_ && !answered_->exchange(true)) {
          --srv_->in_flight;
          request_timer_.cancel();
          if (srv_->on_refusal)
            srv_->on_refusal(503, "stopped while handling");
          send(shutting_down());
        }
        break;
      case phase::streaming:
        // A client that does not take the goodbye (or a write already in progress)
        // holds the stop for 250 ms at most: well within stop()'s bound, so that the
        // session ends by itself instead of being cut off with the io_context.
        stream_.expires_after(std::min<std::chrono::milliseconds>(srv_->opts.read_timeout,
                                                                  std::chrono::milliseconds{250}));
        end_stream("event: bye\ndata: {\"reason\":\"the server is stopping\"}\n\n");
        break;
      case phase::writing: // closes after the write: keep_alive_ is false
      case phase::closed: break;
    }
  }

  void read() {
    if (srv_->stopping)
      return close();
    phase_ = phase::reading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_->opts.max_header_bytes));
    parser_->body_limit(srv_->opts.max_body_bytes);
    // Our own timer, not the stream's: the stream's would close the socket, and a
    // client cut off midway is owed a 408.
    stream_.expires_never();
    timed_out_ = false;
    read_timer_.expires_after(srv_->opts.read_timeout);
    read_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return; // cancelled: the request arrived
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    read_timer_.cancel();
    if (srv_->stopping)
      return close();
    if (timed_out_) {
      // Idle keep-alive connections just close; a request cut off midway gets 408.
      if (parser_->got_some())
        return refuse(
          408, "request_timeout",
          fmt::format("the request did not arrive within {} ms", srv_->opts.read_timeout.count()));
      return close();
    }
    if (ec == bhttp::error::end_of_stream || ec == net::error::connection_reset
        || ec == net::error::operation_aborted)
      return close();
    if (ec == bhttp::error::body_limit)
      return refuse(413, "body_too_large",
                    fmt::format("the body is larger than {} bytes", srv_->opts.max_body_bytes));
    if (ec == bhttp::error::header_limit)
      return refuse(
        431, "headers_too_large",
        fmt::format("the headers are larger than {} bytes", srv_->opts.max_header_bytes));
    if (ec)
      return refuse(400, "bad_request", "this is not a valid HTTP/1.1 request: " + ec.message());
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    if (srv_->draining) {
      keep_alive_ = false;
      if (srv_->on_refusal)
        srv_->on_refusal(503, "refused while draining");
      return send(shutting_down());
    }
    if (srv_->in_flight.load() >= srv_->opts.max_in_flight) {
      keep_alive_ = false;
      auto r = refusal(503, "overloaded",
                       fmt::format("the server is handling {} requests, its limit; retry shortly",
                                   srv_->opts.max_in_flight));
      r.headers.emplace_back("Retry-After", "1");
      if (srv_->on_refusal)
        srv_->on_refusal(503, "refused when overloaded");
      return send(std::move(r));
    }
    request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    req.content_type = std::string{msg[bhttp::field::content_type]};
    req.authorization = std::string{msg[bhttp::field::authorization]};
    if (auto it = msg.find("Idempotency-Key"); it != msg.end()) {
      req.has_idempotency_key = true;
      req.idempotency_key = std::string{it->value()};
    }
    req.body = std::move(msg.body());

    ++srv_->in_flight;
    phase_ = phase::handling;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    answered_ = answered;
    auto self = shared_from_this();
    request_timer_.expires_after(srv_->opts.handler_timeout);
    request_timer_.async_wait([self, answered](beast::error_code tec) {
      if (tec || answered->exchange(true))
        return;
      --self->srv_->in_flight;
      if (self->srv_->on_refusal)
        self->srv_->on_refusal(503, "handler timed out");
      self->keep_alive_ = false;
      self->send(refusal(503, "timeout", "the request was not answered in time; retry shortly"));
    });
    // Whoever claims `answered` first answers: the handler, the handler timeout, or
    // the server's stop. A responder kept after the stop does nothing.
    responder reply = [self, answered](response r) {
      if (answered->exchange(true))
        return;
      --self->srv_->in_flight;
      net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
        self->request_timer_.cancel();
        self->send(std::move(r));
      });
    };
    try {
      srv_->handle(std::move(req), reply);
    } catch (const std::exception& e) {
      spdlog::error("http: handler failed: {}", e.what());
      reply(refusal(500, "internal", "the server failed to handle this request"));
    }
  }

  void refuse(int status, std::string code, std::string message) {
    keep_alive_ = false;
    if (srv_->on_refusal)
      srv_->on_refusal(status, "request not read");
    send(refusal(status, std::move(code), std::move(message)));
  }

  void send(response r) {
    if (r.stream && r.status == 200)
      return start_stream(std::move(r));
    phase_ = phase::writing;
    answered_.reset();
    if (srv_->draining)
      keep_alive_ = false; // tells the client to go elsewhere for its next request
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
      static_cast<bhttp::status>(r.status), version_ == 0 ? 11 : version_);
    res->set(bhttp::field::server, "bps");
    res->set(bhttp::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers)
      res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    // While stopping, a client that does not read its answer holds the stop for
    // at most 2 s.
    stream_.expires_after(srv_->draining ? std::min<std::chrono::milliseconds>(
                            srv_->opts.read_timeout, std::chrono::seconds{2})
                                         : srv_->opts.read_timeout);
    bhttp::async_write(
      stream_, *res,
      [self = shared_from_this(), res](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec || !keep_alive_)
      return close();
    read();
  }

  // -- event streams: headers, then events as they come, until either side ends ------

  void start_stream(response r) {
    answered_.reset();
    keep_alive_ = false;
    if (srv_->stopping || srv_->draining) {
      if (srv_->on_refusal)
        srv_->on_refusal(503, "refused while draining");
      return send(shutting_down());
    }
    if (srv_->streams.fetch_add(1) >= srv_->opts.max_streams) {
      --srv_->streams;
      if (srv_->on_refusal)
        srv_->on_refusal(503, "refused when overloaded");
      auto busy = refusal(503, "overloaded",
                          fmt::format("{} event streams are open, this server's limit; retry "
                                      "shortly or use another node",
                                      srv_->opts.max_streams));
      busy.headers.emplace_back("Retry-After", "5");
      return send(std::move(busy));
    }
    phase_ = phase::streaming;
    sink_ = std::make_shared<stream_sink>(weak_from_this(), srv_->opts.stream_buffer_bytes);
    // A body that ends when the connection does (HTTP/1.1 without a length); the
    // retry line tells EventSource clients to come back after 2 s.
    std::string head = "HTTP/1.1 200 OK\r\nServer: bps\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n";
    for (const auto& [k, v] : r.headers)
      head.append(k).append(": ").append(v).append("\r\n");
    head += "\r\nretry: 2000\n\n";
    sink_->push(std::move(head));
    watch_client();
    heartbeat();
    r.stream(sink_);
  }

  /// Reads what the client sends (nothing, normally) to learn when it leaves.
  void watch_client() {
    stream_.socket().async_read_some(
      net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec)
          return self->end_stream();
        self->watch_client();
      });
  }

  void heartbeat() {
    heartbeat_timer_.expires_after(srv_->opts.stream_heartbeat);
    heartbeat_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->ending_)
        return;
      self->sink_->push(": still here\n\n");
      self->heartbeat();
    });
  }

  /// Writes everything queued in one go (one system call for a burst of events).
  void write_next() {
    writing_ = true;
    in_write_.clear();
    in_write_.swap(pending_);
    std::vector<net::const_buffer> buffers;
    buffers.reserve(in_write_.size());
    size_t bytes = 0;
    for (const auto& text : in_write_) {
      buffers.emplace_back(net::buffer(text));
      bytes += text.size();
    }
    // A client that takes longer than the read timeout to take a write is gone (250
    // ms once the server stops).
    stream_.expires_after(srv_->draining ? std::min<std::chrono::milliseconds>(
                            srv_->opts.read_timeout, std::chrono::milliseconds{250})
                                         : srv_->opts.read_timeout);
    net::async_write(stream_, buffers,
                     [self = shared_from_this(), bytes](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       self->sink_->sent(bytes);
                       self->in_write_.clear();
                       if (ec) {
                         self->pending_.clear();
                         self->end_stream();
                         return self->finish_stream();
                       }
                       if (!self->pending_.empty())
                         return self->write_next();
                       self->stream_.expires_never();
                       if (self->ending_)
                         self->finish_stream();
                     });
  }

  void finish_stream() {
    if (finished_)
      return;
    finished_ = true;
    --srv_->streams;
    close();
    beast::error_code ignored;
    stream_.socket().cancel(ignored); // the read that watches the client
  }

  void close() {
    phase_ = phase::closed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    read_timer_.cancel();
    request_timer_.cancel();
    heartbeat_timer_.cancel();
  }

  // First member, so destroyed last: the socket and timers below belong to the
  // server's io_context, which the last session may be the one to free.
  std::shared_ptr<server::impl> srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  net::steady_timer read_timer_;
  /// The handler's deadline for the request in flight (one at a time).
  net::steady_timer request_timer_;
  /// Claimed by whoever answers the request in flight; empty between requests.
  std::shared_ptr<std::atomic<bool>> answered_;
  // The event stream, once the answer is one.
  std::shared_ptr<stream_sink> sink_;
  std::deque<std::string> pending_;
  std::deque<std::string> in_write_; ///< what the write in progress sends
  net::steady_timer heartbeat_timer_;
  std::array<char, 512> discard_{};
  bool writing_ = false;
  bool ending_ = false;
  bool finished_ = false;
  phase phase_ = phase::reading;
  bool timed_out_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

bool stream_sink::push(std::string text) {
  if (closed_)
    return false;
  auto size = text.size();
  if (queued_.fetch_add(size) + size > limit_) {
    queued_ -= size;
    closed_ = true;
    spdlog::warn("http: an event stream's client does not read ({} bytes queued); closing it",
                 limit_);
    if (auto s = session_.lock())
      s->post([w = session_] {
        if (auto alive = w.lock())
          alive->end_stream();
      });
    return false;
  }
  auto s = session_.lock();
  if (!s) {
    closed_ = true;
    return false;
  }
  // The handler holds the session weakly: one left in a stopped io_context must not
  // keep the session (and through it the server) alive.
  s->post([w = session_, text = std::move(text)]() mutable {
    if (auto alive = w.lock())
      alive->enqueue(std::move(text));
  });
  return true;
}

bool stream_sink::send(std::string_view event, std::string_view data) {
  std::string text = "event: ";
  text += event;
  text += '\n';
  size_t start = 0;
  do {
    auto end = data.find('\n', start);
    text += "data: ";
    text += data.substr(start, end == std::string_view::npos ? end : end - start);
    text += '\n';
    start = end == std::string_view::npos ? end : end + 1;
  } while (start != std::string_view::npos);
  text += '\n';
  return push(std::move(text));
}

} // namespace

void server::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted)
                            return;
                          if (!ec && !self->stopping)
                            // Accepted as the drain began: its request gets the 503.
                            std::make_shared<session>(std::move(socket), self)->start();
                          else if (ec)
                            spdlog::warn("http: accept: {}", ec.message());
                          if (!self->draining)
                            self->accept();
                        });
}

void server::impl::close_acceptor() {
  // Closed on its strand (an accept may be pending there); the caller waits for it,
  // so that once drain() returns a new connection is refused by the kernel. The wait
  // is bounded in case every I/O thread is stuck.
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  net::dispatch(accept_strand, [self = shared_from_this(), closed] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
    closed->set_value();
  });
  if (done.wait_for(std::chrono::seconds{2}) != std::future_status::ready)
    spdlog::warn("http: the listening socket was not closed within 2 s (I/O threads busy)");
}

caf::expected<std::unique_ptr<server>> server::start(const server_options& opts, handler h,
                                                     refusal_observer on_refusal) {
  auto p = std::make_shared<impl>();
  p->opts = opts;
  p->handle = std::move(h);
  p->on_refusal = std::move(on_refusal);
  beast::error_code ec;
  auto address = net::ip::make_address(opts.address, ec);
  if (ec)
    return make_error(ec::invalid_argument,
                      fmt::format("http: \"{}\" is not an IP address", opts.address));
  tcp::endpoint endpoint{address, opts.port};
  p->acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    p->acceptor.bind(endpoint, ec);
  if (!ec)
    p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(ec::invalid_argument, fmt::format("http: cannot listen on {}:{}: {}",
                                                        opts.address, opts.port, ec.message()));
  p->port = p->acceptor.local_endpoint().port();
  p->accept();
  p->threads_running = std::max(1, opts.io_threads);
  for (int i = 0; i < p->threads_running; ++i)
    p->threads.emplace_back([raw = p.get()] {
      raw->ioc.run(); // returns once stop() let go and nothing is left (or on ioc.stop())
      std::lock_guard<std::mutex> lock{raw->threads_mutex};
      --raw->threads_running;
      raw->threads_done.notify_all();
    });
  return std::unique_ptr<server>(new server(std::move(p)));
}

server::server(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

server::~server() {
  stop();
}

void server::drain() {
  if (impl_->draining.exchange(true))
    return;
  impl_->close_acceptor();
}

void server::stop(std::chrono::milliseconds bound) {
  {
    std::lock_guard<std::mutex> lock{impl_->threads_mutex};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
  }
  auto deadline = std::chrono::steady_clock::now() + bound;
  drain();
  impl_->stopping = true;
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard<std::mutex> lock{impl_->connections_mutex};
    for (auto& [raw, weak] : impl_->live)
      if (auto c = weak.lock())
        open.push_back(std::move(c));
  }
  for (auto& c : open)
    c->shut();
  open.clear();
  impl_->work.reset(); // the threads end once what is left is done
  // Without work left (acceptor closed, connections closed, timers cancelled) the
  // I/O threads end by themselves; past the bound they are stopped.
  {
    std::unique_lock<std::mutex> lock{impl_->threads_mutex};
    if (!impl_->threads_done.wait_until(lock, deadline,
                                        [this] { return impl_->threads_running == 0; })) {
      spdlog::warn("http: {} connection(s) still busy after {} ms; cutting them off",
                   impl_->connections.load(), bound.count());
      impl_->ioc.stop();
    }
  }
  for (auto& t : impl_->threads)
    t.join();
}

uint16_t server::port() const noexcept {
  return impl_->port;
}

uint64_t server::in_flight() const noexcept {
  return impl_->in_flight.load();
}

uint64_t server::connections() const noexcept {
  return impl_->connections.load();
}

uint64_t server::streams() const noexcept {
  return impl_->streams.load();
}

} // namespace bps::http
