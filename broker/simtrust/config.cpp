#include "broker/simtrust/config.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "adapters/fhir/json.h"

namespace tb::simtrust {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::int64_t kMaxLatencyMs = 600'000;
constexpr std::int64_t kMaxIoThreads = 64;
constexpr std::int64_t kMaxPageSize = 100'000;

class Checker {
 public:
  explicit Checker(std::filesystem::path base_dir) : base_dir_(std::move(base_dir)) {}

  void Problem(std::string pointer, std::string what) {
    problems_.push_back(MakeError(ErrorCode::kConfig, std::move(what), std::move(pointer)));
  }

  void CheckKeys(const rapidjson::Value& object, const std::string& pointer,
                 std::initializer_list<std::string_view> allowed) {
    for (const auto& member : object.GetObject()) {
      const std::string_view name = fhir::StringOf(member.name);
      bool known = false;
      for (const std::string_view key : allowed) {
        known = known || key == name;
      }
      if (!known) {
        Problem(pointer + "/" + std::string(name), "unknown key");
      }
    }
  }

  std::optional<std::string> String(const rapidjson::Value& object, std::string_view key,
                                    const std::string& pointer, bool required) {
    const rapidjson::Value* value = fhir::FindMember(object, key);
    const std::string at = pointer + "/" + std::string(key);
    if (value == nullptr) {
      if (required) {
        Problem(at, "is required");
      }
      return std::nullopt;
    }
    if (!value->IsString() || value->GetStringLength() == 0) {
      Problem(at, "must be a non-empty string");
      return std::nullopt;
    }
    return std::string(fhir::StringOf(*value));
  }

  std::optional<core::HostPort> HostPort(const rapidjson::Value& object, std::string_view key,
                                         const std::string& pointer, bool required) {
    auto text = String(object, key, pointer, required);
    if (!text) {
      return std::nullopt;
    }
    core::HostPort host_port;
    if (!core::ParseHostPort(*text, host_port)) {
      Problem(pointer + "/" + std::string(key), "must be HOST:PORT (port 0: any free port)");
      return std::nullopt;
    }
    return host_port;
  }

  std::filesystem::path Path(const rapidjson::Value& object, std::string_view key,
                             const std::string& pointer, bool required) {
    auto text = String(object, key, pointer, required);
    if (!text) {
      return {};
    }
    std::filesystem::path path(*text);
    return path.is_absolute() ? path : (base_dir_ / path).lexically_normal();
  }

