#include "broker/app/config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include "broker/app/config_schema.h"
#include "broker/policy/purpose.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::ParseHostPort;

constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;

// The compiled schema, built once per process.
const rapidjson::SchemaDocument& Schema() {
  static const rapidjson::SchemaDocument* schema = [] {
    rapidjson::Document document;
    document.Parse(ConfigSchemaJson().data(), ConfigSchemaJson().size());
    return new rapidjson::SchemaDocument(document);  // intentionally immortal
  }();
  return *schema;
}

std::string PointerText(const rapidjson::Pointer& pointer) {
  rapidjson::StringBuffer buffer;
  pointer.Stringify(buffer);
  std::string text = buffer.GetString();
  return text.empty() ? "/" : text;
}

// Turns RapidJSON's first schema violation into an error naming the JSON path at fault. Debian's
// RapidJSON (1.1.0) reports only the failing keyword and pointers, so for `required` and
// `additionalProperties` the offending member name is worked out from the schema itself.
core::Error SchemaError(const rapidjson::SchemaValidator& validator,
                        const rapidjson::Document& document) {
  std::string path = PointerText(validator.GetInvalidDocumentPointer());
  const std::string keyword = validator.GetInvalidSchemaKeyword();
  std::string message = "violates schema rule '" + keyword + "'";

  rapidjson::Document schema;
  schema.Parse(ConfigSchemaJson().data(), ConfigSchemaJson().size());
  const rapidjson::Value* rule = validator.GetInvalidSchemaPointer().Get(schema);
  const rapidjson::Value* instance = validator.GetInvalidDocumentPointer().Get(document);
  const std::string parent = path == "/" ? "" : path;
  if (keyword == "required" && rule != nullptr && instance != nullptr && instance->IsObject() &&
      rule->HasMember("required")) {
    for (const auto& name : (*rule)["required"].GetArray()) {
      if (name.IsString() && !instance->HasMember(name.GetString())) {
        path = parent + "/" + name.GetString();
        message = "is required";
        break;
      }
    }
  } else if (keyword == "additionalProperties" && rule != nullptr && instance != nullptr &&
             instance->IsObject() && rule->HasMember("properties")) {
    for (const auto& member : instance->GetObject()) {
      if (!(*rule)["properties"].HasMember(member.name.GetString())) {
        path = parent + "/" + member.name.GetString();
        message = "is not a known setting";
        break;
      }
    }
  } else if (keyword == "pattern") {
    message = "has an invalid format";
  } else if (keyword == "type") {
    message = "has the wrong type";
  } else if (keyword == "enum") {
    message = "is not one of the allowed values";
  } else if (keyword == "minimum" || keyword == "maximum") {
    message = "is out of range";
  } else if (keyword == "minLength" || keyword == "maxLength") {
    message = "has the wrong length";
  }
  return MakeError(ErrorCode::kConfig, path + " " + message, path);
}

std::string GetString(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  return member != object.MemberEnd() && member->value.IsString() ? member->value.GetString()
                                                                  : std::string();
}

// False when absent or not a boolean (the schema has refused the latter already).
bool GetBool(const rapidjson::Value& object, const char* name) {
  const auto member = object.FindMember(name);
  return member != object.MemberEnd() && member->value.IsBool() && member->value.GetBool();
}

std::vector<std::string> GetStrings(const rapidjson::Value& object, const char* name) {
  std::vector<std::string> values;
  const auto member = object.FindMember(name);
  if (member != object.MemberEnd() && member->value.IsArray()) {
    for (const auto& item : member->value.GetArray()) {
      if (item.IsString()) {
        values.emplace_back(item.GetString(), item.GetStringLength());
      }
    }
  }
  return values;
}

template <typename Int>
void ReadInt(const rapidjson::Value& object, const char* name, Int& out) {
  const auto member = object.FindMember(name);
  if (member != object.MemberEnd() && member->value.IsInt64()) {
    out = static_cast<Int>(member->value.GetInt64());
  }
}

std::filesystem::path Resolve(const std::filesystem::path& base, const std::string& value) {
  if (value.empty()) {
    return {};
  }
  const std::filesystem::path path(value);
  return path.is_absolute() ? path : (base / path).lexically_normal();
}

