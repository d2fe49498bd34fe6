#include "sim/cluster/rotation_timeline.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kmesh::sim {
namespace {

// Geometry, in SVG user units (pixels).
constexpr double kWidth = 1100;
constexpr double kPlotLeft = 190;
constexpr double kPlotRight = kWidth - 30;
constexpr double kPlotWidth = kPlotRight - kPlotLeft;
constexpr double kStepsTop = 58;
constexpr double kWriteLabelY = 88;
constexpr double kReclaimLabelY = 102;
constexpr double kAdvertisedTop = 122;
constexpr double kAdvertisedRowHeight = 12;
constexpr double kAdvertisedRowPitch = 18;
constexpr double kStripeHeight = 14;
constexpr double kStripeGap = 2;
constexpr double kLanePitch = 2 * kStripeHeight + kStripeGap + 12;
// Longest stretch of samples without packets inside one run.
constexpr double kMaxBridgedGapS = 0.15;

constexpr char kRed[] = "#d62728";
constexpr char kInClearGrey[] = "#b9b9b9";
constexpr char kFont[] = "font-family=\"Helvetica, Arial, sans-serif\"";

// One colour per SPI, red left out (it means lost or in clear).
std::string SpiColour(uint32_t spi) {
  static constexpr const char* kPalette[] = {"#1f77b4", "#2ca02c", "#9467bd",
                                             "#ff7f0e", "#17becf", "#8c564b",
                                             "#e377c2", "#bcbd22"};
  return kPalette[(spi == 0 ? 0 : spi - 1) % 8];
}

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

std::string Seconds(double v) { return absl::StrFormat("%.2f s", v); }

// <text> at (x, y) with `attributes` (already formatted) and escaped `text`.
std::string Text(double x, double y, const std::string& attributes,
                 const std::string& text) {
  return absl::StrCat("<text x=\"", Num(x), "\" y=\"", Num(y), "\" ", kFont,
                      " ", attributes, ">", XmlEscape(text), "</text>\n");
}

std::string Title(const std::string& text) {
  return absl::StrCat("<title>", XmlEscape(text), "</title>");
}

std::string Rect(double x, double y, double w, double h,
                 const std::string& attributes,
                 const std::string& children = "") {
  std::string out = absl::StrCat("<rect x=\"", Num(x), "\" y=\"", Num(y),
                                 "\" width=\"", Num(std::max(w, 0.0)),
                                 "\" height=\"", Num(h), "\" ", attributes);
  if (children.empty()) return out + "/>\n";
  return absl::StrCat(out, ">", children, "</rect>\n");
}

std::string Line(double x1, double y1, double x2, double y2,
                 const std::string& attributes,
                 const std::string& children = "") {
  std::string out =
      absl::StrCat("<line x1=\"", Num(x1), "\" y1=\"", Num(y1), "\" x2=\"",
                   Num(x2), "\" y2=\"", Num(y2), "\" ", attributes);
  if (children.empty()) return out + "/>\n";
  return absl::StrCat(out, ">", children, "</line>\n");
}

// A tick step that gives at most about a dozen labels over `span` seconds.
double TickStep(double span) {
  for (double step : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
                      120.0, 300.0, 600.0}) {
    if (span / step <= 12) return step;
  }
  return std::ceil(span / 12 / 600) * 600;
}

// What one sample shows in a stripe: the SPIs its ESP carried, {0} for
// managed packets in clear before the first ESP, {} for nothing.
std::vector<uint32_t> SampleKind(const TimelinePairSample& s) {
  std::vector<uint32_t> spis;
  for (const auto& [spi, n] : s.esp_packets_by_spi) {
    if (n > 0) spis.push_back(spi);
  }
  if (spis.empty() && s.in_clear_before_esp > 0) spis.push_back(0);
  return spis;
}

// Whether `text` at `font_size` fits in `width` with a small margin (an
// estimate: the average glyph of a sans-serif font is about 0.56 em).
bool Fits(const std::string& text, double font_size, double width) {
  return text.size() * font_size * 0.56 + 8 <= width;
}

