// The HTTP gateway end to end: a real `bps node` serving HTTP against the real
// broker, driven over real HTTP. Every endpoint, every error, auth, limits,
// idempotency (also across a restart), and 5,000 concurrent purchases whose
// answers must agree with the log.

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bps/actors/codec.hpp"
#include "bps/http/api.hpp"
#include "bps/kafka/producer.hpp"
#include "bps/kafka/reader.hpp"
#include "bps/kafka/topics.hpp"
#include "http_client.hpp"
#include "it_support.hpp"
#include "process.hpp"

namespace bps::it {
namespace {

using json = nlohmann::json;

/// The bps executable under test: BPS_TEST_EXE if set (e.g. an older build, to see
/// a test fail there), else the one of this build. `bps replay --verify` is always
/// this build's.
std::string bps_exe() {
  const char* e = std::getenv("BPS_TEST_EXE");
  return e != nullptr && *e != '\0' ? e : BPS_EXE;
}

const std::string admin_token = "admin-token-0123456789abcdef";
const std::string client_token = "client-token-0123456789abcdef";

class GatewayIT : public ::testing::Test {
protected:
  void SetUp() override {
    prefix = unique_prefix();
    topics = kafka::topic_names::with_prefix(prefix);
  }

  void TearDown() override {
    if (HasFailure())
      for (auto& [id, node] : nodes)
        std::cerr << "---- log of node " << id << " ----\n" << log_tail(node->log()) << "\n";
  }

  /// Starts a node serving HTTP (auth on, two keys) and waits until /readyz says ready.
  void start_node(const std::string& id, std::vector<std::string> more = {}) {
    auto& node = nodes[id];
    if (!node)
      node = std::make_unique<child_process>();
    if (ports.count(id) == 0)
      ports[id] = free_port();
    std::vector<std::string> args{
      bps_exe(),         "node",
      "--bootstrap",     bootstrap(),
      "--topic-prefix",  prefix,
      "--node-id",       id,
      "--partitions",    "4",
      "--http",          "127.0.0.1:" + std::to_string(ports[id]),
      "--http-api-keys", "ops:admin:" + admin_token + ",shop:client:" + client_token};
    args.insert(args.end(), more.begin(), more.end());
    ASSERT_TRUE(node->start(args, ::testing::TempDir() + prefix + id + ".log"));
    wait_ready(id);
  }

  void wait_ready(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(nodes[id]->running()) << "node " << id << " exited:\n" << nodes[id]->log();
      auto r = http_call(ports[id], {"GET", "/readyz", "", {}});
      if (r.status == 200)
        return;
      std::this_thread::sleep_for(200ms);
    }
    FAIL() << "node " << id << " not ready within 60 s";
  }

  uint16_t port(const std::string& id = "n1") {
    return ports[id];
  }

  /// The same request sent at the same moment to several nodes, one thread each.
  std::vector<http_reply> at_once(const std::vector<std::pair<std::string, http_request>>& sends) {
    std::vector<http_reply> replies(sends.size());
    std::latch go{static_cast<std::ptrdiff_t>(sends.size())};
    std::vector<std::thread> threads;
    for (size_t i = 0; i < sends.size(); ++i)
      threads.emplace_back([&, i] {
        go.arrive_and_wait();
        replies[i] = http_call(port(sends[i].first), sends[i].second);
      });
    for (auto& t : threads)
      t.join();
    return replies;
  }

  static http_request keyed_purchase(const std::string& key, const std::string& item,
                                     const std::string& by = "buyer", int64_t quantity = 1) {
    return as(client_token, "POST", "/purchases?wait=10000",
              json{{"itemId", item}, {"quantity", quantity}, {"purchasedBy", by}}.dump(),
              {{"Idempotency-Key", key}});
  }

