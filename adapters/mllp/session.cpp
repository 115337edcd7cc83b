#include "adapters/mllp/session.h"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace tb::mllp::detail {
namespace {

std::atomic<std::uint64_t> g_next_connection_id{1};

}  // namespace

bool IsNormalClose(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  return ec == error::eof || ec == error::connection_reset || ec == error::broken_pipe ||
         ec == error::operation_aborted || ec == boost::asio::ssl::error::stream_truncated;
}

std::uint64_t NextConnectionId() { return g_next_connection_id.fetch_add(1); }

std::string ConnectionName(std::uint64_t id) { return "c" + std::to_string(id); }

ServerState::ServerState(MllpServerSettings settings_in, FrameHandler handler_in,
                         FaultHandler on_fault_in)
    : settings(std::move(settings_in)),
      handler(std::move(handler_in)),
      on_fault(std::move(on_fault_in)),
      log(settings.component) {}

}  // namespace tb::mllp::detail
