#include "broker/policy/purpose.h"

#include <algorithm>

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

struct PurposeRow {
  std::string_view code;
  std::string_view parent;  // "" at the top of the PurposeOfUse hierarchy
  PurposeKind kind;
};

// The PurposeOfUse branch of v3 ActReason (terminology.hl7.org), flattened.
constexpr PurposeRow kPurposes[] = {
    {"TREAT", "", PurposeKind::kDirectCare},
    {"COC", "TREAT", PurposeKind::kDirectCare},
    {"ETREAT", "TREAT", PurposeKind::kBreakGlass},
    {"BTG", "ETREAT", PurposeKind::kBreakGlass},
    {"ERTREAT", "ETREAT", PurposeKind::kBreakGlass},
    {"CLINTRL", "TREAT", PurposeKind::kSecondary},
    {"POPHLTH", "TREAT", PurposeKind::kSecondary},
    {"HRESCH", "", PurposeKind::kSecondary},
    {"BIORCH", "HRESCH", PurposeKind::kSecondary},
    {"CLINTRCH", "HRESCH", PurposeKind::kSecondary},
    {"CLINTRCHNPC", "CLINTRCH", PurposeKind::kSecondary},
    {"CLINTRCHPC", "CLINTRCH", PurposeKind::kSecondary},
    {"PRECLINTRCH", "CLINTRCH", PurposeKind::kSecondary},
    {"DSRCH", "HRESCH", PurposeKind::kSecondary},
    {"POARCH", "HRESCH", PurposeKind::kSecondary},
    {"TRANSRCH", "HRESCH", PurposeKind::kSecondary},
    {"HOPERAT", "", PurposeKind::kSecondary},
    {"CAREMGT", "HOPERAT", PurposeKind::kSecondary},
    {"DONAT", "HOPERAT", PurposeKind::kSecondary},
    {"FRAUD", "HOPERAT", PurposeKind::kSecondary},
    {"GOV", "HOPERAT", PurposeKind::kSecondary},
    {"HACCRED", "HOPERAT", PurposeKind::kSecondary},
    {"HCOMPL", "HOPERAT", PurposeKind::kSecondary},
    {"HDECD", "HOPERAT", PurposeKind::kSecondary},
    {"HDIRECT", "HOPERAT", PurposeKind::kSecondary},
    {"HDM", "HOPERAT", PurposeKind::kSecondary},
    {"HLEGAL", "HOPERAT", PurposeKind::kSecondary},
    {"HOUTCOMS", "HOPERAT", PurposeKind::kSecondary},
    {"HPRGRP", "HOPERAT", PurposeKind::kSecondary},
    {"HQUALIMP", "HOPERAT", PurposeKind::kSecondary},
    {"HSYSADMIN", "HOPERAT", PurposeKind::kSecondary},
    {"LABELING", "HOPERAT", PurposeKind::kSecondary},
    {"METAMGT", "HOPERAT", PurposeKind::kSecondary},
    {"MEMADMIN", "HOPERAT", PurposeKind::kSecondary},
    {"MILCDM", "HOPERAT", PurposeKind::kSecondary},
    {"PATADMIN", "HOPERAT", PurposeKind::kSecondary},
    {"PATSFTY", "HOPERAT", PurposeKind::kSecondary},
    {"PERFMSR", "HOPERAT", PurposeKind::kSecondary},
    {"RECORDMGT", "HOPERAT", PurposeKind::kSecondary},
    {"SYSDEV", "HOPERAT", PurposeKind::kSecondary},
    {"HTEST", "SYSDEV", PurposeKind::kSecondary},
    {"TRAIN", "HOPERAT", PurposeKind::kSecondary},
    {"HPAYMT", "", PurposeKind::kSecondary},
    {"CLMATTCH", "HPAYMT", PurposeKind::kSecondary},
    {"COVAUTH", "HPAYMT", PurposeKind::kSecondary},
    {"COVERAGE", "HPAYMT", PurposeKind::kSecondary},
    {"ELIGDTRM", "COVERAGE", PurposeKind::kSecondary},
    {"ELIGVER", "COVERAGE", PurposeKind::kSecondary},
    {"ENROLLM", "COVERAGE", PurposeKind::kSecondary},
    {"MILDCRIT", "COVERAGE", PurposeKind::kSecondary},
    {"REMITADV", "HPAYMT", PurposeKind::kSecondary},
    {"HMARKT", "", PurposeKind::kSecondary},
    {"PUBHLTH", "", PurposeKind::kSecondary},
    {"DISASTER", "PUBHLTH", PurposeKind::kSecondary},
    {"THREAT", "PUBHLTH", PurposeKind::kSecondary},
    {"PATRQT", "", PurposeKind::kSecondary},
    {"FAMRQT", "PATRQT", PurposeKind::kSecondary},
    {"PWATRNY", "PATRQT", PurposeKind::kSecondary},
    {"SUPNWK", "PATRQT", PurposeKind::kSecondary},
};

