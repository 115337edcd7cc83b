#include "broker/app/broker_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "adapters/mllp/server.h"
#include "adapters/net/https_client.h"
#include "adapters/net/https_server.h"
#include "adapters/net/server_runtime.h"
#include "adapters/net/tls_context.h"
#include "broker/app/admin_api.h"
#include "broker/app/fhir_api.h"
#include "broker/app/https_upstream_client.h"
#include "broker/app/participant_deliverer.h"
#include "broker/app/process_message_api.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/access_token.h"
#include "broker/policy/labels.h"
#include "broker/policy/pseudonymise.h"
#include "broker/queue/delivery_worker.h"
#include "broker/routing/hl7_ingest.h"
#include "broker/routing/participant.h"
#include "broker/store/store.h"
#include "mappings/mapping_tables.h"

namespace tb::app {

namespace asio = boost::asio;

class BrokerServer::Impl {
 public:
  explicit Impl(BrokerConfig config)
      : config_(std::move(config)),
        directory_(config_.participants, config_.peers),
        log_("tb.app") {}

  core::Status Start() {
    auto tls = net::MakeServerContext(config_.tls);
    if (!tls) {
      return tls.error();
    }
    BROKER_RETURN_IF_ERROR(OpenStore());
    BROKER_RETURN_IF_ERROR(StartFederation());
    admin_ = std::make_unique<AdminApi>(
        std::set<std::string, std::less<>>(config_.admin_cert_cns.begin(),
                                           config_.admin_cert_cns.end()),
        directory_, *locator_, outbound_.get(), clock_, Blocking(), ledger_.get(),
        config_.broker_ods);
    admin_->AllowHealthChecks(std::set<std::string, std::less<>>(config_.admin_health_cns.begin(),
                                                                 config_.admin_health_cns.end()));
    // FHIR messages (POST /fhir/$process-message): stored and routed like MLLP frames.
    ProcessMessageSettings messages;
    messages.broker_id = config_.broker_id;
    messages.broker_ods = config_.broker_ods;
    messages.max_body_bytes = config_.limits.http_body_bytes;
    process_message_ = std::make_unique<ProcessMessageApi>(directory_, *inbound_, locator_.get(),
                                                           ledger_.get(), clock_, Blocking(),
                                                           messages, [this] { delivery_->Wake(); });
    net::HttpServerSettings http;
    http.address = config_.listen_fhir.host;
    http.port = config_.listen_fhir.port;
    http.body_limit = config_.limits.http_body_bytes;
    http.header_limit = config_.limits.http_header_bytes;
    http.handshake_timeout = std::chrono::milliseconds(config_.limits.handshake_timeout_ms);
    http.idle_timeout = std::chrono::milliseconds(config_.limits.idle_timeout_ms);
    http.read_timeout = std::chrono::milliseconds(config_.limits.read_timeout_ms);
    http.max_connections = config_.limits.max_connections;
    http.component = "tb.fhir_api";
    https_ = std::make_unique<net::HttpsServer>(
        runtime_.io_context(), *tls, http,
        [this](core::HttpRequest request, net::Responder respond) {
          if (AdminApi::Handles(request.Path())) {
            admin_->Handle(std::move(request), std::move(respond));
            return;
          }
          if (ProcessMessageApi::Handles(request.Path())) {
            process_message_->Handle(std::move(request), std::move(respond));
            return;
          }
          api_->Handle(std::move(request), std::move(respond));
        },
        &FhirApi::RenderError);
    auto port = https_->Start();
    if (!port) {
      return port.error();
    }
    fhir_port_ = *port;
    if (config_.listen_mllp.port != 0 || !config_.listen_mllp.host.empty()) {
      BROKER_RETURN_IF_ERROR(StartMllp(*tls));
    }

    const unsigned threads = config_.io_threads != 0 ? config_.io_threads : net::UsableCpus();
    runtime_.Run(threads, /*handle_signals=*/true);
    // Store-and-forward: deliveries need the io threads (HTTPS client) running.
    BROKER_RETURN_IF_ERROR(delivery_->Start());
    purge_timer_ = std::make_unique<asio::steady_timer>(runtime_.io_context());
    SchedulePurge();
    log_.Info("broker_started",
              {{"broker", config_.broker_id},
               {"fhir", config_.listen_fhir.host + ":" + std::to_string(fhir_port_)},
               {"mllp", mllp_ ? config_.listen_mllp.host + ":" + std::to_string(mllp_port_) : ""},
               {"io_threads", std::to_string(threads)}});
    return core::Ok();
  }

