#pragma once

#include <map>
#include <string>

#include "conformance/report.h"
#include "conformance/test_script.h"
#include "conformance/transport.h"

namespace tb::conformance {

struct RunOptions {
  // --var name=value: overrides the TestScript variable of that name (or defines one).
  std::map<std::string, std::string> variables;
};

// Executes TestScripts against a Transport: fixtures (contained "#id" or files relative to the
// script: *.json FHIR JSON, *.hl7 / *.er7 ER7 for the HL7 v2 step with line ends made "\r",
// anything else text sent as it is, e.g. a form body), autocreate/autodelete, setup, each test,
// teardown; `${name}` substitution in url, params, resource, request headers, request bodies,
// assert values and expressions. Failures are results, never exceptions; a step the runner cannot
// execute is reported as skipped ("unsupported: ...") or as an error, never as a pass.
// When setup fails, the tests are skipped and teardown still runs.
//
// Not thread-safe (the transport is used from the calling thread). Each Run starts from a clean
// state (no fixtures or responses carried over between scripts).
class Runner {
 public:
  Runner(Transport& transport, RunOptions options)
      : transport_(transport), options_(std::move(options)) {}

  ScriptResult Run(const TestScript& script);

 private:
  Transport& transport_;
  RunOptions options_;
};

}  // namespace tb::conformance
