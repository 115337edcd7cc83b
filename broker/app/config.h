#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/net/tls_settings.h"
#include "broker/core/error.h"
#include "broker/core/host_port.h"
#include "broker/core/log.h"
#include "broker/core/result.h"
#include "broker/routing/participant.h"

namespace tb::app {

struct LimitsConfig {
  std::size_t http_body_bytes = 8 * 1024 * 1024;
  std::size_t http_header_bytes = 16 * 1024;
  std::size_t mllp_frame_bytes = 1024 * 1024;
  std::uint32_t handshake_timeout_ms = 10'000;
  std::uint32_t idle_timeout_ms = 60'000;
  std::uint32_t read_timeout_ms = 30'000;
  // Per listener (FHIR and MLLP): connections open at once; more wait in the listen backlog.
  std::size_t max_connections = 4096;
};

// "policy": files the policy engine reads at start (docs/policy.md, "In the broker").
struct PolicyConfig {
  std::filesystem::path sensitivity_table;   // CSV (.csv) or JSON rules; empty: no table
  std::filesystem::path pseudonym_key_file;  // hex key (>= 32 bytes); empty: no secondary use
  // "smart": OAuth 2.0 SMART Backend Services tokens (docs/policy.md, "Access tokens").
  struct TokenClient {
    std::string cert_cn;               // a registered participant's certificate CN = client_id
    std::filesystem::path public_key;  // PEM public key or certificate of its assertions
  };
  bool tokens_enabled = false;  // "smart" present: the token endpoint is served
  std::vector<TokenClient> token_clients;
  std::uint32_t token_lifetime_s = 300;
  bool require_tokens = false;  // every FHIR request must carry a bearer token
};

// The validated broker configuration. Paths are absolute (resolved against the config file's
// folder).
struct BrokerConfig {
  std::filesystem::path file;
  std::string broker_id;
  std::string broker_ods;
  std::string broker_name;
  core::HostPort listen_fhir;
  core::HostPort listen_mllp;
  net::TlsSettings tls;
  std::string store_url;  // sqlite: paths made absolute
  // Payloads at rest are sealed with AES-256-GCM when set: a file holding 64 hex digits, and the
  // key's short id (stored with each payload so keys can be rotated).
  std::filesystem::path payload_key_file;
  std::string payload_key_id = "k1";
  // Retention (docs/queue.md): a delivered message's payload is erased after payload_retention;
  // the message row and its dedupe key are kept for dedupe_retention (a resend within it is
  // acknowledged again, not delivered again). The purge runs every purge_interval.
  std::uint64_t payload_retention_ms = 24ull * 3600 * 1000;
  std::uint64_t dedupe_retention_ms = 30ull * 24 * 3600 * 1000;
  std::uint32_t purge_interval_ms = 10 * 60 * 1000;
  // store.durability: false ("off") lets commits skip the fsync. For benchmarks only.
  bool store_durable = true;
  // store.sqlite_wal_sync: "in_commit" (false, the default) fsyncs a SQLite store's WAL inside
  // COMMIT; "background" on a thread of its own outside the write lock. ACKs wait for the fsync
  // either way (store::StoreSettings::sync_outside_write_lock).
  bool store_sync_outside_write_lock = false;
  // queue.delivery_threads: threads delivering the outbound queue (each one item at a time).
  std::size_t delivery_threads = 2;
  // queue.lease_ms: how long a claimed item stays leased to a node's worker; a node that dies
  // leaves its in-flight items to the other nodes after this. Must exceed a delivery's timeout.
  std::uint32_t delivery_lease_ms = 2 * 60 * 1000;
  // queue.mllp_idle_timeout_ms / queue.mllp_max_idle_per_destination: outbound MLLP/TLS
  // connections kept open between deliveries (mllp::MllpClientPoolSettings): closed once idle
  // this long (0: never kept), at most this many idle per destination (about the delivery
  // threads sending to one destination at once).
  std::uint32_t mllp_idle_timeout_ms = 30'000;
  std::size_t mllp_max_idle_per_destination = 8;
  // store.lock_timeout_ms: how long a statement waits for another connection's lock before the
  // message gets an error ACK (SQLite busy_timeout, PostgreSQL lock_timeout).
  std::uint32_t store_lock_timeout_ms = 5000;
  std::vector<routing::Participant> participants;
  std::vector<routing::Peer> peers;
  LimitsConfig limits;
  std::uint32_t federation_deadline_ms = 3000;
  // federation.max_pages: pages fetched per trust or peer at most when its searchset links
  // "next" ones (routing::FederatedQuerySettings::max_pages); 1 = first pages only.
  std::uint32_t federation_max_pages = 20;
  // federation.post_searches: searches go to trusts and peers as POST [base]/{Type}/_search (and
  // POST Patient/$everything) with a form body, keeping NHS numbers out of upstream URLs and
  // access logs (routing::FederatedQuerySettings::post_searches). Only when every trust and
  // peer accepts it.
  bool federation_post_searches = false;
  // federation.max_idle_per_trust: keep-alive mTLS connections kept open per trust or peer (the
  // upstream pool); at least the concurrent requests expected per trust, or bursts handshake anew.
  std::uint32_t federation_max_idle_per_trust = 64;
  // federation.max_connections_per_trust: connections open at once to one trust or peer (queries
  // and FHIR deliveries together); more requests wait for one within their deadline.
  std::uint32_t federation_max_connections_per_trust = 64;
  core::LogLevel log_level = core::LogLevel::kInfo;
  unsigned io_threads = 0;  // 0: one per CPU the process may run on
  // Certificate CNs allowed to use the /admin endpoints (record locator upkeep).
  std::vector<std::string> admin_cert_cns;
  // Certificate CNs allowed GET /admin/health only (a load balancer's health check).
  std::vector<std::string> admin_health_cns;
  // MLLP message types accepted ("ADT^A01"); empty: routing::DefaultHl7MessageTypes().
  std::vector<std::string> hl7_message_types;
  PolicyConfig policy;
};

// The outcome of reading a config: the config, or every problem found (schema first, then
// cross-checks), each with the JSON path at fault in `location` ("/participants/1/cert_cn").
struct ConfigLoad {
  std::optional<BrokerConfig> config;
  std::vector<core::Error> problems;
};

// Reads, schema-checks (config.schema.json, RapidJSON's validator) and cross-checks a file.
ConfigLoad LoadBrokerConfig(const std::filesystem::path& file);
// Same, from text; `base_dir` resolves relative paths. `check_files` verifies TLS files exist.
ConfigLoad ParseBrokerConfig(std::string_view text, const std::filesystem::path& base_dir,
                             bool check_files = true);

}  // namespace tb::app
