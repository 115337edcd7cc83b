// The MLLP session state machine driven over beast::test::stream (no sockets, no TLS): order,
// one frame at a time, faults, dropped replies, close requests, and every I/O error branch
// through fail_count (STYLE.md section 11).
#include "adapters/mllp/session.h"

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <gtest/gtest.h>

#include "broker/core/log.h"

namespace tb::mllp::detail {

using TestStream = boost::beast::test::stream;

// The test stream has no TLS and no deadlines: the handshake succeeds at once with a fixed
// identity, Cancel() and AsyncShutdown() close the stream (the peer then reads EOF).
template <>
struct StreamTraits<TestStream> {
  static void SetDeadline(TestStream&, std::chrono::milliseconds) {}
  static void Cancel(TestStream& stream) { stream.close(); }
  template <class Handler>
  static void AsyncHandshake(TestStream& stream, Handler&& handler) {
    boost::asio::post(stream.get_executor(), [handler = std::forward<Handler>(handler)]() mutable {
      handler(boost::system::error_code());
    });
  }
  template <class Handler>
  static void AsyncShutdown(TestStream& stream, Handler&& handler) {
    stream.close();
    boost::asio::post(stream.get_executor(), std::forward<Handler>(handler));
  }
  static core::PeerIdentity Peer(TestStream&) {
    core::PeerIdentity peer;
    peer.subject_cn = "RJ1";
    return peer;
  }
  static std::string Remote(TestStream&) { return "test"; }
  static std::string Protocol(TestStream&) { return "none"; }
  static std::string RefusalDetail(TestStream&) { return {}; }
  static bool IsTimeout(const boost::system::error_code&) { return false; }
};

namespace {

namespace asio = boost::asio;
namespace test = boost::beast::test;

const std::string kVt(1, kStartBlock);
const std::string kFs(1, kEndBlock);
const std::string kCr(1, kCarriageReturn);

enum class Mode { kHold, kEcho, kDrop, kEmpty };

class MllpSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::SetLogSink([this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_.emplace_back(line);
    });
    core::SetLogLevel(core::LogLevel::kDebug);
  }
  void TearDown() override {
    core::SetLogSink(nullptr);
    core::SetLogLevel(core::LogLevel::kInfo);
  }

  // Starts a session over a connected pair of test streams; returns it weakly so the test can
  // see it go away. `read_size` caps each read of the session (1 = byte by byte).
  std::weak_ptr<Session<TestStream>> Start(MllpServerSettings settings = {},
                                           std::size_t read_size = 0,
                                           test::fail_count* fail = nullptr) {
    state_ = std::make_shared<ServerState>(
        std::move(settings),
        [this](FrameRequest request, ReplyFn reply) {
          requests_.push_back(request);
          switch (mode_) {
            case Mode::kHold:
              replies_.push_back(std::move(reply));
              break;
            case Mode::kEcho:
              reply("ack:" + request.payload);
              break;
            case Mode::kDrop:
              break;
            case Mode::kEmpty:
              reply("");
              break;
          }
        },
        [this](const FrameFault& fault) {
          faults_.push_back(fault);
          return fault_reply_;
        });
    TestStream server_end = fail != nullptr ? TestStream(io_, *fail) : TestStream(io_);
    if (read_size > 0) {
      server_end.read_size(read_size);
    }
    client_.connect(server_end);
    auto session =
        std::make_shared<Session<TestStream>>(state_, net::ConnectionSlot{}, std::move(server_end));
    session->Run();
    Pump();
    return session;
  }

  void Pump() {
    io_.restart();
    io_.poll();
  }

  void Send(const std::string& bytes) {
    asio::write(client_, asio::buffer(bytes));
    Pump();
  }

  // What the session wrote so far.
  std::string Written() const { return std::string(client_.str()); }

  // True once the session closed its end: the client then reads EOF after the data.
  bool ClientSeesEof() {
    client_.buffer().consume(client_.buffer().size());
    char byte = 0;
    boost::system::error_code ec;
    client_.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof;
  }

