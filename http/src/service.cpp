#include "bps/http/service.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bps/actors/gateway.hpp"
#include "bps/http/api.hpp"
#include "bps/http/events.hpp"
#include "bps/ids.hpp"

namespace bps::http {

namespace {

using clock_type = std::chrono::steady_clock;

response json_response(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response error_response(const api_error& e) {
  auto r = json_response(e.status, error_json(e));
  if (e.status == 401)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (e.status == 503)
    r.headers.emplace_back("Retry-After", "1");
  return r;
}

/// The id of a request: random without an Idempotency-Key; with one, derived from
/// the key's scope (the API key's name, or "anonymous" with auth off) and the key,
/// the same for a purchase and an item command ("k-" and 128 bits of SHA-256), so
/// that (scope, key) names one request on any node, after any restart, and a key
/// reused for a request of another kind is refused like any other reuse.
std::string request_id(const char* prefix, const std::string& principal, const request& req) {
  if (!req.has_idempotency_key)
    return random_id(prefix);
  return fmt::format("k-{}", hex(sha256(principal + "\n" + req.idempotency_key), 16));
}

/// What a write the gateway did not take is answered with: an Idempotency-Key
/// reused for another request (422), a partition that is behind (503 overloaded),
/// or Kafka (or the view's store) did not take it (503).
response refusal(gateway::answer status, const std::string& message, std::string_view what) {
  if (status == gateway::answer::conflict)
    return error_response({422, "idempotency_key_reused", message, "Idempotency-Key"});
  if (status == gateway::answer::overloaded)
    return error_response(
      {503, "overloaded", fmt::format("the {} was not written: {}", what, message), std::nullopt});
  return error_response({503, "unavailable",
                         fmt::format("the {} could not be written to Kafka ({}); retry with the "
                                     "same Idempotency-Key",
                                     what, message),
                         std::nullopt});
}

std::string_view rejection_code(domain::rejection_reason r) {
  switch (r) {
    case domain::rejection_reason::item_exists: return "item_exists";
    case domain::rejection_reason::unknown_item: return "unknown_item";
    case domain::rejection_reason::invalid_quantity: return "invalid_quantity";
    case domain::rejection_reason::invalid_amount: return "invalid_amount";
    case domain::rejection_reason::version_mismatch: return "version_mismatch";
    case domain::rejection_reason::none: break;
  }
  return "rejected";
}

} // namespace

struct service::call {
  request req;
  responder reply;
  const route* r = nullptr;
  route_match m;
  std::vector<std::pair<std::string, std::string>> query;
  std::string principal = "anonymous";
};

service::service(gateway::gateway& gw, service_config cfg, std::function<readiness()> ready,
                 std::function<std::string()> extra_metrics)
  : gw_(gw), cfg_(std::move(cfg)), ready_(std::move(ready)),
    extra_metrics_(std::move(extra_metrics)),
    openapi_(openapi_document_for(cfg_.max_wait, cfg_.auth)) {}

std::string openapi_document_for(std::chrono::milliseconds max_wait, bool auth) {
  auto doc = nlohmann::json::parse(openapi_document());
  if (!auth && doc.contains("components"))
    doc["components"].erase("securitySchemes");
  for (auto& [path, ops] : doc["paths"].items())
    for (auto& [method, op] : ops.items()) {
      if (!auth && op.is_object()) {
        // Without API keys nothing asks for one, and nothing answers 401 or 403.
        op.erase("security");
        if (op.contains("responses")) {
          op["responses"].erase("401");
          op["responses"].erase("403");
        }
      }
      if (op.is_object() && op.contains("parameters"))
        for (auto& param : op["parameters"])
          if (param.value("name", "") == "wait") {
            param["schema"]["maximum"] = max_wait.count();
            if (param.value("example", int64_t{0}) > max_wait.count())
              param["example"] = max_wait.count();
          }
    }
  return doc.dump(1);
}

void service::count_refusal(int status, std::string_view why) {
  metrics_.observe(why, status, 0);
}

void service::handle(request&& req, responder reply) {
  auto c = std::make_shared<call>();
  auto [path, query] = split_target(req.target);
  c->m = match(req.method, path);
  c->r = c->m.matched;
  auto started = clock_type::now();
  // Readable route labels also for what matches no route.
  auto route_name = c->r                 ? std::string{c->r->name}
                    : c->m.allow.empty() ? std::string{"unknown path"}
                                         : std::string{"method not allowed"};
  c->reply = [this, started, route_name, reply = std::move(reply)](response r) {
    metrics_.observe(route_name, r.status,
                     std::chrono::duration<double>(clock_type::now() - started).count());
    reply(std::move(r));
  };
  c->req = std::move(req);
  if (!c->r) {
    auto r = error_response(c->m.error);
    if (!c->m.allow.empty())
      r.headers.emplace_back("Allow", c->m.allow);
    return c->reply(std::move(r));
  }
  if (c->r->needs != role::anyone && cfg_.auth) {
    auto who = authenticate(cfg_.keys, c->req.authorization);
    if (!who)
      return c->reply(error_response(who.error));
    if (auto e = authorize(*who.value, c->r->needs))
      return c->reply(error_response(*e));
    c->principal = who.value->name;
  }
  auto q = parse_query(query, c->r->query);
  if (!q)
    return c->reply(error_response(q.error));
  c->query = std::move(*q.value);
  if (c->r->json_body) {
    if (!is_json(c->req.content_type))
      return c->reply(error_response(
        {415, "unsupported_media_type",
         fmt::format("the body must be JSON: send \"Content-Type: application/json\"{}",
                     c->req.content_type.empty() ? std::string{}
                                                 : ", not \"" + c->req.content_type + "\""),
         std::nullopt}));
    if (c->req.has_idempotency_key)
      if (auto e = check_idempotency_key(c->req.idempotency_key))
        return c->reply(error_response(*e));
  }
  dispatch(c);
}

void service::dispatch(const std::shared_ptr<call>& c) {
  auto name = c->r->name;
  if (name == "GET /")
    return c->reply({200, "text/html; charset=utf-8", web_page(), {}, {}});
  if (name == "GET /openapi.json")
    return c->reply(json_response(200, openapi_));
  if (name == "GET /healthz")
    return c->reply(json_response(200, R"({"status":"up"})"));
  if (name == "GET /readyz") {
    auto r = ready_();
    return c->reply(json_response(
      r.ready ? 200 : 503, fmt::format(R"({{"ready":{},"checks":{}}})", r.ready, r.checks_json)));
  }
  if (name == "GET /metrics")
    return c->reply(
      {200, "text/plain; version=0.0.4", metrics_.render() + extra_metrics_(), {}, {}});
  if (name == "POST /purchases")
    return submit_purchase(c);
  if (name == "GET /purchases/{purchaseId}")
    return get_purchase(c);
  if (name == "POST /items")
    return submit_command(c, 201);
  if (name == "PUT /items/{itemId}/quantity" || name == "POST /items/{itemId}/restock"
      || name == "PUT /items/{itemId}/description")
    return submit_command(c, 200);
  if (name == "GET /items/{itemId}") {
    auto id = param(c->m, "itemId");
    if (auto e = check_path_id("itemId", id))
      return c->reply(error_response(*e));
    return gw_.get_item(id, [c](gateway::item_answer a) {
      if (a.status == gateway::answer::not_found)
        return c->reply(error_response(
          {404, "not_found", fmt::format("no item \"{}\"", a.item.item_id), "itemId"}));
      c->reply(json_response(200, to_json(a.item)));
    });
  }
  if (name == "GET /items") {
    auto page = parse_page(c->query);
    if (!page)
      return c->reply(error_response(page.error));
    auto& p = *page.value;
    return gw_.list_items({std::move(p.after), std::move(p.before), std::move(p.prefix), p.limit},
                          [c](gateway::page_answer a) {
                            c->reply(json_response(200, page_json(a.items, a.next, a.prev)));
                          });
  }
  if (name == "GET /events")
    return open_events(c);
  c->reply(error_response({404, "not_found", "no handler for this route", std::nullopt}));
}

void service::open_events(const std::shared_ptr<call>& c) {
  if (!cfg_.events)
    return c->reply(
      error_response({404, "not_found", "this server has no event stream", std::nullopt}));
  std::string prefix;
  for (const auto& [k, v] : c->query)
    if (k == "prefix") {
      if (auto e = check_path_id("prefix", v))
        return c->reply(error_response(*e));
      prefix = v;
    }
  response r;
  r.stream = [hub = cfg_.events, prefix](std::shared_ptr<event_sink> sink) {
    // The first event says the stream is live (and what it is filtered by).
    sink->send("ready", nlohmann::json{{"prefix", prefix}}.dump());
    hub->add(std::move(sink), prefix);
  };
  c->reply(std::move(r));
}

void service::submit_purchase(const std::shared_ptr<call>& c) {
  auto wait = parse_wait(c->query, cfg_.max_wait);
  if (!wait)
    return c->reply(error_response(wait.error));
  auto p = parse_purchase(c->req.body);
  if (!p)
    return c->reply(error_response(p.error));
  if (auto why = gw_.admit())
    return c->reply(refusal(gateway::answer::overloaded, *why, "purchase"));
  p.value->purchase_id = request_id("p", c->principal, c->req);
  auto keyed = c->req.has_idempotency_key;
  gw_.submit_purchase(std::move(*p.value), keyed, *wait.value, [c](gateway::purchase_answer a) {
    switch (a.status) {
      case gateway::answer::done:
      case gateway::answer::pending: {
        auto r = json_response(a.status == gateway::answer::done ? 200 : 202, to_json(a.record));
        r.headers.emplace_back("Location", "/purchases/" + a.record.purchase_id);
        return c->reply(std::move(r));
      }
      case gateway::answer::conflict:
      case gateway::answer::not_found:
      case gateway::answer::unavailable:
      case gateway::answer::overloaded: return c->reply(refusal(a.status, a.message, "purchase"));
    }
  });
}

void service::get_purchase(const std::shared_ptr<call>& c) {
  auto id = param(c->m, "purchaseId");
  if (auto e = check_path_id("purchaseId", id))
    return c->reply(error_response(*e));
  auto wait = parse_wait(c->query, cfg_.max_wait);
  if (!wait)
    return c->reply(error_response(wait.error));
  auto window_s = cfg_.idempotency_window.count() / 1000;
  gw_.get_purchase(id, *wait.value, [c, window_s](gateway::purchase_answer a) {
    if (a.status == gateway::answer::not_found)
      return c->reply(error_response(
        {404, "not_found",
         fmt::format("no purchase \"{}\" is known to this node: it was never written, or it was "
                     "written more than {} s ago (this node's idempotency window) without an "
                     "Idempotency-Key; a purchase made with an Idempotency-Key is answered "
                     "whenever it is retried with the same key and body, and every purchase "
                     "is in the log (bps replay)",
                     a.record.purchase_id, window_s),
         "purchaseId"}));
    if (a.status != gateway::answer::done && a.status != gateway::answer::pending)
      return c->reply(refusal(a.status, a.message, "purchase"));
    c->reply(json_response(200, to_json(a.record)));
  });
}

void service::submit_command(const std::shared_ptr<call>& c, int created_status) {
  auto name = c->r->name;
  auto item_id = param(c->m, "itemId");
  parsed<domain::item_command> cmd;
  if (name == "POST /items")
    cmd = parse_insert(c->req.body);
  else if (name == "PUT /items/{itemId}/quantity")
    cmd = parse_set_quantity(item_id, c->req.body);
  else if (name == "POST /items/{itemId}/restock")
    cmd = parse_restock(item_id, c->req.body);
  else
    cmd = parse_set_description(item_id, c->req.body);
  if (!cmd)
    return c->reply(error_response(cmd.error));
  if (auto why = gw_.admit())
    return c->reply(refusal(gateway::answer::overloaded, *why, "change"));
  cmd.value->command_id = request_id("c", c->principal, c->req);
  auto wait = cfg_.command_wait;
  gw_.submit_command(
    std::move(*cmd.value), c->req.has_idempotency_key, wait,
    [c, created_status, wait](gateway::command_answer a) {
      const auto& rec = a.record;
      switch (a.status) {
        case gateway::answer::pending: {
          auto r = json_response(
            202, pending_command_json(rec, fmt::format("written, not applied within {} ms; a "
                                                       "running node applies it",
                                                       wait.count())));
          return c->reply(std::move(r));
        }
        case gateway::answer::conflict:
        case gateway::answer::not_found:
        case gateway::answer::unavailable:
        case gateway::answer::overloaded: return c->reply(refusal(a.status, a.message, "change"));
        case gateway::answer::done: break;
      }
      if (rec.status == domain::command_status::applied) {
        auto item = a.item.value_or(
          domain::item{rec.item_id, rec.description, rec.item_quantity, rec.item_version});
        auto r = json_response(created_status, to_json(item));
        if (created_status == 201)
          r.headers.emplace_back("Location", "/items/" + rec.item_id);
        return c->reply(std::move(r));
      }
      auto code = rejection_code(rec.reason);
      int status = 400;
      std::string message;
      switch (rec.reason) {
        case domain::rejection_reason::item_exists:
          status = 409;
          message = fmt::format("item \"{}\" exists already", rec.item_id);
          break;
        case domain::rejection_reason::unknown_item:
          status = 404;
          message = fmt::format("no item \"{}\"", rec.item_id);
          break;
        case domain::rejection_reason::version_mismatch:
          status = 409;
          message = fmt::format("item \"{}\" is at version {}, not the expectedVersion {}",
                                rec.item_id, rec.item_version, rec.expected_version.value_or(0));
          break;
        case domain::rejection_reason::invalid_amount:
          // The API takes only amounts from 1: what the item refuses is the sum.
          status = 409;
          message = fmt::format("restocking item \"{}\" by {} would take its quantity from {} "
                                "above {}, the most an item holds",
                                rec.item_id, rec.amount, rec.item_quantity, domain::max_quantity);
          break;
        default: message = fmt::format("the change was rejected: {}", code); break;
      }
      c->reply(error_response({status, std::string{code}, message, std::nullopt}));
    });
}

} // namespace bps::http
