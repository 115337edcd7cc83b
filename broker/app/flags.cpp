#include "broker/app/flags.h"

namespace tb::app {
namespace {

// Flags that never take a value, so `--help FILE` does not swallow FILE.
bool IsSwitch(std::string_view name) {
  return name == "help" || name == "force" || name == "update" || name == "verbose" ||
         name == "json" || name == "no-verify-name" || name == "compact" || name == "cr";
}

}  // namespace

Flags Flags::Parse(int argc, char** argv) {
  Flags flags;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) {
        flags.positional_.emplace_back(argv[i]);
      }
      break;
    }
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      const auto equals = name.find('=');
      if (equals != std::string_view::npos) {
        flags.values_[std::string(name.substr(0, equals))].emplace_back(name.substr(equals + 1));
      } else if (IsSwitch(name)) {
        flags.values_[std::string(name)].emplace_back();
      } else if (i + 1 < argc) {
        flags.values_[std::string(name)].emplace_back(argv[++i]);
      } else {
        flags.error_ = "--" + std::string(name) + " needs a value";
      }
    } else if (arg == "-h") {
      flags.values_["help"].emplace_back();
    } else {
      flags.positional_.emplace_back(arg);
    }
  }
  return flags;
}

std::string Flags::Get(std::string_view name, std::string fallback) const {
  const auto found = values_.find(std::string(name));
  return found == values_.end() || found->second.empty() ? fallback : found->second.back();
}

std::vector<std::string> Flags::GetAll(std::string_view name) const {
  const auto found = values_.find(std::string(name));
  return found == values_.end() ? std::vector<std::string>{} : found->second;
}

}  // namespace tb::app
