#include "bench/load/mllp_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"

namespace tb::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The template split at '|' in its MSH segment (MSH-10 is element 9: element 1 is MSH-2) and
// with the PID-3 NHS number located, so each message is built by concatenation.
class MessageFactory {
 public:
  explicit MessageFactory(std::string message) {
    for (char& c : message) {
      if (c == '\n') {
        c = '\r';
      }
    }
    std::string normalised;  // "\r\n" became "\r\r": drop empty segments
    for (const char c : message) {
      if (!(c == '\r' && !normalised.empty() && normalised.back() == '\r')) {
        normalised += c;
      }
    }
    if (!normalised.empty() && normalised.back() != '\r') {
      normalised += '\r';
    }
    // MSH-10: between the 9th and 10th '|' of the first segment.
    std::size_t bar = 0;
    for (int i = 0; i < 9 && bar != std::string::npos; ++i) {
      bar = normalised.find('|', bar + 1);
    }
    const std::size_t end = bar == std::string::npos ? bar : normalised.find('|', bar + 1);
    if (end != std::string::npos) {
      before_id_ = normalised.substr(0, bar + 1);
      rest_ = normalised.substr(end);
    } else {
      before_id_ = normalised;
    }
    // PID-3.1 of the first repetition: after "\rPID|" and two more '|'.
    const std::size_t pid = rest_.find("\rPID|");
    if (pid != std::string::npos) {
      std::size_t start = pid + 5;
      start = rest_.find('|', start);
      start = start == std::string::npos ? start : rest_.find('|', start + 1);
      if (start != std::string::npos) {
        const std::size_t stop = rest_.find_first_of("^~|\r", start + 1);
        if (stop != std::string::npos) {
          nhs_at_ = start + 1;
          nhs_length_ = stop - start - 1;
        }
      }
    }
  }

  bool valid() const { return !rest_.empty(); }

  std::string Make(const std::string& control_id, const std::string* nhs_number) const {
    std::string message = before_id_ + control_id;
    if (nhs_number == nullptr || !nhs_at_) {
      return message + rest_;
    }
    message.append(rest_, 0, *nhs_at_);
    message += *nhs_number;
    message.append(rest_, *nhs_at_ + nhs_length_);
    return message;
  }

 private:
  std::string before_id_;
  std::string rest_;
  std::optional<std::size_t> nhs_at_;
  std::size_t nhs_length_ = 0;
};

bool IsPositiveAck(const std::string& reply) {
  const std::size_t msa = reply.find("MSA|");
  return msa != std::string::npos &&
         (reply.compare(msa + 4, 2, "AA") == 0 || reply.compare(msa + 4, 2, "CA") == 0);
}

// The transport a sender uses: our MLLP/TLS client, or a plain blocking TCP socket.
class Connection {
 public:
  virtual ~Connection() = default;
  // The reply frame's payload, or nullopt (and `error` set) on a transport failure.
  virtual std::optional<std::string> Send(const std::string& message, std::string& error) = 0;
};

class TlsConnection final : public Connection {
 public:
  TlsConnection(std::shared_ptr<boost::asio::ssl::context> tls, mllp::MllpClientSettings settings)
      : client_(std::move(tls), std::move(settings)) {}
  std::optional<std::string> Send(const std::string& message, std::string& error) override {
    auto reply = client_.Send(message);  // connects first when not connected
    if (!reply) {
      error = reply.error().message;
      client_.Close();
      return std::nullopt;
    }
    return std::move(*reply);
  }

 private:
  mllp::MllpClient client_;
};

