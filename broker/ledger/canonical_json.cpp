#include "broker/ledger/canonical_json.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tb::ledger {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view NameOf(const rapidjson::Value::ConstMemberIterator& member) {
  return {member->name.GetString(), member->name.GetStringLength()};
}

core::Status Write(const rapidjson::Value& value, Writer& writer) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      writer.Null();
      return core::Ok();
    case rapidjson::kFalseType:
      writer.Bool(false);
      return core::Ok();
    case rapidjson::kTrueType:
      writer.Bool(true);
      return core::Ok();
    case rapidjson::kStringType:
      writer.String(value.GetString(), value.GetStringLength());
      return core::Ok();
    case rapidjson::kNumberType:
      if (value.IsInt64()) {
        writer.Int64(value.GetInt64());
      } else if (value.IsUint64()) {
        writer.Uint64(value.GetUint64());
      } else {
        return core::MakeError(core::ErrorCode::kInvalidValue,
                               "canonical JSON holds integers only");
      }
      return core::Ok();
    case rapidjson::kArrayType:
      writer.StartArray();
      for (const rapidjson::Value& item : value.GetArray()) {
        BROKER_RETURN_IF_ERROR(Write(item, writer));
      }
      writer.EndArray();
      return core::Ok();
    case rapidjson::kObjectType: {
      std::vector<rapidjson::Value::ConstMemberIterator> members;
      members.reserve(value.MemberCount());
      for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
        members.push_back(it);
      }
      // std::string_view compares bytes as unsigned char (char_traits<char>::compare).
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return NameOf(a) < NameOf(b); });
      writer.StartObject();
      for (const auto& member : members) {
        writer.Key(member->name.GetString(), member->name.GetStringLength());
        BROKER_RETURN_IF_ERROR(Write(member->value, writer));
      }
      writer.EndObject();
      return core::Ok();
    }
  }
  return core::MakeError(core::ErrorCode::kInternal, "unknown JSON type");
}

}  // namespace

core::Result<std::string> CanonicalJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  BROKER_RETURN_IF_ERROR(Write(value, writer));
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace tb::ledger
