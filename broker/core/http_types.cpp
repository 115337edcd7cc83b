#include "broker/core/http_types.h"

namespace tb::core {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::string_view HttpHeaders::Get(std::string_view name) const {
  for (const auto& [key, value] : fields) {
    if (EqualsIgnoreCase(key, name)) {
      return value;
    }
  }
  return {};
}

bool HttpHeaders::Has(std::string_view name) const {
  for (const auto& field : fields) {
    if (EqualsIgnoreCase(field.first, name)) {
      return true;
    }
  }
  return false;
}

void HttpHeaders::Set(std::string name, std::string value) {
  for (auto& field : fields) {
    if (EqualsIgnoreCase(field.first, name)) {
      field.second = std::move(value);
      return;
    }
  }
  fields.emplace_back(std::move(name), std::move(value));
}

std::string_view HttpRequest::Path() const {
  const std::string_view view(target);
  return view.substr(0, view.find('?'));
}

std::string_view HttpRequest::Query() const {
  const std::string_view view(target);
  const auto question = view.find('?');
  return question == std::string_view::npos ? std::string_view{} : view.substr(question + 1);
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string_view UsableHost(const HttpHeaders& headers) {
  const std::string_view host = headers.Get("Host");
  if (host.empty() || host.size() > 255) {
    return {};
  }
  for (const char c : host) {
    const bool usable = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') ||
                        std::string_view("-._~%:[]").find(c) != std::string_view::npos;
    if (!usable) {
      return {};
    }
  }
  return host;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {  // truncated escape
        return std::nullopt;
      }
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace tb::core
