#pragma once

namespace tb::app {

// Entry point of the `trustbridge` command: dispatches to a subcommand and returns the process
// exit code. Never throws.
int RunCli(int argc, char** argv);

}  // namespace tb::app
