// `trustbridge queue`: its arguments are checked before any store is opened.
#include "broker/app/queue_command.h"

#include <gtest/gtest.h>

#include "tests/broker/app/run_command.h"

namespace tb::app {
namespace {

TEST(QueueCommand, AnIdThatIsNotAPositiveNumberIsAUsageError) {
  for (const char* id : {"0", "-3", "+3", "3x", " 3", "", "99999999999999999999"}) {
    const testing::CommandOutput output =
        testing::RunCommand(QueueCommand, {"replay", id, "--config", "/nonexistent/broker.json"});
    EXPECT_EQ(output.code, 2) << id;
    EXPECT_NE(output.err.find("ID must be a positive number"), std::string::npos)
        << id << ": " << output.err;
  }
  // A good ID gets as far as the config, which is missing here.
  const testing::CommandOutput good =
      testing::RunCommand(QueueCommand, {"replay", "42", "--config", "/nonexistent/broker.json"});
  EXPECT_EQ(good.err.find("ID must be a positive number"), std::string::npos) << good.err;
}

}  // namespace
}  // namespace tb::app
