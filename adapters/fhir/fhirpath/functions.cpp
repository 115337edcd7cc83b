// The FHIRPath function library (spec section 5 and the FHIR additions in FHIR R4 2.5): one
// handler per function name, looked up in a table built once.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <rapidjson/document.h>

#include "adapters/fhir/fhirpath/compare.h"
#include "adapters/fhir/fhirpath/eval.h"
#include "adapters/fhir/fhirpath/function_call.h"
#include "adapters/fhir/fhirpath/model.h"
#include "adapters/fhir/fhirpath/narrative_checks.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

// repeat() over nodes is bounded by the document; computed values can grow without end
// ('0'.repeat($this + 1)), so beyond this many it stops with an error rather than exhaust memory.
constexpr std::size_t kMaxRepeatValues = 10000;

bool Contains(const Collection& items, const Value& item) {
  for (const Value& candidate : items) {
    auto equal = ItemsEqual(item, candidate);
    if (equal && *equal) {
      return true;
    }
  }
  return false;
}

Collection DistinctItems(const Collection& items) {
  Collection out;
  for (const Value& item : items) {
    if (!Contains(out, item)) {
      out.push_back(item);
    }
  }
  return out;
}

// ---- existence -----------------------------------------------------------------------------

core::Result<Collection> FnEmpty(const Call& c) { return Bool(c.focus.empty()); }

core::Result<Collection> FnExists(const Call& c) {
  if (c.arg_count() == 0) {
    return Bool(!c.focus.empty());
  }
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto r = c.ArgFor(0, c.focus[i], static_cast<std::int64_t>(i));
    if (!r) {
      return r;
    }
    auto b = ToBoolean(*r, "exists()");
    if (!b) {
      return b.error();
    }
    if (*b && **b) {
      return Bool(true);
    }
  }
  return Bool(false);
}

core::Result<Collection> FnAll(const Call& c) {
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto r = c.ArgFor(0, c.focus[i], static_cast<std::int64_t>(i));
    if (!r) {
      return r;
    }
    auto b = ToBoolean(*r, "all()");
    if (!b) {
      return b.error();
    }
    if (!*b || !**b) {
      return Bool(false);
    }
  }
  return Bool(true);
}

// allTrue anyTrue allFalse anyFalse: every item must be a Boolean.
core::Result<Collection> BooleanAggregate(const Call& c, bool want, bool all) {
  for (const Value& item : c.focus) {
    auto system = item.ToSystem();
    if (!system || system->kind() != Kind::kBoolean) {
      return EvalError(c.node.name + "() expects Booleans");
    }
    bool match = system->boolean() == want;
    if (all && !match) {
      return Bool(false);
    }
    if (!all && match) {
      return Bool(true);
    }
  }
  return Bool(all);
}
core::Result<Collection> FnAllTrue(const Call& c) { return BooleanAggregate(c, true, true); }
core::Result<Collection> FnAnyTrue(const Call& c) { return BooleanAggregate(c, true, false); }
core::Result<Collection> FnAllFalse(const Call& c) { return BooleanAggregate(c, false, true); }
core::Result<Collection> FnAnyFalse(const Call& c) { return BooleanAggregate(c, false, false); }

core::Result<Collection> FnSubsetOf(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  for (const Value& item : c.focus) {
    if (!Contains(*other, item)) {
      return Bool(false);
    }
  }
  return Bool(true);
}

core::Result<Collection> FnSupersetOf(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  for (const Value& item : *other) {
    if (!Contains(c.focus, item)) {
      return Bool(false);
    }
  }
  return Bool(true);
}

core::Result<Collection> FnCount(const Call& c) {
  return One(Value::Integer(static_cast<std::int64_t>(c.focus.size())));
}
core::Result<Collection> FnDistinct(const Call& c) { return DistinctItems(c.focus); }
core::Result<Collection> FnIsDistinct(const Call& c) {
  return Bool(DistinctItems(c.focus).size() == c.focus.size());
}

// ---- filtering and projection --------------------------------------------------------------

