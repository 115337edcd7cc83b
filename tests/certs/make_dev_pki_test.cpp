// Tests for certs/make-dev-pki.sh and the TestPki helper that wraps it. They shell out to the
// script and to the openssl CLI, as an operator would, so they are labelled integration.

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::testing {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string output;  // stdout and stderr together
};

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += "'";
  return quoted;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed";
    return result;
  }
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    result.output += buffer.data();
  }
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

std::string Script() { return ShellQuote(std::string(TB_SOURCE_DIR) + "/certs/make-dev-pki.sh"); }

CommandResult MakePki(const fs::path& dir, const std::string& extra_args = "") {
  return RunCommand(Script() + " " + ShellQuote(dir.string()) + extra_args);
}

// openssl verify against the dev CA; `options` go before the certificate.
CommandResult Verify(const fs::path& cert, const std::string& options = "") {
  const TestPki& pki = TestPki::Get();
  return RunCommand("openssl verify " + options + " -CAfile " + ShellQuote(pki.CaCert().string()) +
                    " " + ShellQuote(cert.string()));
}

std::string CrlCheck() {
  return "-crl_check -CRLfile " + ShellQuote(TestPki::Get().Crl().string());
}

std::string CertText(const fs::path& cert) {
  return RunCommand("openssl x509 -noout -text -in " + ShellQuote(cert.string())).output;
}

constexpr std::time_t kDay = 24 * 60 * 60;

// Parses `key=YYYY-MM-DD HH:MM:SSZ` lines (openssl -dateopt iso_8601) into UTC times.
std::map<std::string, std::time_t> Dates(const std::string& command) {
  std::map<std::string, std::time_t> dates;
  std::istringstream lines(RunCommand(command).output);
  std::string line;
  while (std::getline(lines, line)) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::tm tm{};
    std::istringstream value(line.substr(eq + 1));
    value >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
    if (!value.fail()) {
      dates[line.substr(0, eq)] = timegm(&tm);
    }
  }
  return dates;
}

// Every file under `dir` (including .ca-db) with its modification time.
std::map<fs::path, fs::file_time_type> Snapshot(const fs::path& dir) {
  std::map<fs::path, fs::file_time_type> times;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    times[entry.path()] = entry.last_write_time();
  }
  return times;
}

constexpr std::array<std::string_view, 5> kDefaultNames = {
    TestPki::kBrokerA, TestPki::kBrokerB, TestPki::kRj1, TestPki::kRgt, TestPki::kRxh};

TEST(MakeDevPki, DefaultCertsVerifyAsClientAndServerWithCrlCheck) {
  const TestPki& pki = TestPki::Get();
  for (std::string_view name : kDefaultNames) {
    for (const char* purpose : {"sslclient", "sslserver"}) {
      const CommandResult result =
          Verify(pki.Cert(name), "-x509_strict " + CrlCheck() + " -purpose " + purpose);
      EXPECT_EQ(result.exit_code, 0) << name << " as " << purpose << ":\n" << result.output;
    }
  }
}

TEST(MakeDevPki, RevokedCertFailsOnlyWithCrlCheck) {
  const TestPki& pki = TestPki::Get();
  const CommandResult without_crl = Verify(pki.Cert(TestPki::kRevoked));
  EXPECT_EQ(without_crl.exit_code, 0) << without_crl.output;

  const CommandResult with_crl = Verify(pki.Cert(TestPki::kRevoked), CrlCheck());
  EXPECT_NE(with_crl.exit_code, 0) << with_crl.output;
  EXPECT_NE(with_crl.output.find("certificate revoked"), std::string::npos) << with_crl.output;
}

TEST(MakeDevPki, ExpiredCertFailsBecauseItExpired) {
  const CommandResult result = Verify(TestPki::Get().Cert(TestPki::kExpired));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("certificate has expired"), std::string::npos) << result.output;
}

