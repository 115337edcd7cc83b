#include "adapters/mllp/server.h"

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "adapters/mllp/session.h"
#include "adapters/net/accept_loop.h"
#include "adapters/net/listener.h"
#include "adapters/net/peer_identity.h"

namespace tb::mllp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

}  // namespace

namespace detail {

template <>
struct StreamTraits<TlsStream> {
  // Under TLS the deadline goes on the lowest layer (STYLE.md section 5.3). When it passes, the
  // socket is closed and the pending operation fails with beast::error::timeout.
  static void SetDeadline(TlsStream& stream, std::chrono::milliseconds timeout) {
    beast::get_lowest_layer(stream).expires_after(timeout);
  }

  static void Cancel(TlsStream& stream) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().cancel(ignored);
  }

  template <class Handler>
  static void AsyncHandshake(TlsStream& stream, Handler&& handler) {
    stream.async_handshake(asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  template <class Handler>
  static void AsyncShutdown(TlsStream& stream, Handler&& handler) {
    // close_notify, then wait (within the deadline) for the peer's; meanwhile whatever the peer
    // still sends is read and dropped, so it sees our last reply rather than a reset.
    stream.async_shutdown(
        [&stream, handler = std::forward<Handler>(handler)](const boost::system::error_code&) {
          boost::system::error_code ignored;
          beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
          beast::get_lowest_layer(stream).socket().close(ignored);
          handler();
        });
  }

  static core::PeerIdentity Peer(TlsStream& stream) {
    return net::ExtractPeerIdentity(stream.native_handle());
  }

  static std::string Remote(TlsStream& stream) {
    boost::system::error_code ec;
    const auto remote = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
    if (ec) {
      return {};
    }
    return remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  static std::string Protocol(TlsStream& stream) { return SSL_get_version(stream.native_handle()); }

  static std::string RefusalDetail(TlsStream& stream) {
    const long result = SSL_get_verify_result(stream.native_handle());
    return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
  }

  static bool IsTimeout(const boost::system::error_code& ec) { return ec == beast::error::timeout; }
};

}  // namespace detail

class MllpServer::Impl : public std::enable_shared_from_this<MllpServer::Impl> {
 public:
  Impl(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
       MllpServerSettings settings, FrameHandler handler, FaultHandler on_fault)
      : io_context_(io_context),
        tls_(std::move(tls)),
        state_(std::make_shared<detail::ServerState>(std::move(settings), std::move(handler),
                                                     std::move(on_fault))) {}

  core::Result<std::uint16_t> Start();
  void Stop();
  std::size_t ActiveConnections() const { return state_->ActiveConnections(); }

 private:
  const core::Logger& log() const { return state_->log; }

  asio::io_context& io_context_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::shared_ptr<detail::ServerState> state_;
  std::shared_ptr<net::AcceptLoop> accept_;  // set by Start
};

core::Result<std::uint16_t> MllpServer::Impl::Start() {
  const MllpServerSettings& settings = state_->settings;
  tcp::acceptor acceptor(asio::make_strand(io_context_));
  auto bound = net::OpenAcceptor(acceptor, settings.address, settings.port, "listen.mllp");
  if (!bound) {
    return bound.error();
  }
  const std::uint16_t port = *bound;
  log().Info("listening", {{"address", settings.address},
                           {"port", std::to_string(port)},
                           {"max_frame_bytes", std::to_string(settings.max_frame_bytes)},
                           {"max_connections", std::to_string(settings.max_connections)}});
  accept_ = net::AcceptLoop::Create(
      std::move(acceptor), io_context_, net::AcceptSettings{settings.max_connections}, log(),
      [state = state_, tls = tls_](tcp::socket socket, net::ConnectionSlot slot) {
        if (!state->stopping.load()) {
          std::make_shared<detail::Session<TlsStream>>(state, std::move(slot), std::move(socket),
                                                       *tls)
              ->Run();
        }
      });
  accept_->Start();
  return port;
}

void MllpServer::Impl::Stop() {
  if (state_->stopping.exchange(true)) {
    return;
  }
  if (accept_) {
    accept_->Stop();
  }
  const auto live = state_->sessions.Live();
  for (const auto& session : live) {
    session->RequestClose();
  }
  log().Info("stopping", {{"connections", std::to_string(live.size())}});
}

MllpServer::MllpServer(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
                       MllpServerSettings settings, FrameHandler handler, FaultHandler on_fault)
    : impl_(std::make_shared<Impl>(io_context, std::move(tls), std::move(settings),
                                   std::move(handler), std::move(on_fault))) {}

MllpServer::~MllpServer() { impl_->Stop(); }

core::Result<std::uint16_t> MllpServer::Start() { return impl_->Start(); }
void MllpServer::Stop() { impl_->Stop(); }
std::size_t MllpServer::ActiveConnections() const { return impl_->ActiveConnections(); }

}  // namespace tb::mllp
