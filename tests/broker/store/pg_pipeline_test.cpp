// libpq pipeline mode (pg_connection.h) and SqlInboundStore's PostgreSQL batch commit on it
// (pg_inbound_writer.h): a failed statement mid-pipeline undoes the whole batch, a lost
// connection is kStorage and the next batch reconnects. Label pg: needs the CTest fixture server
// or BROKER_TEST_PG_URI, skips without one.
#include <array>
#include <atomic>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/store/pg_connection.h"
#include "broker/store/sql_inbound_store.h"
#include "broker/store/store.h"
#include "broker/store/store_url.h"
#include "tests/broker/store/store_test_support.h"
#include "tests/support/wait_for.h"

namespace tb::store::testing {
namespace {

using core::ErrorCode;

// A fresh schema and a libpq connection to it.
class PgPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = backend_.FreshUrl();
    if (url_.empty()) {
      if (HasFailure()) {
        FAIL() << "could not prepare a PostgreSQL schema";
      }
      GTEST_SKIP() << backend_.skip_reason();
    }
    core::Result<StoreLocation> location = ParseStoreUrl(url_);
    ASSERT_TRUE(location) << location.error().message;
    conninfo_ = location->connection_string;
    core::Result<PgConnection> connection = PgConnection::Open(conninfo_, "test connect");
    ASSERT_TRUE(connection) << connection.error().message;
    connection_ = std::move(*connection);
    ASSERT_TRUE(connection_.Exec(
        "test setup", "CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT NOT NULL)"));
    ASSERT_TRUE(connection_.Prepare("test setup", "insert_item",
                                    "INSERT INTO item (id, label) VALUES ($1, $2)"));
  }

  std::int64_t CountItems() {
    core::Result<PgRows> rows = connection_.Exec("test count", "SELECT COUNT(*) FROM item");
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? rows->Int64(0, 0).value_or(-1) : -1;
  }

  void AddItem(PgPipeline& pipeline, const std::string& id, const std::string& label) {
    const std::array<PgParam, 2> params = {PgParam::Text(id), PgParam::Text(label)};
    pipeline.Add("insert_item", params);
  }

  PostgresqlBackend backend_;
  std::string url_;
  std::string conninfo_;
  PgConnection connection_;
};

TEST_F(PgPipelineTest, ABatchCommitsInOneRunAndReturnsEveryResult) {
  PgPipeline pipeline(connection_);
  pipeline.AddSql("BEGIN");
  for (int i = 1; i <= 50; ++i) {
    AddItem(pipeline, std::to_string(i), "item " + std::to_string(i));
  }
  const std::array<PgParam, 1> wanted = {PgParam::Text("7")};
  pipeline.AddSql("SELECT label FROM item WHERE id = $1", wanted);
  pipeline.AddSql("COMMIT");
  core::Result<std::vector<PgRows>> replies = pipeline.Run("test batch");
  ASSERT_TRUE(replies) << replies.error().message;
  ASSERT_EQ(replies->size(), 53U);
  EXPECT_EQ((*replies)[51].Text(0, 0), "item 7") << "a statement sees the ones before it";
  EXPECT_TRUE(connection_.usable());
  EXPECT_EQ(CountItems(), 50);
}