class PlainConnection final : public Connection {
 public:
  PlainConnection(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  ~PlainConnection() override { Close(); }

  std::optional<std::string> Send(const std::string& message, std::string& error) override {
    if (fd_ < 0 && !Open(error)) {
      return std::nullopt;
    }
    const std::string frame = "\x0b" + message + "\x1c\r";
    for (std::size_t sent = 0; sent < frame.size();) {
      const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        error = "send failed";
        Close();
        return std::nullopt;
      }
      sent += static_cast<std::size_t>(n);
    }
    for (;;) {
      const std::size_t end = buffer_.find("\x1c\r");
      if (end != std::string::npos) {
        const std::size_t start = buffer_.find('\x0b');
        std::string reply =
            buffer_.substr(start == std::string::npos || start > end ? 0 : start + 1,
                           end - (start == std::string::npos || start > end ? 0 : start + 1));
        buffer_.erase(0, end + 2);
        return reply;
      }
      char chunk[8192];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        error = "connection closed before the reply";
        Close();
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  bool Open(std::string& error) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    if (fd_ < 0 || ::inet_pton(AF_INET, host_.c_str(), &address.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      error = "cannot connect to " + host_ + ":" + std::to_string(port_);
      Close();
      return false;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
  }
  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    buffer_.clear();
  }

  std::string host_;
  std::uint16_t port_;
  int fd_ = -1;
  std::string buffer_;
};

struct Sender {
  std::vector<std::int64_t> latencies_ns;
  std::uint64_t errors = 0;
  std::uint64_t bad_replies = 0;
  std::string first_error;
};

}  // namespace

std::string SyntheticNhsNumber(std::uint32_t index) {
  // Nine digits 9995xxxxx, then the Modulus 11 check digit; bases whose check would be 10 are
  // skipped by moving on to the next base (so indices map to distinct numbers).
  for (std::uint32_t base = 999'500'000u + index * 2u;; ++base) {
    const std::string digits = std::to_string(base);
    int sum = 0;
    for (int i = 0; i < 9; ++i) {
      sum += (digits[static_cast<std::size_t>(i)] - '0') * (10 - i);
    }
    int check = 11 - (sum % 11);
    if (check == 11) {
      check = 0;
    }
    if (check != 10) {
      return digits + static_cast<char>('0' + check);
    }
  }
}

LoadResult RunMllpLoad(const MllpLoadOptions& options) {
  LoadResult result;
  result.mode = options.tls ? "mllp-tls" : "mllp-plain";
  result.concurrency = options.senders;
  const MessageFactory factory(options.message);
  if (!factory.valid()) {
    result.first_error = "the message has no MSH-10";
    return result;
  }
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (options.tls) {
    auto context = net::MakeClientContext(options.tls_settings);
    if (!context) {
      result.first_error = "client TLS: " + context.error().message;
      return result;
    }
    tls = *context;
  }
  std::vector<std::string> nhs_numbers;
  for (int i = 0; i < options.patients; ++i) {
    nhs_numbers.push_back(SyntheticNhsNumber(static_cast<std::uint32_t>(i)));
  }

  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::vector<Sender> senders(static_cast<std::size_t>(options.senders));
  const std::string run_id = std::to_string(::getpid()) + "-" +
                             std::to_string(Clock::now().time_since_epoch().count() % 1'000'000);
  std::vector<std::thread> threads;
  for (int s = 0; s < options.senders; ++s) {
    threads.emplace_back([&, s] {
      Sender& sender = senders[static_cast<std::size_t>(s)];
      std::unique_ptr<Connection> connection;
      if (options.tls) {
        mllp::MllpClientSettings settings;
        settings.host = options.host;
        settings.port = options.port;
        connection = std::make_unique<TlsConnection>(tls, settings);
      } else {
        connection = std::make_unique<PlainConnection>(options.host, options.port);
      }
      std::uint64_t sequence = 0;
      while (!stopping) {
        ++sequence;
        // Sender s takes patients s, s + senders, ...: each patient's messages come from one
        // sender, in order, as from one PAS.
        const std::string* nhs = nullptr;
        if (!nhs_numbers.empty()) {
          nhs = &nhs_numbers[(static_cast<std::size_t>(s) +
                              static_cast<std::size_t>(sequence) *
                                  static_cast<std::size_t>(options.senders)) %
                             nhs_numbers.size()];
        }
        const std::string message = factory.Make(
            "B" + run_id + "-" + std::to_string(s) + "-" + std::to_string(sequence), nhs);
        std::string error;
        const auto start = Clock::now();
        const auto reply = connection->Send(message, error);
        const auto elapsed = Clock::now() - start;
        if (!measuring) {
          if (!reply) {  // do not spin on a refused connection during warm-up
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
          continue;
        }
        if (!reply) {
          ++sender.errors;
          if (sender.first_error.empty()) {
            sender.first_error = error;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else if (!IsPositiveAck(*reply)) {
          ++sender.bad_replies;
          if (sender.first_error.empty()) {
            sender.first_error = "reply: " + reply->substr(0, 300);
          }
        } else {
          sender.latencies_ns.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
        }
      }
    });
  }
  MeasureWindow(
      options.warmup_s, options.duration_s, options.server_pids,
      [&measuring](bool on) { measuring = on; }, result);
  stopping = true;
  for (std::thread& thread : threads) {
    thread.join();
  }
  std::vector<std::int64_t> all;
  for (Sender& sender : senders) {
    all.insert(all.end(), sender.latencies_ns.begin(), sender.latencies_ns.end());
    result.errors += sender.errors;
    result.bad_replies += sender.bad_replies;
    if (result.first_error.empty()) {
      result.first_error = sender.first_error;
    }
  }
  result.ok = all.size();
  result.latency = Summarise(all);
  return result;
}

}  // namespace tb::bench
