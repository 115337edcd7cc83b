#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/broker_process.h"

namespace tb::testing {

// Several `trustbridge serve` nodes sharing one store (PostgreSQL), as behind a TCP load balancer:
// node i runs with `<dir>/node<i>.json` and logs to `<dir>/node<i>-<n>.log`. Tests SIGKILL
// (Kill) and restart (Start) single nodes.
//
// Thread-safety: Start/Kill/Stop from the owner thread; PortFor() from any thread (a load
// sender's connections call it before every (re)connect).
class BrokerCluster {
 public:
  // `configs[i]` is node i's config text; they should differ only in broker.id (see docs/
  // scale-out.md). Nothing starts until StartAll().
  BrokerCluster(const std::filesystem::path& dir, const std::vector<std::string>& configs);
  ~BrokerCluster();  // kills whatever still runs
  BrokerCluster(const BrokerCluster&) = delete;
  BrokerCluster& operator=(const BrokerCluster&) = delete;

  // Starts the nodes one after another (each waits until it listens). False with the failing
  // node's log tail in `error`.
  bool StartAll(std::string& error);
  // SIGTERM to every running node; true when each exited 0.
  bool StopAll();

  std::size_t size() const { return nodes_.size(); }
  BrokerProcess& node(std::size_t i) { return *nodes_[i]; }

  // The MLLP port a sender's connection `connection` should use now: node connection % size()
  // while it is up, else the next node that is (what a load balancer does when a backend stops
  // answering). 0 when no node is up.
  std::uint16_t PortFor(std::size_t connection) const;

 private:
  std::vector<std::unique_ptr<BrokerProcess>> nodes_;
};

}  // namespace tb::testing
