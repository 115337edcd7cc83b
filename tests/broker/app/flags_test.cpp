#include "broker/app/flags.h"

#include <gtest/gtest.h>

namespace tb::app {
namespace {

Flags ParseArgs(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  return Flags::Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(Flags, ReadsValuesSwitchesAndPositionals) {
  Flags flags = ParseArgs({"--config", "a.json", "--var=x=1", "--var", "y=2", "--help", "f.hl7"});
  EXPECT_EQ(flags.Get("config"), "a.json");
  EXPECT_EQ(flags.GetAll("var"), (std::vector<std::string>{"x=1", "y=2"}));
  EXPECT_TRUE(flags.Has("help"));
  EXPECT_EQ(flags.positional(), std::vector<std::string>{"f.hl7"});
  EXPECT_TRUE(flags.error().empty());
}

TEST(Flags, ReportsMissingValue) {
  Flags flags = ParseArgs({"--config"});
  EXPECT_FALSE(flags.error().empty());
}

}  // namespace
}  // namespace tb::app