const PurposeRow* FindPurpose(std::string_view code) {
  for (const PurposeRow& row : kPurposes) {
    if (row.code == code) {
      return &row;
    }
  }
  return nullptr;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0U) {
      extra = 1;
      min = 0x80;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      extra = 2;
      min = 0x800;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      extra = 3;
      min = 0x10000;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + extra >= text.size()) {
      return false;
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80U) {
        return false;
      }
      cp = (cp << 6U) | (next & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

std::optional<PurposeKind> KindOfPurpose(std::string_view code) {
  const PurposeRow* row = FindPurpose(code);
  if (row == nullptr) {
    return std::nullopt;
  }
  return row->kind;
}

bool PurposeIsA(std::string_view code, std::string_view ancestor) {
  std::string_view current = code;
  // The table is shallow; the bound guards against a cycle slipping into it.
  for (int depth = 0; depth < 8 && !current.empty(); ++depth) {
    if (current == ancestor) {
      return true;
    }
    const PurposeRow* row = FindPurpose(current);
    if (row == nullptr) {
      return false;
    }
    current = row->parent;
  }
  return false;
}

bool RequiresPseudonymisation(std::string_view purpose) {
  const std::optional<PurposeKind> kind = KindOfPurpose(purpose);
  return !kind || *kind == PurposeKind::kSecondary;
}

Result<std::string> ParsePurposeOfUse(std::optional<std::string_view> header) {
  constexpr std::string_view kLocation = "header X-Purpose-Of-Use";
  if (!header) {
    return std::string(kDefaultPurpose);
  }
  const std::string_view value = TrimSpaces(*header);
  if (value.empty()) {
    return MakeError(ErrorCode::kInvalidValue,
                     "X-Purpose-Of-Use is empty; send exactly one v3 ActReason code such as "
                     "TREAT, or omit the header for TREAT",
                     std::string(kLocation));
  }
  if (value.find_first_of(", \t|") != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidValue,
                     "X-Purpose-Of-Use must hold exactly one code (no lists, no system|code)",
                     std::string(kLocation));
  }
  if (FindPurpose(value) == nullptr) {
    return MakeError(ErrorCode::kInvalidValue,
                     "X-Purpose-Of-Use is not a known v3 ActReason purpose of use (codes are "
                     "case-sensitive, e.g. TREAT, ETREAT, HRESCH, HOPERAT, PUBHLTH, HPAYMT)",
                     std::string(kLocation));
  }
  return std::string(value);
}

