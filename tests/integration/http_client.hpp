#pragma once

// A small HTTP/1.1 client for the gateway tests (Boost.Beast): one request per
// connection, synchronously, or many at once over as many connections.

#include <array>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace bps::it {

struct http_request {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  /// Content-Type, Authorization, Idempotency-Key, ... (empty values are not sent).
  std::map<std::string, std::string> headers;
};

struct http_reply {
  /// 0: no answer (connection failed or closed).
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
};

/// A free TCP port on 127.0.0.1 (closed again; a tiny race with other programs).
inline uint16_t free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

namespace detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

inline bhttp::request<bhttp::string_body> to_beast(const http_request& r) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(r.method), r.target, 11};
  if (req.method() == bhttp::verb::unknown)
    req.method_string(r.method);
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [k, v] : r.headers)
    if (!v.empty())
      req.set(k, v);
  req.body() = r.body;
  req.prepare_payload();
  return req;
}

inline http_reply from_beast(bhttp::response<bhttp::string_body>& res) {
  http_reply out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& f : res)
    out.headers[std::string{f.name_string()}] = std::string{f.value()};
  return out;
}

/// One request on its own connection, asynchronously.
class exchange : public std::enable_shared_from_this<exchange> {
public:
  exchange(boost::asio::io_context& ioc, uint16_t port, const http_request& r, http_reply& out)
    : stream_(ioc), port_(port), req_(to_beast(r)), out_(out) {}

  void start() {
    stream_.expires_after(std::chrono::seconds{120});
    stream_.async_connect(tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port_},
                          [self = shared_from_this()](beast::error_code ec) {
                            if (ec)
                              return self->failed(ec);
                            bhttp::async_write(self->stream_, self->req_,
                                               [self](beast::error_code ec2, std::size_t) {
                                                 if (ec2)
                                                   return self->failed(ec2);
                                                 self->read();
                                               });
                          });
  }

private:
  void read() {
    bhttp::async_read(stream_, buffer_, res_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec)
                          return self->failed(ec);
                        self->out_ = from_beast(self->res_);
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                      });
  }

  void failed(beast::error_code ec) {
    out_.status = 0;
    out_.error = ec.message();
  }

  beast::tcp_stream stream_;
  uint16_t port_;
  bhttp::request<bhttp::string_body> req_;
  beast::flat_buffer buffer_;
  bhttp::response<bhttp::string_body> res_;
  http_reply& out_;
};

} // namespace detail

/// Sends all requests at once, each on its own connection, and waits for all
/// answers (in the order of the requests).
inline std::vector<http_reply> http_all(uint16_t port, const std::vector<http_request>& requests) {
  boost::asio::io_context ioc;
  std::vector<http_reply> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    std::make_shared<detail::exchange>(ioc, port, requests[i], out[i])->start();
  ioc.run();
  return out;
}

inline http_reply http_call(uint16_t port, const http_request& r) {
  return http_all(port, {r}).front();
}

/// A request whose answer does not end (GET /events): everything the server sends,
/// status line and headers included, is collected by a thread as it arrives.
class http_stream {
public:
  http_stream(uint16_t port, const http_request& r) : socket_(ioc_) {
    detail::beast::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) {
      closed_ = true;
      return;
    }
    auto req = detail::to_beast(r);
    detail::bhttp::write(socket_, req, ec);
    reader_ = std::thread{[this] {
      std::array<char, 4096> buf{};
      for (;;) {
        detail::beast::error_code e;
        auto n = socket_.read_some(boost::asio::buffer(buf), e);
        std::lock_guard<std::mutex> lock{mutex_};
        text_.append(buf.data(), n);
        if (e)
          closed_ = true;
        changed_.notify_all();
        if (e)
          return;
      }
    }};
  }
  ~http_stream() {
    close();
  }
  http_stream(const http_stream&) = delete;
  http_stream& operator=(const http_stream&) = delete;

  /// Waits until what arrived satisfies `done` (or the server closed, or `timeout`).
  bool wait_for(const std::function<bool(const std::string&)>& done,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{30000}) {
    std::unique_lock<std::mutex> lock{mutex_};
    changed_.wait_for(lock, timeout, [&] { return done(text_) || closed_; });
    return done(text_);
  }
  /// Waits until `needle` arrived.
  bool wait_for(const std::string& needle,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{30000}) {
    return wait_for([&](const std::string& t) { return t.find(needle) != std::string::npos; },
                    timeout);
  }
  /// Waits until the server closed the connection.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::milliseconds{30000}) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return closed_; });
  }
  std::string text() {
    std::lock_guard<std::mutex> lock{mutex_};
    return text_;
  }
  /// Leaves (the client side of "the client went away").
  void close() {
    detail::beast::error_code ignored;
    socket_.shutdown(detail::tcp::socket::shutdown_both, ignored);
    if (reader_.joinable())
      reader_.join();
    socket_.close(ignored);
  }

private:
  boost::asio::io_context ioc_;
  detail::tcp::socket socket_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string text_;
  bool closed_ = false;
};

} // namespace bps::it