core::Result<Collection> FnWhere(const Call& c) {
  Collection out;
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto r = c.ArgFor(0, c.focus[i], static_cast<std::int64_t>(i));
    if (!r) {
      return r;
    }
    auto b = ToBoolean(*r, "where()");
    if (!b) {
      return b.error();
    }
    if (*b && **b) {
      out.push_back(c.focus[i]);
    }
  }
  return out;
}

core::Result<Collection> FnSelect(const Call& c) {
  Collection out;
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto r = c.ArgFor(0, c.focus[i], static_cast<std::int64_t>(i));
    if (!r) {
      return r;
    }
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

// Items already produced by repeat(): nodes by identity, computed values by type and text, so
// each check is a hash lookup and long repeats stay linear.
class SeenItems {
 public:
  // True when `item` was not seen before (and remembers it).
  bool Insert(const Value& item) {
    if (item.is_node()) {
      return nodes_.insert({item.node(), item.extension_node()}).second;
    }
    return values_.insert(std::string(item.type_name()) + ":" + ToString(item)).second;
  }

 private:
  std::set<std::pair<const rapidjson::Value*, const rapidjson::Value*>> nodes_;
  std::set<std::string> values_;
};

core::Result<Collection> FnRepeat(const Call& c) {
  Collection out;
  SeenItems seen;
  std::size_t computed = 0;
  Collection pending = c.focus;
  while (!pending.empty()) {
    Collection next;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      auto r = c.ArgFor(0, pending[i], static_cast<std::int64_t>(i));
      if (!r) {
        return r;
      }
      for (Value& item : *r) {
        if (seen.Insert(item)) {
          computed += item.is_node() ? 0 : 1;
          out.push_back(item);
          next.push_back(std::move(item));
        }
      }
      if (computed > kMaxRepeatValues) {
        return EvalError("repeat() produced too many values");
      }
    }
    pending = std::move(next);
  }
  return out;
}

core::Result<Collection> FnOfType(const Call& c) {
  auto type = TypeSpecifier(c.arg_node(0));
  if (!type) {
    return EvalError("ofType() expects a type name");
  }
  Collection out;
  for (const Value& item : c.focus) {
    auto match = IsOfType(item, *type, true);
    if (!match) {
      return match.error();
    }
    if (*match) {
      out.push_back(item);
    }
  }
  return out;
}

core::Result<Collection> FnIs(const Call& c) {
  auto type = TypeSpecifier(c.arg_node(0));
  if (!type) {
    return EvalError("is() expects a type name");
  }
  if (c.focus.empty()) {
    return Collection{};
  }
  if (c.focus.size() > 1) {
    return EvalError("is() expects a single item");
  }
  auto match = IsOfType(c.focus[0], *type, false);
  if (!match) {
    return match.error();
  }
  return Bool(*match);
}

core::Result<Collection> FnAs(const Call& c) {
  auto type = TypeSpecifier(c.arg_node(0));
  if (!type) {
    return EvalError("as() expects a type name");
  }
  if (c.focus.size() > 1) {
    return EvalError("as() expects a single item");
  }
  if (c.focus.empty()) {
    return Collection{};
  }
  auto match = IsOfType(c.focus[0], *type, true);
  if (!match) {
    return match.error();
  }
  return *match ? c.focus : Collection{};
}

core::Result<Collection> FnType(const Call& c) {
  Collection out;
  for (const Value& item : c.focus) {
    auto doc = std::make_shared<rapidjson::Document>();
    doc->SetObject();
    std::string ns = item.is_node() && !item.type_name().empty() ? "FHIR" : "System";
    std::string name(item.type_name());
    if (item.is_node() && name.empty()) {
      auto system = item.ToSystem();
      name = system ? std::string(system->type_name()) : "Element";
    }
    auto& alloc = doc->GetAllocator();
    doc->AddMember("namespace", rapidjson::Value(ns.c_str(), alloc), alloc);
    doc->AddMember("name", rapidjson::Value(name.c_str(), alloc), alloc);
    out.push_back(Value::OwnedNode(std::move(doc), "TypeInfo"));
  }
  return out;
}