Result<std::string> ValidateBreakGlassReason(std::optional<std::string_view> header) {
  constexpr std::string_view kLocation = "header X-Break-Glass-Reason";
  if (!header) {
    return MakeError(ErrorCode::kRequiredFieldMissing,
                     "break-glass (ETREAT) needs an X-Break-Glass-Reason header",
                     std::string(kLocation));
  }
  const std::string_view value = TrimSpaces(*header);
  if (value.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "X-Break-Glass-Reason is blank",
                     std::string(kLocation));
  }
  if (value.size() > kMaxBreakGlassReasonBytes) {
    return MakeError(ErrorCode::kInvalidValue,
                     "X-Break-Glass-Reason is longer than " +
                         std::to_string(kMaxBreakGlassReasonBytes) + " bytes",
                     std::string(kLocation));
  }
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return MakeError(ErrorCode::kInvalidValue,
                       "X-Break-Glass-Reason must be one line without control characters",
                       std::string(kLocation));
    }
  }
  if (!IsValidUtf8(value)) {
    return MakeError(ErrorCode::kInvalidValue, "X-Break-Glass-Reason is not valid UTF-8",
                     std::string(kLocation));
  }
  return std::string(value);
}

std::vector<core::Error> ValidatePolicyConfig(const std::vector<std::string>& scopes,
                                              const std::vector<std::string>& purposes,
                                              bool break_glass) {
  std::vector<core::Error> errors;
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    Result<Scope> scope = ParseScope(scopes[i]);
    if (!scope) {
      errors.push_back(
          MakeError(ErrorCode::kConfig,
                    "invalid scope: " + scope.error().message +
                        (scope.error().location.empty() ? std::string()
                                                        : " (" + scope.error().location + ")"),
                    "scopes/" + std::to_string(i)));
    }
  }
  for (std::size_t i = 0; i < purposes.size(); ++i) {
    const std::optional<PurposeKind> kind = KindOfPurpose(purposes[i]);
    const std::string location = "purposes/" + std::to_string(i);
    if (!kind) {
      errors.push_back(MakeError(ErrorCode::kConfig,
                                 "'" + purposes[i] +
                                     "' is not a known v3 ActReason purpose of use (codes are "
                                     "case-sensitive, e.g. TREAT, HRESCH)",
                                 location));
    } else if (*kind == PurposeKind::kBreakGlass && !break_glass) {
      errors.push_back(MakeError(
          ErrorCode::kConfig,
          "break-glass purpose '" + purposes[i] + "' needs \"break_glass\": true", location));
    }
  }
  return errors;
}

Result<RequestContext> BuildRequestContext(const ParticipantPolicy& participant,
                                           const PolicyHeaders& headers) {
  Result<std::string> purpose = ParsePurposeOfUse(headers.purpose_of_use);
  if (!purpose) {
    return std::move(purpose).error();
  }
  const PurposeKind kind = KindOfPurpose(*purpose).value_or(PurposeKind::kSecondary);
  const auto listed = [&](std::string_view code) {
    if (participant.purposes.empty()) {
      return code == kDefaultPurpose;
    }
    return std::find(participant.purposes.begin(), participant.purposes.end(), code) !=
           participant.purposes.end();
  };

  RequestContext context;
  context.requester_ods = participant.ods;
  context.scopes = participant.scopes;
  if (kind == PurposeKind::kBreakGlass) {
    if (!participant.break_glass) {
      return MakeError(ErrorCode::kForbidden,
                       "this participant is not allowed to break glass (purpose " + *purpose + ")",
                       "header X-Purpose-Of-Use");
    }
    if (!listed(*purpose) && !listed(kDefaultPurpose)) {
      return MakeError(ErrorCode::kForbidden,
                       "purpose " + *purpose + " is not configured for this participant",
                       "header X-Purpose-Of-Use");
    }
    Result<std::string> reason = ValidateBreakGlassReason(headers.break_glass_reason);
    if (!reason) {
      return std::move(reason).error();
    }
    context.break_glass_reason = std::move(reason).value();
  } else if (!listed(*purpose)) {
    return MakeError(ErrorCode::kForbidden,
                     "purpose " + *purpose + " is not configured for this participant",
                     "header X-Purpose-Of-Use");
  }
  context.purpose = std::move(purpose).value();
  return context;
}

}  // namespace tb::policy
