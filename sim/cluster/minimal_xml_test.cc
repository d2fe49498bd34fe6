// The test XML reader accepts well-formed documents, unescaping references,
// and refuses what an XML parser refuses.
#include "sim/cluster/minimal_xml.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kmesh::sim {
namespace {

TEST(MinimalXmlTest, ReadsElementsAttributesAndText) {
  auto root = ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n"
      "<svg a=\"1 &amp; 2\" b='&lt;&gt;&quot;&apos;'>"
      "<g class=\"x lane\"><text>a &#65;&#x42; \xE2\x86\x92</text></g>"
      "<rect/><!-- c --></svg>\n");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->Attribute("a"), "1 & 2");
  EXPECT_EQ(root->Attribute("b"), "<>\"'");
  ASSERT_EQ(root->children.size(), 2u);
  EXPECT_TRUE(root->children[0].HasClass("lane"));
  EXPECT_FALSE(root->children[0].HasClass("lan"));
  EXPECT_EQ(root->AllText(), "a AB \xE2\x86\x92");
  EXPECT_EQ(root->FindAll([](const XmlElement& e) { return e.name == "rect"; })
                .size(),
            1u);
}

TEST(MinimalXmlTest, RefusesWhatIsNotWellFormed) {
  for (const char* bad :
       {"", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a>x & y</a>",
        "<a>x < y</a>", "<a x=1/>", "<a x=\"1\" x=\"2\"/>", "<a x=\"<\"/>",
        "<a>&nbsp;</a>", "<a/><b/>", "<a/>trailing", "<a>&#0;</a>",
        "<a>\x01</a>", "<a>\xff</a>", "<a><!-- x -- y --></a>",
        "<a><![CDATA[x]]></a>", "<a b=\"1\"c=\"2\"/>"}) {
    const auto root = ParseXml(bad);
    EXPECT_FALSE(root.ok()) << "accepted: " << bad;
    if (!root.ok()) {
      EXPECT_TRUE(absl::StrContains(root.status().message(), "at byte"))
          << root.status();
    }
  }
}

}  // namespace
}  // namespace kmesh::sim