// ---- subsetting ----------------------------------------------------------------------------

core::Result<Collection> FnSingle(const Call& c) {
  if (c.focus.size() > 1) {
    return EvalError("single() on " + std::to_string(c.focus.size()) + " items");
  }
  return c.focus;
}
core::Result<Collection> FnFirst(const Call& c) {
  return c.focus.empty() ? Collection{} : One(c.focus.front());
}
core::Result<Collection> FnLast(const Call& c) {
  return c.focus.empty() ? Collection{} : One(c.focus.back());
}
core::Result<Collection> FnTail(const Call& c) {
  return c.focus.size() <= 1 ? Collection{} : Collection(c.focus.begin() + 1, c.focus.end());
}

core::Result<Collection> FnSkip(const Call& c) {
  auto n = c.ArgInteger(0);
  if (!n) {
    return n.error();
  }
  if (!*n) {
    return Collection{};
  }
  std::int64_t skip = std::max<std::int64_t>(0, **n);
  if (static_cast<std::size_t>(skip) >= c.focus.size()) {
    return Collection{};
  }
  return Collection(c.focus.begin() + skip, c.focus.end());
}

core::Result<Collection> FnTake(const Call& c) {
  auto n = c.ArgInteger(0);
  if (!n) {
    return n.error();
  }
  if (!*n || **n <= 0) {
    return Collection{};
  }
  std::size_t take = std::min(c.focus.size(), static_cast<std::size_t>(**n));
  return Collection(c.focus.begin(), c.focus.begin() + static_cast<std::ptrdiff_t>(take));
}

core::Result<Collection> FnIntersect(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  Collection out;
  for (const Value& item : c.focus) {
    if (Contains(*other, item) && !Contains(out, item)) {
      out.push_back(item);
    }
  }
  return out;
}

core::Result<Collection> FnExclude(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  Collection out;
  for (const Value& item : c.focus) {
    if (!Contains(*other, item)) {
      out.push_back(item);
    }
  }
  return out;
}

core::Result<Collection> FnUnion(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  Collection all = c.focus;
  all.insert(all.end(), other->begin(), other->end());
  return DistinctItems(all);
}

core::Result<Collection> FnCombine(const Call& c) {
  auto other = c.Arg(0);
  if (!other) {
    return other;
  }
  Collection all = c.focus;
  all.insert(all.end(), other->begin(), other->end());
  return all;
}

// sort([key, ...]): ascending by each key in turn; a key written -key sorts descending (for
// strings too, where unary minus itself is not defined). Items with an empty key come first.
core::Result<Collection> FnSort(const Call& c) {
  struct Keyed {
    Value item;
    std::vector<Collection> keys;
  };
  std::vector<Keyed> keyed;
  std::vector<bool> descending;
  for (std::size_t k = 0; k < c.arg_count(); ++k) {
    const Node& arg = c.arg_node(k);
    descending.push_back(arg.kind == NodeKind::kUnary && arg.name == "-");
  }
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    Keyed entry{c.focus[i], {}};
    if (c.arg_count() == 0) {
      entry.keys.push_back({c.focus[i]});
    }
    for (std::size_t k = 0; k < c.arg_count(); ++k) {
      const Node& arg = c.arg_node(k);
      const Node& key = descending[k] ? *arg.children[0] : arg;
      auto value = c.evaluator.EvalFor(key, c.focus[i], static_cast<std::int64_t>(i), c.depth);
      if (!value) {
        return value;
      }
      if (value->size() > 1) {
        return EvalError("sort() key gives several items");
      }
      entry.keys.push_back(std::move(*value));
    }
    keyed.push_back(std::move(entry));
  }
  if (c.arg_count() == 0) {
    descending.push_back(false);
  }
  std::optional<core::Error> failure;
  auto less = [&](const Keyed& a, const Keyed& b) {
    for (std::size_t k = 0; k < a.keys.size(); ++k) {
      const Collection& ka = a.keys[k];
      const Collection& kb = b.keys[k];
      if (ka.empty() || kb.empty()) {
        if (ka.empty() != kb.empty()) {
          return ka.empty();  // empty keys first, in either direction
        }
        continue;
      }
      auto order = CompareItems(ka[0], kb[0]);
      if (!order) {
        failure = order.error();
        return false;
      }
      if (*order && **order != 0) {
        return (**order < 0) != descending[k];
      }
    }
    return false;
  };
  std::stable_sort(keyed.begin(), keyed.end(), less);
  if (failure) {
    return *failure;
  }
  Collection out;
  for (Keyed& entry : keyed) {
    out.push_back(std::move(entry.item));
  }
  return out;
}

