#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace tb::testing {

// One line of a simulated trust's received_log (broker/simtrust/received_log.h), in file order.
struct ReceivedEntry {
  std::string control_id;
  std::string nhs_number;
};
std::vector<ReceivedEntry> ReadReceivedLog(const std::filesystem::path& file);

// What a destination got, checked against what a Hl7LoadSender sent (control ids "L<p>-<seq>").
struct DeliveryReport {
  std::size_t received = 0;           // lines of the load (other lines are ignored)
  std::size_t delivered = 0;          // distinct load messages received
  std::size_t duplicates = 0;         // lines that repeat the message just before them (allowed)
  std::vector<std::string> problems;  // empty: everything in order, nothing missing
  std::string Summary() const;        // counts and the first problems, for a test's failure text
};

// Every message of `patients` x `messages_per_patient` must be received, each patient's in seq
// order (its send order). A message may be received twice only right after itself (a retry of
// one attempt) and only if its control id is in `in_flight_at_kill` (it was being delivered when
// a broker was killed). Anything else (a gap, a message out of order, an unexplained duplicate,
// the wrong patient for a control id) is a problem.
DeliveryReport CheckDeliveries(const std::vector<ReceivedEntry>& received,
                               const std::vector<std::string>& patients,
                               std::size_t messages_per_patient,
                               const std::set<std::string>& in_flight_at_kill);

// Reads `received_log` until `expected` messages have been delivered or `timeout` passes, and
// returns the last CheckDeliveries report (the caller checks `delivered` and `problems`).
DeliveryReport WaitForDeliveries(const std::filesystem::path& received_log,
                                 const std::vector<std::string>& patients,
                                 std::size_t messages_per_patient,
                                 const std::set<std::string>& in_flight_at_kill,
                                 std::size_t expected, std::chrono::milliseconds timeout);

// SQLite store of a stopped (killed) broker: the control ids of the outbound items that are
// in flight, i.e. claimed by a delivery worker that may have sent them before it died.
std::set<std::string> InFlightControlIds(const std::filesystem::path& sqlite_store);

}  // namespace tb::testing
