#include "broker/app/send_hl7_command.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/core/host_port.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage =
    "usage: trustbridge send-hl7 --to HOST:PORT --cert FILE --key FILE --ca FILE [--crl FILE]\n"
    "                            [--server-name NAME | --no-verify-name] [--timeout-ms N] FILE...\n"
    "Sends each HL7 v2 message in FILE(s) (\"-\" = standard input) over MLLP/TLS with the client\n"
    "certificate and prints each acknowledgement. Exit 0 only if every message got AA or CA.\n";

bool IsBatchEnvelope(std::string_view line) {
  return line.starts_with("FHS") || line.starts_with("BHS") || line.starts_with("BTS") ||
         line.starts_with("FTS");
}

bool ReadInput(const std::string& name, std::string& text) {
  if (name == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in(name, std::ios::binary);
  if (!in) {
    return false;
  }
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// An ACK for the terminal: one segment per line.
std::string Printable(std::string_view er7) {
  std::string text(er7);
  for (char& c : text) {
    if (c == '\r') {
      c = '\n';
    }
  }
  if (!text.empty() && text.back() != '\n') {
    text.push_back('\n');
  }
  return text;
}

}  // namespace

std::vector<std::string> SplitHl7Messages(std::string_view text) {
  std::vector<std::string> messages;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(pos, end - pos);
    pos = end;
    while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) {
      ++pos;
    }
    if (line.starts_with("\xEF\xBB\xBF")) {  // a byte order mark from a Windows editor
      line.remove_prefix(3);
    }
    if (line.empty() || IsBatchEnvelope(line)) {
      continue;
    }
    if (line.starts_with("MSH") || messages.empty()) {
      messages.emplace_back();
    }
    messages.back().append(line);
    messages.back().push_back('\r');
  }
  return messages;
}

int SendHl7Command(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kUsage;
    return 0;
  }
  core::HostPort to;
  if (!core::ParseHostPort(flags.Get("to"), to) || to.port == 0) {
    err << "send-hl7: --to HOST:PORT is required\n" << kUsage;
    return 2;
  }
  if (flags.positional().empty()) {
    err << "send-hl7: no FILE given\n" << kUsage;
    return 2;
  }
  net::TlsSettings tls;
  tls.cert = flags.Get("cert");
  tls.key = flags.Get("key");
  tls.ca = flags.Get("ca");
  tls.crl = flags.Get("crl");
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
    err << "send-hl7: --cert, --key and --ca are required (mutual TLS)\n";
    return 2;
  }
  auto context = net::MakeClientContext(tls);
  if (!context) {
    err << "send-hl7: " << context.error().message << "\n";
    return 2;
  }

  std::vector<std::string> messages;
  for (const std::string& file : flags.positional()) {
    std::string text;
    if (!ReadInput(file, text)) {
      err << "send-hl7: cannot read " << file << "\n";
      return 2;
    }
    std::vector<std::string> found = SplitHl7Messages(text);
    if (found.empty()) {
      err << "send-hl7: no HL7 message in " << file << "\n";
      return 2;
    }
    messages.insert(messages.end(), std::make_move_iterator(found.begin()),
                    std::make_move_iterator(found.end()));
  }

  mllp::MllpClientSettings settings;
  settings.host = to.host;
  settings.port = to.port;
  settings.server_name = flags.Get("server-name");
  settings.verify_server_name = !flags.Has("no-verify-name");
  if (flags.Has("timeout-ms")) {
    settings.reply_timeout = std::chrono::milliseconds(std::stoul(flags.Get("timeout-ms")));
  }
  mllp::MllpClient client(*context, settings);

  int exit_code = 0;
  std::size_t index = 0;
  for (const std::string& message : messages) {
    ++index;
    auto reply = client.Send(message);
    if (!reply) {
      err << "send-hl7: message " << index << ": " << reply.error().message << "\n";
      exit_code = 1;
      client.Close();  // the next message gets a fresh connection
      continue;
    }
    out << Printable(*reply);
    auto ack = hl7v2::Message::Parse(*reply);
    const std::string code = ack ? ack->Get("MSA-1").Decoded() : std::string();
    if (code != "AA" && code != "CA") {
      exit_code = 1;
    }
  }
  client.Close();
  return exit_code;
}

}  // namespace tb::app