// ---- logic and utility -----------------------------------------------------------------------

core::Result<Collection> FnNot(const Call& c) {
  auto b = ToBoolean(c.focus, "not()");
  if (!b) {
    return b.error();
  }
  return *b ? Bool(!**b) : Collection{};
}

core::Result<Collection> FnIif(const Call& c) {
  if (c.focus.size() > 1) {
    return EvalError("iif() on several items");
  }
  const Value* this_item = c.focus.size() == 1 ? &c.focus[0] : c.frame.this_item;
  Frame frame{this_item, c.frame.index, c.frame.total};
  auto criterion = c.evaluator.Eval(c.arg_node(0), c.focus, frame, c.depth + 1);
  if (!criterion) {
    return criterion;
  }
  if (criterion->size() == 1) {
    auto system = (*criterion)[0].ToSystem();
    if (!system || system->kind() != Kind::kBoolean) {
      return EvalError("iif() criterion must be a Boolean");
    }
  }
  auto b = ToBoolean(*criterion, "iif() criterion");
  if (!b) {
    return b.error();
  }
  if (*b && **b) {
    return c.evaluator.Eval(c.arg_node(1), c.focus, frame, c.depth + 1);
  }
  if (c.arg_count() > 2) {
    return c.evaluator.Eval(c.arg_node(2), c.focus, frame, c.depth + 1);
  }
  return Collection{};
}

core::Result<Collection> FnTrace(const Call& c) {
  auto name = c.ArgString(0);
  if (!name) {
    return name.error();
  }
  if (c.evaluator.environment().trace) {
    if (c.arg_count() > 1) {
      Collection projected;
      for (std::size_t i = 0; i < c.focus.size(); ++i) {
        auto r = c.ArgFor(1, c.focus[i], static_cast<std::int64_t>(i));
        if (!r) {
          return r;
        }
        projected.insert(projected.end(), r->begin(), r->end());
      }
      c.evaluator.environment().trace(name->value_or(""), projected);
    } else {
      c.evaluator.environment().trace(name->value_or(""), c.focus);
    }
  }
  return c.focus;
}

DateTime Now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  long days = static_cast<long>(ms / 86400000);
  long rest = static_cast<long>(ms % 86400000);
  DateTime d;
  CivilFromDays(days, d.year, d.month, d.day);
  d.hour = static_cast<int>(rest / 3600000);
  d.minute = static_cast<int>(rest / 60000 % 60);
  d.second = static_cast<int>(rest / 1000 % 60);
  d.millisecond = static_cast<int>(rest % 1000);
  d.precision = Precision::kMillisecond;
  d.tz_offset_minutes = 0;
  return d;
}

core::Result<Collection> FnNow(const Call&) { return One(Value::DateTimeValue(Now())); }
core::Result<Collection> FnToday(const Call&) {
  DateTime d = Now();
  DateTime date;
  date.year = d.year;
  date.month = d.month;
  date.day = d.day;
  date.precision = Precision::kDay;
  return One(Value::Date(date));
}
core::Result<Collection> FnTimeOfDay(const Call&) {
  DateTime d = Now();
  d.year = d.month = d.day = 0;
  d.tz_offset_minutes.reset();
  return One(Value::Time(d));
}

