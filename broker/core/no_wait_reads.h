#pragma once

// Store reads tried on a thread that must not block (an I/O thread), falling back to a thread
// that may. Within a NoWaitReads scope, a store read that would have to wait (for a pooled
// session, for a lock another connection holds, for a network round trip) fails at once and
// marks the scope blocked; the caller then does the same reads again where waiting is fine (the
// blocking pool). Stores that never wait (in memory) ignore the scope. Used for the two lookups
// of every federated read (consents, record locator), which on SQLite are a few microseconds:
// running them where the request arrived saves two thread hand-offs per read.

namespace tb::core {

class NoWaitReads {
 public:
  NoWaitReads();
  ~NoWaitReads();
  NoWaitReads(const NoWaitReads&) = delete;
  NoWaitReads& operator=(const NoWaitReads&) = delete;

  // Whether a read in this scope could not run without waiting (it failed).
  bool blocked() const { return blocked_; }

  // For stores: whether the calling thread is inside a scope, and marking that scope blocked.
  static bool Active();
  static void MarkBlocked();

 private:
  NoWaitReads* outer_;
  bool blocked_ = false;
};

}  // namespace tb::core
