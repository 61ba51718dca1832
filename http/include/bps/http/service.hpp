#pragma once

// The REST API on top of the gateway: routing, auth, validation, and the mapping
// of gateway answers to HTTP statuses. Plain request/response structs in and out
// (server.hpp); typed gateway calls with deadlines towards the actors.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bps/http/auth.hpp"
#include "bps/http/metrics.hpp"
#include "bps/http/server.hpp"

namespace bps::gateway {
class gateway;
} // namespace bps::gateway

namespace bps::http {

class event_hub;

struct service_config {
  /// false: every route is open (a local demo); true: API keys are required.
  bool auth = true;
  std::vector<api_key> keys;
  /// The largest `wait` a client may ask for.
  std::chrono::milliseconds max_wait{30000};
  /// How long item changes wait for their result before answering 202.
  std::chrono::milliseconds command_wait{10000};
  /// How long the gateway keeps purchases made without an Idempotency-Key (for
  /// the message of a 404).
  std::chrono::milliseconds idempotency_window{std::chrono::hours{24}};
  /// Where GET /events streams come from (must outlive the service); none: 404.
  event_hub* events = nullptr;
};

/// What /readyz reports: ready or not, and the checks as a JSON object.
struct readiness {
  bool ready = false;
  std::string checks_json = "{}";
};

class service {
public:
  service(gateway::gateway& gw, service_config cfg, std::function<readiness()> ready,
          std::function<std::string()> extra_metrics);

  void handle(request&& req, responder reply);
  /// Counts an answer the server gave by itself (a limit or timeout), with the
  /// server's reason as the route label.
  void count_refusal(int status, std::string_view why);

private:
  struct call;
  void dispatch(const std::shared_ptr<call>& c);
  void submit_purchase(const std::shared_ptr<call>& c);
  void get_purchase(const std::shared_ptr<call>& c);
  void submit_command(const std::shared_ptr<call>& c, int created_status);
  void open_events(const std::shared_ptr<call>& c);

  gateway::gateway& gw_;
  service_config cfg_;
  std::function<readiness()> ready_;
  std::function<std::string()> extra_metrics_;
  request_metrics metrics_;
  std::string openapi_; ///< as served: see openapi_document_for
};

/// The OpenAPI 3 document of the API (http/openapi.json, built in).
const std::string& openapi_document();
/// The document as a node serves it: the `wait` parameters' maximum is the node's own
/// largest wait (--http-max-wait-ms), so that the document refuses what the node does;
/// with `auth` off (--http-auth off) no operation asks for an API key or lists 401/403.
std::string openapi_document_for(std::chrono::milliseconds max_wait, bool auth = true);
/// The web page served at / (http/web/index.html, built in).
const std::string& web_page();

} // namespace bps::http