core::Result<Collection> FnAggregate(const Call& c) {
  Collection total;
  if (c.arg_count() > 1) {
    auto init = c.Arg(1);
    if (!init) {
      return init;
    }
    total = std::move(*init);
  }
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto r = c.ArgFor(0, c.focus[i], static_cast<std::int64_t>(i), &total);
    if (!r) {
      return r;
    }
    total = std::move(*r);
  }
  return total;
}

// ---- tree navigation -----------------------------------------------------------------------

core::Result<Collection> FnChildren(const Call& c) {
  Collection out;
  for (const Value& item : c.focus) {
    Collection children = c.evaluator.AllChildren(item);
    out.insert(out.end(), children.begin(), children.end());
  }
  return out;
}

core::Result<Collection> FnDescendants(const Call& c) {
  Collection out;
  Collection pending = c.focus;
  while (!pending.empty()) {
    Collection next;
    for (const Value& item : pending) {
      Collection children = c.evaluator.AllChildren(item);
      next.insert(next.end(), children.begin(), children.end());
    }
    out.insert(out.end(), next.begin(), next.end());  // finite: bounded by the document
    pending = std::move(next);
  }
  return out;
}

// ---- FHIR additions --------------------------------------------------------------------------

core::Result<Collection> FnExtension(const Call& c) {
  auto url = c.ArgString(0);
  if (!url) {
    return url.error();
  }
  if (!*url) {
    return Collection{};
  }
  Collection out;
  for (const Value& item : c.focus) {
    auto extensions = c.evaluator.Children(item, "extension");
    if (!extensions) {
      return extensions.error();
    }
    for (const Value& ext : *extensions) {
      if (ext.node() == nullptr || !ext.node()->IsObject()) {
        continue;
      }
      auto u = ext.node()->FindMember("url");
      if (u != ext.node()->MemberEnd() && u->value.IsString() && u->value.GetString() == **url) {
        out.push_back(ext);
      }
    }
  }
  return out;
}

core::Result<Collection> FnHasValue(const Call& c) {
  if (c.focus.size() != 1) {
    return Bool(false);
  }
  const Value& item = c.focus[0];
  if (!item.is_node()) {
    return Bool(true);
  }
  return Bool(item.node() != nullptr && !item.node()->IsObject() && !item.node()->IsArray());
}

core::Result<Collection> FnGetValue(const Call& c) {
  if (c.focus.size() != 1) {
    return Collection{};
  }
  const Value& item = c.focus[0];
  if (item.is_node() && (item.node() == nullptr || item.node()->IsObject())) {
    return Collection{};
  }
  auto system = item.ToSystem();
  return system ? One(*system) : Collection{};
}

// The resource a reference names, looked up in the enclosing Bundle (by fullUrl or Type/id) or
// among contained resources ("#id").
const rapidjson::Value* FindReferenced(const Evaluator& ev, std::string_view reference) {
  auto string_of = [](const rapidjson::Value& object, const char* name) -> std::string_view {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsString()) {
      return {};
    }
    return {it->value.GetString(), it->value.GetStringLength()};
  };
  if (!reference.empty() && reference[0] == '#') {
    for (const rapidjson::Value* holder : {&ev.resource(), &ev.root_resource()}) {
      if (!holder->IsObject()) {
        continue;
      }
      auto contained = holder->FindMember("contained");
      if (contained == holder->MemberEnd() || !contained->value.IsArray()) {
        continue;
      }
      for (auto& resource : contained->value.GetArray()) {
        if (resource.IsObject() && string_of(resource, "id") == reference.substr(1)) {
          return &resource;
        }
      }
    }
    return nullptr;
  }
  // "Patient/123", "http://host/fhir/Patient/123", "Patient/123/_history/2" -> type and id.
  std::string_view relative = reference;
  if (auto history = relative.find("/_history/"); history != std::string_view::npos) {
    relative = relative.substr(0, history);
  }
  std::string_view id;
  std::string_view type;
  if (auto slash = relative.rfind('/'); slash != std::string_view::npos) {
    id = relative.substr(slash + 1);
    std::string_view before = relative.substr(0, slash);
    auto type_slash = before.rfind('/');
    type = type_slash == std::string_view::npos ? before : before.substr(type_slash + 1);
  }
  for (const rapidjson::Value* bundle : {&ev.root_resource(), &ev.resource(), &ev.context()}) {
    if (!bundle->IsObject() || string_of(*bundle, "resourceType") != "Bundle") {
      continue;
    }
    auto entries = bundle->FindMember("entry");
    if (entries == bundle->MemberEnd() || !entries->value.IsArray()) {
      continue;
    }
    for (auto& entry : entries->value.GetArray()) {
      if (!entry.IsObject()) {
        continue;
      }
      auto resource = entry.FindMember("resource");
      if (resource == entry.MemberEnd() || !resource->value.IsObject()) {
        continue;
      }
      if (string_of(entry, "fullUrl") == reference) {
        return &resource->value;
      }
      if (!id.empty() && string_of(resource->value, "id") == id &&
          string_of(resource->value, "resourceType") == type) {
        return &resource->value;
      }
    }
  }
  return nullptr;
}