  /// Waits until a GET of this purchase is 404 on `node` (the view dropped it).
  http_reply wait_forgotten(const std::string& id, const std::string& node = "n1") {
    http_reply r;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    do {
      r = http_call(port(node), as(client_token, "GET", "/purchases/" + id));
      if (r.status == 404)
        break;
      std::this_thread::sleep_for(200ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }

  static http_request as(const std::string& token, std::string method, std::string target,
                         std::string body = {}, std::map<std::string, std::string> extra = {}) {
    http_request r{std::move(method), std::move(target), std::move(body), std::move(extra)};
    if (!token.empty())
      r.headers["Authorization"] = "Bearer " + token;
    if (!r.body.empty() && r.headers.count("Content-Type") == 0)
      r.headers["Content-Type"] = "application/json";
    return r;
  }

  http_reply admin(std::string method, std::string target, std::string body = {},
                   std::map<std::string, std::string> extra = {}) {
    return http_call(port(), as(admin_token, std::move(method), std::move(target), std::move(body),
                                std::move(extra)));
  }

  http_reply client(std::string method, std::string target, std::string body = {},
                    std::map<std::string, std::string> extra = {}) {
    return http_call(port(), as(client_token, std::move(method), std::move(target), std::move(body),
                                std::move(extra)));
  }

  void insert(const std::string& item_id, int64_t quantity) {
    auto r = admin(
      "POST", "/items",
      json{{"itemId", item_id}, {"description", "d-" + item_id}, {"quantity", quantity}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static json body(const http_reply& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }

  /// Every record of a topic (read_committed), all partitions.
  std::vector<std::string> read_topic(const std::string& topic) {
    std::vector<std::string> out;
    for (int32_t p = 0; p < 4; ++p) {
      auto part = read_partition(topic, p, true);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  /// purchaseId -> (number of CREATED, outcomes) in the log.
  struct purchase_log {
    std::map<std::string, int> created;
    std::map<std::string, std::vector<domain::purchase>> outcomes;
  };
  purchase_log read_purchases() {
    purchase_log log;
    for (const auto& v : read_topic(topics.purchases)) {
      auto d = domain::decode_purchase(v);
      if (!d)
        continue;
      if (d.value->status == domain::purchase_status::created)
        ++log.created[d.value->purchase_id];
      else
        log.outcomes[d.value->purchase_id].push_back(*d.value);
    }
    return log;
  }

  /// Waits until the log has an outcome for each of these purchases.
  purchase_log decided_log(const std::set<std::string>& ids) {
    purchase_log log;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      log = read_purchases();
      bool all = std::all_of(ids.begin(), ids.end(),
                             [&](const std::string& id) { return log.outcomes.count(id) > 0; });
      if (all || std::chrono::steady_clock::now() >= deadline)
        return log;
      std::this_thread::sleep_for(200ms);
    }
  }

  void expect_error(const http_reply& r, int status, const std::string& code,
                    const std::string& field = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_GT(j["error"]["message"].get<std::string>().size(), 10u) << r.body;
    if (!field.empty()) {
      EXPECT_EQ(j["error"].value("field", ""), field) << r.body;
    }
  }

  void replay_verifies() {
    auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                      + " --topic-prefix " + prefix);
    EXPECT_EQ(replay.exit_code, 0) << replay.output;
  }

  std::string prefix;
  kafka::topic_names topics;
  std::map<std::string, std::unique_ptr<child_process>> nodes;
  std::map<std::string, uint16_t> ports;
};

TEST_F(GatewayIT, HealthReadinessOpenApiAndTheWebPageNeedNoKey) {
  start_node("n1");
  auto health = http_call(port(), {"GET", "/healthz", "", {}});
  EXPECT_EQ(health.status, 200);
  auto ready = http_call(port(), {"GET", "/readyz", "", {}});
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(body(ready)["ready"], true);
  EXPECT_EQ(body(ready)["checks"]["partitions"], 4);
  auto page = http_call(port(), {"GET", "/", "", {}});
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers["Content-Type"].find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/purchases?wait="), std::string::npos);

  // The document describes exactly the routes the server has: each route in it,
  // each path and method in it a route.
  auto doc = http_call(port(), {"GET", "/openapi.json", "", {}});
  ASSERT_EQ(doc.status, 200);
  auto j = body(doc);
  EXPECT_EQ(j["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::string> documented;
  for (const auto& [path, ops] : j["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      documented.insert(upper + " " + path);
    }
  std::set<std::string> served;
  for (const auto& r : http::routes()) {
    served.insert(std::string{r.method} + " " + std::string{r.path});
    // Every route really answers (not 404/405) with the method it documents.
    auto target = std::string{r.path};
    for (auto [from, to] : {std::pair{"{itemId}", "x1"}, std::pair{"{purchaseId}", "p1"}})
      if (auto at = target.find(from); at != std::string::npos)
        target.replace(at, std::string{from}.size(), to);
    if (target == "/events") { // a stream that does not end: its start is the answer
      http_stream events{port(), as(admin_token, "GET", target)};
      EXPECT_TRUE(events.wait_for("event: ready")) << events.text();
      EXPECT_EQ(events.text().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << events.text();
      continue;
    }
    auto reply = http_call(port(), as(admin_token, std::string{r.method}, target, "{}"));
    EXPECT_NE(reply.status, 405) << r.name;
    if (target.find("x1") == std::string::npos && target.find("p1") == std::string::npos) {
      EXPECT_NE(reply.status, 404) << r.name << ": " << reply.body;
    }
  }
  EXPECT_EQ(documented, served);
}

TEST_F(GatewayIT, ItemsAreInsertedChangedReadAndPagedWithTheRightStatuses) {
  start_node("n1");
  auto created
    = admin("POST", "/items", R"({"itemId":"seat-1","description":"Row A","quantity":3})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(
    body(created),
    (json{{"itemId", "seat-1"}, {"description", "Row A"}, {"quantity", 3}, {"version", 1}}));
  EXPECT_EQ(created.headers["Location"], "/items/seat-1");
  expect_error(admin("POST", "/items", R"({"itemId":"seat-1","description":"again","quantity":1})"),
               409, "item_exists");

  auto got = client("GET", "/items/seat-1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(body(got)["quantity"], 3);
  expect_error(client("GET", "/items/nope"), 404, "not_found", "itemId");

  auto set = admin("PUT", "/items/seat-1/quantity", R"({"quantity":10,"expectedVersion":1})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(body(set)["quantity"], 10);
  EXPECT_EQ(body(set)["version"], 2);
  expect_error(admin("PUT", "/items/seat-1/quantity", R"({"quantity":1,"expectedVersion":1})"), 409,
               "version_mismatch");
  auto restocked = admin("POST", "/items/seat-1/restock", R"({"amount":5})");
  ASSERT_EQ(restocked.status, 200) << restocked.body;
  EXPECT_EQ(body(restocked)["quantity"], 15);
  // A valid amount that the item refuses: the sum would pass the most an item holds.
  auto too_much = admin("POST", "/items/seat-1/restock", R"({"amount":1000000000000})");
  expect_error(too_much, 409, "invalid_amount");
  EXPECT_NE(body(too_much)["error"]["message"].get<std::string>().find(
              "restocking item \"seat-1\" by 1000000000000 would take its quantity from 15 "
              "above 1000000000000"),
            std::string::npos)
    << too_much.body;
  EXPECT_EQ(body(client("GET", "/items/seat-1"))["version"], 3); // refused: nothing changed
  auto described = admin("PUT", "/items/seat-1/description", R"({"description":"Row A, aisle"})");
  ASSERT_EQ(described.status, 200) << described.body;
  EXPECT_EQ(body(described)["description"], "Row A, aisle");
  EXPECT_EQ(body(described)["version"], 4);
  EXPECT_EQ(body(client("GET", "/items/seat-1")), body(described)); // reads its own write

  expect_error(admin("PUT", "/items/ghost/quantity", R"({"quantity":1})"), 404, "unknown_item");
  expect_error(admin("POST", "/items/ghost/restock", R"({"amount":1})"), 404, "unknown_item");
  expect_error(admin("PUT", "/items/ghost/description", R"({"description":"x"})"), 404,
               "unknown_item");

  // Pages: ordered by itemId, the cursor leads through all of them once.
  for (const auto* id : {"b", "a", "d", "c"})
    insert(id, 1);
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto r = client("GET", "/items?limit=2" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = body(r);
    EXPECT_LE(j["items"].size(), 2u);
    for (const auto& it : j["items"])
      seen.push_back(it["itemId"]);
    if (j["next"].is_null())
      break;
    after = j["next"];
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "seat-1"}));
  // And back from the end with prev, the same items in the same order.
  std::vector<std::string> back;
  std::string before = "z";
  for (int pages = 0; pages < 10; ++pages) {
    auto r = client("GET", "/items?limit=2&before=" + before);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = body(r);
    std::vector<std::string> page;
    for (const auto& it : j["items"])
      page.push_back(it["itemId"]);
    back.insert(back.begin(), page.begin(), page.end());
    if (j["prev"].is_null())
      break;
    before = j["prev"];
  }
  EXPECT_EQ(back, seen);
  // A prefix finds an item among the others.
  auto found = body(client("GET", "/items?prefix=seat-&limit=10"));
  ASSERT_EQ(found["items"].size(), 1u) << found;
  EXPECT_EQ(found["items"][0]["itemId"], "seat-1");
  EXPECT_TRUE(found["next"].is_null());
  EXPECT_TRUE(found["prev"].is_null());
  expect_error(client("GET", "/items?prefix=has%20space"), 400, "invalid_field", "prefix");
}

TEST_F(GatewayIT, PurchasesAnswerCreatedOrTheCommittedOutcome) {
  start_node("n1");
  insert("book-1", 2);
  // Without wait: 202 once CREATED is durable, then GET ?wait gives the outcome.
  auto accepted
    = client("POST", "/purchases", R"({"itemId":"book-1","quantity":1,"purchasedBy":"alice"})");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  auto a = body(accepted);
  EXPECT_EQ(a["purchaseStatus"], "CREATED");
  EXPECT_EQ(a["itemId"], "book-1");
  EXPECT_EQ(a["quantity"], 1);
  EXPECT_EQ(a["purchasedBy"], "alice");
  auto id = a["purchaseId"].get<std::string>();
  EXPECT_EQ(accepted.headers["Location"], "/purchases/" + id);
  auto decided = client("GET", "/purchases/" + id + "?wait=10000");
  ASSERT_EQ(decided.status, 200) << decided.body;
  EXPECT_EQ(body(decided)["purchaseStatus"], "SUCCESSFUL");

  auto ok = client("POST", "/purchases?wait=10000",
                   R"({"itemId":"book-1","quantity":1,"purchasedBy":"bob"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body(ok)["purchaseStatus"], "SUCCESSFUL");
  EXPECT_FALSE(body(ok).contains("reason"));
  auto sold_out = client("POST", "/purchases?wait=10000",
                         R"({"itemId":"book-1","quantity":1,"purchasedBy":"carol"})");
  ASSERT_EQ(sold_out.status, 200) << sold_out.body;
  EXPECT_EQ(body(sold_out)["purchaseStatus"], "FAILED");
  EXPECT_EQ(body(sold_out)["reason"], "INSUFFICIENT_STOCK");
  auto unknown = client("POST", "/purchases?wait=10000",
                        R"({"itemId":"no-such-book","quantity":1,"purchasedBy":"dan"})");
  ASSERT_EQ(unknown.status, 200) << unknown.body;
  EXPECT_EQ(body(unknown)["reason"], "UNKNOWN_ITEM");
  EXPECT_EQ(body(client("GET", "/items/book-1"))["quantity"], 0);

  expect_error(client("GET", "/purchases/p-never-made"), 404, "not_found", "purchaseId");
  expect_error(client("GET", "/purchases/bad%20id"), 400, "invalid_field", "purchaseId");

  // The answers agree with the log.
  auto log = read_purchases();
  for (const auto* r : {&ok, &sold_out, &unknown}) {
    auto j = body(*r);
    const auto& outs = log.outcomes[j["purchaseId"]];
    ASSERT_EQ(outs.size(), 1u) << j;
    EXPECT_EQ(outs[0].status == domain::purchase_status::successful ? "SUCCESSFUL" : "FAILED",
              j["purchaseStatus"]);
  }
}

TEST_F(GatewayIT, BadInputGetsAFourHundredWithAMessageAndNeverStopsTheServer) {
  start_node("n1", {"--http-max-wait-ms", "5000"});
  insert("book-1", 100);
  struct bad_case {
    std::string what;
    http_request req;
    int status;
    std::string code;
    std::string field;
  };
  auto purchase = [&](std::string body, std::string target = "/purchases") {
    return as(client_token, "POST", std::move(target), std::move(body));
  };
  std::string nested(20000, '[');
  std::vector<bad_case> cases{
    {"malformed JSON", purchase("{\"itemId\":"), 400, "malformed_json", ""},
    {"not an object", purchase("[1,2]"), 400, "malformed_json", ""},
    {"deeply nested", purchase(nested), 400, "malformed_json", ""},
    {"invalid UTF-8", purchase("{\"itemId\":\"\xff\xfe\",\"quantity\":1,\"purchasedBy\":\"x\"}"),
     400, "malformed_json", ""},
    {"missing field", purchase(R"({"itemId":"book-1","quantity":1})"), 400, "missing_field",
     "purchasedBy"},
    {"unknown field", purchase(R"({"itemId":"book-1","quantity":1,"purchasedBy":"x","price":3})"),
     400, "unknown_field", "price"},
    {"quantity as a string", purchase(R"({"itemId":"book-1","quantity":"1","purchasedBy":"x"})"),
     400, "invalid_field", "quantity"},
    {"itemId as a number", purchase(R"({"itemId":7,"quantity":1,"purchasedBy":"x"})"), 400,
     "invalid_field", "itemId"},
    {"itemId outside its pattern",
     purchase(R"({"itemId":"../etc","quantity":1,"purchasedBy":"x"})"), 400, "invalid_field",
     "itemId"},
    {"itemId too long",
     purchase(
       json{{"itemId", std::string(129, 'a')}, {"quantity", 1}, {"purchasedBy", "x"}}.dump()),
     400, "invalid_field", "itemId"},
    {"quantity 0", purchase(R"({"itemId":"book-1","quantity":0,"purchasedBy":"x"})"), 400,
     "invalid_field", "quantity"},
    {"quantity negative", purchase(R"({"itemId":"book-1","quantity":-3,"purchasedBy":"x"})"), 400,
     "invalid_field", "quantity"},
    {"quantity absurd", purchase(R"({"itemId":"book-1","quantity":1e30,"purchasedBy":"x"})"), 400,
     "invalid_field", "quantity"},
    {"quantity fractional", purchase(R"({"itemId":"book-1","quantity":1.5,"purchasedBy":"x"})"),
     400, "invalid_field", "quantity"},
    {"purchasedBy empty", purchase(R"({"itemId":"book-1","quantity":1,"purchasedBy":""})"), 400,
     "invalid_field", "purchasedBy"},
    {"wait not a number",
     purchase(R"({"itemId":"book-1","quantity":1,"purchasedBy":"x"})", "/purchases?wait=soon"), 400,
     "invalid_query", "wait"},
    {"wait above the cap",
     purchase(R"({"itemId":"book-1","quantity":1,"purchasedBy":"x"})", "/purchases?wait=999999"),
     400, "invalid_query", "wait"},
    {"unknown query parameter",
     purchase(R"({"itemId":"book-1","quantity":1,"purchasedBy":"x"})", "/purchases?wiat=5"), 400,
     "invalid_query", "wiat"},
    {"limit out of range", as(client_token, "GET", "/items?limit=0"), 400, "invalid_query",
     "limit"},
    {"bad itemId in the path", as(client_token, "GET", "/items/a%20b"), 400, "invalid_field",
     "itemId"},
    {"bad Idempotency-Key",
     as(client_token, "POST", "/purchases", R"({"itemId":"book-1","quantity":1,"purchasedBy":"x"})",
        {{"Idempotency-Key", std::string(300, 'k')}}),
     400, "invalid_header", "Idempotency-Key"},
    {"insert with a negative quantity",
     as(admin_token, "POST", "/items", R"({"itemId":"x","description":"d","quantity":-1})"), 400,
     "invalid_field", "quantity"},
    {"description too long",
     as(admin_token, "PUT", "/items/book-1/description",
        json{{"description", std::string(3000, 'd')}}.dump()),
     400, "invalid_field", "description"},
    {"restock of 0", as(admin_token, "POST", "/items/book-1/restock", R"({"amount":0})"), 400,
     "invalid_field", "amount"},
    {"body too large", purchase(std::string(70000, ' ')), 413, "body_too_large", ""},
    {"unknown route", as(client_token, "GET", "/purchase"), 404, "not_found", ""},
    {"wrong method", as(client_token, "DELETE", "/purchases"), 405, "method_not_allowed", ""},
    {"wrong content type",
     as(client_token, "POST", "/purchases", "itemId=book-1", {{"Content-Type", "text/plain"}}), 415,
     "unsupported_media_type", ""},
    {"headers too large",
     as(client_token, "GET", "/items", "", {{"X-Filler", std::string(10000, 'h')}}), 431,
     "headers_too_large", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = http_call(port(), c.req);
    expect_error(r, c.status, c.code, c.field);
    if (c.status == 405) {
      EXPECT_EQ(r.headers["Allow"], "POST");
    }
  }
  // Nothing of that reached Kafka, and the server still sells.
  EXPECT_TRUE(read_purchases().created.empty());
  // Records the gateway's view cannot decode are skipped: it goes on serving.
  auto producer
    = must(kafka::producer::make({bootstrap(), "", std::chrono::milliseconds{10000}, {}}));
  for (const auto& topic : {topics.purchases, topics.items, topics.item_commands})
    ASSERT_FALSE(producer->produce(topic, "book-1", "garbage{"));
  ASSERT_FALSE(producer->flush(10s));
  auto ok = client("POST", "/purchases?wait=5000",
                   R"({"itemId":"book-1","quantity":1,"purchasedBy":"x"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body(ok)["purchaseStatus"], "SUCCESSFUL");
  EXPECT_EQ(body(client("GET", "/items/book-1"))["quantity"], 99);
  EXPECT_EQ(http_call(port(), {"GET", "/readyz", "", {}}).status, 200);
}

TEST_F(GatewayIT, ApiKeysAndRolesAreEnforced) {
  start_node("n1");
  auto none = http_call(port(), {"GET", "/items", "", {}});
  expect_error(none, 401, "unauthorized");
  EXPECT_EQ(none.headers["WWW-Authenticate"], "Bearer");
  expect_error(http_call(port(), as("wrong-token-0123456789", "GET", "/items")), 401,
               "unauthorized");
  expect_error(http_call(port(), {"GET", "/items", "", {{"Authorization", "Basic YWxpY2U6eA=="}}}),
               401, "unauthorized");
  expect_error(client("POST", "/items", R"({"itemId":"x","description":"d","quantity":1})"), 403,
               "forbidden");
  expect_error(client("PUT", "/items/x/quantity", R"({"quantity":1})"), 403, "forbidden");
  expect_error(client("GET", "/metrics"), 403, "forbidden");
  EXPECT_EQ(admin("GET", "/metrics").status, 200);
  EXPECT_EQ(client("GET", "/items").status, 200);
  insert("x", 1);
  EXPECT_EQ(
    client("POST", "/purchases?wait=5000", R"({"itemId":"x","quantity":1,"purchasedBy":"c"})")
      .status,
    200);
  // Nothing was written for the refused requests: the one insert is all.
  EXPECT_EQ(body(client("GET", "/items"))["items"].size(), 1u);
}

TEST_F(GatewayIT, AuthOffIsExplicitAndMissingKeysAreRefusedAtStart) {
  auto refused = run(std::string{BPS_EXE} + " node --bootstrap " + bootstrap() + " --topic-prefix "
                     + prefix + " --node-id n1 --http 127.0.0.1:" + std::to_string(free_port()));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--http-auth off"), std::string::npos) << refused.output;
  auto weak = run(std::string{BPS_EXE} + " node --bootstrap " + bootstrap() + " --topic-prefix "
                  + prefix + " --node-id n1 --http-api-keys a:admin:short");
  EXPECT_EQ(weak.exit_code, 2) << weak.output;
  EXPECT_NE(weak.output.find("at least 16"), std::string::npos) << weak.output;

  // Bad values of the new flags and of the keys given through the environment.
  auto node = std::string{BPS_EXE} + " node --bootstrap " + bootstrap() + " --topic-prefix "
              + prefix + " --node-id n1 ";
  for (const auto* bad : {"abc", "1.2.3.4:", "1.2.3.4:70000", ":80", "1.2.3.4:8x"}) {
    auto r = run(node + "--http-auth off --http '" + bad + "'");
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
    EXPECT_NE(r.output.find("option --http: \"" + std::string{bad} + "\" is not ADDR:PORT"),
              std::string::npos)
      << r.output;
  }
  auto maybe = run(node + "--http-auth maybe");
  EXPECT_EQ(maybe.exit_code, 2) << maybe.output;
  EXPECT_NE(maybe.output.find("--http-auth"), std::string::npos) << maybe.output;
  auto env_keys = run("BPS_HTTP_API_KEYS=ops:root:0123456789abcdef " + node);
  EXPECT_EQ(env_keys.exit_code, 2) << env_keys.output;
  EXPECT_NE(env_keys.output.find("role must be admin or client"), std::string::npos)
    << env_keys.output;

  start_node("n1", {"--http-auth", "off"});
  EXPECT_NE(nodes["n1"]->log().find("auth OFF"), std::string::npos);
  auto open = http_call(
    port(), as("", "POST", "/items", R"({"itemId":"x","description":"d","quantity":1})"));
  EXPECT_EQ(open.status, 201) << open.body;
}

// GET /events: the committed outcomes pushed as Server-Sent Events, filtered by
// prefix, limited in number, freed when the client leaves, ended by a stopping node.
TEST_F(GatewayIT, EventsStreamCommittedOutcomesAsTheyHappen) {
  start_node("n1", {"--http-max-streams", "2"});
  expect_error(http_call(port(), {"GET", "/events", "", {}}), 401, "unauthorized");
  expect_error(http_call(port(), as(client_token, "GET", "/events?prefix=a%20b")), 400,
               "invalid_field", "prefix");
  http_stream all{port(), as(client_token, "GET", "/events")};
  http_stream only_b{port(), as(client_token, "GET", "/events?prefix=ev-b")};
  ASSERT_TRUE(all.wait_for("event: ready\ndata: {\"prefix\":\"\"}\n\n")) << all.text();
  ASSERT_TRUE(only_b.wait_for("event: ready\ndata: {\"prefix\":\"ev-b\"}\n\n")) << only_b.text();
  EXPECT_EQ(all.text().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << all.text();
  EXPECT_NE(all.text().find("Content-Type: text/event-stream\r\n"), std::string::npos);
  // A third is one too many.
  auto third = http_call(port(), as(client_token, "GET", "/events"));
  expect_error(third, 503, "overloaded");
  EXPECT_EQ(third.headers["Retry-After"], "5");

  insert("ev-a1", 1);
  insert("ev-b1", 5);
  std::vector<std::pair<std::string, std::string>> bought; // purchaseId, status
  for (const char* item : {"ev-a1", "ev-a1", "ev-b1"}) {
    auto r = client("POST", "/purchases?wait=5000",
                    json{{"itemId", item}, {"quantity", 1}, {"purchasedBy", "e"}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    bought.emplace_back(body(r)["purchaseId"], body(r)["purchaseStatus"]);
  }
  EXPECT_EQ(bought[0].second, "SUCCESSFUL");
  EXPECT_EQ(bought[1].second, "FAILED");

  // The events of a stream, in order: (name, data).
  auto events_in = [](const std::string& text) {
    std::vector<std::pair<std::string, json>> out;
    std::istringstream in{text.substr(text.find("\r\n\r\n") + 4)};
    std::string line;
    std::string name;
    while (std::getline(in, line)) {
      if (line.rfind("event: ", 0) == 0)
        name = line.substr(7);
      else if (line.rfind("data: ", 0) == 0)
        out.emplace_back(name, json::parse(line.substr(6)));
    }
    return out;
  };
  auto count = [&](const std::string& text, const std::string& name) {
    auto events = events_in(text);
    return std::count_if(events.begin(), events.end(),
                         [&](const auto& e) { return e.first == name; });
  };
  // 3 purchases; items: 2 inserts and 1 sale each of ev-a1 and ev-b1 (the FAILED one changes
  // nothing).
  ASSERT_TRUE(all.wait_for(
    [&](const std::string& t) { return count(t, "purchase") == 3 && count(t, "item") == 4; }))
    << all.text();
  auto events = events_in(all.text());
  std::vector<std::pair<std::string, std::string>> pushed;
  std::vector<std::string> items;
  for (const auto& [name, data] : events)
    if (name == "purchase")
      pushed.emplace_back(data["purchaseId"], data["purchaseStatus"]);
    else if (name == "item")
      items.push_back(data["itemId"].get<std::string>() + " q"
                      + std::to_string(data["quantity"].get<int>()) + " v"
                      + std::to_string(data["version"].get<int>()));
  EXPECT_EQ(pushed, bought); // the answers the buyers got, in the order they were decided
  EXPECT_EQ(items,
            (std::vector<std::string>{"ev-a1 q1 v1", "ev-b1 q5 v1", "ev-a1 q0 v2", "ev-b1 q4 v2"}));
  // The filtered stream has ev-b1's events only.
  ASSERT_TRUE(only_b.wait_for("\"version\":2")) << only_b.text();
  for (const auto& [name, data] : events_in(only_b.text()))
    EXPECT_EQ(data.value("itemId", "ev-b1"), "ev-b1") << name << " " << data.dump();
  EXPECT_EQ(count(only_b.text(), "purchase"), 1);

  // A client that leaves frees its place.
  all.close();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  http_reply m;
  do {
    m = admin("GET", "/metrics");
  } while (m.body.find("\nbps_http_event_streams 1\n") == std::string::npos
           && std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(m.body.find("\nbps_http_event_streams 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nbps_http_events_sent_total "), std::string::npos);
  http_stream again{port(), as(client_token, "GET", "/events")};
  EXPECT_TRUE(again.wait_for("event: ready")) << again.text();

  // A stopping node says goodbye and ends the streams.
  nodes["n1"]->signal(SIGTERM);
  EXPECT_TRUE(only_b.wait_closed()) << only_b.text();
  EXPECT_NE(only_b.text().find("event: bye\n"), std::string::npos) << only_b.text();
  EXPECT_TRUE(again.wait_closed());
  EXPECT_EQ(nodes["n1"]->wait(30s), 0);
}

// docs/records.md, "Headers": every record bps writes says what it is in its headers.
TEST_F(GatewayIT, RecordsCarryHeadersAKafkaUserCanFilterOn) {
  auto began_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  start_node("n1");
  insert("h-1", 1);
  auto bought = http_call(port(), keyed_purchase("key-h1", "h-1"));
  EXPECT_EQ(body(bought)["purchaseStatus"], "SUCCESSFUL") << bought.body;
  auto refused
    = client("POST", "/purchases?wait=5000", R"({"itemId":"h-1","quantity":1,"purchasedBy":"b"})");
  EXPECT_EQ(body(refused)["purchaseStatus"], "FAILED") << refused.body;
  auto producer
    = must(kafka::producer::make({bootstrap(), "", std::chrono::milliseconds{10000}, {}}));
  ASSERT_FALSE(
    producer->produce(topics.purchase_requests, "h-1", "not json", kafka::partition_for("h-1", 4)));
  ASSERT_FALSE(producer->flush(10s));
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();

  struct record {
    std::map<std::string, std::string> headers;
    json value;
  };
  // kcat prints headers as name=value,name=value (no value of ours holds , or =).
  auto read = [&](const std::string& topic) {
    auto r = run("kcat -C -b " + bootstrap() + " -t " + topic
                 + " -e -q -X isolation.level=read_committed -f '%h|%s\\n'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<record> out;
    std::istringstream lines{r.output};
    std::string line;
    while (std::getline(lines, line)) {
      auto bar = line.find('|');
      record rec;
      std::istringstream fields{line.substr(0, bar)};
      std::string field;
      while (std::getline(fields, field, ','))
        if (auto eq = field.find('='); eq != std::string::npos)
          rec.headers[field.substr(0, eq)] = field.substr(eq + 1);
      rec.value = json::parse(line.substr(bar + 1), nullptr, false);
      out.push_back(std::move(rec));
    }
    return out;
  };
  auto expect_common = [&](const record& r, const std::string& kind) {
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("bps-schema-version"), "1");
    EXPECT_EQ(r.headers.at("bps-record"), kind);
    EXPECT_EQ(r.headers.at("bps-node"), "n1");
  };
  auto expect_decided_now = [&](const record& r) {
    auto at = std::stoll(r.headers.at("bps-decided-at"));
    EXPECT_GE(at, began_ms);
    EXPECT_LE(at, now_ms);
  };

  // The dead letter of "not json" (decided asynchronously: wait for it).
  std::vector<record> dead;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       dead.empty() && std::chrono::steady_clock::now() < deadline;)
    dead = read(topics.dead_letters);
  ASSERT_EQ(dead.size(), 1u);
  expect_common(dead[0], "dead-letter");

  std::map<std::string, int> statuses;
  for (const auto& r : read(topics.purchases)) {
    if (r.value.is_discarded()) {
      EXPECT_TRUE(r.headers.empty()); // the raw record above
      continue;
    }
    SCOPED_TRACE(r.value.dump());
    expect_common(r, "purchase");
    EXPECT_EQ(r.headers.at("bps-request"), "PURCHASE");
    EXPECT_EQ(r.headers.at("bps-status"), r.value["purchaseStatus"]);
    ++statuses[r.headers.at("bps-status")];
    if (r.value["purchaseStatus"] == "CREATED")
      EXPECT_EQ(r.headers.count("bps-decided-at"), 0u);
    else
      expect_decided_now(r);
  }
  EXPECT_EQ(statuses,
            (std::map<std::string, int>{{"CREATED", 2}, {"SUCCESSFUL", 1}, {"FAILED", 1}}));
  auto commands = read(topics.item_commands);
  ASSERT_EQ(commands.size(), 2u);
  for (const auto& r : commands) {
    expect_common(r, "item-command");
    EXPECT_EQ(r.headers.at("bps-request"), "INSERT_ITEM");
    EXPECT_EQ(r.headers.at("bps-status"), r.value["status"]);
  }
  expect_decided_now(commands[1]);
  auto items = read(topics.items);
  ASSERT_FALSE(items.empty());
  for (const auto& r : items)
    expect_common(r, "item");
  auto claims = read(topics.idempotency_keys);
  ASSERT_EQ(claims.size(), 1u);
  expect_common(claims[0], "claim");
  EXPECT_EQ(claims[0].headers.at("bps-request"), "PURCHASE");
}

TEST_F(GatewayIT, MetricsCountRequestsPurchasesCommitsLagAndActors) {
  start_node("n1");
  insert("m-1", 1);
  client("POST", "/purchases?wait=5000", R"({"itemId":"m-1","quantity":1,"purchasedBy":"a"})");
  client("POST", "/purchases?wait=5000", R"({"itemId":"m-1","quantity":1,"purchasedBy":"b"})");
  client("GET", "/nowhere");
  auto m = admin("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["Content-Type"].find("text/plain"), std::string::npos);
  for (const auto* line : {"bps_http_requests_total{route=\"POST /purchases\",status=\"200\"} 2",
                           "bps_http_requests_total{route=\"POST /items\",status=\"201\"} 1",
                           "bps_http_requests_total{route=\"unknown path\",status=\"404\"} 1",
                           "bps_http_request_duration_seconds_bucket{route=\"POST "
                           "/purchases\",status=\"200\",le=\"+Inf\"} 2",
                           "bps_purchases_decided_total{outcome=\"SUCCESSFUL\"} 1",
                           "bps_purchases_decided_total{outcome=\"FAILED\"} 1",
                           "bps_purchases_committed_total{outcome=\"SUCCESSFUL\"} 1",
                           "bps_consumer_lag_records ",
                           "bps_live_item_actors 1",
                           "bps_transaction_commits_total ",
                           "bps_transaction_aborts_total 0",
                           "bps_assigned_partitions 4",
                           "bps_commands_decided_total{outcome=\"APPLIED\"} 1",
                           "bps_commands_decided_total{outcome=\"REJECTED\"} 0",
                           "\nprocess_open_fds ",
                           "\nprocess_max_fds ",
                           "\nprocess_threads ",
                           "\nprocess_cpu_seconds_total ",
                           "\nprocess_virtual_memory_bytes ",
                           "bps_build_info{version=\"" BPS_VERSION_TEXT})
    EXPECT_NE(m.body.find(line), std::string::npos) << line << "\n" << m.body;
  EXPECT_NE(m.body.find("\",node=\"n1\",librdkafka=\""), std::string::npos) << m.body;
#ifdef BPS_NODE_HAS_MIMALLOC
  // The node's malloc is mimalloc's (checked on a live allocation, not the link line).
  EXPECT_NE(m.body.find(",allocator=\"mimalloc 2."), std::string::npos) << m.body;
#else
  EXPECT_NE(m.body.find(",allocator=\"glibc malloc\""), std::string::npos) << m.body;
#endif
  EXPECT_EQ(m.body.find("commit=\"\""), std::string::npos) << m.body;
  // The process figures are this node's: it started moments ago and holds memory.
  auto value_of = [&](const std::string& name) {
    auto at = m.body.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name;
    return at == std::string::npos ? 0.0 : std::stod(m.body.substr(at + name.size() + 2));
  };
  auto now
    = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(value_of("process_start_time_seconds"), now, 300.0);
  EXPECT_GT(value_of("process_resident_memory_bytes"), 1e6);
  // Each partition's lag, listed whether or not it has records (4 per input topic).
  for (const auto& topic : {topics.purchase_requests, topics.item_command_requests})
    for (int p = 0; p < 4; ++p) {
      auto series = "bps_partition_lag_records{topic=\"" + topic + "\",partition=\""
                    + std::to_string(p) + "\"} ";
      EXPECT_NE(m.body.find(series), std::string::npos) << series << "\n" << m.body;
    }
  // Three requests decided (an insert, two purchases), each observed once its commit
  // returned: that is just after the gateway may have seen its outcome.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string latest = m.body;
  auto count_of = [&](const std::string& name) {
    auto at = latest.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(latest.substr(at + name.size() + 2));
  };
  while (count_of("bps_decision_seconds_count") < 3 && std::chrono::steady_clock::now() < deadline)
    latest = admin("GET", "/metrics").body;
  EXPECT_EQ(count_of("bps_decision_seconds_count"), 3.0) << latest;
  EXPECT_NE(latest.find("bps_decision_seconds_bucket{le=\"30\"} 3\n"), std::string::npos) << latest;
  EXPECT_GT(count_of("bps_decision_seconds_sum"), 0.0) << latest;
  EXPECT_GE(count_of("bps_transaction_commit_seconds_count"), 1.0) << latest;
  EXPECT_EQ(count_of("bps_transaction_commit_seconds_count"),
            count_of("bps_transaction_commits_total"))
    << latest;
  // The view took each request once (from its request topic) and each outcome once:
  // not the CREATED / REQUESTED copy a node writes beside each outcome.
  auto view_of = [&](const std::string& kind) {
    return count_of("bps_gateway_view_records_total{kind=\"" + kind + "\"}");
  };
  deadline = std::chrono::steady_clock::now() + 10s;
  while ((view_of("purchases") < 4 || view_of("commands") < 2)
         && std::chrono::steady_clock::now() < deadline)
    latest = admin("GET", "/metrics").body;
  EXPECT_EQ(view_of("purchases"), 4.0) << latest;
  EXPECT_EQ(view_of("commands"), 2.0) << latest;
  EXPECT_EQ(view_of("claims"), 0.0) << latest;
  EXPECT_GE(view_of("items"), 1.0) << latest;
  // Requests with no route have readable labels.
  auto wrong_method = http_call(port(), as(admin_token, "DELETE", "/metrics"));
  EXPECT_EQ(wrong_method.status, 405);
  auto again = admin("GET", "/metrics");
  EXPECT_NE(
    again.body.find("bps_http_requests_total{route=\"method not allowed\",status=\"405\"} 1"),
    std::string::npos)
    << again.body;
}

// deploy/monitoring: every bps_* metric that the Grafana dashboard and the Prometheus
// alert rules use is one a node serves, so that neither can name a metric that does
// not exist (or no longer does).
TEST_F(GatewayIT, EveryMetricTheDashboardAndTheAlertsUseIsServed) {
  auto read_file = [](const std::string& path) {
    std::ifstream in{path};
    EXPECT_TRUE(in.good()) << path;
    return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  };
  const std::string dir = std::string{BPS_SOURCE_DIR} + "/deploy/monitoring/";
  std::vector<std::pair<std::string, std::string>> exprs; // where, expression
  auto dashboard = json::parse(read_file(dir + "grafana-dashboard.json"));
  for (const auto& panel : dashboard["panels"])
    for (const auto& target : panel.value("targets", json::array()))
      exprs.emplace_back("dashboard panel \"" + panel["title"].get<std::string>() + "\"",
                         target["expr"].get<std::string>());
  const auto dashboard_count = exprs.size();
  std::istringstream rules{read_file(dir + "bps-alerts.yml")};
  std::string line;
  std::string alert;
  int alerts = 0;
  int severities = 0;
  int summaries = 0;
  while (std::getline(rules, line)) {
    auto text = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (text.rfind("- alert: ", 0) == 0) {
      alert = text.substr(9);
      ++alerts;
    } else if (text.rfind("expr: ", 0) == 0) {
      exprs.emplace_back("alert " + alert, text.substr(6));
    } else if (text.rfind("severity: ", 0) == 0) {
      ++severities;
    } else if (text.rfind("summary: ", 0) == 0) {
      ++summaries;
    }
  }
  EXPECT_GE(dashboard_count, 10u);
  EXPECT_GE(alerts, 8);
  EXPECT_EQ(exprs.size() - dashboard_count, static_cast<size_t>(alerts)) << "an alert without expr";
  EXPECT_EQ(severities, alerts) << "an alert without a severity";
  EXPECT_EQ(summaries, alerts) << "an alert without a summary";

  // A node with traffic, so that every labelled series exists.
  start_node("n1");
  insert("mon-1", 1);
  client("POST", "/purchases?wait=5000", R"({"itemId":"mon-1","quantity":1,"purchasedBy":"a"})");
  auto m = admin("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  std::set<std::string> served;
  std::istringstream body_lines{m.body};
  while (std::getline(body_lines, line))
    if (line.rfind("bps_", 0) == 0)
      served.insert(line.substr(0, line.find_first_of("{ ")));
  ASSERT_GE(served.size(), 20u) << m.body;
  const std::regex metric{R"(bps_[a-z0-9_]+)"};
  std::set<std::string> used;
  for (const auto& [where, expr] : exprs)
    for (std::sregex_iterator it{expr.begin(), expr.end(), metric}, end; it != end; ++it) {
      used.insert(it->str());
      EXPECT_EQ(served.count(it->str()), 1u)
        << where << " uses " << it->str() << ", which the node does not serve: " << expr;
    }
  std::cout << exprs.size() << " expressions (" << dashboard_count << " in the dashboard, "
            << alerts << " alerts) use " << used.size() << " of the " << served.size()
            << " metrics the node serves\n";
}

TEST_F(GatewayIT, AnIdempotencyKeyMakesOnePurchaseConcurrentlySequentiallyAndAfterARestart) {
  start_node("n1");
  insert("k-1", 100);
  auto with_key = [&](const std::string& key, const std::string& body_text) {
    return as(client_token, "POST", "/purchases?wait=10000", body_text, {{"Idempotency-Key", key}});
  };
  const std::string body_a = R"({"itemId":"k-1","quantity":2,"purchasedBy":"alice"})";
  // Ten at once with the same key and body.
  std::vector<http_request> burst(10, with_key("key-1", body_a));
  auto replies = http_all(port(), burst);
  std::set<std::string> ids;
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["purchaseStatus"], "SUCCESSFUL");
    ids.insert(body(r)["purchaseId"]);
  }
  EXPECT_EQ(ids.size(), 1u);
  // Then twice more, one after the other.
  for (int i = 0; i < 2; ++i) {
    auto again = http_call(port(), with_key("key-1", body_a));
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(body(again), body(replies[0]));
  }
  // Another body with the same key: 422, and nothing written.
  auto other = http_call(
    port(), with_key("key-1", R"({"itemId":"k-1","quantity":3,"purchasedBy":"alice"})"));
  expect_error(other, 422, "idempotency_key_reused", "Idempotency-Key");
  // The same key from another API key, for an item, is another request: the
  // insert is answered the same way twice (201, not 409 the second time).
  auto item_insert
    = as(admin_token, "POST", "/items", R"({"itemId":"k-2","description":"d","quantity":1})",
         {{"Idempotency-Key", "key-1"}});
  auto first_insert = http_call(port(), item_insert);
  EXPECT_EQ(first_insert.status, 201) << first_insert.body;
  auto second_insert = http_call(port(), item_insert);
  EXPECT_EQ(second_insert.status, 201) << second_insert.body;
  EXPECT_EQ(body(second_insert), body(first_insert));

  // After a restart the key is still known.
  ASSERT_EQ(nodes["n1"]->stop(SIGTERM, 30s), 0);
  start_node("n1");
  auto after_restart = http_call(port(), with_key("key-1", body_a));
  ASSERT_EQ(after_restart.status, 200) << after_restart.body;
  EXPECT_EQ(body(after_restart), body(replies[0]));
  expect_error(
    http_call(port(), with_key("key-1", R"({"itemId":"k-1","quantity":1,"purchasedBy":"x"})")), 422,
    "idempotency_key_reused");

  auto log = read_purchases();
  auto id = *ids.begin();
  EXPECT_EQ(log.created[id], 1);
  EXPECT_EQ(log.outcomes[id].size(), 1u);
  EXPECT_EQ(log.created.size(), 1u); // nothing else was ever written
  EXPECT_EQ(body(client("GET", "/items/k-1"))["quantity"], 98);
}

TEST_F(GatewayIT, FiveThousandConcurrentPurchasesOverHttpAgreeWithTheLog) {
  start_node("n1");
  constexpr int items = 50;
  constexpr int64_t stock = 40; // 2,000 units for about 7,500 wanted: most items sell out
  for (int i = 0; i < items; ++i)
    insert("i-" + std::to_string(i), stock);
  std::mt19937 rng{42};
  std::vector<http_request> requests;
  for (int i = 0; i < 5000; ++i) {
    auto item = "i-" + std::to_string(rng() % items);
    auto q = 1 + static_cast<int>(rng() % 2);
    requests.push_back(
      as(client_token, "POST", "/purchases?wait=30000",
         json{{"itemId", item}, {"quantity", q}, {"purchasedBy", "b" + std::to_string(i)}}.dump()));
  }
  auto replies = http_all(port(), requests);

  std::map<std::string, json> answered; // purchaseId -> 200 body
  int decided = 0;
  int accepted = 0;
  int shed = 0;
  for (const auto& r : replies) {
    if (r.status == 503) {
      // Refused at once: the node sheds what it cannot take in time (never written).
      expect_error(r, 503, "overloaded");
      EXPECT_EQ(r.headers.at("Retry-After"), "1");
      ++shed;
      continue;
    }
    ASSERT_TRUE(r.status == 200 || r.status == 202) << r.status << " " << r.error << " " << r.body;
    auto j = body(r);
    if (r.status == 200) {
      ++decided;
      answered[j["purchaseId"]] = j;
    } else {
      ++accepted;
    }
  }
  std::cout << "5000 concurrent purchases: " << decided << " answered 200, " << accepted
            << " answered 202, " << shed << " refused 503\n";
  EXPECT_EQ(decided + accepted + shed, 5000);
  EXPECT_GT(decided + accepted, 0);
  size_t taken = static_cast<size_t>(decided + accepted);

  // Wait until the log has an outcome for every purchase taken, then compare.
  purchase_log log;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  do {
    log = read_purchases();
  } while (log.outcomes.size() < taken && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(log.created.size(), taken); // nothing refused was written
  ASSERT_EQ(log.outcomes.size(), taken);
  std::map<std::string, int64_t> sold;
  for (const auto& [id, outs] : log.outcomes) {
    ASSERT_EQ(outs.size(), 1u) << id;
    EXPECT_EQ(log.created[id], 1) << id;
    if (outs[0].status == domain::purchase_status::successful)
      sold[outs[0].item_id] += outs[0].quantity;
    if (auto it = answered.find(id); it != answered.end()) {
      EXPECT_EQ(it->second["purchaseStatus"],
                outs[0].status == domain::purchase_status::successful ? "SUCCESSFUL" : "FAILED")
        << id;
      if (outs[0].status == domain::purchase_status::failed) {
        EXPECT_EQ(it->second["reason"], "INSUFFICIENT_STOCK") << id;
      }
    }
  }
  for (const auto& [item, n] : sold) {
    EXPECT_LE(n, stock) << item;
    EXPECT_EQ(body(client("GET", "/items/" + item))["quantity"], stock - n) << item;
  }
  replay_verifies();
}

TEST_F(GatewayIT, OverloadAndSlowClientsAreAnsweredAtOnce) {
  start_node("n1", {"--http-max-in-flight", "3", "--http-read-timeout-ms", "500"});
  // A CREATED that no node will ever decide (its key is not its itemId, so it goes
  // to dead letters): waiting for it keeps requests in flight.
  auto producer
    = must(kafka::producer::make({bootstrap(), "", std::chrono::milliseconds{10000}, {}}));
  ASSERT_FALSE(producer->produce(topics.purchase_requests, "wrong-key",
                                 domain::encode(domain::purchase{"p-stuck", "stuck", 1, "x"})));
  ASSERT_FALSE(producer->flush(10s));
  for (int i = 0; i < 100; ++i) {
    if (client("GET", "/purchases/p-stuck").status == 200)
      break;
    std::this_thread::sleep_for(100ms);
  }
  std::vector<http_request> waits(8, as(client_token, "GET", "/purchases/p-stuck?wait=4000"));
  auto started = std::chrono::steady_clock::now();
  auto replies = http_all(port(), waits);
  int waited = 0;
  int refused = 0;
  for (const auto& r : replies) {
    if (r.status == 200) {
      ++waited;
      EXPECT_EQ(body(r)["purchaseStatus"], "CREATED");
    } else {
      expect_error(r, 503, "overloaded");
      EXPECT_EQ(r.headers.at("Retry-After"), "1");
      ++refused;
    }
  }
  EXPECT_EQ(waited, 3);
  EXPECT_EQ(refused, 5);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 3900ms);

  // A request that does not arrive whole within the read timeout: 408.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s{ioc};
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port()});
  std::string partial = "POST /purchases HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"it";
  boost::asio::write(s, boost::asio::buffer(partial));
  std::string answer(4096, '\0');
  boost::system::error_code ec;
  auto n = s.read_some(boost::asio::buffer(answer), ec);
  answer.resize(n);
  EXPECT_NE(answer.find("408"), std::string::npos) << answer;
  EXPECT_NE(answer.find("request_timeout"), std::string::npos) << answer;
}

// -- the idempotency contract: (scope, Idempotency-Key) names one request forever --

TEST_F(GatewayIT, OneKeyForTwoItemsSentToTwoNodesAtOnceIsTakenOnceAndRefusedOnce) {
  start_node("n1");
  start_node("n2");
  insert("item-a", 1000);
  insert("item-b", 1000);
  const std::array<std::string, 2> items{"item-a", "item-b"};
  std::set<std::string> taken;
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto key = "two-items-" + std::to_string(round);
    auto replies
      = at_once({{"n1", keyed_purchase(key, items[0])}, {"n2", keyed_purchase(key, items[1])}});
    int written = 0;
    int refused = 0;
    for (size_t i = 0; i < 2; ++i) {
      if (replies[i].status == 200 || replies[i].status == 202) {
        ++written;
        // Never the outcome of a request this client did not send.
        EXPECT_EQ(body(replies[i])["itemId"], items[i]) << replies[i].body;
        taken.insert(body(replies[i])["purchaseId"].get<std::string>());
      } else {
        expect_error(replies[i], 422, "idempotency_key_reused", "Idempotency-Key");
        // The refusal names the request that was taken.
        EXPECT_NE(replies[i].body.find(items[1 - i]), std::string::npos) << replies[i].body;
        ++refused;
      }
    }
    EXPECT_EQ(written, 1) << replies[0].status << " " << replies[0].body << " / "
                          << replies[1].status << " " << replies[1].body;
    EXPECT_EQ(refused, 1);
  }
  // Each key's request was written once and decided once; nothing else was written.
  auto log = decided_log(taken);
  EXPECT_EQ(log.created.size(), taken.size());
  for (const auto& id : taken) {
    EXPECT_EQ(log.created[id], 1) << id;
    EXPECT_EQ(log.outcomes[id].size(), 1u) << id;
  }
  int64_t left = 0;
  for (const auto& item : items)
    left += body(client("GET", "/items/" + item))["quantity"].get<int64_t>();
  EXPECT_EQ(left, 2000 - static_cast<int64_t>(taken.size()));
  replay_verifies();
}

TEST_F(GatewayIT, OneKeyAndOneBodySentToTwoNodesAtOnceMakeOnePurchase) {
  start_node("n1");
  start_node("n2");
  insert("item-a", 1000);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto key = "same-body-" + std::to_string(round);
    auto replies
      = at_once({{"n1", keyed_purchase(key, "item-a")}, {"n2", keyed_purchase(key, "item-a")}});
    ASSERT_EQ(replies[0].status, 200) << replies[0].body;
    ASSERT_EQ(replies[1].status, 200) << replies[1].body;
    EXPECT_EQ(body(replies[0]), body(replies[1]));
    EXPECT_EQ(body(replies[0])["purchaseStatus"], "SUCCESSFUL");
    auto id = body(replies[0])["purchaseId"].get<std::string>();
    auto log = decided_log({id});
    // At most a second copy of the request, which the processor sends to dead
    // letters; one outcome.
    EXPECT_GE(log.created[id], 1) << id;
    EXPECT_EQ(log.outcomes[id].size(), 1u) << id;
  }
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (body(client("GET", "/items/item-a"))["quantity"] != 995
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(body(client("GET", "/items/item-a"))["quantity"], 995);
  replay_verifies();
}

TEST_F(GatewayIT, AKeyedPurchaseIsAnsweredAfterItsWindowAcrossRestartsAndOnAFreshStore) {
  auto state = ::testing::TempDir() + prefix + "state";
  std::vector<std::string> args{"--state-dir", state, "--http-idempotency-window-ms", "2000"};
  start_node("n1", args);
  insert("w-1", 10);
  auto keyed = keyed_purchase("window-key", "w-1", "alice");
  auto first = http_call(port(), keyed);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(body(first)["purchaseStatus"], "SUCCESSFUL");
  auto id = body(first)["purchaseId"].get<std::string>();
  auto plain = client("POST", "/purchases?wait=10000",
                      R"({"itemId":"w-1","quantity":1,"purchasedBy":"bob"})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  // The window passes: the purchase made without a key is dropped from the view.
  auto gone = wait_forgotten(body(plain)["purchaseId"]);
  expect_error(gone, 404, "not_found", "purchaseId");
  EXPECT_NE(gone.body.find("idempotency window"), std::string::npos) << gone.body;

  auto expect_same_answer = [&](const std::string& when) {
    SCOPED_TRACE(when);
    auto again = http_call(port(), keyed);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(body(again), body(first));
    auto got = client("GET", "/purchases/" + id);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(body(got), body(first));
  };
  expect_same_answer("after the window");
  ASSERT_EQ(nodes["n1"]->stop(SIGTERM, 30s), 0);
  start_node("n1", args);
  expect_same_answer("after a restart on the same store");
  ASSERT_EQ(nodes["n1"]->stop(SIGTERM, 30s), 0);
  start_node("n1", {"--http-idempotency-window-ms", "2000"});
  expect_same_answer("on a node whose view starts empty (no --state-dir)");

  auto log = decided_log({id});
  EXPECT_EQ(log.created[id], 1);
  EXPECT_EQ(log.outcomes[id].size(), 1u);
  EXPECT_EQ(log.created.size(), 2u); // the keyed and the plain purchase, nothing more
  EXPECT_EQ(body(client("GET", "/items/w-1"))["quantity"], 8);
  replay_verifies();
}

TEST_F(GatewayIT, AKeyReusedAfterItsWindowForAnotherItemIsRefusedOnEveryNode) {
  std::vector<std::string> args{"--http-idempotency-window-ms", "2000"};
  start_node("n1", args);
  insert("r-1", 10);
  insert("r-2", 10);
  auto first = http_call(port(), keyed_purchase("reused-key", "r-1"));
  ASSERT_EQ(first.status, 200) << first.body;
  auto plain = client("POST", "/purchases?wait=10000",
                      R"({"itemId":"r-1","quantity":1,"purchasedBy":"bob"})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  ASSERT_EQ(wait_forgotten(body(plain)["purchaseId"]).status, 404);

  auto reused = http_call(port(), keyed_purchase("reused-key", "r-2"));
  expect_error(reused, 422, "idempotency_key_reused", "Idempotency-Key");
  EXPECT_NE(reused.body.find("1 x r-1 by buyer"), std::string::npos) << reused.body;
  // A node started now, its view new, refuses it too.
  start_node("n2", args);
  expect_error(http_call(port("n2"), keyed_purchase("reused-key", "r-2")), 422,
               "idempotency_key_reused");
  // The key's scope is the API key: under the admin key it names a request of its
  // own (a restock); then a request of another kind under it is a reuse too.
  auto change = http_call(port("n2"), as(admin_token, "POST", "/items/r-2/restock",
                                         R"({"amount":1})", {{"Idempotency-Key", "reused-key"}}));
  EXPECT_EQ(change.status, 200) << change.body;
  auto purchase_by_admin
    = http_call(port("n2"), as(admin_token, "POST", "/purchases?wait=10000",
                               R"({"itemId":"r-2","quantity":1,"purchasedBy":"ops"})",
                               {{"Idempotency-Key", "reused-key"}}));
  expect_error(purchase_by_admin, 422, "idempotency_key_reused");
  EXPECT_NE(purchase_by_admin.body.find("RESTOCK of r-2"), std::string::npos)
    << purchase_by_admin.body;

  auto log = read_purchases();
  EXPECT_EQ(log.created.size(), 2u); // the first keyed purchase and the plain one
  EXPECT_EQ(body(client("GET", "/items/r-2"))["quantity"], 11);
  replay_verifies();
}

TEST_F(GatewayIT, AWriteForAPartitionWhoseDecisionsLagIsRefusedAtOnceAndNothingTakenIsLost) {
  // Decisions commit every 4 s: a request this node wrote waits up to 4 s, more
  // than the 1 s the node allows.
  start_node("n1", {"--commit-interval-ms", "4000", "--http-max-decision-lag-ms", "1000"});
  insert("lag-1", 1000);
  std::set<std::string> accepted;
  http_reply refused;
  std::chrono::steady_clock::duration took{};
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = client("POST", "/purchases", R"({"itemId":"lag-1","quantity":1,"purchasedBy":"x"})");
    if (r.status != 202) {
      refused = r;
      took = std::chrono::steady_clock::now() - t0;
      break;
    }
    accepted.insert(body(r)["purchaseId"].get<std::string>());
    std::this_thread::sleep_for(100ms);
  }
  expect_error(refused, 503, "overloaded");
  EXPECT_EQ(refused.headers["Retry-After"], "1");
  EXPECT_LT(took, 1s) << "refused at once, not after a wait";
  EXPECT_FALSE(accepted.empty());
  // Once the backlog is decided, writes are taken again.
  http_reply later;
  deadline = std::chrono::steady_clock::now() + 30s;
  do {
    std::this_thread::sleep_for(200ms);
    later = client("POST", "/purchases", R"({"itemId":"lag-1","quantity":1,"purchasedBy":"y"})");
  } while (later.status != 202 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(later.status, 202) << later.body;
  accepted.insert(body(later)["purchaseId"].get<std::string>());
  // Everything taken is decided once; nothing refused was written.
  auto log = decided_log(accepted);
  EXPECT_EQ(log.created.size(), accepted.size());
  for (const auto& id : accepted)
    EXPECT_EQ(log.outcomes[id].size(), 1u) << id;
  auto m = admin("GET", "/metrics");
  EXPECT_NE(m.body.find("bps_gateway_shed_total "), std::string::npos) << m.body;
  EXPECT_EQ(m.body.find("bps_gateway_shed_total 0\n"), std::string::npos) << m.body;
}

TEST_F(GatewayIT, TheCliClaimsAnExplicitIdAndReplayReportsARequestWrittenUnderAnotherOnesId) {
  start_node("n1");
  insert("cli-1", 5);
  insert("cli-2", 5);
  auto cli = bps_exe() + " purchase --bootstrap " + bootstrap() + " --topic-prefix " + prefix
             + " --quantity 1 --purchased-by ann --id order-1 --item-id ";
  auto first = run(cli + "cli-1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("SUCCESSFUL"), std::string::npos) << first.output;
  // The same command again is a retry: not written again, answered with the outcome.
  auto again = run(cli + "cli-1");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("not written again"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("SUCCESSFUL"), std::string::npos) << again.output;
  // The id for another request: refused, naming the first one; nothing written.
  auto other = run(cli + "cli-2");
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_NE(other.output.find("claimed first for another request (purchase order-1: 1 x cli-1 "
                              "by ann"),
            std::string::npos)
    << other.output;
  auto log = read_purchases();
  EXPECT_EQ(log.created["order-1"], 1);
  EXPECT_EQ(log.created.size(), 1u);
  EXPECT_EQ(body(client("GET", "/items/cli-2"))["quantity"], 5);
  replay_verifies();

  // A client that does not claim writes a request under the claimed id, for another
  // item (in another partition the pipeline cannot tell, and decides it): replay
  // reports it, decided or not.
  auto producer
    = must(kafka::producer::make({bootstrap(), "", std::chrono::milliseconds{10000}, {}}));
  ASSERT_FALSE(producer->produce(topics.purchase_requests, "cli-2",
                                 domain::encode(domain::purchase{"order-1", "cli-2", 1, "eve"})));
  ASSERT_FALSE(producer->flush(10s));
  auto replay = run(std::string{BPS_EXE} + " replay --verify --bootstrap " + bootstrap()
                    + " --topic-prefix " + prefix);
  EXPECT_EQ(replay.exit_code, 1) << replay.output;
  EXPECT_NE(replay.output.find("purchase order-1 was written for another request than the first "
                               "claim of its id (purchase order-1: 1 x cli-1 by ann)"),
            std::string::npos)
    << replay.output;
}

TEST_F(GatewayIT, WithTwoNodesEveryAnswerIsTheCommittedOneWhicheverNodeDecided) {
  start_node("n1");
  nodes["n2"] = std::make_unique<child_process>();
  ASSERT_TRUE(nodes["n2"]->start({BPS_EXE, "node", "--bootstrap", bootstrap(), "--topic-prefix",
                                  prefix, "--node-id", "n2", "--partitions", "4", "--http", "off"},
                                 ::testing::TempDir() + prefix + "n2.log"));
  // Wait until n1 owns only some of the partitions.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ready = body(http_call(port(), {"GET", "/readyz", "", {}}));
    if (ready["checks"]["partitions"] == 2 && ready["ready"] == true)
      break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(body(http_call(port(), {"GET", "/readyz", "", {}}))["checks"]["partitions"], 2);
  // Items in every partition, all through n1; n2 decides half of them.
  std::map<int32_t, int> per_partition;
  int placed = 0;
  for (int i = 0; placed < 12; ++i) { // three items in each of the 4 partitions
    auto id = "two-" + std::to_string(i);
    auto& n = per_partition[kafka::partition_for(id, 4)];
    if (n >= 3)
      continue;
    ++n;
    ++placed;
    insert(id, 1);
    auto r = client("POST", "/purchases?wait=10000",
                    json{{"itemId", id}, {"quantity", 1}, {"purchasedBy", "x"}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["purchaseStatus"], "SUCCESSFUL");
    EXPECT_EQ(body(client("GET", "/items/" + id))["quantity"], 0);
  }
  EXPECT_NE(nodes["n2"]->log().find("partitions assigned"), std::string::npos);
  replay_verifies();
}

TEST_F(GatewayIT, AViewStoreOfTopicsDeletedAndCreatedAnewIsRebuiltEvenIfTheNewLogsGrewPastIt) {
  auto state = ::testing::TempDir() + prefix + "state";
  const std::vector<std::string> with_state{"--state-dir", state};
  start_node("n1", with_state);
  insert("g-1", 100);
  auto keyed = http_call(port(), keyed_purchase("recreated-key", "g-1", "alice", 2));
  ASSERT_EQ(keyed.status, 200) << keyed.body;
  EXPECT_EQ(body(keyed)["purchaseStatus"], "SUCCESSFUL");
  auto keyed_id = body(keyed)["purchaseId"].get<std::string>();
  auto plain = client("POST", "/purchases?wait=10000",
                      R"({"itemId":"g-1","quantity":1,"purchasedBy":"bob"})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  auto plain_id = body(plain)["purchaseId"].get<std::string>();
  ASSERT_EQ(nodes["n1"]->stop(SIGTERM, 30s), 0);

  // Where the view's store has read every partition to: the ends of the logs.
  auto ends = [&] {
    std::map<std::pair<std::string, int32_t>, int64_t> out;
    for (const auto& topic : {topics.purchases, topics.item_commands, topics.idempotency_keys})
      for (int32_t p = 0; p < 4; ++p)
        out[{topic, p}] = must(kafka::log_end(bootstrap(), {topic, p}, 10s));
    return out;
  };
  const auto old_ends = ends();

  // The operator deletes the topics and creates them anew; a node whose view is not
  // kept (no --state-dir) writes to them until every new log has grown past the old
  // one's end, without ever using the old Idempotency-Key.
  auto deleted = run(bps_exe() + " topics delete --yes --bootstrap " + bootstrap()
                     + " --topic-prefix " + prefix);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  start_node("n1");
  insert("g-1", 100);
  auto grown = [&] {
    auto now = ends();
    return std::all_of(old_ends.begin(), old_ends.end(),
                       [&](const auto& kv) { return kv.second == 0 || now[kv.first] > kv.second; });
  };
  for (int i = 0; !grown(); ++i) {
    ASSERT_LT(i, 100) << "the new logs did not grow past the old ones";
    auto r = http_call(port(), keyed_purchase("filler-" + std::to_string(i), "g-1"));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(admin("POST", "/items/g-1/restock", R"({"amount":1})").status, 200);
  }
  ASSERT_EQ(nodes["n1"]->stop(SIGTERM, 30s), 0);

  // The node comes back on its old state directory: its view must be the new logs'.
  start_node("n1", with_state);
  expect_error(client("GET", "/purchases/" + plain_id), 404, "not_found", "purchaseId");
  expect_error(client("GET", "/purchases/" + keyed_id), 404, "not_found", "purchaseId");
  // The old key names no request in the new logs: another request under it is new.
  auto reused = http_call(port(), keyed_purchase("recreated-key", "g-1", "carol", 3));
  ASSERT_EQ(reused.status, 200) << reused.body;
  EXPECT_EQ(body(reused)["purchaseStatus"], "SUCCESSFUL");
  EXPECT_EQ(body(reused)["purchasedBy"], "carol");
  EXPECT_EQ(body(reused)["quantity"], 3);
  const auto& log = nodes["n1"]->log();
  EXPECT_NE(log.find("gateway: the view's store"), std::string::npos) << log_tail(log);
  EXPECT_NE(log.find("was built from another"), std::string::npos) << log_tail(log);
  replay_verifies();
  std::filesystem::remove_all(state);
}

} // namespace
} // namespace bps::it
