// The timeline renderer: its SVG is well-formed XML (read back by a strict
// reader), has a lane per node pair with both directions, shows spi 1 before
// spi 2 in every stripe, marks the secret writes, each node's advertisements
// and the reclaims, and has red marks exactly when a packet was lost or a
// managed packet crossed in clear after ESP.
#include "sim/cluster/rotation_timeline.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "sim/cluster/minimal_xml.h"

namespace kmesh::sim {
namespace {

constexpr char kRed[] = "#d62728";
const std::vector<std::string> kNodes = {"master", "node1", "node2"};

double NumberAttribute(const XmlElement& e, const std::string& key) {
  double v = 0;
  EXPECT_TRUE(absl::SimpleAtod(e.Attribute(key), &v))
      << key << "=" << e.Attribute(key);
  return v;
}

// A rotation as the demo sees it, sampled every 0.1 s on every direction:
// in clear until the first key (spi 1 written at 0.9 s, on the wire from
// 1.0 s), spi 2 written at 3.2 s, both SPIs in the sample at 3.5 s, spi 2
// only from 3.6 s, spi 1 reclaimed on every node at 5.5 s.
RotationTimeline RotationWithNothingLost() {
  RotationTimeline timeline("kmesh-sim demo");
  for (const std::string& node : kNodes) timeline.AddNode(node);
  timeline.AddStep(0.5, "the first key, created under traffic");
  timeline.AddStep(3.0, "a rotation");
  timeline.AddSecretWrite(0.9, 1);
  timeline.AddSecretWrite(3.2, 2);
  for (size_t n = 0; n < kNodes.size(); ++n) {
    timeline.AddAdvertisement(0.95 + 0.1 * n, kNodes[n], 1);
    timeline.AddAdvertisement(3.3 + 0.1 * n, kNodes[n], 2);
    timeline.AddReclaim(5.5, kNodes[n], 1);
  }
  for (int i = 0; i < 60; ++i) {
    const double start = i * 0.1;
    for (const std::string& from : kNodes) {
      for (const std::string& to : kNodes) {
        if (from == to) continue;
        TimelinePairSample s;
        s.from_node = from;
        s.to_node = to;
        s.start_s = start;
        s.end_s = start + 0.1;
        s.delivered = 10;
        if (start < 0.95) {
          s.in_clear_before_esp = 10;
        } else if (start < 3.45) {
          s.esp_packets_by_spi[1] = 10;
        } else if (start < 3.55) {
          s.esp_packets_by_spi[1] = 4;
          s.esp_packets_by_spi[2] = 6;
        } else {
          s.esp_packets_by_spi[2] = 10;
        }
        timeline.AddPairSample(s);
      }
    }
  }
  return timeline;
}

XmlElement Parse(const RotationTimeline& timeline) {
  auto root = ParseXml(timeline.RenderSvg());
  EXPECT_TRUE(root.ok()) << root.status();
  return root.ok() ? *root : XmlElement();
}

std::vector<const XmlElement*> WithClass(const XmlElement& root,
                                         const std::string& name) {
  return root.FindAll([&](const XmlElement& e) { return e.HasClass(name); });
}

bool AnyRed(const XmlElement& root) {
  return !root.FindAll([](const XmlElement& e) {
                return e.Attribute("fill") == kRed ||
                       e.Attribute("stroke") == kRed;
              })
              .empty();
}

TEST(RotationTimelineTest, IsAnSvg11DocumentWithATitle) {
  const XmlElement svg = Parse(RotationWithNothingLost());
  EXPECT_EQ(svg.name, "svg");
  EXPECT_EQ(svg.Attribute("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_EQ(svg.Attribute("version"), "1.1");
  EXPECT_GT(NumberAttribute(svg, "width"), 0);
  EXPECT_GT(NumberAttribute(svg, "height"), 0);
  ASSERT_FALSE(svg.children.empty());
  EXPECT_EQ(svg.children[0].name, "title");
  EXPECT_EQ(svg.children[0].text, "kmesh-sim demo");
  // Self-contained: nothing scripted, nothing fetched.
  EXPECT_TRUE(svg.FindAll([](const XmlElement& e) {
                   return e.name == "script" || e.name == "image" ||
                          e.name == "style" || e.attributes.count("href") ||
                          e.attributes.count("xlink:href");
                 })
                  .empty());
  EXPECT_TRUE(absl::StrContains(svg.AllText(), "time (s)"));
}

TEST(RotationTimelineTest, HasALaneForEveryNodePairWithBothDirections) {
  const XmlElement svg = Parse(RotationWithNothingLost());
  const auto lanes = WithClass(svg, "lane");
  ASSERT_EQ(lanes.size(), 3u);
  EXPECT_EQ(lanes[0]->Attribute("id"), "lane-master-node1");
  EXPECT_EQ(lanes[1]->Attribute("id"), "lane-master-node2");
  EXPECT_EQ(lanes[2]->Attribute("id"), "lane-node1-node2");
  const std::string text = lanes[2]->AllText();
  EXPECT_TRUE(absl::StrContains(text, "node1 \u2192 node2")) << text;
  EXPECT_TRUE(absl::StrContains(text, "node2 \u2192 node1")) << text;
  EXPECT_EQ(WithClass(*lanes[2], "stripe").size(), 2u);
}

TEST(RotationTimelineTest, EveryStripeShowsSpi1ThenSpi2) {
  const XmlElement svg = Parse(RotationWithNothingLost());
  for (const XmlElement* lane : WithClass(svg, "lane")) {
    const auto spi1 = WithClass(*lane, "spi-1");
    const auto spi2 = WithClass(*lane, "spi-2");
    const auto clear = WithClass(*lane, "clear");
    // Per direction: a long spi 1 run, the mixed sample split in two, a
    // long spi 2 run; and the plaintext before the first key.
    ASSERT_EQ(spi1.size(), 4u) << lane->Attribute("id");
    ASSERT_EQ(spi2.size(), 4u) << lane->Attribute("id");
    EXPECT_EQ(clear.size(), 2u) << lane->Attribute("id");
    for (int d = 0; d < 2; ++d) {
      const XmlElement& first1 = *spi1[2 * d];
      const XmlElement& last2 = *spi2[2 * d + 1];
      EXPECT_LT(NumberAttribute(first1, "x"), NumberAttribute(last2, "x"));
      EXPECT_GT(NumberAttribute(last2, "width"),
                NumberAttribute(*spi2[2 * d], "width"));
      EXPECT_TRUE(absl::StrContains(first1.AllText(), "spi 1"));
      EXPECT_TRUE(absl::StrContains(last2.AllText(), "spi 2"));
    }
  }
  // Each SPI has its own colour, in the legend too.
  const std::string colour1 = WithClass(svg, "spi-1")[0]->Attribute("fill");
  const std::string colour2 = WithClass(svg, "spi-2")[0]->Attribute("fill");
  EXPECT_NE(colour1, colour2);
  EXPECT_NE(colour1, kRed);
  EXPECT_NE(colour2, kRed);
  const auto legend = WithClass(svg, "legend");
  ASSERT_EQ(legend.size(), 1u);
  EXPECT_TRUE(absl::StrContains(legend[0]->AllText(), "ESP with spi 1"));
  EXPECT_TRUE(absl::StrContains(legend[0]->AllText(), "ESP with spi 2"));
}

TEST(RotationTimelineTest, MarksSecretWritesAdvertisementsReclaimsAndSteps) {
  const XmlElement svg = Parse(RotationWithNothingLost());
  const auto writes = WithClass(svg, "secret-write");
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_LT(NumberAttribute(*writes[0], "x1"),
            NumberAttribute(*writes[1], "x1"));
  const std::string text = svg.AllText();
  EXPECT_TRUE(absl::StrContains(text, "spi 1 written"));
  EXPECT_TRUE(absl::StrContains(text, "spi 2 written"));
  EXPECT_EQ(WithClass(svg, "advertisement").size(), 6u);
  const auto master = svg.FindAll(
      [](const XmlElement& e) { return e.Attribute("id") == "node-master"; });
  ASSERT_EQ(master.size(), 1u);
  EXPECT_EQ(WithClass(*master[0], "advertisement").size(), 2u);
  EXPECT_EQ(WithClass(*master[0], "reclaim").size(), 1u);
  EXPECT_EQ(WithClass(svg, "reclaim").size(), 3u);
  EXPECT_EQ(WithClass(svg, "reclaim-line").size(), 1u);
  EXPECT_TRUE(absl::StrContains(text, "spi 1 reclaimed"));
  const auto steps = WithClass(svg, "step");
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_TRUE(absl::StrContains(text, "step 1: the first key"));
  EXPECT_TRUE(absl::StrContains(text, "step 2: a rotation"));
  EXPECT_TRUE(absl::StrContains(text, "packets lost: 0"));
}

TEST(RotationTimelineTest, NothingIsRedWhenNothingWasLostOrInClear) {
  const RotationTimeline timeline = RotationWithNothingLost();
  EXPECT_EQ(timeline.lost(), 0u);
  EXPECT_EQ(timeline.in_clear_after_esp(), 0u);
  const XmlElement svg = Parse(timeline);
  EXPECT_TRUE(WithClass(svg, "loss").empty());
  EXPECT_TRUE(WithClass(svg, "in-clear").empty());
  // The legend's red swatch is the only red.
  const auto legend = WithClass(svg, "legend");
  ASSERT_EQ(legend.size(), 1u);
  XmlElement without_legend = svg;
  without_legend.children.erase(
      std::remove_if(without_legend.children.begin(),
                     without_legend.children.end(),
                     [](const XmlElement& e) { return e.HasClass("legend"); }),
      without_legend.children.end());
  EXPECT_FALSE(AnyRed(without_legend));
}

TEST(RotationTimelineTest, ALossAndAPacketInClearAreRed) {
  RotationTimeline timeline = RotationWithNothingLost();
  TimelinePairSample lost;
  lost.from_node = "node2";
  lost.to_node = "master";
  lost.start_s = 3.4;
  lost.end_s = 3.5;
  lost.esp_packets_by_spi[1] = 8;
  lost.lost = 2;
  timeline.AddPairSample(lost);
  TimelinePairSample leaked = lost;
  leaked.lost = 0;
  leaked.in_clear_after_esp = 1;
  timeline.AddPairSample(leaked);
  EXPECT_EQ(timeline.lost(), 2u);
  EXPECT_EQ(timeline.in_clear_after_esp(), 1u);

  const XmlElement svg = Parse(timeline);
  const auto losses = WithClass(svg, "loss");
  const auto in_clear = WithClass(svg, "in-clear");
  ASSERT_EQ(losses.size(), 1u);
  ASSERT_EQ(in_clear.size(), 1u);
  EXPECT_EQ(losses[0]->Attribute("fill"), kRed);
  EXPECT_EQ(in_clear[0]->Attribute("fill"), kRed);
  EXPECT_TRUE(absl::StrContains(losses[0]->AllText(), "2 lost"));
  EXPECT_GE(NumberAttribute(*losses[0], "width"), 3);
  // In the master-node2 lane, on its lower (node2 -> master) stripe.
  const auto lane = svg.FindAll([](const XmlElement& e) {
    return e.Attribute("id") == "lane-master-node2";
  });
  ASSERT_EQ(lane.size(), 1u);
  EXPECT_EQ(WithClass(*lane[0], "loss").size(), 1u);
  const auto stripes = WithClass(*lane[0], "stripe");
  ASSERT_EQ(stripes.size(), 2u);
  EXPECT_GE(NumberAttribute(*losses[0], "y") + 1,
            NumberAttribute(*stripes[1], "y"));
  EXPECT_TRUE(absl::StrContains(svg.AllText(), "packets lost: 2"));
}

TEST(RotationTimelineTest, TextIsEscaped) {
  RotationTimeline timeline("a <title> & \"quotes\" 'too'");
  timeline.AddStep(0, "step <one> & more");
  timeline.SetTimeAxisLabel("t <s>");
  TimelinePairSample s;
  s.from_node = "a&b";
  s.to_node = "c<d";
  s.end_s = 1;
  s.esp_packets_by_spi[7] = 1;
  timeline.AddPairSample(s);
  const XmlElement svg = Parse(timeline);
  EXPECT_EQ(svg.children[0].text, "a <title> & \"quotes\" 'too'");
  const std::string text = svg.AllText();
  EXPECT_TRUE(absl::StrContains(text, "step 1: step <one> & more")) << text;
  EXPECT_TRUE(absl::StrContains(text, "a&b \u2192 c<d")) << text;
  EXPECT_TRUE(absl::StrContains(text, "t <s>")) << text;
  ASSERT_EQ(WithClass(svg, "lane").size(), 1u);
  EXPECT_EQ(WithClass(svg, "lane")[0]->Attribute("id"), "lane-a&b-c<d");
}

TEST(RotationTimelineTest, AnEmptyTimelineIsStillAPicture) {
  const XmlElement svg = Parse(RotationTimeline("nothing yet"));
  EXPECT_EQ(svg.name, "svg");
  EXPECT_TRUE(WithClass(svg, "lane").empty());
  EXPECT_TRUE(absl::StrContains(svg.AllText(), "no packets between nodes"));
}

TEST(RotationTimelineTest, WritesTheFileOrSaysWhyNot) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/timeline.svg";
  const RotationTimeline timeline = RotationWithNothingLost();
  ASSERT_TRUE(timeline.WriteSvg(path).ok());
  std::ifstream in(path);
  const std::string written((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(written, timeline.RenderSvg());
  ::unlink(path.c_str());
  const absl::Status bad = timeline.WriteSvg("/nonexistent/dir/timeline.svg");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.message(), "/nonexistent/dir"));
}

}  // namespace
}  // namespace kmesh::sim