core::Result<Collection> FnResolve(const Call& c) {
  Collection out;
  for (const Value& item : c.focus) {
    std::string reference;
    if (auto system = item.ToSystem(); system && system->kind() == Kind::kString) {
      reference = system->string();
    } else if (item.node() != nullptr && item.node()->IsObject()) {
      auto ref = item.node()->FindMember("reference");
      if (ref != item.node()->MemberEnd() && ref->value.IsString()) {
        reference = ref->value.GetString();
      }
    }
    if (reference.empty()) {
      continue;
    }
    if (const rapidjson::Value* found = FindReferenced(c.evaluator, reference)) {
      out.push_back(Value::Node(found));
    }
  }
  return out;
}

// Terminology needs a server; answering "unknown" is safer than guessing.
core::Result<Collection> FnUnknownWithoutServer(const Call&) { return Collection{}; }

// conformsTo(url) for the core definitions of FHIR types (is the item a Patient?). Other
// profiles need their StructureDefinition, which this engine does not load: an error says so.
core::Result<Collection> FnConformsTo(const Call& c) {
  auto url = c.ArgString(0);
  if (!url) {
    return url.error();
  }
  if (!*url || c.focus.empty()) {
    return Collection{};
  }
  constexpr std::string_view kCore = "http://hl7.org/fhir/StructureDefinition/";
  std::string_view text = **url;
  if (text.substr(0, kCore.size()) != kCore || !IsFhirType(text.substr(kCore.size()))) {
    return EvalError("conformsTo() can only check the core FHIR type definitions");
  }
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  return Bool(IsSubtypeOf(c.focus[0].type_name(), text.substr(kCore.size())));
}

// htmlChecks() on a Narrative's div (a string): see narrative_checks.h.
core::Result<Collection> FnHtmlChecks(const Call& c) {
  auto xhtml = c.FocusString();
  if (!xhtml) {
    return xhtml.error();
  }
  if (!*xhtml) {
    return Collection{};
  }
  return Bool(NarrativePassesHtmlChecks(**xhtml));
}

// ---- the table -------------------------------------------------------------------------------