  // MLLP/TLS on listen.mllp: Hl7Ingest checks each frame (on the I/O thread, or on the blocking
  // pool when its routing reads the locator), stores it and builds the ACK; the reply is sent
  // only after the store has committed.
  core::Status StartMllp(const std::shared_ptr<asio::ssl::context>& tls) {
    routing::Hl7IngestSettings ingest;
    ingest.broker_ods = config_.broker_ods;
    ingest.rules.message_types.insert(config_.hl7_message_types.begin(),
                                      config_.hl7_message_types.end());
    hl7_ = std::make_unique<routing::Hl7Ingest>(directory_, *inbound_, locator_.get(), clock_,
                                                std::move(ingest), ledger_.get());
    // The store's committer hands each commit's answers to the I/O threads as one task, not one
    // post (and wake-up) per message (docs/hl7v2-ingest.md, Performance).
    inbound_->PostAsyncReportsThrough([this](std::function<void()> reports) {
      asio::post(runtime_.io_context(), std::move(reports));
    });
    mllp::MllpServerSettings settings;
    settings.address = config_.listen_mllp.host;
    settings.port = config_.listen_mllp.port;
    settings.max_frame_bytes = config_.limits.mllp_frame_bytes;
    settings.handshake_timeout = std::chrono::milliseconds(config_.limits.handshake_timeout_ms);
    settings.idle_timeout = std::chrono::milliseconds(config_.limits.idle_timeout_ms);
    settings.read_timeout = std::chrono::milliseconds(config_.limits.read_timeout_ms);
    settings.max_connections = config_.limits.max_connections;
    mllp_ = std::make_unique<mllp::MllpServer>(
        runtime_.io_context(), tls, settings,
        [this](mllp::FrameRequest frame, mllp::ReplyFn reply) {
          // The commits are waited for by nobody: the answer comes from the store's durable
          // receipt (Hl7Ingest::IngestAsync). The checks run on this I/O thread when nothing in
          // them blocks (the locator read in the store's commit), else on the blocking pool.
          auto work = [this, frame = std::move(frame), reply = std::move(reply)] {
            hl7_->IngestAsync(
                frame.payload, frame.peer,
                [this, bytes = frame.payload.size(), cn = frame.peer.subject_cn,
                 reply](routing::Hl7IngestResult result) {
                  // Batched: a write(2) per message on the committer's callback was ~2% of
                  // the ingest's CPU (docs/hl7v2-ingest.md, Performance).
                  log_.InfoBatched("hl7_received",
                                   {{"sender", result.sender},
                                    {"cert_cn", cn},
                                    {"type", result.message_type},
                                    {"outcome", result.outcome},
                                    {"ack", std::string(hl7v2::ToString(result.ack.code))},
                                    {"message_id", std::to_string(result.message_id)},
                                    {"bytes", std::to_string(bytes)}});
                  // Only new queue rows are worth a look: a wake-up per message made every
                  // delivery thread run ClaimNext (a write transaction) for nothing.
                  if (result.routes != 0) {
                    delivery_->Wake();
                  }
                  reply(result.ack.should_send ? std::move(result.ack.er7) : std::string());
                });
          };
          if (hl7_->IngestsWithoutBlocking()) {
            work();
          } else {
            asio::post(blocking_, std::move(work));
          }
        },
        [this](const mllp::FrameFault& fault) {
          log_.Warn("hl7_frame_refused", {{"cert_cn", fault.peer.subject_cn},
                                          {"bytes", std::to_string(fault.bytes)},
                                          {"limit", std::to_string(fault.limit)}});
          return hl7_->RefuseFrame(fault.head, fault.error).er7;
        });
    auto port = mllp_->Start();
    if (!port) {
      return port.error();
    }
    mllp_port_ = *port;
    return core::Ok();
  }

