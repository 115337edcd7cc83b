#include "adapters/mllp/client.h"

#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "adapters/net/peer_identity.h"

namespace tb::mllp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using ErrorCode = boost::system::error_code;
using core::MakeError;

constexpr std::size_t kReadChunkBytes = 16 * 1024;

bool IsTimeout(const ErrorCode& ec) { return ec == beast::error::timeout; }

// SSL_set_tlsext_host_name is a macro with an old-style cast; this is what it expands to.
bool SetSni(SSL* ssl, const std::string& name) {
  return SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(name.c_str())) == 1;
}

}  // namespace

class MllpClient::Impl {
 public:
  Impl(std::shared_ptr<asio::ssl::context> tls, MllpClientSettings settings)
      : tls_(std::move(tls)),
        settings_(std::move(settings)),
        target_(settings_.host + ":" + std::to_string(settings_.port)),
        decoder_(settings_.max_frame_bytes),
        buffer_(kReadChunkBytes) {}

  ~Impl() { Close(); }

  core::Status Connect();
  core::Result<std::string> Send(std::string_view payload);
  core::Status Write(std::string bytes);
  core::Result<std::string> Receive(std::chrono::milliseconds timeout);
  void Close();

  bool connected() const { return stream_ != nullptr; }
  std::chrono::milliseconds reply_timeout() const { return settings_.reply_timeout; }
  bool HasUnreadInput();
  const core::PeerIdentity& server() const { return server_; }

 private:
  // One write and/or one wait for a reply, run together so that a reply sent before the server
  // read our whole frame (an oversize NAK) is still seen.
  struct Exchange {
    bool writing = false;
    bool reading = false;
    ErrorCode write_error;
    ErrorCode read_error;
    std::optional<std::string> reply;
    std::optional<core::Error> protocol_error;
  };

  void RunPending() {
    io_.restart();
    io_.run();
  }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(*stream_); }
  void Abort();
  core::Error Fail(core::ErrorCode code, std::string message) {
    Abort();
    return MakeError(code, std::move(message), "mllp");
  }
  core::Status ConfigureServerName();
  core::Result<std::string> Run(std::string* frame, bool want_reply,
                                std::chrono::milliseconds timeout);
  void StartWrite(Exchange& exchange, const std::string& bytes);
  void ReadReply(Exchange& exchange);
  void Finish(Exchange& exchange);

  asio::io_context io_;
  std::shared_ptr<asio::ssl::context> tls_;
  MllpClientSettings settings_;
  std::string target_;  // "host:port", for messages
  std::unique_ptr<TlsStream> stream_;
  FrameDecoder decoder_;
  std::vector<char> buffer_;
  core::PeerIdentity server_;
};

core::Status MllpClient::Impl::ConfigureServerName() {
  const std::string& name = settings_.server_name.empty() ? settings_.host : settings_.server_name;
  SSL* ssl = stream_->native_handle();
  ErrorCode not_ip;
  asio::ip::make_address(name, not_ip);
  const bool is_ip = !not_ip;
  if (!is_ip && !name.empty() && !SetSni(ssl, name)) {
    return MakeError(core::ErrorCode::kConfig, "cannot set SNI to " + name, "mllp.server_name");
  }
  if (!settings_.verify_server_name) {
    return core::Ok();
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1 || name.empty()) {
    return MakeError(core::ErrorCode::kConfig, "invalid server name to verify: " + name,
                     "mllp.server_name");
  }
  return core::Ok();
}

