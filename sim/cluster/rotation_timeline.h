// RotationTimeline: a picture of a key rotation, as an SVG timeline. It
// records what an observer of a simulated cluster saw, sample by sample, and
// renders it with time on the x axis: one lane per unordered node pair, split
// into its two directions (a stripe for "a -> b" above one for "b -> a"), each
// stripe coloured by the SPI its ESP packets carried in each sample (one
// colour per SPI, with a legend; two SPIs in one sample split the stripe),
// grey where managed packets crossed in clear before the direction's first
// ESP (expected: no key yet), and red wherever a packet was lost or a managed
// packet crossed in clear after the direction had used ESP. Above the lanes,
// one row per node shows the SPI its KmeshNodeInfo advertised, with a tick at
// each change and a cross where the node's kernel dropped an old SPI's SAs
// (the reclaim); dashed vertical lines mark the secret writes ("spi 2
// written"), a dotted one each SPI's reclaim on the last node, and shaded
// bands the steps, with their names. It is a pure component: the caller
// supplies every observation (times in seconds from any origin) and gets back
// a self-contained SVG 1.1 document (no scripts, no external fonts or
// resources, every text XML-escaped). Elements carry classes that say what
// they are ("lane", "segment spi-2", "loss", "in-clear", "secret-write",
// "advertisement", "reclaim", "step") so tests can find them. Not
// thread-safe: one writer at a time.
#ifndef SIM_CLUSTER_ROTATION_TIMELINE_H_
#define SIM_CLUSTER_ROTATION_TIMELINE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kmesh::sim {

// What crossed the wire in one direction of a node pair during one sample.
struct TimelinePairSample {
  std::string from_node;
  std::string to_node;
  double start_s = 0;  // The sample covers [start_s, end_s).
  double end_s = 0;
  // ESP packets from from_node to to_node, by SPI.
  std::map<uint32_t, uint64_t> esp_packets_by_spi;
  // Managed packets in clear before this direction's first ESP packet.
  uint64_t in_clear_before_esp = 0;
  // Managed packets in clear after this direction had carried ESP: red.
  uint64_t in_clear_after_esp = 0;
  // Packets sent from from_node's pods to to_node's pods that arrived, and
  // that did not: red.
  uint64_t delivered = 0;
  uint64_t lost = 0;
};

class RotationTimeline {
 public:
  explicit RotationTimeline(std::string title);

  // Fixes the order of nodes (and so of rows and lanes); nodes first seen in
  // other calls are appended in the order they appear.
  void AddNode(const std::string& node);
  // A step of the run starts at `time_s`; it lasts until the next one, the
  // last until the end.
  void AddStep(double time_s, const std::string& name);
  void AddPairSample(const TimelinePairSample& sample);
  // The Secret was written with `spi`.
  void AddSecretWrite(double time_s, uint32_t spi);
  // `node`'s KmeshNodeInfo advertised `spi` from `time_s` on.
  void AddAdvertisement(double time_s, const std::string& node, uint32_t spi);
  // `node`'s kernel held no SA with `spi` any more from `time_s` on.
  void AddReclaim(double time_s, const std::string& node, uint32_t spi);
  // The time axis ends here at least (otherwise at the last observation).
  void SetEnd(double time_s);
  // What the x axis says (default "time (s)").
  void SetTimeAxisLabel(const std::string& label);

  // Sums over every sample.
  uint64_t lost() const;
  uint64_t in_clear_after_esp() const;

  std::string RenderSvg() const;
  // RenderSvg() into `path` (replaced).
  absl::Status WriteSvg(const std::string& path) const;

 private:
  struct Step {
    double time_s;
    std::string name;
  };
  struct SpiEvent {
    double time_s;
    std::string node;  // "" for a secret write.
    uint32_t spi;
  };

  void NoteTime(double time_s);
  int NodeIndex(const std::string& node) const;

  std::string title_;
  std::string time_axis_label_ = "time (s)";
  std::vector<std::string> nodes_;
  std::vector<Step> steps_;
  std::vector<TimelinePairSample> samples_;
  std::vector<SpiEvent> secret_writes_;
  std::vector<SpiEvent> advertisements_;
  std::vector<SpiEvent> reclaims_;
  bool has_time_ = false;
  double first_s_ = 0;
  double last_s_ = 0;
};

// `text` with &, <, >, " and ' replaced by XML entities.
std::string XmlEscape(const std::string& text);

}  // namespace kmesh::sim

#endif  // SIM_CLUSTER_ROTATION_TIMELINE_H_
