// A strict reader for the XML that tests look at (the SVG timeline): it
// accepts a well-formed XML 1.0 document made of an optional declaration,
// comments, elements with quoted attributes, character data and the five
// predefined and numeric character references, and refuses anything else
// (unbalanced or mismatched tags, a raw '<' or '&' in text or attribute
// values, duplicate attributes, unknown entities, content after the root,
// invalid UTF-8), with the byte offset of the problem. No DTDs, CDATA or
// processing instructions other than the declaration. For tests only.
#ifndef SIM_CLUSTER_MINIMAL_XML_H_
#define SIM_CLUSTER_MINIMAL_XML_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kmesh::sim {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  // Values unescaped.
  std::vector<XmlElement> children;
  std::string text;  // Character data directly inside, unescaped, joined.

  // The attribute's value, or "".
  std::string Attribute(const std::string& key) const;
  // Whether the space-separated class attribute contains `name`.
  bool HasClass(const std::string& name) const;
  // This element and its descendants (depth-first, document order) for
  // which `match` holds.
  std::vector<const XmlElement*> FindAll(
      const std::function<bool(const XmlElement&)>& match) const;
  // This element's own text followed by its descendants', depth-first.
  std::string AllText() const;
};

// The document's root element; InvalidArgument saying where it is not
// well-formed.
absl::StatusOr<XmlElement> ParseXml(const std::string& document);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_MINIMAL_XML_H_