  std::string Log() {
    std::lock_guard lock(log_mutex_);
    std::string all;
    for (const std::string& line : log_) {
      all += line + "\n";
    }
    return all;
  }

  asio::io_context io_;
  TestStream client_{io_};
  std::shared_ptr<ServerState> state_;
  Mode mode_ = Mode::kHold;
  std::vector<FrameRequest> requests_;
  std::vector<ReplyFn> replies_;
  std::vector<FrameFault> faults_;
  std::string fault_reply_ = "NAK";
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_F(MllpSessionTest, HandsOverOneFrameAtATimeAndRepliesInOrder) {
  auto session = Start();
  Send(Frame("first") + Frame("second"));
  ASSERT_EQ(requests_.size(), 1u);  // the second waits for the first reply
  EXPECT_EQ(requests_[0].payload, "first");
  EXPECT_EQ(requests_[0].peer.subject_cn, "RJ1");
  EXPECT_EQ(requests_[0].peer.remote_address, "test");
  EXPECT_EQ(requests_[0].sequence, 1u);
  EXPECT_EQ(requests_[0].connection_id, session.lock()->id());
  EXPECT_EQ(Written(), "");

  replies_[0]("ACK1");
  Pump();
  ASSERT_EQ(requests_.size(), 2u);
  EXPECT_EQ(requests_[1].payload, "second");
  EXPECT_EQ(requests_[1].sequence, 2u);
  EXPECT_EQ(Written(), Frame("ACK1"));

  replies_[1]("ACK2");
  Pump();
  EXPECT_EQ(Written(), Frame("ACK1") + Frame("ACK2"));
  EXPECT_FALSE(session.expired());  // still connected, reading
  EXPECT_EQ(state_->ActiveConnections(), 1u);
}

TEST_F(MllpSessionTest, ReassemblesFramesReadOneByteAtATime) {
  mode_ = Mode::kEcho;
  Start({}, 1);
  Send(Frame("a|b|c") + "\r\n" + Frame("d"));
  ASSERT_EQ(requests_.size(), 2u);
  EXPECT_EQ(Written(), Frame("ack:a|b|c") + Frame("ack:d"));
}

TEST_F(MllpSessionTest, EmptyReplySendsNothingAndReadsOn) {
  mode_ = Mode::kEmpty;
  Start();
  Send(Frame("x") + Frame("y"));
  EXPECT_EQ(requests_.size(), 2u);
  EXPECT_EQ(Written(), "");
}

TEST_F(MllpSessionTest, ReplyMayComeFromAnotherThread) {
  Start();
  Send(Frame("x"));
  ASSERT_EQ(replies_.size(), 1u);
  std::thread([reply = replies_[0]] { reply("late"); }).join();
  Pump();
  EXPECT_EQ(Written(), Frame("late"));
}

TEST_F(MllpSessionTest, SecondCallOfReplyIsIgnored) {
  Start();
  Send(Frame("x"));
  replies_[0]("one");
  replies_[0]("two");
  Pump();
  EXPECT_EQ(Written(), Frame("one"));
}

TEST_F(MllpSessionTest, SkipsGarbageAndBrokenFrames) {
  mode_ = Mode::kEcho;
  Start();
  Send("junk" + kVt + "partial" + Frame("ok") + kVt + "bad" + kFs + "X" + Frame("ok2"));
  ASSERT_EQ(requests_.size(), 2u);
  EXPECT_EQ(Written(), Frame("ack:ok") + Frame("ack:ok2"));
  const std::string log = Log();
  EXPECT_NE(log.find("\"event\":\"frame_dropped\""), std::string::npos);
  EXPECT_NE(log.find("\"reason\":\"truncated\""), std::string::npos);
  EXPECT_NE(log.find("\"reason\":\"bad_terminator\""), std::string::npos);
}

// Each stray start block ends the frame before it: 100 KB of them used to write 100,000
// frame_dropped warnings. Now one line per reason and read, and the connection is closed once
// more than kMaxDroppedFramesInARow frames in a row were broken.
TEST_F(MllpSessionTest, AFloodOfStartBlocksIsLoggedOnceAndClosesTheConnection) {
  mode_ = Mode::kEcho;
  Start();
  Send(std::string(100'000, kStartBlock));
  const std::string log = Log();
  std::size_t lines = 0;
  for (std::size_t at = log.find("frame_dropped"); at != std::string::npos;
       at = log.find("frame_dropped", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u);
  EXPECT_NE(log.find("\"event\":\"too_many_dropped_frames\""), std::string::npos);
  EXPECT_TRUE(requests_.empty());
  EXPECT_TRUE(ClientSeesEof());
}

TEST_F(MllpSessionTest, BrokenFramesOfOneReadAreCountedOnOneLineAndAGoodFrameStillGoesThrough) {
  mode_ = Mode::kEcho;
  Start();
  Send(kVt + "a" + kVt + "b" + kVt + "c" + Frame("ok"));
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(Written(), Frame("ack:ok"));
  const std::string log = Log();
  EXPECT_NE(log.find("\"reason\":\"truncated\",\"frames\":\"3\""), std::string::npos) << log;
  EXPECT_EQ(log.find("frame_dropped"), log.rfind("frame_dropped"));  // one line
  EXPECT_EQ(log.find("too_many_dropped_frames"), std::string::npos);
}

TEST_F(MllpSessionTest, OversizeFrameGetsFaultReplyThenClose) {
  MllpServerSettings settings;
  settings.max_frame_bytes = 8;
  auto session = Start(settings);
  Send(Frame("MSH|123456789") + Frame("ok"));
  ASSERT_EQ(faults_.size(), 1u);
  EXPECT_EQ(faults_[0].kind, FaultKind::kOversize);
  EXPECT_EQ(faults_[0].error.code, core::ErrorCode::kTooLarge);
  EXPECT_EQ(faults_[0].head, "MSH|123456789");
  EXPECT_EQ(faults_[0].bytes, 13u);
  EXPECT_EQ(faults_[0].limit, 8u);
  EXPECT_EQ(faults_[0].peer.subject_cn, "RJ1");
  EXPECT_TRUE(requests_.empty());  // not even the small frame after it
  EXPECT_EQ(Written(), Frame("NAK"));
  EXPECT_TRUE(session.expired());
  EXPECT_TRUE(ClientSeesEof());
  EXPECT_EQ(state_->ActiveConnections(), 0u);
}

TEST_F(MllpSessionTest, AfterTheFaultReplyDrainsTheRestOfTheFrameThenCloses) {
  MllpServerSettings settings;
  settings.max_frame_bytes = 8;
  auto session = Start(settings);
  Send(kVt + "0123456789");
  EXPECT_EQ(Written(), Frame("NAK"));
  EXPECT_FALSE(session.expired());  // still reading the refused frame
  Send(std::string(100, 'x'));
  EXPECT_FALSE(session.expired());
  Send("xx" + kFs + kCr + Frame("late"));  // the frame ends: close; "late" is not handled
  EXPECT_TRUE(session.expired());
  EXPECT_TRUE(requests_.empty());
  EXPECT_EQ(faults_.size(), 1u);
}

TEST_F(MllpSessionTest, OversizeWithEmptyFaultReplyClosesSilently) {
  fault_reply_.clear();
  MllpServerSettings settings;
  settings.max_frame_bytes = 4;
  auto session = Start(settings);
  Send(kVt + "0123456789");  // refused before the frame even ends
  EXPECT_EQ(faults_.size(), 1u);
  EXPECT_EQ(Written(), "");
  EXPECT_TRUE(session.expired());
}

TEST_F(MllpSessionTest, DroppedReplyClosesTheConnection) {
  mode_ = Mode::kDrop;
  auto session = Start();
  Send(Frame("x") + Frame("y"));
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_TRUE(session.expired());
  EXPECT_EQ(Written(), "");
  EXPECT_NE(Log().find("\"event\":\"handler_dropped_frame\""), std::string::npos);
}

TEST_F(MllpSessionTest, PeerClosingMidFrameEndsTheSession) {
  auto session = Start();
  Send(kVt + "partial");
  client_.close();
  Pump();
  EXPECT_TRUE(session.expired());
  EXPECT_TRUE(requests_.empty());
  EXPECT_NE(Log().find("\"event\":\"closed_mid_frame\""), std::string::npos);
}

TEST_F(MllpSessionTest, RequestCloseClosesIdleSessionAtOnce) {
  auto session = Start();
  session.lock()->RequestClose();
  Pump();
  EXPECT_TRUE(session.expired());
  EXPECT_TRUE(ClientSeesEof());
}

TEST_F(MllpSessionTest, RequestCloseLetsBusySessionReplyFirst) {
  auto session = Start();
  Send(Frame("x") + Frame("y"));
  ASSERT_EQ(replies_.size(), 1u);
  session.lock()->RequestClose();
  Pump();
  EXPECT_FALSE(session.expired());  // the reply is owed
  replies_[0]("ACK");
  Pump();
  EXPECT_EQ(Written(), Frame("ACK"));
  EXPECT_EQ(requests_.size(), 1u);  // "y" was never acknowledged: the sender resends it
  EXPECT_TRUE(session.expired());
}

TEST_F(MllpSessionTest, StoppingServerClosesAfterTheCurrentReply) {
  mode_ = Mode::kEcho;
  auto session = Start();
  state_->stopping = true;
  Send(Frame("x"));
  EXPECT_TRUE(session.expired());
}

TEST_F(MllpSessionTest, LogsConnectionAndFrameSizesButNeverPayload) {
  mode_ = Mode::kEcho;
  Start();
  Send(Frame("PID|||9434765919^^^NHS") + "garbage-SECRET" + Frame("second"));
  client_.close();
  Pump();
  const std::string log = Log();
  EXPECT_NE(log.find("\"event\":\"connected\""), std::string::npos);
  EXPECT_NE(log.find("\"peer_cn\":\"RJ1\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"frame\""), std::string::npos);
  EXPECT_NE(log.find("\"bytes\":\"22\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"disconnected\""), std::string::npos);
  EXPECT_EQ(log.find("9434765919"), std::string::npos);
  EXPECT_EQ(log.find("SECRET"), std::string::npos);
  EXPECT_EQ(log.find("second"), std::string::npos);
}

// Fails the Nth I/O operation of the session's stream for every N until a whole exchange
// passes: each read and write error branch must end the session without a crash or a leak.
TEST_F(MllpSessionTest, EveryIoFailureEndsTheSessionCleanly) {
  mode_ = Mode::kEcho;
  for (std::size_t n = 1; n < 20; ++n) {
    test::fail_count fail(n);
    requests_.clear();
    client_.close();
    Pump();
    client_ = TestStream(io_);
    auto session = Start({}, 0, &fail);
    boost::system::error_code ignored;  // the session may be gone already
    asio::write(client_, asio::buffer(Frame("a") + Frame("b")), ignored);
    Pump();
    if (!session.expired() && Written() == Frame("ack:a") + Frame("ack:b")) {
      EXPECT_GT(n, 1u);
      const std::string log = Log();  // both error branches were reached on the way
      EXPECT_NE(log.find("\"event\":\"read_failed\""), std::string::npos);
      EXPECT_NE(log.find("\"event\":\"write_failed\""), std::string::npos);
      return;  // got through without reaching the failure
    }
    EXPECT_TRUE(session.expired()) << "after failing operation " << n;
    EXPECT_EQ(state_->ActiveConnections(), 0u);
  }
  FAIL() << "the exchange never succeeded";
}

}  // namespace
}  // namespace tb::mllp::detail
