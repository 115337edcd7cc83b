#include "tests/support/delivery_check.h"

#include <fstream>
#include <map>
#include <sqlite3.h>

#include <rapidjson/document.h>

#include "tests/support/hl7_load_sender.h"
#include "tests/support/wait_for.h"

namespace tb::testing {

std::vector<ReceivedEntry> ReadReceivedLog(const std::filesystem::path& file) {
  std::vector<ReceivedEntry> entries;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    rapidjson::Document document;
    document.Parse(line.c_str());
    if (document.HasParseError() || !document.IsObject() || !document.HasMember("control_id") ||
        !document["control_id"].IsString()) {
      continue;  // a torn last line cannot happen (one write + flush per line); skip noise
    }
    ReceivedEntry entry;
    entry.control_id = document["control_id"].GetString();
    if (document.HasMember("nhs_number") && document["nhs_number"].IsString()) {
      entry.nhs_number = document["nhs_number"].GetString();
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string DeliveryReport::Summary() const {
  std::string text = "received " + std::to_string(received) + " lines, " +
                     std::to_string(delivered) + " distinct messages, " +
                     std::to_string(duplicates) + " duplicates, " +
                     std::to_string(problems.size()) + " problems";
  for (std::size_t i = 0; i < problems.size() && i < 20; ++i) {
    text += "\n  " + problems[i];
  }
  return text;
}

DeliveryReport CheckDeliveries(const std::vector<ReceivedEntry>& received,
                               const std::vector<std::string>& patients,
                               std::size_t messages_per_patient,
                               const std::set<std::string>& in_flight_at_kill) {
  DeliveryReport report;
  std::vector<std::size_t> next(patients.size(), 0);  // per patient: the seq expected next
  for (const ReceivedEntry& entry : received) {
    LoadMessageId id;
    if (!ParseLoadControlId(entry.control_id, id)) {
      continue;
    }
    ++report.received;
    if (id.patient >= patients.size() || id.seq >= messages_per_patient) {
      report.problems.push_back("unknown message " + entry.control_id);
      continue;
    }
    if (entry.nhs_number != patients[id.patient]) {
      report.problems.push_back(entry.control_id + " arrived with another patient's NHS number");
    }
    std::size_t& expected = next[id.patient];
    if (id.seq == expected) {
      ++expected;
      ++report.delivered;
    } else if (expected > 0 && id.seq == expected - 1) {
      ++report.duplicates;
      if (in_flight_at_kill.count(entry.control_id) == 0) {
        report.problems.push_back("duplicate of " + entry.control_id +
                                  ", which was not in flight at a kill");
      }
    } else {
      report.problems.push_back(entry.control_id + " out of order: expected seq " +
                                std::to_string(expected) + " of patient " +
                                std::to_string(id.patient));
    }
  }
  for (std::size_t patient = 0; patient < patients.size(); ++patient) {
    if (next[patient] != messages_per_patient) {
      report.problems.push_back("patient " + std::to_string(patient) + ": only " +
                                std::to_string(next[patient]) + " of " +
                                std::to_string(messages_per_patient) + " delivered in order");
    }
  }
  return report;
}

DeliveryReport WaitForDeliveries(const std::filesystem::path& received_log,
                                 const std::vector<std::string>& patients,
                                 std::size_t messages_per_patient,
                                 const std::set<std::string>& in_flight_at_kill,
                                 std::size_t expected, std::chrono::milliseconds timeout) {
  DeliveryReport report;
  (void)WaitFor(
      [&] {
        report = CheckDeliveries(ReadReceivedLog(received_log), patients, messages_per_patient,
                                 in_flight_at_kill);
        return report.delivered == expected;
      },
      timeout);
  return report;
}

std::set<std::string> InFlightControlIds(const std::filesystem::path& sqlite_store) {
  std::set<std::string> ids;
  sqlite3* db = nullptr;
  // Read-write: the first connection after a crash replays the WAL's index.
  if (sqlite3_open_v2(sqlite_store.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return ids;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT m.control_id FROM outbound_message o JOIN inbound_message m"
                         " ON m.id = o.inbound_message_id WHERE o.status = 'in_flight'",
                         -1, &statement, nullptr) == SQLITE_OK) {
    while (sqlite3_step(statement) == SQLITE_ROW) {
      ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
    }
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return ids;
}

}  // namespace tb::testing
