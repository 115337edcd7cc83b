#include "broker/core/no_wait_reads.h"

namespace tb::core {
namespace {

thread_local NoWaitReads* current_scope = nullptr;

}  // namespace

NoWaitReads::NoWaitReads() : outer_(current_scope) { current_scope = this; }

NoWaitReads::~NoWaitReads() { current_scope = outer_; }

bool NoWaitReads::Active() { return current_scope != nullptr; }

void NoWaitReads::MarkBlocked() {
  // An inner scope's reads are the outer scope's reads too.
  for (NoWaitReads* scope = current_scope; scope != nullptr; scope = scope->outer_) {
    scope->blocked_ = true;
  }
}

}  // namespace tb::core