void CheckFile(const std::filesystem::path& path, const std::string& location,
               std::vector<core::Error>& problems) {
  std::error_code ec;
  if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
    problems.push_back(
        MakeError(ErrorCode::kConfig, location + " file not found: " + path.string(), location));
  }
}

void ReadListen(const rapidjson::Value& listen, const char* name, core::HostPort& out,
                std::vector<core::Error>& problems) {
  const std::string text = GetString(listen, name);
  if (!text.empty() && !ParseHostPort(text, out)) {
    const std::string location = std::string("/listen/") + name;
    problems.push_back(MakeError(ErrorCode::kConfig, location + " is not host:port", location));
  }
}

void ReadParticipants(const rapidjson::Value& root, BrokerConfig& config,
                      std::vector<core::Error>& problems) {
  const auto member = root.FindMember("participants");
  if (member == root.MemberEnd()) {
    return;
  }
  std::set<std::string> cert_cns;
  std::set<std::string> ods_codes;
  std::size_t index = 0;
  for (const auto& item : member->value.GetArray()) {
    const std::string at = "/participants/" + std::to_string(index++);
    routing::Participant participant;
    participant.ods = GetString(item, "ods");
    participant.name = GetString(item, "name");
    participant.cert_cn = GetString(item, "cert_cn");
    participant.fhir_base = GetString(item, "fhir_base");
    const std::string mllp = GetString(item, "mllp");
    if (!mllp.empty() && !ParseHostPort(mllp, participant.mllp)) {
      problems.push_back(
          MakeError(ErrorCode::kConfig, at + "/mllp is not host:port", at + "/mllp"));
    }
    participant.scopes = GetStrings(item, "scopes");
    participant.purposes = GetStrings(item, "purposes");
    if (participant.purposes.empty()) {
      participant.purposes.emplace_back("TREAT");
    }
    participant.break_glass = GetBool(item, "break_glass");
    for (core::Error& problem : policy::ValidatePolicyConfig(
             participant.scopes, GetStrings(item, "purposes"), participant.break_glass)) {
      problem.location = at + "/" + problem.location;
      problem.message = problem.location + ": " + problem.message;
      problems.push_back(std::move(problem));
    }
    participant.receives = GetStrings(item, "receives");
    participant.format = GetString(item, "format");
    if ((participant.format == "hl7v2" && participant.mllp.host.empty()) ||
        (participant.format == "fhir" && participant.fhir_base.empty())) {
      problems.push_back(MakeError(ErrorCode::kConfig,
                                   at + "/format is " + participant.format + " but the " +
                                       (participant.format == "fhir" ? "fhir_base" : "mllp") +
                                       " endpoint it needs is not set",
                                   at + "/format"));
    }
    if (!cert_cns.insert(participant.cert_cn).second) {
      problems.push_back(MakeError(
          ErrorCode::kConfig, at + "/cert_cn is used by another participant", at + "/cert_cn"));
    }
    if (!ods_codes.insert(participant.ods).second) {
      problems.push_back(
          MakeError(ErrorCode::kConfig, at + "/ods is used by another participant", at + "/ods"));
    }
    if (participant.ods == config.broker_ods) {
      problems.push_back(
          MakeError(ErrorCode::kConfig, at + "/ods is the broker's own ODS code", at + "/ods"));
    }
    config.participants.push_back(std::move(participant));
  }
  index = 0;
  const auto peers = root.FindMember("peers");
  if (peers == root.MemberEnd()) {
    return;
  }
  for (const auto& item : peers->value.GetArray()) {
    const std::string at = "/peers/" + std::to_string(index++);
    routing::Peer peer;
    peer.id = GetString(item, "id");
    peer.cert_cn = GetString(item, "cert_cn");
    peer.fhir_base = GetString(item, "fhir_base");
    // Least privilege: a peer without `scopes` is granted nothing (it may still be queried).
    peer.scopes = GetStrings(item, "scopes");
    for (core::Error& problem : policy::ValidatePolicyConfig(peer.scopes, {}, false)) {
      problem.location = at + "/" + problem.location;
      problem.message = problem.location + ": " + problem.message;
      problems.push_back(std::move(problem));
    }
    if (!cert_cns.insert(peer.cert_cn).second) {
      problems.push_back(MakeError(ErrorCode::kConfig,
                                   at + "/cert_cn is used by another participant or peer",
                                   at + "/cert_cn"));
    }
    config.peers.push_back(std::move(peer));
  }
}

}  // namespace