TEST(MakeDevPki, WrongCaCertFailsAgainstDevCaDespiteParticipantCn) {
  const TestPki& pki = TestPki::Get();
  const CommandResult result = Verify(pki.Cert(TestPki::kWrongCa));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("unable to get local issuer certificate"), std::string::npos)
      << result.output;

  const CommandResult against_other =
      RunCommand("openssl verify -CAfile " + ShellQuote(pki.OtherCaCert().string()) + " " +
                 ShellQuote(pki.Cert(TestPki::kWrongCa).string()));
  EXPECT_EQ(against_other.exit_code, 0) << against_other.output;
  EXPECT_NE(CertText(pki.Cert(TestPki::kWrongCa)).find("CN = RJ1"), std::string::npos);
}

TEST(MakeDevPki, Rj1HasItsOdsCodeAsCnAndLoopbackSans) {
  const TestPki& pki = TestPki::Get();
  const CommandResult subject = RunCommand("openssl x509 -noout -subject -nameopt RFC2253 -in " +
                                           ShellQuote(pki.Cert(TestPki::kRj1).string()));
  EXPECT_EQ(subject.output, "subject=CN=RJ1,O=trustbridge dev\n");

  const std::string text = CertText(pki.Cert(TestPki::kRj1));
  EXPECT_NE(text.find("IP Address:127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("DNS:localhost"), std::string::npos) << text;
  EXPECT_NE(text.find("TLS Web Server Authentication, TLS Web Client Authentication"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("NIST CURVE: P-256"), std::string::npos) << text;
  EXPECT_NE(text.find("ecdsa-with-SHA256"), std::string::npos) << text;
  EXPECT_NE(text.find("CA:FALSE"), std::string::npos) << text;
}

TEST(MakeDevPki, CaIsACaWithCertAndCrlSigningOnly) {
  const std::string text = CertText(TestPki::Get().CaCert());
  EXPECT_NE(text.find("Subject: O = trustbridge dev, CN = trustbridge dev CA"), std::string::npos)
      << text;
  EXPECT_NE(text.find("X509v3 Basic Constraints: critical\n                CA:TRUE"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Certificate Sign, CRL Sign"), std::string::npos) << text;
}

TEST(MakeDevPki, CrlListsRevokedAndIsValidForThirtyDays) {
  const TestPki& pki = TestPki::Get();
  const CommandResult serial = RunCommand("openssl x509 -noout -serial -in " +
                                          ShellQuote(pki.Cert(TestPki::kRevoked).string()));
  ASSERT_EQ(serial.output.rfind("serial=", 0), 0u) << serial.output;
  const std::string hex = serial.output.substr(7, serial.output.size() - 8);
  const CommandResult listed =
      RunCommand("openssl crl -noout -text -in " + ShellQuote(pki.Crl().string()));
  EXPECT_NE(listed.output.find("Serial Number: " + hex), std::string::npos) << listed.output;

  const std::map<std::string, std::time_t> dates =
      Dates("openssl crl -noout -lastupdate -nextupdate -dateopt iso_8601 -in " +
            ShellQuote(pki.Crl().string()));
  ASSERT_EQ(dates.size(), 2u);
  EXPECT_EQ(dates.at("nextUpdate") - dates.at("lastUpdate"), 30 * kDay);
}

TEST(MakeDevPki, LeafCertsLast825DaysAndExpiredLiesWhollyInThePast) {
  const TestPki& pki = TestPki::Get();
  const std::map<std::string, std::time_t> rj1 = Dates(
      "openssl x509 -noout -dates -dateopt iso_8601 -in " + ShellQuote(pki.Cert("RJ1").string()));
  ASSERT_EQ(rj1.size(), 2u);
  EXPECT_EQ(rj1.at("notAfter") - rj1.at("notBefore"), 825 * kDay);

  const std::map<std::string, std::time_t> expired =
      Dates("openssl x509 -noout -dates -dateopt iso_8601 -in " +
            ShellQuote(pki.Cert(TestPki::kExpired).string()));
  ASSERT_EQ(expired.size(), 2u);
  const std::time_t now = std::time(nullptr);
  EXPECT_LT(expired.at("notBefore"), expired.at("notAfter"));
  EXPECT_LT(expired.at("notAfter"), now - kDay);
}

TEST(MakeDevPki, KeysAreReadableByTheOwnerOnly) {
  const TestPki& pki = TestPki::Get();
  int keys = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(pki.Dir())) {
    if (entry.path().extension() != ".key") {
      continue;
    }
    ++keys;
    const fs::perms perms = entry.status().permissions() & fs::perms::all;
    EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write) << entry.path();
  }
  EXPECT_EQ(keys, 10);  // ca, other-ca, five names, revoked, expired, wrong-ca
}

TEST(MakeDevPki, SecondRunIsANoOp) {
  TempDir dir;
  const CommandResult first = MakePki(dir.path(), " RJ1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto before = Snapshot(dir.path());

  const CommandResult second = MakePki(dir.path(), " RJ1");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("up to date"), std::string::npos) << second.output;
  EXPECT_EQ(Snapshot(dir.path()), before);
}

TEST(MakeDevPki, AddsAMissingNameUnderTheExistingCa) {
  TempDir dir;
  ASSERT_EQ(MakePki(dir.path(), " RJ1").exit_code, 0);
  const std::string ca_before = ReadFile(dir / "ca.crt");

  const CommandResult result = MakePki(dir.path(), " RJ1,RTH");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(ReadFile(dir / "ca.crt"), ca_before);
  const CommandResult verify =
      RunCommand("openssl verify -CAfile " + ShellQuote((dir / "ca.crt").string()) + " " +
                 ShellQuote((dir / "RTH.crt").string()));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST(MakeDevPki, ForceMakesANewCa) {
  TempDir dir;
  ASSERT_EQ(MakePki(dir.path(), " RJ1").exit_code, 0);
  const std::string ca_before = ReadFile(dir / "ca.crt");

  const CommandResult result = MakePki(dir.path(), " --force RJ1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(ReadFile(dir / "ca.crt"), ca_before);
}

TEST(MakeDevPki, ReissuesACrlOlderThanAWeek) {
  TempDir dir;
  ASSERT_EQ(MakePki(dir.path(), " RJ1").exit_code, 0);
  const fs::path crl = dir / "ca.crl";
  const fs::file_time_type stale = fs::file_time_type::clock::now() - std::chrono::hours(24 * 8);
  fs::last_write_time(crl, stale);

  const CommandResult result = MakePki(dir.path(), " RJ1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_GT(fs::last_write_time(crl), stale + std::chrono::hours(24));
  const CommandResult verify = RunCommand(
      "openssl verify -crl_check -CAfile " + ShellQuote((dir / "ca.crt").string()) + " -CRLfile " +
      ShellQuote(crl.string()) + " " + ShellQuote((dir / "revoked.crt").string()));
  EXPECT_NE(verify.output.find("certificate revoked"), std::string::npos) << verify.output;
}

TEST(MakeDevPki, RejectsANameThatIsNotAnOdsCodeOrBrokerId) {
  TempDir dir;
  const CommandResult result = MakePki(dir.path(), " 'RJ1,../evil'");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("bad NAME"), std::string::npos) << result.output;
}

TEST(MakeDevPki, NeverPrintsKeyMaterial) {
  TempDir dir;
  const CommandResult result = MakePki(dir.path());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(result.output.find("BEGIN"), std::string::npos);
}

TEST(TestPki, IsMadeOnceAndPointsAtExistingFiles) {
  const TestPki& pki = TestPki::Get();
  EXPECT_EQ(&pki, &TestPki::Get());
  EXPECT_TRUE(fs::is_regular_file(pki.CaCert()));
  EXPECT_TRUE(fs::is_regular_file(pki.CaKey()));
  EXPECT_TRUE(fs::is_regular_file(pki.Crl()));
  EXPECT_TRUE(fs::is_regular_file(pki.OtherCaCert()));
  EXPECT_TRUE(fs::is_regular_file(pki.Key(TestPki::kExpired)));
  EXPECT_EQ(pki.Cert(TestPki::kRj1), pki.Dir() / "RJ1.crt");
  EXPECT_THROW(static_cast<void>(pki.Cert("rj1")), std::out_of_range);
}

}  // namespace
}  // namespace tb::testing