core::Status MllpClient::Impl::Connect() {
  Close();
  ErrorCode ec;
  tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(settings_.host, std::to_string(settings_.port), ec);
  if (ec) {
    return MakeError(core::ErrorCode::kUpstreamUnavailable,
                     "cannot resolve " + target_ + ": " + ec.message(), "mllp");
  }
  stream_ = std::make_unique<TlsStream>(io_, *tls_);
  if (auto status = ConfigureServerName(); !status) {
    Abort();
    return status;
  }
  const auto deadline = std::chrono::steady_clock::now() + settings_.connect_timeout;
  Lowest().expires_at(deadline);
  ErrorCode result;
  Lowest().async_connect(
      endpoints, [&result](const ErrorCode& error, const tcp::endpoint&) { result = error; });
  RunPending();
  if (result) {
    return Fail(
        IsTimeout(result) ? core::ErrorCode::kTimeout : core::ErrorCode::kUpstreamUnavailable,
        "cannot connect to " + target_ + ": " + result.message());
  }
  Lowest().expires_at(deadline);
  stream_->async_handshake(asio::ssl::stream_base::client,
                           [&result](const ErrorCode& error) { result = error; });
  RunPending();
  if (result) {
    std::string message = "TLS handshake with " + target_ + " failed: " + result.message();
    const long verify = SSL_get_verify_result(stream_->native_handle());
    if (verify != X509_V_OK) {
      message +=
          std::string(" (server certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    return Fail(
        IsTimeout(result) ? core::ErrorCode::kTimeout : core::ErrorCode::kUpstreamUnavailable,
        std::move(message));
  }
  server_ = net::ExtractPeerIdentity(stream_->native_handle());
  server_.remote_address = target_;
  decoder_.Reset();
  return core::Ok();
}

void MllpClient::Impl::StartWrite(Exchange& exchange, const std::string& bytes) {
  exchange.writing = true;
  // On failure the read (if any) goes on: the server may have answered before it stopped
  // reading (a NAK to an oversize frame). The read then ends by reply, EOF or deadline.
  asio::async_write(*stream_, asio::buffer(bytes), [&exchange](const ErrorCode& ec, std::size_t) {
    exchange.writing = false;
    exchange.write_error = ec;
  });
}

void MllpClient::Impl::ReadReply(Exchange& exchange) {
  exchange.reading = true;
  while (std::optional<DecodeEvent> event = decoder_.Next()) {
    switch (event->kind) {
      case DecodeEventKind::kFrame:
        exchange.reply = std::move(event->payload);
        Finish(exchange);
        return;
      case DecodeEventKind::kOversize:
        exchange.protocol_error =
            MakeError(core::ErrorCode::kTooLarge,
                      "reply from " + target_ + " exceeds " +
                          std::to_string(settings_.max_frame_bytes) + " bytes",
                      "mllp");
        Finish(exchange);
        return;
      case DecodeEventKind::kTruncated:
      case DecodeEventKind::kBadTerminator:
        exchange.protocol_error = MakeError(core::ErrorCode::kUpstreamUnavailable,
                                            "malformed MLLP framing from " + target_ + " (" +
                                                std::string(ToString(event->kind)) + ")",
                                            "mllp");
        Finish(exchange);
        return;
      case DecodeEventKind::kSkipped:
        break;  // stray bytes between frames: tolerated
    }
  }
  stream_->async_read_some(asio::buffer(buffer_),
                           [this, &exchange](const ErrorCode& ec, std::size_t bytes) {
                             if (ec) {
                               exchange.read_error = ec;
                               Finish(exchange);
                               return;
                             }
                             decoder_.Feed(std::string_view(buffer_.data(), bytes));
                             ReadReply(exchange);
                           });
}

void MllpClient::Impl::Finish(Exchange& exchange) {
  exchange.reading = false;
  if (exchange.writing) {
    // Answered (or failed) while our frame is still going out, e.g. the server refused it and
    // stopped reading: stop writing. The connection is dropped afterwards.
    Lowest().cancel();
  }
}

core::Result<std::string> MllpClient::Impl::Run(std::string* frame, bool want_reply,
                                                std::chrono::milliseconds timeout) {
  if (!connected()) {
    BROKER_RETURN_IF_ERROR(Connect());
  }
  Exchange exchange;
  Lowest().expires_after(timeout);
  if (frame != nullptr) {
    StartWrite(exchange, *frame);
  }
  if (want_reply) {
    ReadReply(exchange);
  }
  RunPending();

  const bool wrote = frame == nullptr || !exchange.write_error;
  if (exchange.reply) {
    if (!wrote) {
      Abort();  // answered before our frame was fully sent: the stream is mid-record
    }
    return std::move(*exchange.reply);
  }
  if (exchange.protocol_error) {
    Abort();
    return std::move(*exchange.protocol_error);
  }
  const ErrorCode& ec = exchange.read_error ? exchange.read_error : exchange.write_error;
  if (ec) {
    if (IsTimeout(ec)) {
      return Fail(core::ErrorCode::kTimeout,
                  std::string(want_reply ? "no reply from " : "cannot send to ") + target_ +
                      " within " + std::to_string(timeout.count()) + " ms");
    }
    return Fail(core::ErrorCode::kUpstreamUnavailable,
                "connection to " + target_ + " failed: " + ec.message());
  }
  return std::string();
}

core::Result<std::string> MllpClient::Impl::Send(std::string_view payload) {
  std::string frame = Frame(payload);
  return Run(&frame, true, settings_.reply_timeout);
}

core::Status MllpClient::Impl::Write(std::string bytes) {
  auto result = Run(&bytes, false, settings_.reply_timeout);
  if (!result) {
    return std::move(result).error();
  }
  return core::Ok();
}

core::Result<std::string> MllpClient::Impl::Receive(std::chrono::milliseconds timeout) {
  return Run(nullptr, true, timeout);
}

bool MllpClient::Impl::HasUnreadInput() {
  if (decoder_.BufferedBytes() > 0 || decoder_.InFrame()) {
    return true;
  }
  if (!stream_) {
    return false;
  }
  // Decrypted but not yet read, or received and not yet decrypted (the rbio of Asio's engine).
  SSL* ssl = stream_->native_handle();
  if (SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) {
    return true;
  }
  ErrorCode ec;
  const std::size_t waiting = Lowest().socket().available(ec);
  return ec || waiting > 0;
}

void MllpClient::Impl::Close() {
  if (!stream_) {
    return;
  }
  Lowest().expires_after(settings_.shutdown_timeout);
  stream_->async_shutdown([](const ErrorCode&) {});
  RunPending();
  Abort();
}

void MllpClient::Impl::Abort() {
  if (stream_) {
    ErrorCode ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
    RunPending();  // let cancelled handlers finish before the stream goes
    stream_.reset();
  }
  decoder_.Reset();
}

MllpClient::MllpClient(std::shared_ptr<asio::ssl::context> tls, MllpClientSettings settings)
    : impl_(std::make_unique<Impl>(std::move(tls), std::move(settings))) {}
MllpClient::~MllpClient() = default;
MllpClient::MllpClient(MllpClient&&) noexcept = default;
MllpClient& MllpClient::operator=(MllpClient&&) noexcept = default;

core::Status MllpClient::Connect() { return impl_->Connect(); }
core::Result<std::string> MllpClient::Send(std::string_view payload) {
  return impl_->Send(payload);
}
core::Status MllpClient::Write(std::string_view payload) { return impl_->Write(Frame(payload)); }
core::Result<std::string> MllpClient::Receive() { return impl_->Receive(impl_->reply_timeout()); }
core::Result<std::string> MllpClient::Receive(std::chrono::milliseconds timeout) {
  return impl_->Receive(timeout);
}
core::Status MllpClient::WriteRaw(std::string_view bytes) {
  return impl_->Write(std::string(bytes));
}
void MllpClient::Close() { impl_->Close(); }
bool MllpClient::IsConnected() const { return impl_->connected(); }
bool MllpClient::HasUnreadInput() { return impl_->HasUnreadInput(); }
const core::PeerIdentity& MllpClient::ServerIdentity() const { return impl_->server(); }

}  // namespace tb::mllp
