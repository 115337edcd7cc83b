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
  // As the parser (hl7v2::Message::Parse): a message whose MSH line ends in \r or \r\n ends
  // its segments only there, and a lone \n inside it is data (an OBX-5 text "Normal\nEND|F" is
  // one segment), unless the next line starts a message or a batch envelope (a file that mixes
  // styles between messages). In a \n message any line ending ends a segment.
  bool lf_is_data = false;
  bool after_lone_lf = false;
  std::string segment;
  auto flush = [&messages, &segment] {
    const std::string_view line = segment;
    if (!line.empty() && !IsBatchEnvelope(line)) {
      if (line.starts_with("MSH") || messages.empty()) {
        messages.emplace_back();
      }
      messages.back().append(line);
      messages.back().push_back('\r');
    }
    segment.clear();
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view piece = text.substr(pos, end - pos);
    if (piece.starts_with("\xEF\xBB\xBF")) {  // a byte order mark from a Windows editor
      piece.remove_prefix(3);
    }
    const bool starts_message = piece.starts_with("MSH");
    if (lf_is_data && after_lone_lf && !starts_message && !IsBatchEnvelope(piece)) {
      segment.push_back('\n');
      segment.append(piece);
    } else {
      flush();
      segment.assign(piece);
      if (starts_message) {
        lf_is_data = end < text.size() && text[end] == '\r';
      }
    }
    after_lone_lf = end < text.size() && text[end] == '\n';
    pos = end + 1;
    if (end < text.size() && text[end] == '\r' && pos < text.size() && text[pos] == '\n') {
      ++pos;  // \r\n is one line ending
    }
  }
  flush();
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
