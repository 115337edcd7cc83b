#include "bench/load/mllp_load.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>
#include <unistd.h>

#include <arpa/inet.h>
#include <boost/asio/ssl/context.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <sys/time.h>

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

// The transport a sender uses: MLLP over mutual TLS or plain TCP, on a blocking socket.
class Connection {
 public:
  virtual ~Connection() = default;
  // The reply frame's payload, or nullopt (and `error` set) on a transport failure.
  virtual std::optional<std::string> Send(const std::string& message, std::string& error) = 0;
};

// One MLLP exchange over a blocking stream: write the whole frame, read until the reply's end
// block. Subclasses provide the stream. Blocking I/O in the sender's own thread costs one send and
// one receive per message (and a sleep in the kernel meanwhile); an event loop per sender paid a
// speculative receive, an epoll_wait and a timer re-arm on top, which on the whole-machine bench
// came out of the broker's CPU (docs/hl7v2-ingest.md, Performance).
class StreamConnection : public Connection {
 public:
  std::optional<std::string> Send(const std::string& message, std::string& error) override {
    if (!open_ && !(open_ = Open(error))) {
      Reset();
      return std::nullopt;
    }
    const std::string frame = "\x0b" + message + "\x1c\r";
    for (std::size_t sent = 0; sent < frame.size();) {
      const long n = WriteSome(frame.data() + sent, frame.size() - sent);
      if (n <= 0) {
        error = "send failed";
        Reset();
        return std::nullopt;
      }
      sent += static_cast<std::size_t>(n);
    }
    for (;;) {
      const std::size_t end = buffer_.find("\x1c\r");
      if (end != std::string::npos) {
        const std::size_t start = buffer_.find('\x0b');
        const std::size_t from = start == std::string::npos || start > end ? 0 : start + 1;
        std::string reply = buffer_.substr(from, end - from);
        buffer_.erase(0, end + 2);
        return reply;
      }
      char chunk[8192];
      const long n = ReadSome(chunk, sizeof chunk);
      if (n <= 0) {
        error = "connection closed (or no reply within 30 s) before the reply";
        Reset();
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 protected:
  // Connects `fd_` to host:port (TCP_NODELAY, a 30 s receive timeout: a server that never answers
  // is an error, not a hang).
  bool Connect(const std::string& host, std::uint16_t port, std::string& error) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (fd_ < 0 || ::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      error = "cannot connect to " + host + ":" + std::to_string(port);
      return false;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const timeval timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return true;
  }
  void Reset() {
    Close();
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    open_ = false;
    buffer_.clear();
  }
  virtual bool Open(std::string& error) = 0;
  virtual long WriteSome(const char* data, std::size_t size) = 0;
  virtual long ReadSome(char* data, std::size_t size) = 0;
  virtual void Close() {}

  int fd_ = -1;

 private:
  bool open_ = false;
  std::string buffer_;
};

// MLLP over mutual TLS with OpenSSL on a blocking socket: the client context of
// net::MakeClientContext (our certificate, the CA to verify the server with), the server's
// certificate checked against the address as MllpClient does (verify_server_name).
class TlsConnection final : public StreamConnection {
 public:
  TlsConnection(std::shared_ptr<boost::asio::ssl::context> tls, std::string host,
                std::uint16_t port)
      : tls_(std::move(tls)), host_(std::move(host)), port_(port) {}
  ~TlsConnection() override { Reset(); }

 private:
  bool Open(std::string& error) override {
    if (!Connect(host_, port_, error)) {
      return false;
    }
    ssl_ = SSL_new(tls_->native_handle());
    X509_VERIFY_PARAM* param = ssl_ == nullptr ? nullptr : SSL_get0_param(ssl_);
    if (param == nullptr || X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str()) != 1 ||
        SSL_set_fd(ssl_, fd_) != 1 || SSL_connect(ssl_) != 1) {
      error = "TLS handshake with " + host_ + ":" + std::to_string(port_) + " failed";
      return false;
    }
    return true;
  }
  long WriteSome(const char* data, std::size_t size) override {
    return SSL_write(ssl_, data, static_cast<int>(size));
  }
  long ReadSome(char* data, std::size_t size) override {
    return SSL_read(ssl_, data, static_cast<int>(size));
  }
  void Close() override {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);  // no close_notify: the connection is dropped after a failure or at exit
      ssl_ = nullptr;
    }
  }

  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::string host_;
  std::uint16_t port_;
  SSL* ssl_ = nullptr;
};

class PlainConnection final : public StreamConnection {
 public:
  PlainConnection(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  ~PlainConnection() override { Reset(); }

 private:
  bool Open(std::string& error) override { return Connect(host_, port_, error); }
  long WriteSome(const char* data, std::size_t size) override {
    return ::send(fd_, data, size, MSG_NOSIGNAL);
  }
  long ReadSome(char* data, std::size_t size) override { return ::recv(fd_, data, size, 0); }

  std::string host_;
  std::uint16_t port_;
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
  // SSL_write to a connection the broker closed would raise SIGPIPE: count it as an error instead.
  std::signal(SIGPIPE, SIG_IGN);
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
        connection = std::make_unique<TlsConnection>(tls, options.host, options.port);
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
