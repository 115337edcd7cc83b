#pragma once

#include "broker/core/peer_identity.h"

struct ssl_st;

namespace tb::net {

// Reads the verified peer certificate of a completed handshake. Returns an identity with an
// empty subject_cn when there is no certificate (cannot happen on our mTLS listeners).
core::PeerIdentity ExtractPeerIdentity(ssl_st* ssl);

}  // namespace tb::net
