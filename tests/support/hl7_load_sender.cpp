#include "tests/support/hl7_load_sender.h"

#include <chrono>
#include <utility>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "broker/core/nhs_number.h"

namespace tb::testing {

std::vector<std::string> TestNhsNumbers(std::size_t count, std::uint32_t first_seed) {
  std::vector<std::string> numbers;
  for (std::uint32_t seed = first_seed; numbers.size() < count; ++seed) {
    std::string digits = "999" + std::to_string(1'000'000 + seed % 1'000'000).substr(1);
    int sum = 0;
    for (int i = 0; i < 9; ++i) {
      sum += (digits[static_cast<std::size_t>(i)] - '0') * (10 - i);
    }
    const int check = (11 - sum % 11) % 11;
    if (check == 10) {
      continue;  // no valid number with these nine digits
    }
    digits += static_cast<char>('0' + check);
    if (core::IsValidNhsNumber(digits)) {
      numbers.push_back(std::move(digits));
    }
  }
  return numbers;
}

std::string LoadControlId(const LoadMessageId& id) {
  std::string text = "L";
  text += std::to_string(id.patient);
  text += '-';
  text += std::to_string(id.seq);
  return text;
}

bool ParseLoadControlId(const std::string& text, LoadMessageId& id) {
  const std::size_t dash = text.find('-');
  if (text.size() < 4 || text[0] != 'L' || dash == std::string::npos || dash < 2 ||
      dash + 1 >= text.size()) {
    return false;
  }
  try {
    std::size_t used = 0;
    id.patient = std::stoul(text.substr(1, dash - 1), &used);
    if (used != dash - 1) {
      return false;
    }
    id.seq = std::stoul(text.substr(dash + 1), &used);
    return used == text.size() - dash - 1;
  } catch (const std::exception&) {
    return false;
  }
}

Hl7LoadSender::Hl7LoadSender(Hl7LoadSettings settings) : settings_(std::move(settings)) {}

Hl7LoadSender::~Hl7LoadSender() { Stop(); }

std::string Hl7LoadSender::Message(const LoadMessageId& id) const {
  const std::string control_id = LoadControlId(id);
  return "MSH|^~\\&|PAS|" + settings_.sender_ods + "|TB|" + settings_.destination +
         "|20261123120000||ADT^A08|" + control_id + "|P|2.4\rEVN|A08|20261123120000\rPID|1||" +
         settings_.patients[id.patient] + "^^^NHS^NH||LOAD^PATIENT" + std::to_string(id.patient) +
         "||19800101|F\rPV1|1|I|WARD^" + std::to_string(id.seq) + "^1\r";
}

void Hl7LoadSender::Start() {
  for (std::size_t i = 0; i < settings_.connections; ++i) {
    threads_.emplace_back([this, i] { Run(i); });
  }
}

bool Hl7LoadSender::Wait() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  return acknowledged_.load() == total();
}

void Hl7LoadSender::Stop() {
  stopping_ = true;
  Wait();
}

void Hl7LoadSender::Run(std::size_t connection) {
  std::unique_ptr<mllp::MllpClient> client;
  const auto back_off = [] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); };
  for (std::size_t seq = 0; seq < settings_.messages_per_patient; ++seq) {
    for (std::size_t patient = connection; patient < settings_.patients.size();
         patient += settings_.connections) {
      const LoadMessageId id{patient, seq};
      const std::string message = Message(id);
      const std::string control_id = LoadControlId(id);
      for (bool first = true;; first = false) {
        if (stopping_) {
          return;
        }
        if (!first) {
          ++resends_;
        }
        if (!client) {
          const std::uint16_t port = settings_.port(connection);
          if (port == 0) {
            back_off();
            continue;
          }
          mllp::MllpClientSettings options;
          options.port = port;
          options.connect_timeout = std::chrono::milliseconds(2000);
          options.reply_timeout = settings_.reply_timeout;
          options.shutdown_timeout = std::chrono::milliseconds(100);
          client = std::make_unique<mllp::MllpClient>(settings_.tls, options);
        }
        auto ack = client->Send(message);
        if (!ack) {  // refused, reset, timed out: the broker may be down; reconnect and resend
          client.reset();
          back_off();
          continue;
        }
        auto parsed = hl7v2::Message::Parse(*ack);
        if (parsed && parsed->Get("MSA-1").Decoded() == "AA" &&
            parsed->Get("MSA-2").Decoded() == control_id) {
          ++acknowledged_;
          break;
        }
        ++error_acks_;  // AE/AR: not stored; keep the message and resend it
        back_off();
      }
    }
  }
}

}  // namespace tb::testing
