#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace tb::testing {

// `count` distinct valid NHS numbers (Modulus 11) in the 999 test range, from `first_seed` up.
std::vector<std::string> TestNhsNumbers(std::size_t count, std::uint32_t first_seed = 1000);

// What one message of the load is: patient `patient` (index into the patients), its `seq`-th
// message. The control id encodes both, so a received log can be checked against send order.
struct LoadMessageId {
  std::size_t patient = 0;
  std::size_t seq = 0;
};
std::string LoadControlId(const LoadMessageId& id);                   // "L<patient>-<seq>"
bool ParseLoadControlId(const std::string& text, LoadMessageId& id);  // false if not one

struct Hl7LoadSettings {
  std::vector<std::string> patients;  // NHS numbers (TestNhsNumbers)
  std::size_t messages_per_patient = 100;
  // Connections (one thread each). Patient i is sent only on connection i % connections, one
  // message at a time: so each patient's send order is its seq order, as with a real engine.
  std::size_t connections = 8;
  std::string sender_ods = "RJ1";   // MSH-4; must be the participant of the certificate
  std::string destination = "RXH";  // MSH-6: the addressee the broker routes to
  std::shared_ptr<boost::asio::ssl::context> tls;  // client context with the sender's certificate
  // Where to send now: a broker's MLLP port, 0 while none is up. Called before every (re)connect;
  // with several brokers it may return a different one each time (load spread across nodes).
  std::function<std::uint16_t(std::size_t connection)> port;
  std::chrono::milliseconds reply_timeout{10'000};
};

// An integration engine pushing ADT^A08s over MLLP/TLS: each message is resent, with the same
// control id and the same bytes, until it gets AA (a lost connection, a timeout, an AE/AR or a
// broker that is down all mean "not acknowledged": reconnect, back off briefly, send it again).
//
// Usage: Hl7LoadSender sender(settings); sender.Start(); ... sender.Wait() (or Stop()).
// Thread-safety: counters and Stop() from any thread.
class Hl7LoadSender {
 public:
  explicit Hl7LoadSender(Hl7LoadSettings settings);
  ~Hl7LoadSender();  // Stop()
  Hl7LoadSender(const Hl7LoadSender&) = delete;
  Hl7LoadSender& operator=(const Hl7LoadSender&) = delete;

  void Start();
  // Blocks until every message was acknowledged (true) or Stop() was called (false).
  bool Wait();
  void Stop();

  std::size_t total() const { return settings_.patients.size() * settings_.messages_per_patient; }
  std::size_t acknowledged() const { return acknowledged_.load(); }
  std::size_t resends() const { return resends_.load(); }
  std::size_t error_acks() const { return error_acks_.load(); }  // AE/AR answers received
  // The exact bytes sent for a message (the same on every resend).
  std::string Message(const LoadMessageId& id) const;

 private:
  void Run(std::size_t connection);

  Hl7LoadSettings settings_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> acknowledged_{0};
  std::atomic<std::size_t> resends_{0};
  std::atomic<std::size_t> error_acks_{0};
  std::atomic<std::size_t> finished_{0};
};

}  // namespace tb::testing
