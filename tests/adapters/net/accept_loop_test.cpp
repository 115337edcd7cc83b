// Loopback tests of the accept loop every listener uses: the connection limit and the pause
// after an accept fails for want of file descriptors. Plain TCP: the loop knows nothing of TLS.
#include "adapters/net/accept_loop.h"

#include <dirent.h>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "adapters/net/listener.h"
#include "tests/support/wait_for.h"

namespace tb::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::WaitFor;

class AcceptLoopTest : public ::testing::Test {
 protected:
  void Start(AcceptSettings settings) {
    tcp::acceptor acceptor(asio::make_strand(io_context_));
    auto port = OpenAcceptor(acceptor, "127.0.0.1", 0, "listen");
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    loop_ = AcceptLoop::Create(std::move(acceptor), io_context_, settings,
                               core::Logger("tb.test.accept"),
                               [this](tcp::socket socket, ConnectionSlot slot) {
                                 std::lock_guard lock(mutex_);
                                 admitted_.emplace_back(std::move(socket), std::move(slot));
                               });
    loop_->Start();
    thread_ = std::thread([this] { io_context_.run(); });
  }

  void TearDown() override {
    if (loop_) {
      loop_->Stop();
    }
    {
      std::lock_guard lock(mutex_);
      admitted_.clear();
    }
    work_.reset();
    io_context_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  std::size_t Admitted() {
    std::lock_guard lock(mutex_);
    return admitted_.size();
  }

  // Closes the oldest admitted connection, freeing its place.
  void CloseOldest() {
    std::lock_guard lock(mutex_);
    ASSERT_FALSE(admitted_.empty());
    admitted_.erase(admitted_.begin());
  }

  // A connected client socket: the kernel completes the TCP handshake from the listen backlog
  // whether or not the loop has accepted it.
  tcp::socket Connect() {
    tcp::socket socket(client_io_);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    return socket;
  }

  asio::io_context io_context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ =
      asio::make_work_guard(io_context_);
  asio::io_context client_io_;
  std::shared_ptr<AcceptLoop> loop_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<std::pair<tcp::socket, ConnectionSlot>> admitted_;
};

TEST_F(AcceptLoopTest, AtTheLimitFurtherConnectionsWaitUntilOneCloses) {
  Start(AcceptSettings{2});
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect());
  }
  ASSERT_TRUE(WaitFor([this] { return Admitted() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Admitted(), 2u);  // the third waits in the backlog
  EXPECT_EQ(loop_->connections(), 2u);
  EXPECT_EQ(loop_->stats().accepted, 2u);
  EXPECT_GE(loop_->stats().limit_pauses, 1u);

  CloseOldest();
  ASSERT_TRUE(WaitFor([this] { return Admitted() == 2 && loop_->stats().accepted == 3; }));
  EXPECT_EQ(loop_->connections(), 2u);

  // Below the limit again, connections are taken at once.
  CloseOldest();
  CloseOldest();
  EXPECT_TRUE(WaitFor([this] { return loop_->connections() == 0; }));
  clients.push_back(Connect());
  EXPECT_TRUE(WaitFor([this] { return Admitted() == 1; }));
}

// Open descriptors of this process.
std::size_t OpenDescriptors() {
  std::size_t count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) {
      ++count;
    }
    closedir(dir);
  }
  return count;
}

TEST_F(AcceptLoopTest, WithoutDescriptorsItPausesInsteadOfRetryingAtOnce) {
  Start(AcceptSettings{16, std::chrono::milliseconds(100)});
  tcp::socket client(client_io_);
  client.open(tcp::v4());  // its descriptor exists before the process runs out

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = OpenDescriptors() + 8;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd = dup(0); fd >= 0; fd = dup(0)) {
    filler.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);

  client.connect({asio::ip::make_address("127.0.0.1"), port_});
  std::this_thread::sleep_for(std::chrono::milliseconds(650));
  const AcceptLoop::Stats paused = loop_->stats();

  for (int fd : filler) {
    close(fd);
  }
  setrlimit(RLIMIT_NOFILE, &saved);

  EXPECT_EQ(paused.accepted, 0u);
  // One try per pause (~7 in 650 ms), not the tight loop of before (thousands of tries).
  EXPECT_GE(paused.failed_accepts, 2u);
  EXPECT_LE(paused.failed_accepts, 12u);
  EXPECT_EQ(paused.pauses, paused.failed_accepts);
  // With descriptors back, the waiting connection is taken at the next try.
  EXPECT_TRUE(WaitFor([this] { return Admitted() == 1; }, std::chrono::seconds(2)));
}

TEST_F(AcceptLoopTest, StopClosesTheListeningSocket) {
  Start(AcceptSettings{});
  loop_->Stop();
  EXPECT_TRUE(WaitFor([this] {
    boost::system::error_code ec;
    tcp::socket socket(client_io_);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    return ec == asio::error::connection_refused;
  }));
}

}  // namespace
}  // namespace tb::net