TEST_F(PgPipelineTest, LargeBatchesFlowBothWaysWithoutDeadlock) {
  // ~20 MB each way, far more than the socket buffers hold: Run() must keep flushing what libpq
  // could not send yet while it reads the replies that arrive meanwhile.
  const std::string big(100'000, 'x');
  const std::array<PgParam, 1> params = {PgParam::Text(big)};
  PgPipeline pipeline(connection_);
  constexpr int kStatements = 200;
  for (int i = 0; i < kStatements; ++i) {
    pipeline.AddSql("SELECT length($1), repeat('y', 100000)", params);
  }
  core::Result<std::vector<PgRows>> replies = pipeline.Run("test large batch");
  ASSERT_TRUE(replies) << replies.error().message;
  ASSERT_EQ(replies->size(), static_cast<std::size_t>(kStatements));
  for (const PgRows& rows : *replies) {
    ASSERT_EQ(rows.Int64(0, 0), 100'000);
    ASSERT_EQ(rows.Text(0, 1).size(), 100'000U);
  }
  EXPECT_TRUE(connection_.usable());
}

TEST_F(PgPipelineTest, AFailedStatementMidPipelineRollsBackTheWholeBatch) {
  PgPipeline pipeline(connection_);
  pipeline.AddSql("BEGIN");
  AddItem(pipeline, "1", "first");
  AddItem(pipeline, "2", "second");
  AddItem(pipeline, "1", "secret-value");  // unique violation on id 1
  AddItem(pipeline, "3", "never sent to the table");
  pipeline.AddSql("COMMIT");
  const core::Result<std::vector<PgRows>> replies = pipeline.Run("test batch");
  ASSERT_FALSE(replies);
  EXPECT_EQ(replies.error().code, ErrorCode::kStorage);
  EXPECT_NE(replies.error().message.find("SQLSTATE 23505"), std::string::npos)
      << replies.error().message;
  EXPECT_NE(replies.error().message.find("statement 4 of 6"), std::string::npos)
      << replies.error().message;
  EXPECT_EQ(replies.error().message.find("secret-value"), std::string::npos)
      << "no bound values in errors";
  // The explicit transaction is left aborted; the owner rolls it back and goes on.
  ASSERT_TRUE(connection_.Exec("test rollback", "ROLLBACK"));
  EXPECT_EQ(CountItems(), 0) << "nothing of a failed batch may stay";

  PgPipeline again(connection_);
  again.AddSql("BEGIN");
  AddItem(again, "1", "first");
  again.AddSql("COMMIT");
  ASSERT_TRUE(again.Run("test batch"));
  EXPECT_EQ(CountItems(), 1);
}

TEST_F(PgPipelineTest, ALostConnectionIsAStorageError) {
  const int pid = connection_.backend_pid();
  ASSERT_GT(pid, 0);
  core::Result<PgConnection> admin = PgConnection::Open(conninfo_, "test admin");
  ASSERT_TRUE(admin) << admin.error().message;
  const std::string target = std::to_string(pid);
  const std::array<PgParam, 1> params = {PgParam::Text(target)};
  // Waits (up to 5 s) until the backend is gone, as a server restart or a proxy would leave it.
  core::Result<PgRows> killed =
      admin->Exec("test kill", "SELECT pg_terminate_backend(CAST($1 AS INTEGER), 5000)", params);
  ASSERT_TRUE(killed) << killed.error().message;
  ASSERT_EQ(killed->Text(0, 0), "t");

  PgPipeline pipeline(connection_);
  pipeline.AddSql("BEGIN");
  AddItem(pipeline, "1", "first");
  pipeline.AddSql("COMMIT");
  const core::Result<std::vector<PgRows>> replies = pipeline.Run("test batch");
  ASSERT_FALSE(replies);
  EXPECT_EQ(replies.error().code, ErrorCode::kStorage);
  EXPECT_FALSE(connection_.usable());
  const core::Result<PgRows> after = connection_.Exec("test after", "SELECT 1");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kStorage);
}

TEST_F(PgPipelineTest, AServerSlowerThanTheReplyTimeoutIsAStorageErrorAndDropsTheConnection) {
  connection_.set_reply_timeout(std::chrono::milliseconds(200));
  PgPipeline pipeline(connection_);
  pipeline.AddSql("SELECT pg_sleep(3)");
  const core::Result<std::vector<PgRows>> replies = pipeline.Run("test slow");
  ASSERT_FALSE(replies);
  EXPECT_EQ(replies.error().code, ErrorCode::kStorage);
  EXPECT_NE(replies.error().message.find("timed out"), std::string::npos)
      << replies.error().message;
  EXPECT_FALSE(connection_.usable()) << "its reply may still come: the connection is out of step";
  connection_.Close();
}

TEST(PgText, ArraysQuoteEveryElement) {
  const std::array<std::string_view, 4> elements = {"RGT", "a\"b", "back\\slash", ""};
  EXPECT_EQ(PgTextArray(elements), R"({"RGT","a\"b","back\\slash",""})");
  EXPECT_EQ(PgTextArray({}), "{}");
}

// ---- SqlInboundStore on the pipeline -----------------------------------------------------------

class PgInboundBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = backend_.FreshUrl();
    if (url_.empty()) {
      if (HasFailure()) {
        FAIL() << "could not prepare a PostgreSQL schema";
      }
      GTEST_SKIP() << backend_.skip_reason();
    }
  }

  PostgresqlBackend backend_;
  std::string url_;
};

