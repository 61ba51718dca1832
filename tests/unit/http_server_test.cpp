#define CAF_SUITE http.server
#include <caf/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>

#include "bps/http/server.hpp"

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

/// The server under test: "/hold" requests are kept unanswered (their responders
/// are handed to the test), every other request is answered 200 at once.
struct fixture {
  fixture() {
    bps::http::server_options opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    opts.io_threads = 2;
    auto started = bps::http::server::start(
      opts, [this](bps::http::request&& req, bps::http::responder reply) {
        if (req.target != "/hold")
          return reply({200, "application/json", R"({"ok":true})", {}, {}});
        std::lock_guard<std::mutex> lock{mutex};
        held.push_back(std::move(reply));
        changed.notify_all();
      });
    CAF_REQUIRE(started);
    srv = std::move(*started);
  }

  /// Waits (bounded) until `n` requests are held.
  bool wait_held(size_t n) {
    std::unique_lock<std::mutex> lock{mutex};
    return changed.wait_for(lock, 10s, [&] { return held.size() >= n; });
  }

  std::unique_ptr<bps::http::server> srv;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bps::http::responder> held;
};

/// One client connection with a receive timeout (a missing answer fails, not hangs).
struct client {
  explicit client(uint16_t port) : socket(ioc) {
    boost::system::error_code ec;
    socket.connect({net::ip::make_address("127.0.0.1"), port}, ec);
    connected = !ec;
    timeval tv{10, 0};
    if (connected)
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void send(const std::string& target) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(true);
    boost::system::error_code ec;
    bhttp::write(socket, req, ec);
    CAF_CHECK(!ec);
  }

  /// The next answer, or nothing if the connection ended or timed out.
  std::optional<bhttp::response<bhttp::string_body>> receive() {
    bhttp::response<bhttp::string_body> res;
    boost::system::error_code ec;
    bhttp::read(socket, buffer, res, ec);
    if (ec)
      return std::nullopt;
    return res;
  }

  net::io_context ioc;
  tcp::socket socket;
  boost::beast::flat_buffer buffer;
  bool connected = false;
};

/// True once connecting to the port is refused (within 5 s).
bool refuses_connections(uint16_t port) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!client{port}.connected)
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_server_tests, fixture)

CAF_TEST(a draining server refuses new connections and answers 503 on open ones but still answers
           what it holds) {
  auto port = srv->port();
  client open{port};
  CAF_REQUIRE(open.connected);
  open.send("/now");
  auto first = open.receive();
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(first->result_int(), 200u);
  client waiting{port};
  CAF_REQUIRE(waiting.connected);
  waiting.send("/hold");
  CAF_REQUIRE(wait_held(1));

  srv->drain();
  CAF_CHECK(refuses_connections(port));
  // A new request on a connection that was open: 503, Retry-After, and the
  // connection closes.
  open.send("/now");
  auto refused = open.receive();
  CAF_REQUIRE(refused);
  CAF_CHECK_EQUAL(refused->result_int(), 503u);
  CAF_CHECK_EQUAL(std::string{(*refused)[bhttp::field::retry_after]}, "1");
  CAF_CHECK(!refused->keep_alive());
  CAF_CHECK_NOT_EQUAL(refused->body().find("shutting_down"), std::string::npos);
  CAF_CHECK(!open.receive()); // closed by the server
  // The request held since before the drain is answered by its handler, and the
  // answer closes its connection.
  held[0]({201, "application/json", R"({"late":true})", {}, {}});
  auto late = waiting.receive();
  CAF_REQUIRE(late);
  CAF_CHECK_EQUAL(late->result_int(), 201u);
  CAF_CHECK(!late->keep_alive());
  srv->stop(2s);
}