std::string Arrow(const std::string& from, const std::string& to) {
  return absl::StrCat(from, " \xE2\x86\x92 ", to);  // U+2192
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0; tabs and newlines
        // are, but read as spaces in SVG text anyway.
        if (static_cast<unsigned char>(c) < 0x20) {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

RotationTimeline::RotationTimeline(std::string title)
    : title_(std::move(title)) {}

void RotationTimeline::SetTimeAxisLabel(const std::string& label) {
  time_axis_label_ = label;
}

void RotationTimeline::AddNode(const std::string& node) {
  if (NodeIndex(node) < 0) nodes_.push_back(node);
}

int RotationTimeline::NodeIndex(const std::string& node) const {
  auto it = std::find(nodes_.begin(), nodes_.end(), node);
  return it == nodes_.end() ? -1 : static_cast<int>(it - nodes_.begin());
}

void RotationTimeline::NoteTime(double time_s) {
  if (!has_time_) {
    first_s_ = last_s_ = time_s;
    has_time_ = true;
    return;
  }
  first_s_ = std::min(first_s_, time_s);
  last_s_ = std::max(last_s_, time_s);
}

void RotationTimeline::AddStep(double time_s, const std::string& name) {
  NoteTime(time_s);
  steps_.push_back({time_s, name});
}

void RotationTimeline::AddPairSample(const TimelinePairSample& sample) {
  AddNode(sample.from_node);
  AddNode(sample.to_node);
  NoteTime(sample.start_s);
  NoteTime(sample.end_s);
  samples_.push_back(sample);
}

void RotationTimeline::AddSecretWrite(double time_s, uint32_t spi) {
  NoteTime(time_s);
  secret_writes_.push_back({time_s, "", spi});
}

void RotationTimeline::AddAdvertisement(double time_s, const std::string& node,
                                        uint32_t spi) {
  AddNode(node);
  NoteTime(time_s);
  advertisements_.push_back({time_s, node, spi});
}

void RotationTimeline::AddReclaim(double time_s, const std::string& node,
                                  uint32_t spi) {
  AddNode(node);
  NoteTime(time_s);
  reclaims_.push_back({time_s, node, spi});
}

void RotationTimeline::SetEnd(double time_s) { NoteTime(time_s); }

uint64_t RotationTimeline::lost() const {
  uint64_t n = 0;
  for (const TimelinePairSample& s : samples_) n += s.lost;
  return n;
}

uint64_t RotationTimeline::in_clear_after_esp() const {
  uint64_t n = 0;
  for (const TimelinePairSample& s : samples_) n += s.in_clear_after_esp;
  return n;
}

std::string RotationTimeline::RenderSvg() const {
  const double t0 = has_time_ ? std::min(0.0, first_s_) : 0;
  const double t1 = std::max(has_time_ ? last_s_ : 0, t0 + 1.0);
  const auto x = [&](double t) {
    return kPlotLeft + (t - t0) / (t1 - t0) * kPlotWidth;
  };

  // Unordered pairs in node order, each with its two directions.
  std::set<std::pair<int, int>> pair_set;
  for (const TimelinePairSample& s : samples_) {
    const int a = NodeIndex(s.from_node), b = NodeIndex(s.to_node);
    if (a != b) pair_set.insert({std::min(a, b), std::max(a, b)});
  }
  const std::vector<std::pair<int, int>> pairs(pair_set.begin(),
                                               pair_set.end());

  std::set<uint32_t> spis_shown;
  for (const TimelinePairSample& s : samples_) {
    for (const auto& [spi, n] : s.esp_packets_by_spi) {
      if (n > 0) spis_shown.insert(spi);
    }
  }
  for (const auto* events : {&secret_writes_, &advertisements_, &reclaims_}) {
    for (const SpiEvent& e : *events) spis_shown.insert(e.spi);
  }

  const double lanes_top =
      kAdvertisedTop + nodes_.size() * kAdvertisedRowPitch + 26;
  const double lanes_bottom =
      lanes_top + std::max<size_t>(pairs.size(), 1) * kLanePitch - 12;
  const double axis_y = lanes_bottom + 8;
  const double legend_top = axis_y + 48;

  std::string svg;
  // Title and a one-line verdict.
  absl::StrAppend(
      &svg, Text(16, 26, "font-size=\"17\" font-weight=\"bold\"", title_));
  std::vector<std::string> written;
  for (const SpiEvent& w : secret_writes_) {
    written.push_back(absl::StrCat(w.spi));
  }
  const uint64_t lost_total = lost(), in_clear_total = in_clear_after_esp();
  absl::StrAppend(
      &svg, Text(16, 46,
                 absl::StrCat(
                     "font-size=\"12\" fill=\"",
                     lost_total + in_clear_total > 0 ? kRed : "#444444", "\""),
                 absl::StrCat(
                     written.empty()
                         ? std::string("no secret written")
                         : absl::StrCat("spi ", absl::StrJoin(written,
                                                              " \xE2\x86\x92 "
                                                              "spi ")),
                     "   \xC2\xB7   packets lost: ", lost_total,
                     "   \xC2\xB7   managed packets in clear after ESP: ",
                     in_clear_total)));

  // Steps: alternating bands behind everything, with their names.
  std::vector<Step> steps = steps_;
  std::stable_sort(
      steps.begin(), steps.end(),
      [](const Step& a, const Step& b) { return a.time_s < b.time_s; });
  absl::StrAppend(&svg, "<g class=\"steps\">\n");
  for (size_t i = 0; i < steps.size(); ++i) {
    const double from = x(steps[i].time_s);
    const double to = i + 1 < steps.size() ? x(steps[i + 1].time_s) : x(t1);
    const std::string label = absl::StrCat(i + 1, ": ", steps[i].name);
    absl::StrAppend(&svg, "<clipPath id=\"step-clip-", i + 1, "\">",
                    Rect(from, kStepsTop, to - from - 2, 20, ""),
                    "</clipPath>\n",
                    Rect(from, kStepsTop, to - from, lanes_bottom - kStepsTop,
                         absl::StrCat("class=\"step\" fill=\"",
                                      i % 2 == 0 ? "#eef2f7" : "#f7f7f7", "\""),
                         Title(absl::StrCat("step ", label))),
                    Line(from, kStepsTop, from, lanes_bottom,
                         "stroke=\"#9aa5b1\" stroke-width=\"1\""),
                    Text(from + 4, kStepsTop + 13,
                         absl::StrCat("font-size=\"11\" fill=\"#334455\" "
                                      "clip-path=\"url(#step-clip-",
                                      i + 1, ")\""),
                         "step " + label));
  }
  absl::StrAppend(&svg, "</g>\n");

  // Advertised SPIs, one row per node.
  absl::StrAppend(
      &svg, Text(16, kAdvertisedTop - 6,
                 "font-size=\"11\" font-weight=\"bold\"", "advertised SPI"));
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const double top = kAdvertisedTop + n * kAdvertisedRowPitch;
    const double mid = top + kAdvertisedRowHeight / 2;
    absl::StrAppend(&svg, "<g class=\"node-row\" id=\"node-",
                    XmlEscape(nodes_[n]), "\">\n",
                    Text(kPlotLeft - 8, mid + 4,
                         "font-size=\"11\" text-anchor=\"end\"", nodes_[n]),
                    Rect(kPlotLeft, top, kPlotWidth, kAdvertisedRowHeight,
                         "fill=\"#f0f0f0\""));
    std::vector<SpiEvent> ads;
    for (const SpiEvent& e : advertisements_) {
      if (e.node == nodes_[n]) ads.push_back(e);
    }
    std::stable_sort(ads.begin(), ads.end(),
                     [](const SpiEvent& a, const SpiEvent& b) {
                       return a.time_s < b.time_s;
                     });
    for (size_t i = 0; i < ads.size(); ++i) {
      const double from = x(ads[i].time_s);
      const double to = i + 1 < ads.size() ? x(ads[i + 1].time_s) : x(t1);
      const std::string what =
          absl::StrCat(nodes_[n], " advertises spi ", ads[i].spi, " from ",
                       Seconds(ads[i].time_s - t0));
      absl::StrAppend(
          &svg, Rect(from, top, to - from, kAdvertisedRowHeight,
                     absl::StrCat("class=\"advertised spi-", ads[i].spi,
                                  "\" fill=\"", SpiColour(ads[i].spi), "\""),
                     Title(what)));
      const std::string label = absl::StrCat("spi ", ads[i].spi);
      if (Fits(label, 9.5, to - from)) {
        absl::StrAppend(&svg,
                        Text(from + 4, mid + 3.5,
                             "font-size=\"9.5\" fill=\"#ffffff\"", label));
      }
      absl::StrAppend(&svg,
                      Line(from, top - 3, from, top + kAdvertisedRowHeight + 3,
                           "class=\"advertisement\" stroke=\"#222222\" "
                           "stroke-width=\"2\"",
                           Title(what)));
    }
    for (const SpiEvent& r : reclaims_) {
      if (r.node != nodes_[n]) continue;
      const double cx = x(r.time_s);
      absl::StrAppend(
          &svg,
          absl::StrFormat(
              "<path class=\"reclaim\" d=\"M %s %s L %s %s M %s %s L %s %s\" "
              "stroke=\"#111111\" stroke-width=\"2.2\" fill=\"none\">",
              Num(cx - 5), Num(mid - 5), Num(cx + 5), Num(mid + 5), Num(cx - 5),
              Num(mid + 5), Num(cx + 5), Num(mid - 5)),
          Title(absl::StrCat(nodes_[n], " reclaimed spi ", r.spi,
                             ": its SAs left the kernel at ",
                             Seconds(r.time_s - t0))),
          "</path>\n");
    }
    absl::StrAppend(&svg, "</g>\n");
  }

  // Lanes: one per node pair, a stripe per direction.
  absl::StrAppend(
      &svg, Text(16, lanes_top - 8, "font-size=\"11\" font-weight=\"bold\"",
                 "packets between nodes"));
  for (size_t p = 0; p < pairs.size(); ++p) {
    const std::string& a = nodes_[pairs[p].first];
    const std::string& b = nodes_[pairs[p].second];
    const double lane_top = lanes_top + p * kLanePitch;
    absl::StrAppend(&svg, "<g class=\"lane\" id=\"lane-", XmlEscape(a), "-",
                    XmlEscape(b), "\">\n");
    for (int d = 0; d < 2; ++d) {
      const std::string& from = d == 0 ? a : b;
      const std::string& to = d == 0 ? b : a;
      const double top = lane_top + d * (kStripeHeight + kStripeGap);
      absl::StrAppend(
          &svg,
          Text(kPlotLeft - 8, top + kStripeHeight - 3.5,
               "font-size=\"11\" text-anchor=\"end\"", Arrow(from, to)),
          Rect(kPlotLeft, top, kPlotWidth, kStripeHeight,
               "class=\"stripe\" fill=\"#f0f0f0\""));
      std::vector<const TimelinePairSample*> mine;
      for (const TimelinePairSample& s : samples_) {
        if (s.from_node == from && s.to_node == to) mine.push_back(&s);
      }
      std::stable_sort(
          mine.begin(), mine.end(),
          [](const TimelinePairSample* l, const TimelinePairSample* r) {
            return l->start_s < r->start_s;
          });
      // Runs of contiguous samples that show the same thing.
      const double tolerance = std::max(1e-6, (t1 - t0) * 1e-3);
      for (size_t i = 0; i < mine.size();) {
        const std::vector<uint32_t> kind = SampleKind(*mine[i]);
        size_t j = i + 1;
        double end = mine[i]->end_s;
        std::map<uint32_t, uint64_t> packets = mine[i]->esp_packets_by_spi;
        uint64_t in_clear = mine[i]->in_clear_before_esp;
        while (j < mine.size() && !kind.empty()) {
          // Samples without packets (sampled between two traffic rounds)
          // do not end a run if the same thing follows soon enough.
          size_t k = j;
          while (k < mine.size() && SampleKind(*mine[k]).empty()) ++k;
          if (k == mine.size() || SampleKind(*mine[k]) != kind ||
              mine[k]->start_s >
                  end + tolerance + (k > j ? kMaxBridgedGapS : 0.0)) {
            break;
          }
          end = std::max(end, mine[k]->end_s);
          for (const auto& [spi, n] : mine[k]->esp_packets_by_spi) {
            packets[spi] += n;
          }
          in_clear += mine[k]->in_clear_before_esp;
          j = k + 1;
        }
        const double start = mine[i]->start_s;
        i = j;
        if (kind.empty()) continue;
        const double x0 = x(start), x1 = x(end);
        const double h = kStripeHeight / kind.size();
        for (size_t k = 0; k < kind.size(); ++k) {
          const uint32_t spi = kind[k];
          const std::string span =
              absl::StrCat(Seconds(start - t0), " to ", Seconds(end - t0));
          const std::string what =
              spi == 0
                  ? absl::StrCat(Arrow(from, to), ": ", in_clear,
                                 " managed packets in clear before the first "
                                 "ESP (no key yet), ",
                                 span)
                  : absl::StrCat(Arrow(from, to), ": spi ", spi, ", ",
                                 packets[spi], " ESP packets, ", span);
          absl::StrAppend(
              &svg,
              Rect(x0, top + k * h, std::max(x1 - x0, 0.8), h,
                   spi == 0 ? absl::StrCat("class=\"segment clear\" fill=\"",
                                           kInClearGrey, "\"")
                            : absl::StrCat("class=\"segment spi-", spi,
                                           "\" fill=\"", SpiColour(spi), "\""),
                   Title(what)));
          const std::string label =
              spi == 0 ? std::string("in clear") : absl::StrCat("spi ", spi);
          if (kind.size() == 1 && Fits(label, 10, x1 - x0)) {
            absl::StrAppend(
                &svg, Text(x0 + 4, top + kStripeHeight - 3.5,
                           absl::StrCat("font-size=\"10\" fill=\"",
                                        spi == 0 ? "#333333" : "#ffffff", "\""),
                           label));
          }
        }
      }
      // Red on top: losses and managed packets in clear after ESP.
      for (const TimelinePairSample* s : mine) {
        for (const auto& [cls, n, what] :
             {std::tuple<const char*, uint64_t, const char*>{"loss", s->lost,
                                                             " lost"},
              std::tuple<const char*, uint64_t, const char*>{
                  "in-clear", s->in_clear_after_esp,
                  " managed in clear after ESP"}}) {
          if (n == 0) continue;
          const double x0 = x(s->start_s);
          const double w = std::max(x(s->end_s) - x0, 3.0);
          absl::StrAppend(
              &svg,
              Rect(x0, top - 1, w, kStripeHeight + 2,
                   absl::StrCat("class=\"", cls, "\" fill=\"", kRed, "\""),
                   Title(absl::StrCat(Arrow(from, to), ": ", n, what, ", ",
                                      Seconds(s->start_s - t0), " to ",
                                      Seconds(s->end_s - t0)))));
        }
      }
    }
    absl::StrAppend(&svg, "</g>\n");
  }
  if (pairs.empty()) {
    absl::StrAppend(&svg, Text(kPlotLeft + 8, lanes_top + 14,
                               "font-size=\"11\" fill=\"#666666\"",
                               "no packets between nodes were recorded"));
  }

  // Secret writes: dashed lines across everything, labelled on top.
  for (const SpiEvent& w : secret_writes_) {
    const double wx = x(w.time_s);
    const bool near_right = wx > kPlotRight - 90;
    absl::StrAppend(
        &svg,
        Line(wx, kWriteLabelY - 10, wx, lanes_bottom,
             absl::StrCat("class=\"secret-write\" stroke=\"#222222\" "
                          "stroke-width=\"1.5\" stroke-dasharray=\"5,3\""),
             Title(absl::StrCat("Secret kmesh-ipsec written with spi ", w.spi,
                                " at ", Seconds(w.time_s - t0)))),
        Text(near_right ? wx - 4 : wx + 4, kWriteLabelY,
             absl::StrCat("font-size=\"11\" font-weight=\"bold\" fill=\"",
                          SpiColour(w.spi), "\"",
                          near_right ? " text-anchor=\"end\"" : ""),
             absl::StrCat("spi ", w.spi, " written")));
  }
  // Reclaims: a dotted line where the last node dropped the SPI's SAs.
  std::map<uint32_t, double> reclaimed_by_all;
  for (const SpiEvent& r : reclaims_) {
    auto [it, inserted] = reclaimed_by_all.emplace(r.spi, r.time_s);
    if (!inserted) it->second = std::max(it->second, r.time_s);
  }
  for (const auto& [spi, time_s] : reclaimed_by_all) {
    const double rx = x(time_s);
    const bool near_right = rx > kPlotRight - 110;
    absl::StrAppend(
        &svg,
        Line(rx, kReclaimLabelY - 10, rx, lanes_bottom,
             "class=\"reclaim-line\" stroke=\"#111111\" stroke-width=\"1.2\" "
             "stroke-dasharray=\"1.5,2.5\"",
             Title(absl::StrCat("spi ", spi, " reclaimed on every node by ",
                                Seconds(time_s - t0)))),
        Text(near_right ? rx - 4 : rx + 4, kReclaimLabelY,
             absl::StrCat("font-size=\"11\" fill=\"#111111\"",
                          near_right ? " text-anchor=\"end\"" : ""),
             absl::StrCat("spi ", spi, " reclaimed")));
  }

  // Time axis.
  absl::StrAppend(&svg, "<g class=\"axis\">\n",
                  Line(kPlotLeft, axis_y, kPlotRight, axis_y,
                       "stroke=\"#333333\" stroke-width=\"1\""));
  const double step = TickStep(t1 - t0);
  for (double t = std::ceil(t0 / step) * step; t <= t1 + step * 1e-6;
       t += step) {
    const double tx = x(t);
    absl::StrAppend(
        &svg, Line(tx, axis_y, tx, axis_y + 5, "stroke=\"#333333\""),
        Text(tx, axis_y + 17, "font-size=\"10\" text-anchor=\"middle\"",
             step < 1 ? absl::StrFormat("%.1f", t)
                      : absl::StrFormat("%.0f", t)));
  }
  absl::StrAppend(
      &svg,
      Text(kPlotLeft + kPlotWidth / 2, axis_y + 34,
           "font-size=\"11\" text-anchor=\"middle\" fill=\"#333333\"",
           time_axis_label_),
      "</g>\n");

  // Legend.
  absl::StrAppend(&svg, "<g class=\"legend\">\n");
  double lx = 16, ly = legend_top;
  // Each item's swatch is drawn by `swatch` at the item's (x, y).
  using Swatch = std::function<std::string(double, double)>;
  const auto item = [&](const Swatch& swatch, const std::string& label) {
    const double width = 22 + label.size() * 11 * 0.56 + 22;
    if (lx + width > kWidth - 16) {
      lx = 16;
      ly += 20;
    }
    absl::StrAppend(&svg, swatch(lx, ly),
                    Text(lx + 22, ly + 10, "font-size=\"11\"", label));
    lx += width;
  };
  const auto box = [](const std::string& colour) {
    return [colour](double bx, double by) {
      return Rect(bx, by, 16, 12, absl::StrCat("fill=\"", colour, "\""));
    };
  };
  for (uint32_t spi : spis_shown) {
    item(box(SpiColour(spi)), absl::StrCat("ESP with spi ", spi));
  }
  item(box(kInClearGrey), "in clear before the pair's first ESP (no key yet)");
  item(box(kRed), "lost, or managed in clear after ESP");
  item(
      [](double bx, double by) {
        return Line(bx + 8, by - 2, bx + 8, by + 14,
                    "stroke=\"#222222\" stroke-width=\"1.5\" "
                    "stroke-dasharray=\"5,3\"");
      },
      "Secret written");
  item(
      [](double bx, double by) {
        return Line(bx + 8, by - 2, bx + 8, by + 14,
                    "stroke=\"#222222\" stroke-width=\"2\"");
      },
      "a node advertises a new SPI");
  item(
      [](double bx, double by) {
        return absl::StrFormat(
            "<path d=\"M %s %s L %s %s M %s %s L %s %s\" "
            "stroke=\"#111111\" stroke-width=\"2.2\" fill=\"none\"/>\n",
            Num(bx + 3), Num(by + 1), Num(bx + 13), Num(by + 11), Num(bx + 3),
            Num(by + 11), Num(bx + 13), Num(by + 1));
      },
      "its SAs of the old SPI removed (reclaim)");
  item(
      [](double bx, double by) {
        return Line(bx + 8, by - 2, bx + 8, by + 14,
                    "stroke=\"#111111\" stroke-width=\"1.2\" "
                    "stroke-dasharray=\"1.5,2.5\"");
      },
      "the old SPI reclaimed on every node");
  absl::StrAppend(&svg, "</g>\n</svg>\n");
  const double height = ly + 30;
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"",
      Num(kWidth), "\" height=\"", Num(height), "\" viewBox=\"0 0 ",
      Num(kWidth), " ", Num(height), "\">\n", Title(title_), "\n",
      Rect(0, 0, kWidth, height, "fill=\"#ffffff\""), svg);
}

absl::Status RotationTimeline::WriteSvg(const std::string& path) const {
  std::ofstream out(path, std::ios::trunc);
  out << RenderSvg();
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace kmesh::sim