  // The outbound side: one pooled mutual-TLS client (our certificate, our CA and CRL) on the io
  // threads, the federated query engine over it, and the FHIR API that uses both.
  core::Status StartFederation() {
    auto client_tls = net::MakeClientContext(config_.tls);
    if (!client_tls) {
      return client_tls.error();
    }
    net::HttpsClientSettings client_settings;
    client_settings.max_idle_per_host = config_.federation_max_idle_per_trust;
    client_settings.max_connections_per_host = config_.federation_max_connections_per_trust;
    https_client_ =
        std::make_shared<net::HttpsClient>(runtime_.io_context(), *client_tls, client_settings);
    auto tables = mappings::BuiltinMappingTables();
    if (!tables) {
      return tables.error();
    }
    BROKER_RETURN_IF_ERROR(LoadPolicy());
    delivery_consents_ = std::make_unique<RecordsConsentStore>(*consents_, clock_);
    DeliveryPolicy delivery_policy{delivery_consents_.get(), table_ ? &*table_ : nullptr};
    mllp::MllpClientPoolSettings mllp_pool;
    mllp_pool.idle_timeout = std::chrono::milliseconds(config_.mllp_idle_timeout_ms);
    mllp_pool.max_idle_per_destination = config_.mllp_max_idle_per_destination;
    deliverer_ = std::make_unique<ParticipantDeliverer>(directory_, *client_tls, https_client_,
                                                        **tables, config_.broker_ods, ledger_.get(),
                                                        clock_, delivery_policy, mllp_pool);
    queue::DeliverySettings delivery;
    delivery.owner = config_.broker_id;
    delivery.threads = config_.delivery_threads;
    delivery.lease = std::chrono::milliseconds(config_.delivery_lease_ms);
    // A ParticipantDeliverer attempt: MLLP connect and handshake (10 s) then the reply (30 s),
    // or one FHIR request (30 s). A lease shorter than 80 s (the schema allows 1 s) starts an
    // item only while half of it is left.
    delivery.attempt_timeout =
        std::min<std::chrono::milliseconds>(std::chrono::seconds(40), delivery.lease / 2);
    delivery_ = std::make_unique<queue::DeliveryWorker>(*outbound_, *deliverer_, delivery, clock_);
    upstream_ = std::make_unique<HttpsUpstreamClient>(https_client_);
    routing::FederatedQuerySettings settings;
    settings.self_id = config_.broker_id;
    settings.self_ods = config_.broker_ods;
    settings.default_deadline = std::chrono::milliseconds(config_.federation_deadline_ms);
    settings.post_searches = config_.federation_post_searches;
    settings.max_pages = config_.federation_max_pages;
    federation_ = std::make_unique<routing::FederatedQuery>(settings, directory_, *locator_,
                                                            *upstream_, clock_, Blocking());
    PolicyServices policy;
    policy.consents = consents_.get();
    policy.table = table_ ? &*table_ : nullptr;
    policy.pseudonymiser = pseudonymiser_ ? &*pseudonymiser_ : nullptr;
    policy.clock = &clock_;
    policy.ledger = ledger_.get();
    policy.tokens = tokens_.get();
    api_ = std::make_unique<FhirApi>(config_, directory_, federation_.get(), Blocking(), policy);
    return core::Ok();
  }

