#include "sim/cluster/minimal_xml.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kmesh::sim {
namespace {

bool IsNameStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         c == ':';
}

bool IsNameChar(char c) {
  return IsNameStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         c == '-' || c == '.';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Offset of the first byte that is not valid UTF-8, or -1.
int64_t InvalidUtf8At(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int extra = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      min = 0x10000;
    } else {
      return static_cast<int64_t>(i);
    }
    uint32_t cp = extra == 0 ? c : (c & (0x3F >> extra));
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size() ||
          (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return static_cast<int64_t>(i);
      }
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return static_cast<int64_t>(i);
    }
    i += extra + 1;
  }
  return -1;
}

class Parser {
 public:
  explicit Parser(const std::string& doc) : doc_(doc) {}

  absl::StatusOr<XmlElement> Document() {
    if (const int64_t bad = InvalidUtf8At(doc_); bad >= 0) {
      pos_ = static_cast<size_t>(bad);
      return Error("invalid UTF-8");
    }
    if (Consume("<?xml")) {
      const size_t end = doc_.find("?>", pos_);
      if (end == std::string::npos) return Error("unterminated declaration");
      pos_ = end + 2;
    }
    if (auto s = SkipMisc(); !s.ok()) return s;
    if (!Peek("<")) return Error("no root element");
    auto root = Element();
    if (!root.ok()) return root.status();
    if (auto s = SkipMisc(); !s.ok()) return s;
    if (pos_ != doc_.size()) return Error("content after the root element");
    return root;
  }