  std::optional<std::int64_t> Integer(const rapidjson::Value& object, std::string_view key,
                                      const std::string& pointer, std::int64_t min,
                                      std::int64_t max) {
    const rapidjson::Value* value = fhir::FindMember(object, key);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->IsInt64() || value->GetInt64() < min || value->GetInt64() > max) {
      Problem(pointer + "/" + std::string(key),
              "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return value->GetInt64();
  }

  std::vector<core::Error>& problems() { return problems_; }

  // An optional array of non-empty strings at `key` (empty when absent).
  std::vector<std::string> Strings(const rapidjson::Value& root, std::string_view key,
                                   std::string_view what) {
    std::vector<std::string> values;
    const rapidjson::Value* array = fhir::FindMember(root, key);
    if (array == nullptr) {
      return values;
    }
    const std::string pointer = "/" + std::string(key);
    if (!array->IsArray()) {
      Problem(pointer, std::string(what));
      return values;
    }
    rapidjson::SizeType index = 0;
    for (const auto& value : array->GetArray()) {
      if (!value.IsString() || value.GetStringLength() == 0) {
        Problem(pointer + "/" + std::to_string(index), "must be a non-empty string");
      } else {
        values.emplace_back(fhir::StringOf(value));
      }
      ++index;
    }
    return values;
  }

 private:
  std::filesystem::path base_dir_;
  std::vector<core::Error> problems_;
};

bool IsOdsCode(std::string_view text) {
  if (text.empty() || text.size() > 10) {
    return false;
  }
  for (const char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

core::Result<SimTrustConfig> ParseSimTrustConfig(std::string_view json,
                                                 const std::filesystem::path& base_dir) {
  fhir::JsonLimits limits;
  limits.max_bytes = 1024 * 1024;
  auto document = fhir::ParseJson(json, limits);
  if (!document) {
    return MakeError(ErrorCode::kConfig,
                     "config is not valid JSON: " + document.error().message + " at " +
                         document.error().location,
                     "");
  }
  const rapidjson::Value& root = *document;
  if (!root.IsObject()) {
    return MakeError(ErrorCode::kConfig, "config must be a JSON object", "");
  }

  Checker check(base_dir);
  SimTrustConfig config;
  check.CheckKeys(
      root, "",
      {"ods", "name", "listen", "tls", "patients", "latency_ms", "failure_rate", "seed",
       "received_log", "clients", "refuse_types", "io_threads", "page_size", "log_level"});

  if (auto ods = check.String(root, "ods", "", true)) {
    if (IsOdsCode(*ods)) {
      config.ods = *ods;
    } else {
      check.Problem("/ods", "must be an ODS code (upper-case letters and digits)");
    }
  }
  config.name = check.String(root, "name", "", false).value_or("Simulated trust " + config.ods);

  if (const rapidjson::Value* listen = fhir::FindMember(root, "listen");
      listen == nullptr || !listen->IsObject()) {
    check.Problem("/listen", listen == nullptr ? "is required" : "must be an object");
  } else {
    check.CheckKeys(*listen, "/listen", {"fhir", "mllp"});
    if (auto fhir = check.HostPort(*listen, "fhir", "/listen", true)) {
      config.listen_fhir = *fhir;
    }
    config.listen_mllp = check.HostPort(*listen, "mllp", "/listen", false);
  }

  if (const rapidjson::Value* tls = fhir::FindMember(root, "tls");
      tls == nullptr || !tls->IsObject()) {
    check.Problem("/tls", tls == nullptr ? "is required" : "must be an object");
  } else {
    check.CheckKeys(*tls, "/tls", {"cert", "key", "ca", "crl"});
    config.tls.cert = check.Path(*tls, "cert", "/tls", true);
    config.tls.key = check.Path(*tls, "key", "/tls", true);
    config.tls.ca = check.Path(*tls, "ca", "/tls", true);
    config.tls.crl = check.Path(*tls, "crl", "/tls", false);
  }

  config.patients = check.Path(root, "patients", "", true);
  if (!config.patients.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(config.patients, ec)) {
      check.Problem("/patients", "is not a folder: " + config.patients.string());
    }
  }

  if (auto latency = check.Integer(root, "latency_ms", "", 0, kMaxLatencyMs)) {
    config.latency = std::chrono::milliseconds(*latency);
  }
  if (const rapidjson::Value* rate = fhir::FindMember(root, "failure_rate")) {
    if (!rate->IsNumber() || !std::isfinite(rate->GetDouble()) || rate->GetDouble() < 0.0 ||
        rate->GetDouble() > 1.0) {
      check.Problem("/failure_rate", "must be a number from 0 to 1");
    } else {
      config.failure_rate = rate->GetDouble();
    }
  }
  if (const rapidjson::Value* seed = fhir::FindMember(root, "seed")) {
    if (!seed->IsUint64()) {
      check.Problem("/seed", "must be a non-negative integer");
    } else {
      config.seed = seed->GetUint64();
    }
  }
  config.received_log = check.Path(root, "received_log", "", false);
  config.clients = check.Strings(root, "clients", "must be an array of certificate CNs");
  config.refuse_types =
      check.Strings(root, "refuse_types", "must be an array of message types (\"ADT^A06\")");
  if (auto page_size = check.Integer(root, "page_size", "", 0, kMaxPageSize)) {
    config.page_size = static_cast<std::size_t>(*page_size);
  }
  if (auto threads = check.Integer(root, "io_threads", "", 1, kMaxIoThreads)) {
    config.io_threads = static_cast<unsigned>(*threads);
  }

  if (auto level = check.String(root, "log_level", "", false)) {
    if (!core::ParseLogLevel(*level, config.log_level)) {
      check.Problem("/log_level", "must be one of trace, debug, info, warn, error, off");
    }
  }

  if (!check.problems().empty()) {
    std::string message;
    for (const core::Error& problem : check.problems()) {
      if (!message.empty()) {
        message += "; ";
      }
      message += (problem.location.empty() ? "/" : problem.location) + ": " + problem.message;
    }
    return MakeError(ErrorCode::kConfig, std::move(message), check.problems().front().location);
  }
  return config;
}

core::Result<SimTrustConfig> LoadSimTrustConfig(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kConfig, "cannot read config file " + file.string(), "");
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::filesystem::path absolute = std::filesystem::absolute(file);
  return ParseSimTrustConfig(text.str(), absolute.parent_path());
}

}  // namespace tb::simtrust