const FunctionTable& Table() {
  static const FunctionTable table = [] {
    FunctionTable t = {
        {"empty", {FnEmpty, 0, 0}},
        {"exists", {FnExists, 0, 1}},
        {"all", {FnAll, 1, 1}},
        {"allTrue", {FnAllTrue, 0, 0}},
        {"anyTrue", {FnAnyTrue, 0, 0}},
        {"allFalse", {FnAllFalse, 0, 0}},
        {"anyFalse", {FnAnyFalse, 0, 0}},
        {"subsetOf", {FnSubsetOf, 1, 1}},
        {"supersetOf", {FnSupersetOf, 1, 1}},
        {"count", {FnCount, 0, 0}},
        {"distinct", {FnDistinct, 0, 0}},
        {"isDistinct", {FnIsDistinct, 0, 0}},
        {"where", {FnWhere, 1, 1}},
        {"select", {FnSelect, 1, 1}},
        {"repeat", {FnRepeat, 1, 1}},
        {"ofType", {FnOfType, 1, 1}},
        {"is", {FnIs, 1, 1}},
        {"as", {FnAs, 1, 1}},
        {"type", {FnType, 0, 0}},
        {"single", {FnSingle, 0, 0}},
        {"first", {FnFirst, 0, 0}},
        {"last", {FnLast, 0, 0}},
        {"tail", {FnTail, 0, 0}},
        {"skip", {FnSkip, 1, 1}},
        {"take", {FnTake, 1, 1}},
        {"intersect", {FnIntersect, 1, 1}},
        {"exclude", {FnExclude, 1, 1}},
        {"union", {FnUnion, 1, 1}},
        {"combine", {FnCombine, 1, 1}},
        {"sort", {FnSort, 0, 8}},
        {"not", {FnNot, 0, 0}},
        {"iif", {FnIif, 2, 3}},
        {"trace", {FnTrace, 1, 2}},
        {"now", {FnNow, 0, 0}},
        {"today", {FnToday, 0, 0}},
        {"timeOfDay", {FnTimeOfDay, 0, 0}},
        {"aggregate", {FnAggregate, 1, 2}},
        {"children", {FnChildren, 0, 0}},
        {"descendants", {FnDescendants, 0, 0}},
        {"extension", {FnExtension, 1, 1}},
        {"hasValue", {FnHasValue, 0, 0}},
        {"getValue", {FnGetValue, 0, 0}},
        {"resolve", {FnResolve, 0, 0}},
        {"memberOf", {FnUnknownWithoutServer, 1, 1}},
        {"conformsTo", {FnConformsTo, 1, 1}},
        {"htmlChecks", {FnHtmlChecks, 0, 0}},
    };
    AddStringFunctions(t);
    AddConversionFunctions(t);
    AddMathFunctions(t);
    AddBoundaryFunctions(t);
    return t;
  }();
  return table;
}

}  // namespace

core::Result<std::optional<Value>> Call::ArgSingle(std::size_t i) const {
  auto value = Arg(i);
  if (!value) {
    return value.error();
  }
  return Singleton(*value, node.name + "() argument");
}

core::Result<std::optional<std::string>> Call::ArgString(std::size_t i) const {
  auto single = ArgSingle(i);
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return std::optional<std::string>();
  }
  if ((*single)->kind() != Value::Kind::kString) {
    return EvalError(node.name + "() expects a String argument");
  }
  return std::optional<std::string>((*single)->string());
}

core::Result<std::optional<std::int64_t>> Call::ArgInteger(std::size_t i) const {
  auto single = ArgSingle(i);
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return std::optional<std::int64_t>();
  }
  if ((*single)->kind() != Value::Kind::kInteger) {
    return EvalError(node.name + "() expects an Integer argument");
  }
  return std::optional<std::int64_t>((*single)->integer());
}

core::Result<std::optional<Value>> Call::FocusSingle() const {
  return Singleton(focus, node.name + "()");
}

core::Result<std::optional<std::string>> Call::FocusString() const {
  auto single = FocusSingle();
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return std::optional<std::string>();
  }
  if ((*single)->kind() != Value::Kind::kString) {
    return EvalError(node.name + "() expects a String");
  }
  return std::optional<std::string>((*single)->string());
}

core::Result<Collection> Evaluator::CallFunction(const Node& call, const Collection& focus,
                                                 const Collection& input, const Frame& frame,
                                                 int depth) const {
  const auto& table = Table();
  auto it = table.find(call.name);
  if (it == table.end()) {
    return EvalError("unknown function " + call.name + "()");
  }
  std::size_t args = call.children.size() - 1;
  if (args < it->second.min_args || args > it->second.max_args) {
    return EvalError("wrong number of arguments to " + call.name + "()");
  }
  Call c{*this, call, focus, input, frame, depth};
  return it->second.handler(c);
}

}  // namespace tb::fhirpath::detail