 private:
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("not well-formed XML at byte ", pos_, ": ", what));
  }

  bool Peek(const char* s) const {
    return doc_.compare(pos_, strlen(s), s) == 0;
  }

  bool Consume(const char* s) {
    if (!Peek(s)) return false;
    pos_ += strlen(s);
    return true;
  }

  void SkipSpace() {
    while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
  }

  absl::Status Comment() {
    const size_t end = doc_.find("-->", pos_);
    if (end == std::string::npos) return Error("unterminated comment");
    if (doc_.find("--", pos_) < end) return Error("'--' inside a comment");
    pos_ = end + 3;
    return absl::OkStatus();
  }

  // Whitespace and comments.
  absl::Status SkipMisc() {
    while (true) {
      SkipSpace();
      if (!Consume("<!--")) return absl::OkStatus();
      if (auto s = Comment(); !s.ok()) return s;
    }
  }

  absl::StatusOr<std::string> Name() {
    if (pos_ >= doc_.size() || !IsNameStart(doc_[pos_])) {
      return Error("a name expected");
    }
    const size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    return doc_.substr(start, pos_ - start);
  }

  // After '&': a reference, appended to `out` unescaped.
  absl::Status Reference(std::string* out) {
    const size_t end = doc_.find(';', pos_);
    if (end == std::string::npos || end - pos_ > 10) {
      return Error("'&' that starts no reference");
    }
    const std::string ref = doc_.substr(pos_, end - pos_);
    static const std::map<std::string, char> kNamed = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    if (auto it = kNamed.find(ref); it != kNamed.end()) {
      out->push_back(it->second);
    } else if (ref.size() > 1 && ref[0] == '#') {
      uint32_t cp = 0;
      const bool hex = ref[1] == 'x';
      const std::string digits = ref.substr(hex ? 2 : 1);
      if (digits.empty() ||
          !(hex ? absl::SimpleHexAtoi(digits, &cp)
                : absl::SimpleAtoi(digits, &cp)) ||
          cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
          (cp < 0x20 && cp != 0x9 && cp != 0xA && cp != 0xD)) {
        return Error("invalid character reference &" + ref + ";");
      }
      AppendUtf8(cp, out);
    } else {
      return Error("unknown entity &" + ref + ";");
    }
    pos_ = end + 1;
    return absl::OkStatus();
  }

  // Character data up to the next '<', unescaped into `out`.
  absl::Status CharData(std::string* out) {
    while (pos_ < doc_.size() && doc_[pos_] != '<') {
      const char c = doc_[pos_];
      if (c == '&') {
        ++pos_;
        if (auto s = Reference(out); !s.ok()) return s;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
        return Error("control character");
      }
      if (c == '>' && pos_ >= 2 && doc_.compare(pos_ - 2, 3, "]]>") == 0) {
        return Error("']]>' in text");
      }
      out->push_back(c);
      ++pos_;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<XmlElement> Element() {
    if (++depth_ > 256) return Error("nested too deeply");
    if (!Consume("<")) return Error("'<' expected");
    XmlElement element;
    auto name = Name();
    if (!name.ok()) return name.status();
    element.name = *name;
    while (true) {
      const size_t before = pos_;
      SkipSpace();
      if (Consume("/>")) {
        --depth_;
        return element;
      }
      if (Consume(">")) break;
      if (pos_ == before) return Error("space, '>' or '/>' expected");
      auto key = Name();
      if (!key.ok()) return key.status();
      SkipSpace();
      if (!Consume("=")) return Error("'=' expected after " + *key);
      SkipSpace();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        return Error("a quoted value expected for " + *key);
      }
      const char quote = doc_[pos_++];
      std::string value;
      while (pos_ < doc_.size() && doc_[pos_] != quote) {
        const char c = doc_[pos_];
        if (c == '<') return Error("'<' in the value of " + *key);
        if (c == '&') {
          ++pos_;
          if (auto s = Reference(&value); !s.ok()) return s;
          continue;
        }
        if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
          return Error("control character");
        }
        value.push_back(c);
        ++pos_;
      }
      if (!Consume(quote == '"' ? "\"" : "'")) {
        return Error("unterminated value of " + *key);
      }
      if (!element.attributes.emplace(*key, std::move(value)).second) {
        return Error("duplicate attribute " + *key);
      }
    }
    // Content.
    while (true) {
      if (auto s = CharData(&element.text); !s.ok()) return s;
      if (pos_ >= doc_.size()) return Error("</" + element.name + "> missing");
      if (Consume("<!--")) {
        if (auto s = Comment(); !s.ok()) return s;
      } else if (Consume("</")) {
        auto end = Name();
        if (!end.ok()) return end.status();
        if (*end != element.name) {
          return Error("</" + *end + "> closes <" + element.name + ">");
        }
        SkipSpace();
        if (!Consume(">")) return Error("'>' expected");
        --depth_;
        return element;
      } else if (Peek("<!") || Peek("<?")) {
        return Error("unsupported markup");
      } else {
        auto child = Element();
        if (!child.ok()) return child.status();
        element.children.push_back(*std::move(child));
      }
    }
  }

  const std::string& doc_;
  size_t pos_ = 0;
  int depth_ = 0;
};

void Collect(const XmlElement& e,
             const std::function<bool(const XmlElement&)>& match,
             std::vector<const XmlElement*>* out) {
  if (match(e)) out->push_back(&e);
  for (const XmlElement& child : e.children) Collect(child, match, out);
}

}  // namespace

std::string XmlElement::Attribute(const std::string& key) const {
  auto it = attributes.find(key);
  return it == attributes.end() ? "" : it->second;
}

bool XmlElement::HasClass(const std::string& class_name) const {
  for (absl::string_view c :
       absl::StrSplit(Attribute("class"), ' ', absl::SkipEmpty())) {
    if (c == class_name) return true;
  }
  return false;
}

std::vector<const XmlElement*> XmlElement::FindAll(
    const std::function<bool(const XmlElement&)>& match) const {
  std::vector<const XmlElement*> out;
  Collect(*this, match, &out);
  return out;
}

std::string XmlElement::AllText() const {
  std::string out = text;
  for (const XmlElement& child : children) out += child.AllText();
  return out;
}

absl::StatusOr<XmlElement> ParseXml(const std::string& document) {
  return Parser(document).Document();
}

}  // namespace kmesh::sim