  // The policy files named in config ("policy"): the sensitivity table (CSV when the file ends in
  // .csv, else JSON rules) and the pseudonym key (hex). Errors are kConfig naming the key.
  core::Status LoadPolicy() {
    auto read = [](const std::filesystem::path& file) -> std::optional<std::string> {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        return std::nullopt;
      }
      std::ostringstream text;
      text << in.rdbuf();
      return text.str();
    };
    if (const auto& file = config_.policy.sensitivity_table; !file.empty()) {
      const auto text = read(file);
      if (!text) {
        return core::MakeError(core::ErrorCode::kConfig, "cannot read " + file.string(),
                               "/policy/sensitivity_table");
      }
      auto table = file.extension() == ".csv" ? policy::SensitivityTable::ParseCsv(*text)
                                              : policy::SensitivityTable::ParseJson(*text);
      if (!table) {
        return core::MakeError(
            core::ErrorCode::kConfig,
            "/policy/sensitivity_table: " + table.error().location + ": " + table.error().message,
            "/policy/sensitivity_table");
      }
      table_ = std::move(*table);
    }
    if (const auto& file = config_.policy.pseudonym_key_file; !file.empty()) {
      const auto text = read(file);
      if (!text) {
        return core::MakeError(core::ErrorCode::kConfig, "cannot read the pseudonym key file",
                               "/policy/pseudonym_key_file");
      }
      auto pseudonymiser = policy::Pseudonymiser::CreateFromHex(*text);
      if (!pseudonymiser) {
        return core::MakeError(core::ErrorCode::kConfig,
                               "/policy/pseudonym_key_file: " + pseudonymiser.error().message,
                               "/policy/pseudonym_key_file");
      }
      pseudonymiser_ = std::move(*pseudonymiser);
    }
    if (config_.policy.tokens_enabled) {
      // SMART Backend Services tokens, signed with the broker's TLS key (docs/policy.md).
      const auto key = read(config_.tls.key);
      if (!key) {
        return core::MakeError(core::ErrorCode::kConfig, "cannot read the TLS key", "/tls/key");
      }
      policy::TokenService::Settings settings;
      settings.issuer = config_.broker_id;
      settings.lifetime = std::chrono::seconds(config_.policy.token_lifetime_s);
      auto tokens = policy::TokenService::Create(settings, *key, clock_);
      if (!tokens) {
        return core::MakeError(core::ErrorCode::kConfig, tokens.error().message, "/tls/key");
      }
      tokens_ = std::move(*tokens);
      for (std::size_t i = 0; i < config_.policy.token_clients.size(); ++i) {
        const auto& client = config_.policy.token_clients[i];
        const std::string at = "/policy/smart/clients/" + std::to_string(i) + "/public_key";
        const auto pem = read(client.public_key);
        if (!pem) {
          return core::MakeError(core::ErrorCode::kConfig,
                                 "cannot read " + client.public_key.string(), at);
        }
        if (auto added = tokens_->AddClient(client.cert_cn, *pem); !added) {
          return core::MakeError(core::ErrorCode::kConfig, at + ": " + added.error().message, at);
        }
      }
    }
    log_.Info("policy_loaded",
              {{"sensitivity_rules", std::to_string(table_ ? table_->rules().size() : 0)},
               {"pseudonymisation", pseudonymiser_ ? "on" : "off"},
               {"token_clients", std::to_string(config_.policy.token_clients.size())}});
    return core::Ok();
  }

