#pragma once

// Runs a `trustbridge` subcommand function as the CLI would, capturing its output.

#include <sstream>
#include <string>
#include <vector>

#include "broker/app/flags.h"

namespace tb::testing {

struct CommandOutput {
  int code = 0;
  std::string out;
  std::string err;
};

// `command` is one of the app's `int XCommand(const Flags&, std::ostream& out, std::ostream& err)`.
template <typename Command>
CommandOutput RunCommand(Command command, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  const app::Flags flags = app::Flags::Parse(static_cast<int>(argv.size()), argv.data());
  std::ostringstream out;
  std::ostringstream err;
  CommandOutput output;
  output.code = command(flags, out, err);
  output.out = out.str();
  output.err = err.str();
  return output;
}

}  // namespace tb::testing
