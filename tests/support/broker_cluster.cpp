#include "tests/support/broker_cluster.h"

#include "tests/support/temp_dir.h"

namespace tb::testing {

BrokerCluster::BrokerCluster(const std::filesystem::path& dir,
                             const std::vector<std::string>& configs) {
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const std::string name = "node" + std::to_string(i);
    const std::filesystem::path config = dir / (name + ".json");
    WriteFile(config, configs[i]);
    nodes_.push_back(std::make_unique<BrokerProcess>(TrustbridgeBinary(), config, dir, name));
  }
}

BrokerCluster::~BrokerCluster() = default;  // each BrokerProcess kills its child

bool BrokerCluster::StartAll(std::string& error) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->Start(error)) {
      error = "node " + std::to_string(i) + ": " + error;
      return false;
    }
  }
  return true;
}

bool BrokerCluster::StopAll() {
  bool clean = true;
  for (const std::unique_ptr<BrokerProcess>& node : nodes_) {
    if (node->running()) {
      clean = node->Stop() == 0 && clean;
    }
  }
  return clean;
}

std::uint16_t BrokerCluster::PortFor(std::size_t connection) const {
  for (std::size_t step = 0; step < nodes_.size(); ++step) {
    const std::uint16_t port = nodes_[(connection + step) % nodes_.size()]->mllp_port();
    if (port != 0) {
      return port;
    }
  }
  return 0;
}

}  // namespace tb::testing
