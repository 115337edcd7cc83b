// v2 -> FHIR: MSH -> MessageHeader, with the unmapped segments carried verbatim.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::WriteMessageHeader(JsonText& out) {
  // Segments we do not map are carried verbatim, so nothing is lost.
  if (ctx_.options().keep_unmapped_segments) {
    const std::size_t extensions = out.Key("\"extension\":");
    out.Put('[');
    for (std::size_t i = 1; i <= message_.SegmentCount(); ++i) {
      if (mapped_[i]) {
        continue;
      }
      out.Element();
      out.Raw("{\"url\":");
      out.String(kUnmappedSegmentExtensionUrl);
      out.Raw(",\"valueString\":");
      out.StringOrNull(message_.Segment(i).raw());
      out.Put('}');
    }
    out.CloseOrDrop(extensions, ']');
  }
  {
    std::string scratch;
    const std::string_view processing = V2Text(ComponentOf(Msh(11), 1), scratch);
    if (!processing.empty()) {
      out.Key("\"meta\":{\"tag\":[");
      WriteCoding(out, "http://terminology.hl7.org/CodeSystem/v2-0103", processing, {});
      out.Raw("]}");
    }
  }
  out.Key("\"eventCoding\":");
  WriteCoding(out, kV2EventSystem, trigger_, {});
  const auto endpoint = [&](const hl7v2::Value& hd) {
    const std::string_view system = HdToSystem(ctx_, hd);
    if (!system.empty() && (system.starts_with("urn:") || system.starts_with("http"))) {
      out.Key("\"endpoint\":");
      out.String(system);
      return;
    }
    // MessageHeader.*.endpoint is required; a v2 application name is not a URL.
    out.Key("\"_endpoint\":");
    WriteDataAbsentUnknown(out);
  };
  {
    const hl7v2::Value receiving_app = Msh(5);
    const hl7v2::Value receiving_facility = Msh(6);
    if (receiving_app.HasValue() || receiving_facility.HasValue()) {
      out.Key("\"destination\":[{");
      std::string scratch;
      out.StringMember("\"name\":", V2Text(ComponentOf(receiving_app, 1), scratch));
      endpoint(receiving_app);
      const ResourceId receiver = OrganizationForHd(receiving_facility);
      if (!receiver.empty()) {
        out.Key("\"receiver\":");
        WriteReference(out, receiver);
      }
      out.Raw("}]");
    }
  }
  {
    const ResourceId sender = OrganizationForHd(Msh(4));
    if (!sender.empty()) {
      out.Key("\"sender\":");
      WriteReference(out, sender);
    }
  }
  {
    const hl7v2::Value sending_app = Msh(3);
    out.Key("\"source\":{");
    std::string scratch;
    out.StringMember("\"name\":", V2Text(ComponentOf(sending_app, 1), scratch));
    endpoint(sending_app);
    out.Put('}');
  }
  if (!focus_.empty()) {
    out.Key("\"focus\":[");
    for (const ResourceId& id : focus_) {
      out.Element();
      WriteReference(out, id);
    }
    out.Put(']');
  }
}

}  // namespace tb::mappings::v2fhir