CAF_TEST(stop answers what is still in flight with 503
         and a responder kept past the server does nothing) {
  auto port = srv->port();
  client idle{port};
  CAF_REQUIRE(idle.connected);
  client waiting{port};
  CAF_REQUIRE(waiting.connected);
  waiting.send("/hold");
  CAF_REQUIRE(wait_held(1));
  auto began = std::chrono::steady_clock::now();
  srv->stop(2s);
  auto took = std::chrono::steady_clock::now() - began;
  CAF_MESSAGE("stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                           << " ms");
  CAF_CHECK(took < 2s); // ended by itself, not by the bound
  auto answer = waiting.receive();
  CAF_REQUIRE(answer);
  CAF_CHECK_EQUAL(answer->result_int(), 503u);
  CAF_CHECK_NOT_EQUAL(answer->body().find("shutting_down"), std::string::npos);
  CAF_CHECK(!idle.receive()); // an idle connection is closed
  // The handler answers late, after the server is gone: nothing happens, and the
  // responder (holding the connection) is freed last without touching freed memory
  // (the AddressSanitizer run of the unit tests checks that).
  srv.reset();
  held[0]({200, "application/json", "{}", {}, {}});
  held.clear();
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// A server whose every request is answered with an event stream; the sinks are
/// handed to the test.
struct stream_server {
  explicit stream_server(size_t max_streams) {
    bps::http::server_options opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    opts.max_streams = max_streams;
    opts.stream_buffer_bytes = 64 * 1024;
    opts.stream_heartbeat = 50ms;
    auto started
      = bps::http::server::start(opts, [this](bps::http::request&&, bps::http::responder reply) {
          bps::http::response r;
          r.stream = [this](std::shared_ptr<bps::http::event_sink> sink) {
            std::lock_guard<std::mutex> lock{mutex};
            sinks.push_back(std::move(sink));
            changed.notify_all();
          };
          reply(std::move(r));
        });
    CAF_REQUIRE(started);
    srv = std::move(*started);
  }
  std::shared_ptr<bps::http::event_sink> wait_sink(size_t n) {
    std::unique_lock<std::mutex> lock{mutex};
    changed.wait_for(lock, 10s, [&] { return sinks.size() >= n; });
    return sinks.size() >= n ? sinks[n - 1] : nullptr;
  }
  std::unique_ptr<bps::http::server> srv;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<bps::http::event_sink>> sinks;
};

/// Reads from `c` until `needle` arrived or the connection ends; what arrived.
std::string read_until(client& c, const std::string& needle) {
  std::string got;
  std::array<char, 4096> buf{};
  while (got.find(needle) == std::string::npos) {
    boost::system::error_code ec;
    auto n = c.socket.read_some(net::buffer(buf), ec);
    got.append(buf.data(), n);
    if (ec)
      break;
  }
  return got;
}

} // namespace

CAF_TEST(an event stream sends events with multi - line data and heartbeats while idle) {
  stream_server s{10};
  client c{s.srv->port()};
  CAF_REQUIRE(c.connected);
  c.send("/events");
  auto sink = s.wait_sink(1);
  CAF_REQUIRE(sink);
  CAF_CHECK(sink->send("note", "line one\nline two"));
  // The event, then a heartbeat after it (one may also come before it).
  auto got = read_until(c, "line two\n\n");
  got += read_until(c, ": still here\n\n");
  CAF_CHECK_EQUAL(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  CAF_CHECK_NOT_EQUAL(got.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(got.find("event: note\ndata: line one\ndata: line two\n\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(got.find(": still here\n\n"), std::string::npos);
  CAF_CHECK_EQUAL(s.srv->streams(), 1u);
  // The server stops: the stream says goodbye and ends; the sink refuses from then on.
  s.srv->stop(2s);
  got += read_until(c, "\x01never");
  CAF_CHECK_NOT_EQUAL(got.find("event: bye\n"), std::string::npos);
  CAF_CHECK(!sink->send("late", "{}"));
  CAF_CHECK(!sink->open());
}

CAF_TEST(streams beyond the limit get 503 and a client that leaves frees its place) {
  stream_server s{1};
  client first{s.srv->port()};
  first.send("/events");
  CAF_REQUIRE(s.wait_sink(1));
  client second{s.srv->port()};
  second.send("/events");
  auto refused = second.receive();
  CAF_REQUIRE(refused);
  CAF_CHECK_EQUAL(refused->result_int(), 503u);
  CAF_CHECK_NOT_EQUAL(refused->body().find("overloaded"), std::string::npos);
  first.socket.close();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (s.srv->streams() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CAF_CHECK_EQUAL(s.srv->streams(), 0u);
  CAF_CHECK(!s.sinks[0]->open());
  client third{s.srv->port()};
  third.send("/events");
  CAF_CHECK(s.wait_sink(2));
}

CAF_TEST(a client that does not read is cut off instead of filling memory) {
  stream_server s{10};
  client c{s.srv->port()};
  c.send("/events"); // and never reads
  auto sink = s.wait_sink(1);
  CAF_REQUIRE(sink);
  const std::string kib(1024, 'x');
  size_t sent = 0;
  // Socket buffers take a few MiB; then 64 KiB more queued closes the stream.
  while (sent < 64 * 1024 && sink->send("fill", kib))
    ++sent;
  CAF_MESSAGE("accepted " << sent << " events of 1 KiB before refusing");
  CAF_CHECK(sent < 64 * 1024);
  CAF_CHECK(!sink->open());
}
