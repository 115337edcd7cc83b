// v2 -> FHIR: MSH -> MessageHeader, with the unmapped segments carried verbatim.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

Value Mapper::MessageHeader() {
  Value header(kObjectType);
  // Segments we do not map are carried verbatim, so nothing is lost.
  if (ctx_.options().keep_unmapped_segments) {
    Value extensions(kArrayType);
    for (std::size_t i = 1; i <= message_.SegmentCount(); ++i) {
      if (mapped_[i]) {
        continue;
      }
      Value extension(kObjectType);
      extension.AddMember("url", Lit(kUnmappedSegmentExtensionUrl), alloc());
      extension.AddMember("valueString", ctx_.Str(message_.Segment(i).raw()), alloc());
      extensions.PushBack(extension, alloc());
    }
    ctx_.Put(header, "extension", std::move(extensions));
  }
  {
    std::string scratch;
    const std::string_view processing = V2Text(Msh(11).Component(1), scratch);
    if (!processing.empty()) {
      Value meta(kObjectType);
      Value tags(kArrayType);
      tags.PushBack(
          CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0103", processing, {}),
          alloc());
      meta.AddMember("tag", tags, alloc());
      header.AddMember("meta", meta, alloc());
    }
  }
  header.AddMember("eventCoding", CodingValue(ctx_, kV2EventSystem, trigger_, {}), alloc());
  const auto endpoint = [&](Value& target, const hl7v2::Value& hd) {
    const std::string system = HdToSystem(ctx_, hd);
    if (!system.empty() && (system.starts_with("urn:") || system.starts_with("http"))) {
      target.AddMember("endpoint", ctx_.Str(system), alloc());
      return;
    }
    // MessageHeader.*.endpoint is required; a v2 application name is not a URL.
    Value extension(kObjectType);
    extension.AddMember("url", Lit(kDataAbsentReasonUrl), alloc());
    extension.AddMember("valueCode", "unknown", alloc());
    Value extensions(kArrayType);
    extensions.PushBack(extension, alloc());
    Value element(kObjectType);
    element.AddMember("extension", extensions, alloc());
    target.AddMember("_endpoint", element, alloc());
  };
  {
    const hl7v2::Value receiving_app = Msh(5);
    const hl7v2::Value receiving_facility = Msh(6);
    if (receiving_app.HasValue() || receiving_facility.HasValue()) {
      Value destination(kObjectType);
      ctx_.Put(destination, "name", ctx_.Str(receiving_app.Component(1)));
      endpoint(destination, receiving_app);
      const std::string receiver = OrganizationForHd(receiving_facility);
      if (!receiver.empty()) {
        destination.AddMember("receiver", Reference(receiver), alloc());
      }
      Value destinations(kArrayType);
      destinations.PushBack(destination, alloc());
      header.AddMember("destination", destinations, alloc());
    }
  }
  {
    const std::string sender = OrganizationForHd(Msh(4));
    if (!sender.empty()) {
      header.AddMember("sender", Reference(sender), alloc());
    }
  }
  {
    const hl7v2::Value sending_app = Msh(3);
    Value source(kObjectType);
    ctx_.Put(source, "name", ctx_.Str(sending_app.Component(1)));
    endpoint(source, sending_app);
    header.AddMember("source", source, alloc());
  }
  Value focus(kArrayType);
  for (const std::string& id : focus_) {
    focus.PushBack(Reference(id), alloc());
  }
  ctx_.Put(header, "focus", std::move(focus));
  return header;
}

}  // namespace tb::mappings::v2fhir
