#include "broker/routing/participant.h"

#include <algorithm>

namespace tb::routing {

ParticipantDirectory::ParticipantDirectory(std::vector<Participant> participants,
                                           std::vector<Peer> peers)
    : participants_(std::move(participants)), peers_(std::move(peers)) {}

const Participant* ParticipantDirectory::FindByCertCn(std::string_view cert_cn) const {
  if (cert_cn.empty()) {
    return nullptr;
  }
  const auto found = std::find_if(participants_.begin(), participants_.end(),
                                  [&](const Participant& p) { return p.cert_cn == cert_cn; });
  return found == participants_.end() ? nullptr : &*found;
}

const Participant* ParticipantDirectory::FindByOds(std::string_view ods) const {
  const auto found = std::find_if(participants_.begin(), participants_.end(),
                                  [&](const Participant& p) { return p.ods == ods; });
  return found == participants_.end() ? nullptr : &*found;
}

const Peer* ParticipantDirectory::FindPeerByCertCn(std::string_view cert_cn) const {
  if (cert_cn.empty()) {
    return nullptr;
  }
  const auto found = std::find_if(peers_.begin(), peers_.end(),
                                  [&](const Peer& p) { return p.cert_cn == cert_cn; });
  return found == peers_.end() ? nullptr : &*found;
}

}  // namespace tb::routing