ConfigLoad ParseBrokerConfig(std::string_view text, const std::filesystem::path& base_dir,
                             bool check_files) {
  ConfigLoad load;
  if (text.size() > kMaxConfigBytes) {
    load.problems.push_back(MakeError(ErrorCode::kConfig, "config file is too large", "/"));
    return load;
  }
  rapidjson::Document parsed;
  parsed.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  // Read only from here on. Const, so that FindMember gives const iterators: RapidJSON 1.1's `!=`
  // between two non-const member iterators is ambiguous in C++20 (clang rejects it).
  const rapidjson::Document& document = parsed;
  if (document.HasParseError()) {
    load.problems.push_back(MakeError(ErrorCode::kConfig,
                                      std::string("config is not valid JSON at byte ") +
                                          std::to_string(document.GetErrorOffset()) + ": " +
                                          rapidjson::GetParseError_En(document.GetParseError()),
                                      "/"));
    return load;
  }
  rapidjson::SchemaValidator validator(Schema());
  if (!document.Accept(validator)) {
    load.problems.push_back(SchemaError(validator, document));
    return load;
  }

  BrokerConfig config;
  const auto& broker = document["broker"];
  config.broker_id = GetString(broker, "id");
  config.broker_ods = GetString(broker, "ods");
  config.broker_name = GetString(broker, "name");
  ReadListen(document["listen"], "fhir", config.listen_fhir, load.problems);
  ReadListen(document["listen"], "mllp", config.listen_mllp, load.problems);

  const auto& tls = document["tls"];
  config.tls.cert = Resolve(base_dir, GetString(tls, "cert"));
  config.tls.key = Resolve(base_dir, GetString(tls, "key"));
  config.tls.ca = Resolve(base_dir, GetString(tls, "ca"));
  config.tls.crl = Resolve(base_dir, GetString(tls, "crl"));
  if (check_files) {
    CheckFile(config.tls.cert, "/tls/cert", load.problems);
    CheckFile(config.tls.key, "/tls/key", load.problems);
    CheckFile(config.tls.ca, "/tls/ca", load.problems);
    CheckFile(config.tls.crl, "/tls/crl", load.problems);
  }

  config.store_url = GetString(document["store"], "url");
  constexpr std::string_view kSqlite = "sqlite:";
  if (config.store_url.rfind(kSqlite, 0) == 0 && config.store_url != "sqlite::memory:") {
    config.store_url =
        std::string(kSqlite) + Resolve(base_dir, config.store_url.substr(kSqlite.size())).string();
  }

  if (const std::string key_file = GetString(document["store"], "payload_key_file");
      !key_file.empty()) {
    config.payload_key_file = Resolve(base_dir, key_file);
    if (check_files) {
      CheckFile(config.payload_key_file, "/store/payload_key_file", load.problems);
    }
  }
  ReadInt(document["store"], "payload_retention_ms", config.payload_retention_ms);
  ReadInt(document["store"], "dedupe_retention_ms", config.dedupe_retention_ms);
  ReadInt(document["store"], "purge_interval_ms", config.purge_interval_ms);
  if (const std::string key_id = GetString(document["store"], "payload_key_id"); !key_id.empty()) {
    config.payload_key_id = key_id;
  }
  config.store_durable = GetString(document["store"], "durability") != "off";
  config.store_sync_outside_write_lock =
      GetString(document["store"], "sqlite_wal_sync") == "background";
  ReadInt(document["store"], "lock_timeout_ms", config.store_lock_timeout_ms);
  if (const auto queue = document.FindMember("queue"); queue != document.MemberEnd()) {
    ReadInt(queue->value, "delivery_threads", config.delivery_threads);
    ReadInt(queue->value, "lease_ms", config.delivery_lease_ms);
    ReadInt(queue->value, "mllp_idle_timeout_ms", config.mllp_idle_timeout_ms);
    ReadInt(queue->value, "mllp_max_idle_per_destination", config.mllp_max_idle_per_destination);
  }

  ReadParticipants(document, config, load.problems);

  if (const auto limits = document.FindMember("limits"); limits != document.MemberEnd()) {
    ReadInt(limits->value, "http_body_bytes", config.limits.http_body_bytes);
    ReadInt(limits->value, "http_header_bytes", config.limits.http_header_bytes);
    ReadInt(limits->value, "mllp_frame_bytes", config.limits.mllp_frame_bytes);
    ReadInt(limits->value, "handshake_timeout_ms", config.limits.handshake_timeout_ms);
    ReadInt(limits->value, "idle_timeout_ms", config.limits.idle_timeout_ms);
    ReadInt(limits->value, "read_timeout_ms", config.limits.read_timeout_ms);
    ReadInt(limits->value, "max_connections", config.limits.max_connections);
  }
  if (const auto federation = document.FindMember("federation");
      federation != document.MemberEnd()) {
    ReadInt(federation->value, "deadline_ms", config.federation_deadline_ms);
    ReadInt(federation->value, "max_idle_per_trust", config.federation_max_idle_per_trust);
    ReadInt(federation->value, "max_connections_per_trust",
            config.federation_max_connections_per_trust);
    ReadInt(federation->value, "max_pages", config.federation_max_pages);
    config.federation_post_searches = GetBool(federation->value, "post_searches");
  }
  if (const auto log = document.FindMember("log"); log != document.MemberEnd()) {
    core::ParseLogLevel(GetString(log->value, "level"), config.log_level);
  }
  ReadInt(document, "io_threads", config.io_threads);
  if (const auto admin = document.FindMember("admin"); admin != document.MemberEnd()) {
    config.admin_cert_cns = GetStrings(admin->value, "cert_cns");
    config.admin_health_cns = GetStrings(admin->value, "health_cns");
  }
  if (const auto hl7 = document.FindMember("hl7v2"); hl7 != document.MemberEnd()) {
    config.hl7_message_types = GetStrings(hl7->value, "message_types");
  }

  if (const auto policy = document.FindMember("policy"); policy != document.MemberEnd()) {
    const std::string table = GetString(policy->value, "sensitivity_table");
    const std::string key = GetString(policy->value, "pseudonym_key_file");
    if (!table.empty()) {
      config.policy.sensitivity_table = Resolve(base_dir, table);
    }
    if (!key.empty()) {
      config.policy.pseudonym_key_file = Resolve(base_dir, key);
    }
    if (check_files) {
      CheckFile(config.policy.sensitivity_table, "/policy/sensitivity_table", load.problems);
      CheckFile(config.policy.pseudonym_key_file, "/policy/pseudonym_key_file", load.problems);
    }
    if (const auto smart = policy->value.FindMember("smart"); smart != policy->value.MemberEnd()) {
      config.policy.tokens_enabled = true;
      ReadInt(smart->value, "token_lifetime_s", config.policy.token_lifetime_s);
      config.policy.require_tokens = GetBool(smart->value, "require_tokens");
      if (const auto clients = smart->value.FindMember("clients");
          clients != smart->value.MemberEnd()) {
        std::size_t index = 0;
        for (const auto& item : clients->value.GetArray()) {
          const std::string at = "/policy/smart/clients/" + std::to_string(index++);
          PolicyConfig::TokenClient client{GetString(item, "cert_cn"),
                                           Resolve(base_dir, GetString(item, "public_key"))};
          const bool registered = std::any_of(
              config.participants.begin(), config.participants.end(),
              [&](const routing::Participant& p) { return p.cert_cn == client.cert_cn; });
          if (!registered) {
            load.problems.push_back(core::MakeError(
                core::ErrorCode::kConfig, at + "/cert_cn is not a registered participant's",
                at + "/cert_cn"));
          }
          if (check_files) {
            CheckFile(client.public_key, at + "/public_key", load.problems);
          }
          config.policy.token_clients.push_back(std::move(client));
        }
      }
    }
  }

  if (load.problems.empty()) {
    load.config = std::move(config);
  }
  return load;
}

ConfigLoad LoadBrokerConfig(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    ConfigLoad load;
    load.problems.push_back(
        MakeError(ErrorCode::kConfig, "cannot read config file " + file.string(), "/"));
    return load;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::filesystem::path absolute = std::filesystem::absolute(file);
  ConfigLoad load = ParseBrokerConfig(text.str(), absolute.parent_path());
  if (load.config) {
    load.config->file = absolute;
  }
  return load;
}

}  // namespace tb::app
