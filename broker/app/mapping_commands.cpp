#include "broker/app/mapping_commands.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "adapters/fhir/json.h"
#include "adapters/fhir/validate.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

namespace tb::app {
namespace {

constexpr std::string_view kMapUsage =
    "usage: trustbridge map v2-to-fhir FILE [--tables DIR] [--compact]\n"
    "       trustbridge map fhir-to-v2 FILE [--message adt|oru] [--trigger A28|A31|A08]\n"
    "                                       [--sending-facility ODS] [--receiving-facility ODS]\n"
    "                                       [--control-id ID] [--tables DIR] [--cr]\n";
constexpr std::string_view kValidateUsage = "usage: trustbridge validate FILE...\n";

std::optional<std::string> ReadInput(const std::string& name) {
  if (name == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(name, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void PrintError(std::ostream& err, const core::Error& error) {
  err << (error.location.empty() ? "" : error.location + ": ") << error.message << " ("
      << core::Info(error.code).name << ")\n";
}

int V2ToFhir(const Flags& flags, const std::string& text, std::ostream& out, std::ostream& err) {
  std::optional<mappings::MappingTables> local;
  const mappings::MappingTables* tables = nullptr;
  if (flags.Has("tables")) {
    auto loaded = mappings::LoadMappingTables(flags.Get("tables"));
    if (!loaded) {
      PrintError(err, loaded.error());
      return 2;
    }
    local = std::move(*loaded);
    tables = &*local;
  } else {
    auto builtin = mappings::BuiltinMappingTables();
    if (!builtin) {
      PrintError(err, builtin.error());
      return 1;
    }
    tables = *builtin;
  }
  auto bundle = mappings::MapV2ToFhir(text, *tables);
  if (!bundle) {
    PrintError(err, bundle.error());
    return 1;
  }
  if (flags.Has("compact")) {
    out << *bundle << "\n";
    return 0;
  }
  auto document = fhir::ParseJson(*bundle);
  if (!document) {  // the mapper's own output: a bug, not bad input
    PrintError(err, document.error());
    return 1;
  }
  out << fhir::ToPrettyJson(*document) << "\n";
  return 0;
}

int FhirToV2(const Flags& flags, const std::string& text, std::ostream& out, std::ostream& err) {
  mappings::FhirToV2Options options;
  const std::string message = flags.Get("message", "auto");
  if (message == "adt") {
    options.message = mappings::FhirToV2Message::kAdt;
  } else if (message == "oru") {
    options.message = mappings::FhirToV2Message::kOru;
  } else if (message != "auto") {
    err << "map: --message must be adt or oru\n";
    return 2;
  }
  const std::string trigger = flags.Get("trigger");
  if (trigger == "A28") {
    options.adt_trigger = mappings::AdtTrigger::kA28;
  } else if (trigger == "A31") {
    options.adt_trigger = mappings::AdtTrigger::kA31;
  } else if (trigger == "A08") {
    options.adt_trigger = mappings::AdtTrigger::kA08;
  } else if (!trigger.empty()) {
    err << "map: --trigger must be A28, A31 or A08\n";
    return 2;
  }
  std::optional<mappings::FhirToV2Tables> local;
  if (flags.Has("tables")) {
    auto loaded = mappings::FhirToV2Tables::Load(flags.Get("tables"));
    if (!loaded) {
      PrintError(err, loaded.error());
      return 2;
    }
    local = std::move(*loaded);
    options.tables = &*local;
  }
  options.sending_facility = flags.Get("sending-facility");
  options.receiving_facility = flags.Get("receiving-facility");
  options.control_id = flags.Get("control-id");
  auto er7 = mappings::MapFhirToV2(text, options);
  if (!er7) {
    PrintError(err, er7.error());
    return 1;
  }
  std::string printed = *er7;
  if (!flags.Has("cr")) {
    for (char& c : printed) {
      if (c == '\r') {
        c = '\n';
      }
    }
  }
  out << printed;
  return 0;
}

}  // namespace

int MapCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  const auto& args = flags.positional();
  if (flags.Has("help")) {
    out << kMapUsage;
    return 0;
  }
  if (args.size() != 2 || (args[0] != "v2-to-fhir" && args[0] != "fhir-to-v2")) {
    err << kMapUsage;
    return 2;
  }
  const std::optional<std::string> text = ReadInput(args[1]);
  if (!text) {
    err << "map: cannot read " << args[1] << "\n";
    return 2;
  }
  return args[0] == "v2-to-fhir" ? V2ToFhir(flags, *text, out, err)
                                 : FhirToV2(flags, *text, out, err);
}

int ValidateCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kValidateUsage;
    return 0;
  }
  if (flags.positional().empty()) {
    err << kValidateUsage;
    return 2;
  }
  auto validator = fhir::DefaultValidator();
  if (!validator) {
    PrintError(err, validator.error());
    return 1;
  }
  int exit_code = 0;
  for (const std::string& file : flags.positional()) {
    const std::optional<std::string> text = ReadInput(file);
    if (!text) {
      err << "validate: cannot read " << file << "\n";
      return 2;
    }
    std::vector<core::Error> problems;
    auto document = fhir::ParseJson(*text);
    if (!document) {
      problems.push_back(document.error());
    } else {
      problems = (*validator)->Validate(*document);
    }
    if (problems.empty()) {
      out << file << ": valid\n";
      continue;
    }
    exit_code = 1;
    for (const core::Error& problem : problems) {
      out << file << ": ";
      PrintError(out, problem);
    }
  }
  return exit_code;
}

}  // namespace tb::app
