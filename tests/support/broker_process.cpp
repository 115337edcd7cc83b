#include "tests/support/broker_process.h"

#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <sys/wait.h>

namespace tb::testing {
namespace {

std::string ReadAll(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The port of `"key":"host:PORT"` in `line`; 0 when absent.
std::uint16_t PortOf(const std::string& line, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  const std::size_t at = line.find(marker);
  if (at == std::string::npos) {
    return 0;
  }
  const std::size_t end = line.find('"', at + marker.size());
  const std::string address = line.substr(at + marker.size(), end - at - marker.size());
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return 0;
  }
  try {
    return static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1)));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::filesystem::path TrustbridgeBinary() { return TB_TRUSTBRIDGE_BIN; }

BrokerProcess::BrokerProcess(std::filesystem::path binary, std::filesystem::path config,
                             std::filesystem::path log_dir, std::string name)
    : binary_(std::move(binary)),
      config_(std::move(config)),
      log_dir_(std::move(log_dir)),
      name_(std::move(name)) {}

BrokerProcess::~BrokerProcess() { Kill(); }

std::filesystem::path BrokerProcess::current_log() const {
  return log_dir_ / (name_ + "-" + std::to_string(starts_) + ".log");
}

bool BrokerProcess::Start(std::string& error, std::chrono::milliseconds timeout,
                          ChildLimits limits) {
  Kill();
  ++starts_;
  const std::filesystem::path log = current_log();
  child_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{binary_.string(), "serve", "--config", config_.string()}, log,
      limits);
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const std::string text = ReadAll(log);
    const std::size_t at = text.find("\"event\":\"broker_started\"");
    if (at != std::string::npos) {
      const std::size_t begin = text.rfind('\n', at);
      const std::string line =
          text.substr(begin == std::string::npos ? 0 : begin + 1,
                      text.find('\n', at) - (begin == std::string::npos ? 0 : begin + 1));
      fhir_port_ = PortOf(line, "fhir");
      mllp_port_ = PortOf(line, "mllp");
      return true;
    }
    if (!child_->running()) {
      error = "the broker exited during start:\n" +
              text.substr(text.size() > 4000 ? text.size() - 4000 : 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  error = "the broker did not start within the deadline:\n" + ReadAll(log);
  Kill();
  return false;
}

void BrokerProcess::Kill() {
  mllp_port_ = 0;
  fhir_port_ = 0;
  if (child_) {
    child_->Kill();
  }
}

int BrokerProcess::Stop() {
  mllp_port_ = 0;
  fhir_port_ = 0;
  if (!child_) {
    return -1;
  }
  const int status = child_->Terminate();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tb::testing
