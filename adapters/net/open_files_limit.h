#pragma once

#include <cstdint>

namespace tb::net {

// Raises this process's soft limit on open files to its hard limit and returns the soft limit
// now in force (0 if it cannot be read). Debian's default soft limit, 1024, is below what one
// listener's default max_connections may hold open; the hard limit is the administrator's bound.
// For the long-running commands (`serve`, `simulate-trust`), before their listeners start.
std::uint64_t RaiseOpenFilesLimit();

}  // namespace tb::net