  // Opens (and migrates) the store before anything listens, so a bad database stops the start.
  core::Status OpenStore() {
    constexpr std::string_view kSqlite = "sqlite:";
    if (config_.store_url.rfind(kSqlite, 0) == 0 && config_.store_url != "sqlite::memory:") {
      const std::filesystem::path file = config_.store_url.substr(kSqlite.size());
      std::error_code ec;
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) {
        return core::MakeError(core::ErrorCode::kConfig,
                               "cannot create the store folder " + file.parent_path().string(),
                               "/store/url");
      }
    }
    store::StoreSettings settings;
    settings.url = config_.store_url;
    settings.durability =
        config_.store_durable ? store::Durability::kFull : store::Durability::kOff;
    settings.sync_outside_write_lock = config_.store_sync_outside_write_lock;
    settings.lock_timeout = std::chrono::milliseconds(config_.store_lock_timeout_ms);
    auto database = store::OpenDatabase(settings);
    if (!database) {
      return database.error();
    }
    database_ = std::move(*database);
    if (!config_.payload_key_file.empty()) {
      std::ifstream in(config_.payload_key_file);
      std::string hex;
      in >> hex;
      auto key = store::ParsePayloadKey(config_.payload_key_id, hex);
      if (!in || !key) {
        return core::MakeError(core::ErrorCode::kConfig,
                               "the payload key file must hold 64 hex digits (32 bytes)",
                               "/store/payload_key_file");
      }
      inbound_ = store::MakeInboundStore(*database_, {}, *key);
      outbound_ = store::MakeOutboundQueue(*database_, clock_, {*key});
    } else {
      inbound_ = store::MakeInboundStore(*database_);
      outbound_ = store::MakeOutboundQueue(*database_, clock_);
    }
    locator_ = store::MakeRecordLocator(*database_);
    consents_ = store::MakeConsentStore(*database_);
    log_.Info("store_open", {{"store", database_->display_url()}});
    return OpenLedger();
  }

  // The audit ledger in the same store; checkpoints are signed with the broker's TLS key, so
  // `trustbridge audit verify` checks them against the broker's certificate.
  core::Status OpenLedger() {
    auto signer = ledger::CheckpointSigner::FromPemFile(config_.tls.key);
    if (!signer) {
      return core::MakeError(core::ErrorCode::kConfig,
                             "the audit ledger signs checkpoints with the TLS key, which must be "
                             "ECDSA P-256: " +
                                 signer.error().message,
                             "/tls/key");
    }
    signer_ = std::move(*signer);
    ledger_store_ = store::MakeLedgerStore(*database_);
    auto opened = ledger::Ledger::Open(*ledger_store_, clock_, signer_.get());
    if (!opened) {
      return opened.error();
    }
    ledger_ = std::move(*opened);
    // Where the store can (SQLite), a message's inbound hop is written in the message's own
    // batch transaction: one commit before the ACK, not two (Hl7Ingest, docs/ledger.md).
    inbound_->WriteLedgerHopsInto(ledger_.get());
    return core::Ok();
  }

  // Retention: every purge_interval, on the blocking pool, erase delivered payloads past
  // payload_retention and forget messages (and their dedupe keys) past dedupe_retention, a batch
  // at a time until nothing is left to do. The timer runs on the io threads; Wait() cancels it.
  void SchedulePurge() {
    purge_timer_->expires_after(std::chrono::milliseconds(config_.purge_interval_ms));
    purge_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        return;  // cancelled: stopping
      }
      asio::post(blocking_, [this] {
        core::PurgePolicy policy;
        policy.payload_retention = std::chrono::milliseconds(config_.payload_retention_ms);
        policy.key_retention = std::chrono::milliseconds(config_.dedupe_retention_ms);
        core::PurgeResult total;
        for (int round = 0; round < 100; ++round) {
          auto purged = outbound_->Purge(policy);
          if (!purged) {
            log_.Warn("purge_failed",
                      {{"code", std::string(core::Info(purged.error().code).name)}});
            break;
          }
          total.payloads_erased += purged->payloads_erased;
          total.messages_deleted += purged->messages_deleted;
          if (purged->payloads_erased + purged->messages_deleted <
              static_cast<std::int64_t>(policy.max_rows)) {
            break;
          }
        }
        if (total.payloads_erased + total.messages_deleted > 0) {
          log_.Info("purged", {{"payloads_erased", std::to_string(total.payloads_erased)},
                               {"messages_deleted", std::to_string(total.messages_deleted)}});
        }
        asio::post(runtime_.io_context(), [this] {
          if (!purge_stopped_) {
            SchedulePurge();
          }
        });
      });
    });
  }

  void Stop() { runtime_.RequestStop(); }

  void Wait() {
    runtime_.WaitForStopRequest();
    log_.Info("broker_stopping", {});
    if (https_) {
      https_->Stop();
    }
    if (mllp_) {
      mllp_->Stop();
    }
    // Busy connections finish their current request or frame (whose ACK follows its commit).
    net::ServerRuntime::Drain([this] { return ActiveConnections(); }, std::chrono::seconds(5));
    if (purge_timer_) {
      purge_stopped_ = true;
      asio::post(runtime_.io_context(), [this] { purge_timer_->cancel(); });
    }
    if (delivery_) {
      delivery_->Stop();  // deliveries in progress finish and are marked
    }
    if (https_client_) {
      https_client_->Shutdown();  // queries still waiting on trusts complete with errors
    }
    blocking_.join();
    if (hl7_) {
      // Frames taken are answered from the store's and ledger's commits: let them finish while
      // everything their answers use is still there.
      hl7_->WaitForInFlight();
    }
    if (inbound_) {
      inbound_->WriteLedgerHopsInto(nullptr);  // the ledger goes first at destruction
    }
    federation_.reset();
    runtime_.Join();
    log_.Info("broker_stopped", {});
  }

  // Posts work to the blocking pool (storage, mapping): I/O threads never wait on the disk.
  BlockingExecutor Blocking() {
    return [this](std::function<void()> work) { asio::post(blocking_, std::move(work)); };
  }

  std::size_t ActiveConnections() const {
    return (https_ ? https_->ActiveConnections() : 0) + (mllp_ ? mllp_->ActiveConnections() : 0);
  }

  ~Impl() {
    if (runtime_.running()) {
      Stop();
      Wait();
    }
  }

  BrokerConfig config_;
  routing::ParticipantDirectory directory_;
  net::ServerRuntime runtime_{"tb.app"};  // the io_context outlives everything built on it
  core::SystemClock clock_;               // used by most of what follows
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<core::InboundStore> inbound_;  // uses database_: declared after it
  std::unique_ptr<core::RecordLocator> locator_;
  std::unique_ptr<core::ConsentRecords> consents_;
  std::unique_ptr<core::OutboundQueue> outbound_;
  std::unique_ptr<core::LedgerStore> ledger_store_;
  std::unique_ptr<ledger::CheckpointSigner> signer_;
  std::optional<policy::SensitivityTable> table_;
  std::optional<policy::Pseudonymiser> pseudonymiser_;
  // SMART Backend Services tokens, when "policy.smart" is configured.
  std::unique_ptr<policy::TokenService> tokens_;
  std::unique_ptr<ledger::Ledger> ledger_;  // uses ledger_store_, signer_, clock_
  std::unique_ptr<routing::Hl7Ingest> hl7_;
  std::unique_ptr<AdminApi> admin_;
  std::shared_ptr<net::HttpsClient> https_client_;
  std::unique_ptr<HttpsUpstreamClient> upstream_;
  std::unique_ptr<routing::FederatedQuery> federation_;
  std::unique_ptr<RecordsConsentStore> delivery_consents_;  // over consents_, for the push path
  std::unique_ptr<ParticipantDeliverer> deliverer_;
  std::unique_ptr<queue::DeliveryWorker> delivery_;  // uses outbound_, deliverer_, clock_
  std::unique_ptr<asio::steady_timer> purge_timer_;  // runs on the io threads
  std::atomic<bool> purge_stopped_{false};
  std::unique_ptr<FhirApi> api_;
  std::unique_ptr<ProcessMessageApi> process_message_;
  // Storage and mapping work; the io threads never block. Sized for group commit: many
  // messages waiting on one commit is what makes the store fast. Declared after what its
  // tasks use, so that its destructor (which joins) runs first.
  asio::thread_pool blocking_{16};
  std::unique_ptr<net::HttpsServer> https_;
  std::unique_ptr<mllp::MllpServer> mllp_;
  std::uint16_t fhir_port_ = 0;
  std::uint16_t mllp_port_ = 0;
  core::Logger log_;
};

BrokerServer::BrokerServer(BrokerConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}
BrokerServer::~BrokerServer() = default;
core::Status BrokerServer::Start() { return impl_->Start(); }
std::uint16_t BrokerServer::fhir_port() const { return impl_->fhir_port_; }
std::uint16_t BrokerServer::mllp_port() const { return impl_->mllp_port_; }
void BrokerServer::Wait() { impl_->Wait(); }
void BrokerServer::Stop() { impl_->Stop(); }

}  // namespace tb::app
