#pragma once

#include <string>
#include <vector>

#include "conformance/report.h"

// Report writers. Every text taken from the run (URLs, headers, bodies, messages, actual values)
// passes through MaskNhsNumbers, so reports can be attached to tickets and shared.
namespace tb::conformance {

// JUnit XML: one <testsuite> per TestScript, one <testcase> per TestScript test. A test whose
// first failing assert (or operation) failed gets <failure message="label: description">
// with the check and the actual value; an error gets <error>; a test that did not run or hit an
// unsupported element gets <skipped>. Setup and teardown appear as test cases only when they did
// not succeed, so that their failures are never hidden. Warnings go to <system-out>.
std::string RenderJUnit(const std::vector<ScriptResult>& results);

// One self-contained HTML page (inline CSS, no scripts, no external resources): a summary, then
// per script, per test, per action its outcome, message, actual value and excerpts of the
// request and response (bodies cut at 4 KiB).
std::string RenderHtml(const std::vector<ScriptResult>& results, const std::string& target);

// A short plain-text summary for the terminal: one line per test and a total.
std::string RenderText(const std::vector<ScriptResult>& results);

}  // namespace tb::conformance
