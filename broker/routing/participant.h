#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "broker/core/host_port.h"

namespace tb::routing {

// A registered trust (or other organisation) that may connect to the broker and receive data.
// Identified on the wire only by its client certificate's subject CN (`cert_cn`).
struct Participant {
  std::string ods;  // ODS organisation code
  std::string name;
  std::string cert_cn;
  std::string fhir_base;     // https://... of its FHIR server, if any
  core::HostPort mllp;       // its MLLP/TLS endpoint, if any
  std::vector<std::string> scopes;    // SMART v2 scopes
  std::vector<std::string> purposes;  // allowed X-Purpose-Of-Use codes; default TREAT
  bool break_glass = false;
  std::vector<std::string> receives;  // message types it receives ("ADT", "ORU^R01"); empty: all
  std::string format;                 // "fhir" | "hl7v2" | "" (derived from endpoints)
};

// A peer trustbridge broker (another region), queried like a trust.
struct Peer {
  std::string id;
  std::string cert_cn;
  std::string fhir_base;
  std::vector<std::string> scopes;
};

// Immutable after construction; safe to share between threads.
class ParticipantDirectory {
 public:
  ParticipantDirectory(std::vector<Participant> participants, std::vector<Peer> peers);

  const Participant* FindByCertCn(std::string_view cert_cn) const;
  const Participant* FindByOds(std::string_view ods) const;
  const Peer* FindPeerByCertCn(std::string_view cert_cn) const;
  const std::vector<Participant>& participants() const { return participants_; }
  const std::vector<Peer>& peers() const { return peers_; }

 private:
  std::vector<Participant> participants_;
  std::vector<Peer> peers_;
};

}  // namespace tb::routing
