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

TEST(QueueCommand, APageOfTheListIsCheckedBeforeTheStoreIsOpened) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"list", "--limit", "0"},
                                               {"list", "--limit", "1001"},
                                               {"list", "--after", "-1"},
                                               {"list", "--after", "x"},
                                               {"counts", "--limit", "5"}}) {
    std::vector<std::string> with_config = args;
    with_config.insert(with_config.end(), {"--config", "/nonexistent/broker.json"});
    const testing::CommandOutput output = testing::RunCommand(QueueCommand, with_config);
    EXPECT_EQ(output.code, 2) << args[1] << " " << args[2];
    EXPECT_NE(output.err.find("--after ID and --limit N"), std::string::npos) << output.err;
  }
  const testing::CommandOutput good = testing::RunCommand(
      QueueCommand,
      {"list", "--after", "7", "--limit", "1000", "--config", "/nonexistent/broker.json"});
  EXPECT_EQ(good.err.find("--after ID and --limit N"), std::string::npos) << good.err;
}

}  // namespace
}  // namespace tb::app
