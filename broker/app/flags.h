#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tb::app {

// Command-line flags of one subcommand: `--name value`, `--name=value`, bare `--switch`, and
// positional arguments. Repeated flags keep every value (`--var a=1 --var b=2`).
class Flags {
 public:
  static Flags Parse(int argc, char** argv);

  bool Has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  // The last value of `name`, or `fallback`.
  std::string Get(std::string_view name, std::string fallback = {}) const;
  std::vector<std::string> GetAll(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& error() const { return error_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

}  // namespace tb::app
