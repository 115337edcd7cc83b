#include "broker/app/cli.h"

#include <cstdio>

namespace tb::app {

int RunCli(int, char**) {
  std::puts("trustbridge: no subcommands yet");
  return 2;
}

}  // namespace tb::app
