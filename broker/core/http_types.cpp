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

}  // namespace tb::core