// Holds the store's first batch open (its before-commit hook) until `waiting` more messages wait,
// so those form the second batch together. The flag returned turns true once the hold begins.
std::shared_ptr<std::atomic<bool>> HoldFirstBatchUntilWaiting(SqlInboundStore& store,
                                                              std::size_t waiting) {
  auto first = std::make_shared<std::atomic<bool>>(true);
  auto holding = std::make_shared<std::atomic<bool>>(false);
  store.SetBeforeCommitHookForTest([&store, first, holding, waiting](std::size_t) {
    if (first->exchange(false)) {
      *holding = true;
      EXPECT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == waiting; }));
    }
    return core::Ok();
  });
  return holding;
}

TEST_F(PgInboundBatchTest, AStatementFailingMidBatchStoresNothingOfTheBatch) {
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = url_});
  ASSERT_TRUE(database) << database.error().message;
  // The fourth message of the batch fails inside the server, after three were inserted and
  // enqueued in the same pipeline.
  ASSERT_TRUE(Execute(**database,
                      "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
                      " BEGIN IF NEW.control_id = 'M3' THEN"
                      " RAISE EXCEPTION 'refused %', NEW.nhs_number USING ERRCODE = '22023';"
                      " END IF; RETURN NEW; END $$"));
  ASSERT_TRUE(Execute(**database,
                      "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbound_message"
                      " FOR EACH ROW EXECUTE FUNCTION refuse_poison()"));
  SqlInboundStore store(**database, {});
  const auto holding = HoldFirstBatchUntilWaiting(store, 6);
  auto blocker = std::async(std::launch::async, [&] { return store.Accept(MakeMessage("B")); });
  ASSERT_TRUE(tb::testing::WaitFor([&] { return holding->load(); }));

  std::vector<core::InboundMessage> messages;
  for (int i = 0; i < 6; ++i) {
    messages.push_back(MakeMessage(Id("M", i)));
    messages.back().routes.push_back({"RGT", "hl7v2"});
  }
  std::vector<std::future<core::Result<core::AcceptResult>>> results;
  for (const core::InboundMessage& message : messages) {
    results.push_back(
        std::async(std::launch::async, [&store, &message] { return store.Accept(message); }));
  }
  ASSERT_TRUE(blocker.get());
  for (auto& future : results) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kStorage);
    EXPECT_NE(result.error().message.find("SQLSTATE 22023"), std::string::npos)
        << result.error().message;
    EXPECT_EQ(result.error().message.find("9434765919"), std::string::npos)
        << "the server's message quotes the NHS number: it must not reach the error";
  }
  EXPECT_EQ(store.stats().failed_batches, 1U);
  EXPECT_EQ(store.Count().value_or(-1), 1) << "only the blocker's batch is stored";
  EXPECT_EQ(QueryOne<Poco::Int64>(**database, "SELECT COUNT(*) FROM outbound_message").value_or(-1),
            0)
      << "the routes of the rolled-back messages must be gone too";

  // The writer's connection is fine after a rollback: the other five are stored with their routes.
  for (int i = 0; i < 6; ++i) {
    if (i == 3) {
      continue;
    }
    const core::Result<core::AcceptResult> result =
        store.Accept(messages[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, core::AcceptOutcome::kStored);
  }
  EXPECT_EQ(QueryOne<Poco::Int64>(**database, "SELECT COUNT(*) FROM outbound_message").value_or(-1),
            5);
}

