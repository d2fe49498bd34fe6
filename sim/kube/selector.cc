#include "sim/kube/selector.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/kube/validation.h"

namespace kmesh::sim::kube {
namespace {

// Splits a label selector into tokens the way apimachinery's lexer does:
// identifiers, and the punctuation `! = == != ( ) , > <`.
class Lexer {
 public:
  explicit Lexer(const std::string& text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() &&
           std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(const std::string& punct) {
    SkipSpace();
    if (text_.compare(pos_, punct.size(), punct) == 0) {
      pos_ += punct.size();
      return true;
    }
    return false;
  }
  // An identifier: everything up to whitespace or punctuation.
  std::string Identifier() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && !IsSpecial(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  size_t position() const { return pos_; }

 private:
  static bool IsSpecial(char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '!' ||
           c == '=' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
  }
  const std::string& text_;
  size_t pos_ = 0;
};

absl::Status SelectorError(const std::string& text, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "unable to parse requirement: ", why, " in selector \"", text, "\""));
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector selector;
  Lexer lex(text);
  if (lex.AtEnd()) return selector;
  while (true) {
    Requirement req;
    if (lex.Consume("!")) {
      req.key = lex.Identifier();
      req.op = Op::kNotExists;
    } else {
      req.key = lex.Identifier();
      if (lex.AtEnd() || lex.Peek() == ',') {
        req.op = Op::kExists;
      } else if (lex.Consume("==") || lex.Consume("=")) {
        req.op = Op::kEquals;
        req.values.push_back(lex.Identifier());
      } else if (lex.Consume("!=")) {
        req.op = Op::kNotEquals;
        req.values.push_back(lex.Identifier());
      } else if (lex.Consume(">") || lex.Consume("<")) {
        req.op = text[lex.position() - 1] == '>' ? Op::kGt : Op::kLt;
        std::string value = lex.Identifier();
        int64_t unused;
        if (!absl::SimpleAtoi(value, &unused)) {
          return SelectorError(text, absl::StrCat("for 'Gt', 'Lt' operators, "
                                                  "the value must be an "
                                                  "integer: \"",
                                                  value, "\""));
        }
        req.values.push_back(value);
      } else {
        std::string word = lex.Identifier();
        if (word == "in") {
          req.op = Op::kIn;
        } else if (word == "notin") {
          req.op = Op::kNotIn;
        } else {
          return SelectorError(
              text, absl::StrCat("found '", word.empty() ? "?" : word,
                                 "', expected: in, notin, =, ==, !=, gt, lt"));
        }
        if (!lex.Consume("(")) {
          return SelectorError(text, "found '?', expected: '('");
        }
        if (!lex.Consume(")")) {
          while (true) {
            req.values.push_back(lex.Identifier());
            if (lex.Consume(")")) break;
            if (!lex.Consume(",")) {
              return SelectorError(text, "expected ',' or ')' in value set");
            }
          }
        }
        if (req.values.empty()) {
          return SelectorError(text,
                               "for 'in', 'notin' operators, values "
                               "set can't be empty");
        }
      }
    }
    if (req.key.empty()) return SelectorError(text, "missing label key");
    if (std::string why = LabelKeyError(req.key); !why.empty()) {
      return SelectorError(
          text, absl::StrCat("invalid label key \"", req.key, "\": ", why));
    }
    if (req.op != Op::kGt && req.op != Op::kLt) {
      for (const std::string& value : req.values) {
        if (std::string why = LabelValueError(value); !why.empty()) {
          return SelectorError(text, absl::StrCat("invalid label value: \"",
                                                  value, "\": ", why));
        }
      }
    }
    selector.requirements_.push_back(std::move(req));
    if (lex.AtEnd()) break;
    if (!lex.Consume(",")) {
      return SelectorError(text, "found unexpected text, expected ','");
    }
  }
  return selector;
}

bool LabelSelector::Matches(const nlohmann::json& labels) const {
  for (const Requirement& req : requirements_) {
    const std::string* value = nullptr;
    if (labels.is_object()) {
      auto it = labels.find(req.key);
      if (it != labels.end() && it->is_string()) {
        value = it->get_ptr<const std::string*>();
      }
    }
    auto in_values = [&] {
      return value != nullptr && std::find(req.values.begin(), req.values.end(),
                                           *value) != req.values.end();
    };
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!in_values()) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (in_values()) return false;
        break;
      case Op::kExists:
        if (value == nullptr) return false;
        break;
      case Op::kNotExists:
        if (value != nullptr) return false;
        break;
      case Op::kGt:
      case Op::kLt: {
        int64_t have, want;
        if (value == nullptr || !absl::SimpleAtoi(*value, &have) ||
            !absl::SimpleAtoi(req.values[0], &want)) {
          return false;
        }
        if (req.op == Op::kGt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

namespace {

// fields.splitTerms: commas not escaped by a backslash separate terms.
std::vector<std::string> SplitFieldTerms(const std::string& text) {
  std::vector<std::string> terms;
  std::string term;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      term += text[i];
      term += text[++i];
    } else if (text[i] == ',') {
      terms.push_back(std::move(term));
      term.clear();
    } else {
      term += text[i];
    }
  }
  terms.push_back(std::move(term));
  return terms;
}

// fields.UnescapeValue.
absl::StatusOr<std::string> UnescapeFieldValue(const std::string& value) {
  if (value.find_first_of("\\,=") == std::string::npos) return value;
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\') {
      if (i + 1 >= value.size()) {
        return absl::InvalidArgumentError(
            "invalid field selector: invalid escape sequence: \\");
      }
      const char next = value[++i];
      if (next != '\\' && next != ',' && next != '=') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid field selector: invalid escape sequence: \\",
                         std::string(1, next)));
      }
      out += next;
    } else if (c == ',' || c == '=') {
      // Go prints the rune with %v: its code point.
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: unescaped character in value: ",
                       static_cast<int>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

std::string ValueAtPath(const nlohmann::json& object, const std::string& path) {
  const nlohmann::json* node = &object;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (node == nullptr || !node->is_object()) return "";
    auto it = node->find(std::string(part));
    node = it == node->end() ? nullptr : &*it;
  }
  if (node == nullptr || node->is_null()) return "";
  return node->is_string() ? node->get<std::string>() : node->dump();
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::Parse(
    const std::string& text, const LabelConverter& convert, FieldValue value) {
  FieldSelector selector;
  selector.value_ = std::move(value);
  for (const std::string& term : SplitFieldTerms(text)) {
    if (term.empty()) continue;
    Requirement req;
    // fields.splitTerm: the first operator found, trying `!=`, `==`, `=` at
    // each position.
    size_t op = std::string::npos, op_len = 0;
    for (size_t i = 0; i < term.size() && op == std::string::npos; ++i) {
      if (term.compare(i, 2, "!=") == 0) {
        op = i, op_len = 2, req.equals = false;
      } else if (term.compare(i, 2, "==") == 0) {
        op = i, op_len = 2, req.equals = true;
      } else if (term[i] == '=') {
        op = i, op_len = 1, req.equals = true;
      }
    }
    if (op == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid selector: '", text, "'; can't understand '", term, "'"));
    }
    absl::StatusOr<std::string> unescaped =
        UnescapeFieldValue(term.substr(op + op_len));
    if (!unescaped.ok()) return unescaped.status();
    req.value = *std::move(unescaped);
    absl::StatusOr<std::string> label = convert(term.substr(0, op));
    if (!label.ok()) return label.status();
    req.path = *std::move(label);
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(
    const std::string& text, const std::vector<std::string>& allowed_fields) {
  return Parse(
      text,
      [&](const std::string& label) -> absl::StatusOr<std::string> {
        if (std::find(allowed_fields.begin(), allowed_fields.end(), label) ==
            allowed_fields.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("field label not supported: ", label));
        }
        return label;
      },
      ValueAtPath);
}

bool FieldSelector::Matches(const nlohmann::json& object) const {
  for (const Requirement& req : requirements_) {
    if ((value_(object, req.path) == req.value) != req.equals) return false;
  }
  return true;
}

}  // namespace kmesh::sim::kube
