// Recursive-descent parser for FHIRPath (N1 grammar). Precedence, loosest first: implies; or xor;
// and; in contains; = ~ != !~; < <= > >=; |; is as; + - &; * / div mod; unary + -; . and [].
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "adapters/fhir/fhirpath/ast.h"
#include "adapters/fhir/fhirpath/fhirpath.h"

namespace tb::fhirpath::detail {
namespace {

enum class TokenKind {
  kEnd,
  kIdentifier,           // plain identifier or keyword
  kDelimitedIdentifier,  // `...`
  kString,               // '...'
  kNumber,
  kDateTime,  // @...
  kVariable,  // %name
  kDollar,    // $this $index $total
  kSymbol,    // operators and punctuation
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // identifier/string content (unescaped), number text, symbol
  std::size_t offset = 0;
};

core::Error SyntaxError(std::string message, std::size_t offset) {
  return core::MakeError(core::ErrorCode::kInvalidValue, "FHIRPath syntax error: " + message,
                         "offset " + std::to_string(offset));
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  core::Result<std::vector<Token>> Tokenize() {
    std::vector<Token> tokens;
    while (true) {
      auto skipped = SkipSpaceAndComments();
      if (!skipped) {
        return skipped.error();
      }
      if (pos_ >= text_.size()) {
        tokens.push_back(Token{TokenKind::kEnd, {}, pos_});
        return tokens;
      }
      auto token = Next();
      if (!token) {
        return token.error();
      }
      tokens.push_back(std::move(*token));
    }
  }

 private:
  core::Status SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') {
          ++pos_;
        }
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        std::size_t end = text_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) {
          return SyntaxError("unterminated comment", pos_);
        }
        pos_ = end + 2;
      } else {
        break;
      }
    }
    return core::Ok();
  }

  // Reads a quoted string or delimited identifier, unescaping as FHIRPath does.
  core::Result<std::string> Quoted(char quote) {
    std::size_t start = pos_;
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) {
        break;
      }
      char e = text_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '\'':
        case '"':
        case '`':
        case '\\':
        case '/':
          out += e;
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) {
            return SyntaxError("bad \\u escape", pos_);
          }
          std::uint32_t cp = 0;
          for (int i = 0; i < 4; ++i) {
            char h = text_[pos_++];
            cp <<= 4;
            if (IsDigit(h)) {
              cp |= static_cast<std::uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              cp |= static_cast<std::uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              cp |= static_cast<std::uint32_t>(h - 'A' + 10);
            } else {
              return SyntaxError("bad \\u escape", pos_);
            }
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return SyntaxError("unknown escape", pos_ - 2);
      }
    }
    if (pos_ >= text_.size()) {
      return SyntaxError("unterminated string", start);
    }
    ++pos_;
    return out;
  }

  bool DigitsAt(std::size_t at, std::size_t count) const {
    if (at + count > text_.size()) {
      return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (!IsDigit(text_[at + i])) {
        return false;
      }
    }
    return true;
  }

  // After '@': [YYYY[-MM[-DD]]][T[HH[:mm[:ss[.fff]]]]][Z|+HH:MM|-HH:MM]. Stops where the
  // shape ends, so "@2014-01-01 - 1 day" and "@2014-01-01-2" lex the way people expect.
  std::size_t ScanTimePart(std::size_t p) const {
    if (!DigitsAt(p, 2)) {
      return p;
    }
    p += 2;
    if (p < text_.size() && text_[p] == ':' && DigitsAt(p + 1, 2)) {
      p += 3;
      if (p < text_.size() && text_[p] == ':' && DigitsAt(p + 1, 2)) {
        p += 3;
        if (p < text_.size() && text_[p] == '.' && DigitsAt(p + 1, 1)) {
          ++p;
          while (p < text_.size() && IsDigit(text_[p])) {
            ++p;
          }
        }
      }
    }
    return p;
  }

  Token DateTimeToken(std::size_t start) {
    std::size_t p = start + 1;
    if (p < text_.size() && text_[p] == 'T') {
      p = ScanTimePart(p + 1);
      Token t{TokenKind::kDateTime, std::string(text_.substr(start + 1, p - start - 1)), start};
      pos_ = p;
      return t;
    }
    if (DigitsAt(p, 4)) {
      p += 4;
      if (p < text_.size() && text_[p] == '-' && DigitsAt(p + 1, 2)) {
        p += 3;
        if (p < text_.size() && text_[p] == '-' && DigitsAt(p + 1, 2)) {
          p += 3;
        }
      }
      if (p < text_.size() && text_[p] == 'T') {
        ++p;
        std::size_t after_time = ScanTimePart(p);
        bool has_time = after_time != p;
        p = after_time;
        if (has_time && p < text_.size()) {
          if (text_[p] == 'Z') {
            ++p;
          } else if ((text_[p] == '+' || text_[p] == '-') && DigitsAt(p + 1, 2) &&
                     p + 3 < text_.size() && text_[p + 3] == ':' && DigitsAt(p + 4, 2)) {
            p += 6;
          }
        }
      }
    }
    Token t{TokenKind::kDateTime, std::string(text_.substr(start + 1, p - start - 1)), start};
    pos_ = p;
    return t;
  }

  core::Result<Token> Next() {
    std::size_t start = pos_;
    char c = text_[pos_];
    if (IsIdentStart(c)) {
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
        ++pos_;
      }
      return Token{TokenKind::kIdentifier, std::string(text_.substr(start, pos_ - start)), start};
    }
    if (c == '`') {
      auto text = Quoted('`');
      if (!text) {
        return text.error();
      }
      return Token{TokenKind::kDelimitedIdentifier, std::move(*text), start};
    }
    if (c == '\'') {
      auto text = Quoted('\'');
      if (!text) {
        return text.error();
      }
      return Token{TokenKind::kString, std::move(*text), start};
    }
    if (IsDigit(c)) {
      while (pos_ < text_.size() && IsDigit(text_[pos_])) {
        ++pos_;
      }
      if (pos_ + 1 < text_.size() && text_[pos_] == '.' && IsDigit(text_[pos_ + 1])) {
        ++pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) {
          ++pos_;
        }
      }
      return Token{TokenKind::kNumber, std::string(text_.substr(start, pos_ - start)), start};
    }
    if (c == '@') {
      Token t = DateTimeToken(start);
      if (t.text.empty()) {
        return SyntaxError("bad date/time literal", start);
      }
      return t;
    }
    if (c == '%') {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '`')) {
        auto text = Quoted(text_[pos_]);
        if (!text) {
          return text.error();
        }
        return Token{TokenKind::kVariable, std::move(*text), start};
      }
      std::size_t name_start = pos_;
      while (pos_ < text_.size() && (IsIdentChar(text_[pos_]) || text_[pos_] == '-')) {
        ++pos_;
      }
      if (pos_ == name_start) {
        return SyntaxError("'%' without a name", start);
      }
      return Token{TokenKind::kVariable, std::string(text_.substr(name_start, pos_ - name_start)),
                   start};
    }
    if (c == '$') {
      ++pos_;
      while (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
        ++pos_;
      }
      std::string name(text_.substr(start, pos_ - start));
      if (name != "$this" && name != "$index" && name != "$total") {
        return SyntaxError("unknown " + name, start);
      }
      return Token{TokenKind::kDollar, std::move(name), start};
    }
    static constexpr std::string_view kTwoChar[] = {"!=", "!~", "<=", ">="};
    for (std::string_view op : kTwoChar) {
      if (text_.substr(pos_, 2) == op) {
        pos_ += 2;
        return Token{TokenKind::kSymbol, std::string(op), start};
      }
    }
    static constexpr std::string_view kOneChar = ".[](){},+-*/&|=~<>";
    if (kOneChar.find(c) != std::string_view::npos) {
      ++pos_;
      return Token{TokenKind::kSymbol, std::string(1, c), start};
    }
    return SyntaxError("unexpected character", start);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool IsCalendarUnit(std::string_view word) {
  static constexpr std::string_view kUnits[] = {
      "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
      "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  for (std::string_view unit : kUnits) {
    if (word == unit) {
      return true;
    }
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  core::Result<std::unique_ptr<Node>> ParseAll() {
    auto root = ParseExpr();
    if (!root) {
      return root;
    }
    if (Peek().kind != TokenKind::kEnd) {
      return SyntaxError("unexpected '" + Peek().text + "'", Peek().offset);
    }
    return root;
  }

 private:
  using NodeResult = core::Result<std::unique_ptr<Node>>;

  const Token& Peek(std::size_t ahead = 0) const {
    std::size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Take() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) {
      ++pos_;
    }
    return t;
  }
  bool IsSymbol(std::string_view s, std::size_t ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kSymbol && Peek(ahead).text == s;
  }
  bool IsKeyword(std::string_view s) const {
    return Peek().kind == TokenKind::kIdentifier && Peek().text == s;
  }

  // Every node records the height of its subtree. Left-deep chains (a.b.c..., 1+1+1...) are
  // built by loops, not recursion, so this is what bounds the depth of the finished tree, and
  // with it the recursion of evaluating and destroying it.
  static int Height(const Node& node) {
    int height = 0;
    for (const auto& child : node.children) {
      if (child != nullptr) {
        height = std::max(height, child->height);
      }
    }
    return height + 1;
  }

  static core::Status Seal(Node& node) {
    node.height = Height(node);
    if (node.height > kMaxTreeHeight) {
      return SyntaxError("expression too long or nested too deeply", node.offset);
    }
    return core::Ok();
  }

  static std::unique_ptr<Node> MakeNode(NodeKind kind, std::string name, std::size_t offset) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->name = std::move(name);
    node->offset = offset;
    return node;
  }
  static std::unique_ptr<Node> Binary(std::string op, std::unique_ptr<Node> left,
                                      std::unique_ptr<Node> right, std::size_t offset) {
    auto node = MakeNode(NodeKind::kBinary, std::move(op), offset);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  // One binary level: operands from `next`, operators accepted by `match` (returns the operator
  // text or "").
  template <typename Next, typename Match>
  NodeResult BinaryLevel(Next next, Match match) {
    auto left = (this->*next)();
    if (!left) {
      return left;
    }
    std::unique_ptr<Node> node = std::move(*left);
    while (true) {
      std::string op = match();
      if (op.empty()) {
        return node;
      }
      std::size_t offset = Take().offset;
      auto right = (this->*next)();
      if (!right) {
        return right;
      }
      node = Binary(std::move(op), std::move(node), std::move(*right), offset);
      BROKER_RETURN_IF_ERROR(Seal(*node));
    }
  }

  std::string MatchKeywords(std::initializer_list<std::string_view> words) const {
    for (std::string_view w : words) {
      if (IsKeyword(w)) {
        return std::string(w);
      }
    }
    return {};
  }
  std::string MatchSymbols(std::initializer_list<std::string_view> symbols) const {
    for (std::string_view s : symbols) {
      if (IsSymbol(s)) {
        return std::string(s);
      }
    }
    return {};
  }

  NodeResult ParseExpr() {
    if (++depth_ > kMaxNesting) {
      return SyntaxError("expression nested too deeply", Peek().offset);
    }
    auto result = BinaryLevel(&Parser::ParseOr, [this] { return MatchKeywords({"implies"}); });
    --depth_;
    return result;
  }
  NodeResult ParseOr() {
    return BinaryLevel(&Parser::ParseAnd, [this] { return MatchKeywords({"or", "xor"}); });
  }
  NodeResult ParseAnd() {
    return BinaryLevel(&Parser::ParseMembership, [this] { return MatchKeywords({"and"}); });
  }
  NodeResult ParseMembership() {
    return BinaryLevel(&Parser::ParseEquality, [this] {
      return MatchKeywords({"in", "contains"});
    });
  }
  NodeResult ParseEquality() {
    return BinaryLevel(&Parser::ParseInequality, [this] {
      return MatchSymbols({"=", "~", "!=", "!~"});
    });
  }
  NodeResult ParseInequality() {
    return BinaryLevel(&Parser::ParseUnion, [this] {
      return MatchSymbols({"<", "<=", ">", ">="});
    });
  }
  NodeResult ParseUnion() {
    return BinaryLevel(&Parser::ParseType, [this] { return MatchSymbols({"|"}); });
  }
  NodeResult ParseType() {
    auto left = ParseAdditive();
    if (!left) {
      return left;
    }
    std::unique_ptr<Node> node = std::move(*left);
    while (IsKeyword("is") || IsKeyword("as")) {
      const Token& op = Take();
      auto node_op = MakeNode(NodeKind::kTypeOp, op.text, op.offset);
      auto type = ParseQualifiedIdentifier();
      if (!type) {
        return type.error();
      }
      node_op->type_name = std::move(*type);
      node_op->children.push_back(std::move(node));
      node = std::move(node_op);
      BROKER_RETURN_IF_ERROR(Seal(*node));
    }
    return node;
  }
  NodeResult ParseAdditive() {
    return BinaryLevel(&Parser::ParseMultiplicative, [this] {
      return MatchSymbols({"+", "-", "&"});
    });
  }
  NodeResult ParseMultiplicative() {
    return BinaryLevel(&Parser::ParseUnary, [this] {
      std::string op = MatchSymbols({"*", "/"});
      return op.empty() ? MatchKeywords({"div", "mod"}) : op;
    });
  }
  NodeResult ParseUnary() {
    if (IsSymbol("+") || IsSymbol("-")) {
      const Token& op = Take();
      if (++depth_ > kMaxNesting) {
        return SyntaxError("expression nested too deeply", op.offset);
      }
      auto operand = ParseUnary();
      --depth_;
      if (!operand) {
        return operand;
      }
      auto node = MakeNode(NodeKind::kUnary, op.text, op.offset);
      node->children.push_back(std::move(*operand));
      BROKER_RETURN_IF_ERROR(Seal(*node));
      return node;
    }
    return ParsePostfix();
  }

  core::Result<std::string> ParseIdentifier() {
    const Token& t = Peek();
    if (t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kDelimitedIdentifier) {
      return Take().text;
    }
    return SyntaxError("identifier expected", t.offset);
  }

  core::Result<std::string> ParseQualifiedIdentifier() {
    auto first = ParseIdentifier();
    if (!first) {
      return first;
    }
    std::string name = std::move(*first);
    while (IsSymbol(".") && (Peek(1).kind == TokenKind::kIdentifier ||
                             Peek(1).kind == TokenKind::kDelimitedIdentifier)) {
      Take();
      name += "." + Take().text;
    }
    return name;
  }

  NodeResult ParsePostfix() {
    auto term = ParseTerm();
    if (!term) {
      return term;
    }
    std::unique_ptr<Node> node = std::move(*term);
    while (true) {
      if (IsSymbol(".")) {
        Take();
        auto invocation = ParseInvocation(std::move(node));
        if (!invocation) {
          return invocation;
        }
        node = std::move(*invocation);
      } else if (IsSymbol("[")) {
        std::size_t offset = Take().offset;
        auto index = ParseExpr();
        if (!index) {
          return index;
        }
        if (!IsSymbol("]")) {
          return SyntaxError("']' expected", Peek().offset);
        }
        Take();
        auto indexer = MakeNode(NodeKind::kIndexer, "[]", offset);
        indexer->children.push_back(std::move(node));
        indexer->children.push_back(std::move(*index));
        node = std::move(indexer);
        BROKER_RETURN_IF_ERROR(Seal(*node));
      } else {
        return node;
      }
    }
  }

  // identifier | function call | $this/$index/$total, applied to `focus` (null = the input).
  NodeResult ParseInvocation(std::unique_ptr<Node> focus) {
    const Token& t = Peek();
    if (t.kind == TokenKind::kDollar) {
      Take();
      if (focus != nullptr) {
        return SyntaxError(t.text + " cannot follow '.'", t.offset);
      }
      NodeKind kind = t.text == "$this"    ? NodeKind::kThis
                      : t.text == "$index" ? NodeKind::kIndex
                                           : NodeKind::kTotal;
      return MakeNode(kind, t.text, t.offset);
    }
    std::size_t offset = t.offset;
    bool delimited = t.kind == TokenKind::kDelimitedIdentifier;
    auto name = ParseIdentifier();
    if (!name) {
      return name.error();
    }
    if (!delimited && IsSymbol("(")) {
      Take();
      auto node = MakeNode(NodeKind::kFunction, std::move(*name), offset);
      node->children.push_back(std::move(focus));
      if (!IsSymbol(")")) {
        while (true) {
          auto arg = ParseExpr();
          if (!arg) {
            return arg;
          }
          node->children.push_back(std::move(*arg));
          if (IsSymbol(",")) {
            Take();
            continue;
          }
          break;
        }
      }
      if (!IsSymbol(")")) {
        return SyntaxError("')' expected", Peek().offset);
      }
      Take();
      BROKER_RETURN_IF_ERROR(Seal(*node));
      return node;
    }
    auto node = MakeNode(NodeKind::kMember, std::move(*name), offset);
    node->children.push_back(std::move(focus));
    BROKER_RETURN_IF_ERROR(Seal(*node));
    return node;
  }

  NodeResult NumberLiteral(const Token& t) {
    auto node = MakeNode(NodeKind::kLiteral, {}, t.offset);
    std::size_t dot = t.text.find('.');
    // A number followed by a unit is a Quantity.
    std::optional<std::string> unit;
    if (Peek().kind == TokenKind::kString) {
      unit = Take().text;
    } else if (Peek().kind == TokenKind::kIdentifier && IsCalendarUnit(Peek().text)) {
      unit = Take().text;
    }
    double value = std::strtod(t.text.c_str(), nullptr);
    int decimals = dot == std::string::npos ? 0 : static_cast<int>(t.text.size() - dot - 1);
    if (unit) {
      node->literal = Value::QuantityValue(Quantity{value, decimals, std::move(*unit)});
    } else if (dot == std::string::npos) {
      errno = 0;
      long long integer = std::strtoll(t.text.c_str(), nullptr, 10);
      if (errno == ERANGE || integer > std::numeric_limits<std::int32_t>::max()) {
        // FHIRPath Integer is 32-bit; larger literals are Decimals rather than an error.
        node->literal = Value::Decimal(value, 0);
      } else {
        node->literal = Value::Integer(integer);
      }
    } else {
      node->literal = Value::Decimal(value, decimals);
    }
    return node;
  }

  NodeResult ParseTerm() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kEnd:
        return SyntaxError("unexpected end of expression", t.offset);
      case TokenKind::kString: {
        Take();
        auto node = MakeNode(NodeKind::kLiteral, {}, t.offset);
        node->literal = Value::String(t.text);
        return node;
      }
      case TokenKind::kNumber:
        Take();
        return NumberLiteral(t);
      case TokenKind::kDateTime: {
        Take();
        auto node = MakeNode(NodeKind::kLiteral, {}, t.offset);
        std::string_view text = t.text;
        if (!text.empty() && text[0] == 'T') {
          auto time = ParseTime(text.substr(1));
          if (!time) {
            return SyntaxError("bad time literal", t.offset);
          }
          node->literal = Value::Time(*time);
          return node;
        }
        bool has_t = text.find('T') != std::string_view::npos;
        if (!text.empty() && text.back() == 'T') {
          text.remove_suffix(1);
        }
        auto date = ParseDateTime(text);
        if (!date) {
          return SyntaxError("bad date/time literal", t.offset);
        }
        if (date->precision == Precision::kHour) {
          // FHIR has no hour-only time: @2014-01-01T08 means 08:00 (as the R4 suite expects).
          date->precision = Precision::kMinute;
        }
        node->literal = has_t ? Value::DateTimeValue(*date) : Value::Date(*date);
        return node;
      }
      case TokenKind::kVariable: {
        Take();
        return MakeNode(NodeKind::kVariable, t.text, t.offset);
      }
      case TokenKind::kSymbol: {
        if (t.text == "(") {
          Take();
          auto inner = ParseExpr();
          if (!inner) {
            return inner;
          }
          if (!IsSymbol(")")) {
            return SyntaxError("')' expected", Peek().offset);
          }
          Take();
          return inner;
        }
        if (t.text == "{" && IsSymbol("}", 1)) {
          Take();
          Take();
          return MakeNode(NodeKind::kEmpty, "{}", t.offset);
        }
        return SyntaxError("unexpected '" + t.text + "'", t.offset);
      }
      case TokenKind::kIdentifier:
        if (t.text == "true" || t.text == "false") {
          Take();
          auto node = MakeNode(NodeKind::kLiteral, {}, t.offset);
          node->literal = Value::Boolean(t.text == "true");
          return node;
        }
        break;
      default:
        break;
    }
    return ParseInvocation(nullptr);
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

core::Result<std::unique_ptr<Node>> ParseExpression(std::string_view text) {
  if (text.size() > kMaxExpressionBytes) {
    return core::MakeError(
        core::ErrorCode::kTooLarge,
        "FHIRPath expression longer than " + std::to_string(kMaxExpressionBytes) + " bytes");
  }
  Lexer lexer(text);
  auto tokens = lexer.Tokenize();
  if (!tokens) {
    return tokens.error();
  }
  Parser parser(std::move(*tokens));
  return parser.ParseAll();
}

}  // namespace tb::fhirpath::detail