TEST_F(PgInboundBatchTest, ALostWriterConnectionFailsOneBatchThenReconnects) {
  std::random_device random;
  const std::string application = Id("tb_writer_test_", static_cast<long>(random() % 1000000));
  core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = url_ + "&application_name=" + application});
  ASSERT_TRUE(database) << database.error().message;
  core::Result<std::unique_ptr<Database>> admin = OpenDatabase({.url = url_});
  ASSERT_TRUE(admin) << admin.error().message;
  SqlInboundStore store(**database, {});
  ASSERT_TRUE(store.Accept(MakeMessage("W1")));  // the writer has connected

  // Every connection of the store (its pool and its writer) goes, as in a server restart; each
  // termination waits until the backend is gone.
  const core::Result<Poco::Int64> terminated =
      QueryOne<Poco::Int64>(**admin,
                            "SELECT COUNT(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                            " WHERE application_name = '" +
                                application + "'");
  ASSERT_TRUE(terminated) << terminated.error().message;
  ASSERT_GE(*terminated, 2) << "the pool's session and the writer's connection";

  const core::Result<core::AcceptResult> lost = store.Accept(MakeMessage("W2"));
  ASSERT_FALSE(lost) << "the writer's connection is gone: this batch cannot be written";
  EXPECT_EQ(lost.error().code, ErrorCode::kStorage);

  // The sender retries: a new connection takes over (the pool may first fail once more on its
  // own broken session, which the pool then drops).
  bool stored = false;
  for (int attempt = 0; attempt < 3 && !stored; ++attempt) {
    const core::Result<core::AcceptResult> result = store.Accept(MakeMessage("W2"));
    if (result) {
      stored = result->outcome == core::AcceptOutcome::kStored;
    } else {
      EXPECT_EQ(result.error().code, ErrorCode::kStorage);
    }
  }
  EXPECT_TRUE(stored);
  EXPECT_EQ(store.Count().value_or(-1), 2);
}

TEST_F(PgInboundBatchTest, TheWriterKeepsThePoolsLockTimeout) {
  // The writer's own connection gets the settings of the pool's sessions (store.lock_timeout):
  // a lock held elsewhere ends the batch in kStorage instead of blocking Accept().
  StoreSettings settings;
  settings.url = url_;
  settings.lock_timeout = std::chrono::milliseconds(200);
  core::Result<std::unique_ptr<Database>> database = OpenDatabase(settings);
  ASSERT_TRUE(database) << database.error().message;
  core::Result<PgConnection> holder =
      PgConnection::Open(ParseStoreUrl(url_)->connection_string, "test holder");
  ASSERT_TRUE(holder) << holder.error().message;
  ASSERT_TRUE(holder->Exec("test lock", "BEGIN"));
  ASSERT_TRUE(holder->Exec("test lock", "LOCK TABLE inbound_message IN EXCLUSIVE MODE"));

  SqlInboundStore store(**database, {});
  const core::Result<core::AcceptResult> result = store.Accept(MakeMessage("T1"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kStorage);
  EXPECT_NE(result.error().message.find("lock timeout"), std::string::npos)
      << result.error().message;
  ASSERT_TRUE(holder->Exec("test unlock", "ROLLBACK"));
  const core::Result<core::AcceptResult> after = store.Accept(MakeMessage("T1"));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->outcome, core::AcceptOutcome::kStored);
}

}  // namespace
}  // namespace tb::store::testing
