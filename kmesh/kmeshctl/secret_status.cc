#include "kmesh/kmeshctl/secret_status.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kmesh/base/json_depth.h"
#include "kmesh/kube/kube_status.h"
#include "kmesh/kube/pager.h"
#include "nlohmann/json.hpp"

namespace kmesh::kmeshctl {
namespace {

using Json = nlohmann::json;

// "45s", "4m25s", "2h3m", "3d4h": as kubectl prints ages.
std::string ShortDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m", s % 60, "s");
  if (s < 86400) return absl::StrCat(s / 3600, "h", (s % 3600) / 60, "m");
  return absl::StrCat(s / 86400, "d", (s % 86400) / 3600, "h");
}

std::string StringAt(const Json& j, std::initializer_list<const char*> path) {
  const Json* at = &j;
  for (const char* key : path) {
    if (!at->is_object()) return "";
    auto it = at->find(key);
    if (it == at->end()) return "";
    at = &*it;
  }
  return at->is_string() ? at->get<std::string>() : "";
}

// One node as the cluster and its daemon describe it.
struct NodeRow {
  std::string name;
  bool has_node_object = false;
  std::optional<int64_t> advertised;  // Its KmeshNodeInfo's spec.spi.
  std::string pod;                    // Its daemon Pod; "" when none.
  int port = 0;
  std::optional<Json> daemon;         // The daemon's status document.
  std::string daemon_error;           // Why there is none.
  std::string daemon_short;           // The same in a few words, for the table.
  std::optional<absl::Time> created;  // The Node's creationTimestamp.
};

std::optional<absl::Time> ParseRfc3339(const std::string& text) {
  absl::Time time;
  std::string error;
  if (text.empty() ||
      !absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return std::nullopt;
  }
  return time;
}

// The status port of a daemon Pod: its container port named "status", else
// `fallback`.
int StatusPort(const Json& pod, int fallback) {
  const Json* containers = nullptr;
  if (pod.contains("spec") && pod["spec"].is_object() &&
      pod["spec"].contains("containers")) {
    containers = &pod["spec"]["containers"];
  }
  if (containers == nullptr || !containers->is_array()) return fallback;
  for (const Json& c : *containers) {
    if (!c.is_object() || !c.contains("ports") || !c["ports"].is_array()) {
      continue;
    }
    for (const Json& p : c["ports"]) {
      if (p.is_object() && p.contains("name") && p["name"] == "status" &&
          p.contains("containerPort") && p["containerPort"].is_number()) {
        return p["containerPort"].get<int>();
      }
    }
  }
  return fallback;
}

Json ParseOrNull(const std::string& text) { return ParseJsonWithinDepth(text); }

double NumberAt(const Json& j, const char* key, double fallback = 0) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) {
    return fallback;
  }
  return j[key].get<double>();
}

std::string SpiList(const Json& array) {
  std::vector<std::string> out;
  if (array.is_array()) {
    for (const Json& v : array) {
      if (v.is_number()) out.push_back(absl::StrCat(v.get<int64_t>()));
    }
  }
  return out.empty() ? "-" : absl::StrJoin(out, ",");
}

// Why `d` is not a daemon status document this command can read, or "" when
// it is. Everything the verdicts and the table read is checked here, so that
// no answer from the network (a daemon of another version, a proxy's error
// page, garbage) can make the JSON library throw later.
std::string StatusDocumentError(const Json& d) {
  if (!d.is_object()) return "it is not a JSON object";
  if (!d.contains("kind") || d["kind"] != "KmeshIpsecNodeStatus") {
    return "its kind is not KmeshIpsecNodeStatus";
  }
  auto number = [](const Json& o, const char* key, bool required = true) {
    if (!o.contains(key)) return !required;
    return o[key].is_number() || (!required && o[key].is_null());
  };
  auto string = [](const Json& o, const char* key) {
    return !o.contains(key) || o[key].is_string();
  };
  auto array_of = [](const Json& o, const char* key, auto&& element_ok) {
    if (!o.contains(key)) return true;
    if (!o[key].is_array()) return false;
    for (const Json& e : o[key]) {
      if (!element_ok(e)) return false;
    }
    return true;
  };
  auto is_number = [](const Json& e) { return e.is_number(); };
  if (!number(d, "targetSpi") || !number(d, "keyAgeSeconds", false)) {
    return "targetSpi or keyAgeSeconds is not a number";
  }
  if (!array_of(d, "heldSpis", is_number)) return "heldSpis is malformed";
  if (!array_of(d, "pendingReclaims", [&](const Json& r) {
        return r.is_object() && number(r, "spi") && number(r, "dueInSeconds");
      })) {
    return "pendingReclaims is malformed";
  }
  if (!array_of(d, "peers", [&](const Json& p) {
        return p.is_object() && string(p, "name") && string(p, "state") &&
               string(p, "problem");
      })) {
    return "peers is malformed";
  }
  if (!array_of(d, "rejectedRecords", [&](const Json& r) {
        return r.is_object() && string(r, "name") && string(r, "reason") &&
               string(r, "detail");
      })) {
    return "rejectedRecords is malformed";
  }
  if (d.contains("reconcile") &&
      (!d["reconcile"].is_object() ||
       !number(d["reconcile"], "keyFileErrors", false))) {
    return "reconcile is malformed";
  }
  if (!d.contains("kernel")) return "";
  const Json& k = d["kernel"];
  if (!k.is_object() || !string(k, "error")) return "kernel is malformed";
  if (!array_of(k, "spis", [&](const Json& e) {
        return e.is_object() && number(e, "spi") && number(e, "inboundSas") &&
               number(e, "outboundSas");
      })) {
    return "kernel.spis is malformed";
  }
  if (!array_of(k, "outboundSas", [&](const Json& e) {
        return e.is_object() && string(e, "peer") && number(e, "spi") &&
               (!e.contains("outputSeq") ||
                e["outputSeq"].is_number_unsigned()) &&
               number(e, "seqUsedFraction", false);
      })) {
    return "kernel.outboundSas is malformed";
  }
  if (k.contains("xfrmStatChangedSinceStart")) {
    const Json& changed = k["xfrmStatChangedSinceStart"];
    if (!changed.is_object())
      return "kernel.xfrmStatChangedSinceStart is malformed";
    for (const auto& [name, delta] : changed.items()) {
      if (!delta.is_number_unsigned()) {
        return "kernel.xfrmStatChangedSinceStart is malformed";
      }
    }
  }
  return "";
}

// Pads each column to its widest cell, two spaces apart.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

namespace {

CommandResult SecretStatusUnchecked(kube::KubeClient& client,
                                    const SecretStatusOptions& options) {
  auto fail = [](absl::string_view message) {
    return CommandResult{1, "", absl::StrCat("Error: ", message, "\n")};
  };
  // 1. The stored key.
  SecretCommand secret(client, options.secret);
  absl::StatusOr<SecretSummary> stored = secret.Summary();
  if (!stored.ok()) return fail(stored.status().message());
  const int64_t spi = stored->spi;

  // 2. Every node, what it advertises, and its daemon Pod.
  std::map<std::string, NodeRow> nodes;
  absl::StatusOr<kube::ObjectList> node_list =
      kube::ListAll(client, kube::NodesKind(), "", {});
  if (!node_list.ok()) {
    return fail(
        absl::StrCat("cannot list nodes: ", node_list.status().message()));
  }
  for (const std::string& item : node_list->items) {
    const Json node = ParseOrNull(item);
    const std::string name = StringAt(node, {"metadata", "name"});
    if (name.empty()) continue;
    nodes[name].name = name;
    nodes[name].has_node_object = true;
    nodes[name].created =
        ParseRfc3339(StringAt(node, {"metadata", "creationTimestamp"}));
  }
  absl::StatusOr<kube::ObjectList> records = kube::ListAll(
      client, kube::KmeshNodeInfosKind(), options.daemon_namespace, {});
  if (!records.ok()) {
    return fail(absl::StrCat("cannot list kmeshnodeinfos in ",
                             options.daemon_namespace, ": ",
                             records.status().message()));
  }
  for (const std::string& item : records->items) {
    const Json record = ParseOrNull(item);
    const std::string name = StringAt(record, {"metadata", "name"});
    if (name.empty()) continue;
    nodes[name].name = name;
    const Json& spec = record.contains("spec") ? record["spec"] : Json();
    nodes[name].advertised =
        spec.is_object() && spec.contains("spi") && spec["spi"].is_number()
            ? spec["spi"].get<int64_t>()
            : 0;
  }
  kube::ListOptions selector;
  selector.label_selector = options.daemon_selector;
  absl::StatusOr<kube::ObjectList> pods = kube::ListAll(
      client, kube::PodsKind(), options.daemon_namespace, selector);
  if (!pods.ok()) {
    return fail(absl::StrCat(
        "cannot list the daemon pods (", options.daemon_selector, ") in ",
        options.daemon_namespace, ": ", pods.status().message()));
  }
  for (const std::string& item : pods->items) {
    const Json pod = ParseOrNull(item);
    const std::string node = StringAt(pod, {"spec", "nodeName"});
    if (node.empty()) continue;
    NodeRow& row = nodes[node];
    row.name = node;
    row.pod = StringAt(pod, {"metadata", "name"});
    row.port = StatusPort(pod, options.default_status_port);
  }

  // 3. Each daemon's own account, through the API server's pod proxy, all
  // nodes at once (a node that is down costs the API server's dial timeout,
  // once, not once per node).
  auto ask_daemon = [&](NodeRow& row) {
    if (row.pod.empty()) {
      if (!row.has_node_object) return;  // A stale record: see the verdicts.
      row.daemon_error = absl::StrCat(
          "no daemon pod (", options.daemon_selector, ") on this node");
      row.daemon_short = "no daemon pod";
      return;
    }
    absl::StatusOr<kube::ProxyResponse> answer = client.ProxyGet(
        options.daemon_namespace, row.pod, row.port, "/v1/ipsec/status");
    if (!answer.ok()) {
      row.daemon_error = absl::StrCat(
          "daemon ", row.pod, " not reachable: ", answer.status().message());
      row.daemon_short = "daemon unreachable";
      return;
    }
    Json document = ParseOrNull(answer->body);
    if (answer->code != 200) {
      const std::string said = StringAt(document, {"message"});
      row.daemon_error =
          absl::StrCat("daemon ", row.pod, " answered HTTP ", answer->code,
                       said.empty() ? "" : absl::StrCat(": ", said));
      row.daemon_short = absl::StrCat("daemon: HTTP ", answer->code);
      return;
    }
    if (!document.is_object() || !document.contains("kind") ||
        document["kind"] != "KmeshIpsecNodeStatus") {
      row.daemon_error = absl::StrCat("daemon ", row.pod,
                                      " answered something that is not its "
                                      "status (is port ",
                                      row.port, " the status port?)");
      row.daemon_short = "not a daemon status";
      return;
    }
    if (std::string why = StatusDocumentError(document); !why.empty()) {
      row.daemon_error = absl::StrCat("daemon ", row.pod,
                                      " answered a status this kmeshctl "
                                      "cannot read: ",
                                      why);
      row.daemon_short = "unreadable status";
      return;
    }
    row.daemon = std::move(document);
  };
  {
    constexpr size_t kAtOnce = 16;
    std::vector<NodeRow*> rows;
    for (auto& [name, row] : nodes) rows.push_back(&row);
    for (size_t first = 0; first < rows.size(); first += kAtOnce) {
      std::vector<std::thread> threads;
      for (size_t i = first; i < std::min(rows.size(), first + kAtOnce); ++i) {
        threads.emplace_back(
            [&ask_daemon, row = rows[i]] { ask_daemon(*row); });
      }
      for (std::thread& t : threads) t.join();
    }
  }

  // 4. Verdicts. The nodes that count are those with a Node object; a
  // KmeshNodeInfo without one (and without a daemon) is a deleted node's.
  std::vector<std::string> problems;
  std::vector<std::string> lagging;
  // How long the stored key has been out: since the Secret was last written
  // (managedFields; for spi 1 its creation), else the longest any daemon
  // has held it.
  std::optional<double> rotation_age;
  std::optional<absl::Time> written = ParseRfc3339(stored->last_write_time);
  if (!written && spi == 1) written = ParseRfc3339(stored->creation_timestamp);
  if (written) rotation_age = absl::ToDoubleSeconds(options.now - *written);
  std::set<int64_t> old_spis_held;
  std::optional<double> last_reclaim_due;
  // Every node holding an old SPI has its reclaim scheduled.
  bool every_reclaim_scheduled = true;
  for (auto& [name, row] : nodes) {
    if (row.has_node_object && (!row.advertised || *row.advertised != spi)) {
      lagging.push_back(name);
    }
    if (!row.daemon) continue;
    const Json& d = *row.daemon;
    if (!written && static_cast<int64_t>(NumberAt(d, "targetSpi")) == spi &&
        d.contains("keyAgeSeconds") && d["keyAgeSeconds"].is_number()) {
      rotation_age =
          std::max(rotation_age.value_or(0), d["keyAgeSeconds"].get<double>());
    }
    std::set<int64_t> old_here;
    for (const Json& held : d.value("heldSpis", Json::array())) {
      if (held.get<int64_t>() != spi) old_here.insert(held.get<int64_t>());
    }
    for (const Json& r : d.value("pendingReclaims", Json::array())) {
      last_reclaim_due =
          std::max(last_reclaim_due.value_or(0), NumberAt(r, "dueInSeconds"));
      old_here.erase(static_cast<int64_t>(NumberAt(r, "spi")));
    }
    if (!old_here.empty()) every_reclaim_scheduled = false;
    for (const Json& held : d.value("heldSpis", Json::array())) {
      if (held.get<int64_t>() != spi) old_spis_held.insert(held.get<int64_t>());
    }
  }
  const bool in_progress = !lagging.empty();
  size_t cluster_nodes = 0;
  for (const auto& [name, row] : nodes) cluster_nodes += row.has_node_object;
  for (auto& [name, row] : nodes) {
    if (!row.has_node_object && row.pod.empty()) {
      problems.push_back(absl::StrCat(
          name,
          ": a KmeshNodeInfo without a Node or a daemon (a deleted "
          "node's?): kubectl delete kmeshnodeinfo -n ",
          options.daemon_namespace, " ", name));
      continue;
    }
    if (!row.daemon_error.empty()) {
      problems.push_back(absl::StrCat(name, ": ", row.daemon_error));
    }
    // A node lags for as long as the key has been out, or as it has
    // existed if it joined since.
    std::optional<double> lag_age = rotation_age;
    if (lag_age && row.created) {
      lag_age =
          std::min(*lag_age, absl::ToDoubleSeconds(options.now - *row.created));
    }
    if (std::find(lagging.begin(), lagging.end(), name) != lagging.end() &&
        lag_age && *lag_age > absl::ToDoubleSeconds(options.lag_threshold)) {
      problems.push_back(absl::StrCat(
          name, ": lags: ",
          row.advertised ? absl::StrCat("advertises spi ", *row.advertised)
                         : std::string("has no KmeshNodeInfo"),
          ", the secret holds spi ", spi, " (for ", ShortDuration(*lag_age),
          ", threshold ",
          ShortDuration(absl::ToDoubleSeconds(options.lag_threshold)), ")"));
    }
    if (!row.daemon) continue;
    const Json& d = *row.daemon;
    // The key file this daemon reads is unusable, and it does not have the
    // stored key: the one failure that no age can reveal if no daemon ever
    // takes the key.
    const double key_file_errors =
        d.contains("reconcile") ? NumberAt(d["reconcile"], "keyFileErrors") : 0;
    if (static_cast<int64_t>(NumberAt(d, "targetSpi")) != spi &&
        key_file_errors > 0) {
      problems.push_back(absl::StrCat(
          name, ": its daemon cannot use its key file (",
          static_cast<int64_t>(key_file_errors),
          " errors since it started; see its log) and does not have spi ",
          spi));
    }
    if (d.contains("peers") && d["peers"].is_array()) {
      for (const Json& p : d["peers"]) {
        if (p.value("state", "") == "error") {
          problems.push_back(
              absl::StrCat(name, ": peer ", p.value("name", "?"),
                           " not programmed: ", p.value("problem", "")));
        }
      }
    }
    if (d.contains("rejectedRecords") && d["rejectedRecords"].is_array()) {
      for (const Json& r : d["rejectedRecords"]) {
        problems.push_back(absl::StrCat(
            name, ": rejects the KmeshNodeInfo of ", r.value("name", "?"), " (",
            r.value("reason", ""), "): ", r.value("detail", "")));
      }
    }
    const Json& kernel = d.contains("kernel") ? d["kernel"] : Json();
    if (!kernel.is_object()) continue;
    const std::string kernel_error = kernel.value("error", "");
    if (!kernel_error.empty()) {
      problems.push_back(
          absl::StrCat(name, ": kernel not readable: ", kernel_error));
    }
    if (kernel.contains("xfrmStatChangedSinceStart") &&
        kernel["xfrmStatChangedSinceStart"].is_object() &&
        !kernel["xfrmStatChangedSinceStart"].empty()) {
      std::vector<std::string> rose;
      for (const auto& [stat, delta] :
           kernel["xfrmStatChangedSinceStart"].items()) {
        rose.push_back(absl::StrCat(
            stat, " +", delta.is_number() ? delta.get<uint64_t>() : 0));
      }
      problems.push_back(absl::StrCat(
          name, ": xfrm_stat error counters rose since the daemon started: ",
          absl::StrJoin(rose, ", ")));
    }
    if (kernel.contains("outboundSas") && kernel["outboundSas"].is_array()) {
      for (const Json& sa : kernel["outboundSas"]) {
        const double used = NumberAt(sa, "seqUsedFraction");
        if (used >= options.seq_used_threshold) {
          problems.push_back(absl::StrCat(
              name, ": outbound SA to ", sa.value("peer", "?"), " spi ",
              sa.value("spi", 0), " used ", std::llround(used * 100),
              "% of its sequence numbers (rotate the key: kmeshctl secret "
              "create)"));
        }
      }
    }
  }

  // 5. Output.
  CommandResult result;
  result.exit_code = problems.empty() ? 0 : kStatusExitProblems;
  if (options.output == SecretOutputFormat::kJson) {
    Json out;
    out["secret"] = {{"namespace", kIpSecSecretNamespace},
                     {"name", kIpSecSecretName},
                     {"spi", spi},
                     {"algorithm", stored->algorithm},
                     {"creationTimestamp", stored->creation_timestamp},
                     {"lastWriteTime", stored->last_write_time}};
    out["rotation"] = {
        {"inProgress", in_progress},
        {"lagging", lagging},
        {"keyOutForSeconds",
         rotation_age ? Json(*rotation_age) : Json(nullptr)},
        {"oldSpisHeld",
         std::vector<int64_t>(old_spis_held.begin(), old_spis_held.end())},
        {"lastReclaimDueInSeconds",
         last_reclaim_due ? Json(*last_reclaim_due) : Json(nullptr)}};
    Json rows = Json::array();
    for (const auto& [name, row] : nodes) {
      rows.push_back(
          {{"name", name},
           {"hasNodeObject", row.has_node_object},
           {"advertisedSpi",
            row.advertised ? Json(*row.advertised) : Json(nullptr)},
           {"daemonPod", row.pod},
           {"daemon", row.daemon ? *row.daemon : Json(nullptr)},
           {"daemonError", row.daemon_error},
           {"staleRecord", !row.has_node_object && row.pod.empty()}});
    }
    out["nodes"] = rows;
    out["problems"] = problems;
    out["healthy"] = problems.empty();
    result.out = out.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
    return result;
  }

  std::string text =
      absl::StrCat("Secret ", kIpSecSecretNamespace, "/", kIpSecSecretName,
                   ": spi ", spi, " (", stored->algorithm, ")\n");
  if (in_progress) {
    std::vector<std::string> who;
    for (const std::string& name : lagging) {
      const NodeRow& row = nodes[name];
      who.push_back(absl::StrCat(
          name, " (",
          row.advertised ? absl::StrCat("advertises spi ", *row.advertised)
                         : std::string("no KmeshNodeInfo"),
          ")"));
    }
    absl::StrAppend(&text, "Rollout of spi ", spi, ": in progress",
                    rotation_age
                        ? absl::StrCat(" for ", ShortDuration(*rotation_age))
                        : std::string(" (no daemon has reported the key yet)"),
                    "; ", lagging.size(), " of ", cluster_nodes,
                    " nodes lag: ", absl::StrJoin(who, ", "), "\n");
  } else {
    absl::StrAppend(&text, "Rollout of spi ", spi, ": complete, every node (",
                    cluster_nodes, ") advertises it\n");
  }
  if (!old_spis_held.empty()) {
    absl::StrAppend(
        &text, "Old keys: spi ", absl::StrJoin(old_spis_held, ", "),
        " still held",
        last_reclaim_due && every_reclaim_scheduled
            ? absl::StrCat(", reclaimed within ",
                           ShortDuration(*last_reclaim_due))
            : std::string(" (reclaim waits until every peer moved past it)"),
        "\n");
  } else if (!in_progress) {
    absl::StrAppend(&text, "Old keys: none held\n");
  }
  text += "\n";
  std::vector<std::vector<std::string>> table = {
      {"NODE", "ADVERTISED", "KEYS", "PEERS", "SAS SPI:IN/OUT", "RECLAIM",
       "MAX OUT SEQ", "XFRM ERRORS"}};
  for (const auto& [name, row] : nodes) {
    std::vector<std::string> cells = {
        name, row.advertised ? absl::StrCat(*row.advertised) : "-"};
    if (!row.daemon) {
      cells.insert(cells.end(), {"-", "-", "-", "-", "-",
                                 !row.has_node_object && row.pod.empty()
                                     ? std::string("stale record (no Node)")
                                     : row.daemon_short});
      table.push_back(cells);
      continue;
    }
    const Json& d = *row.daemon;
    cells.push_back(SpiList(d.value("heldSpis", Json::array())));
    int total = 0, ready = 0;
    for (const Json& p : d.value("peers", Json::array())) {
      ++total;
      ready += p.value("state", "") == "programmed";
    }
    cells.push_back(absl::StrCat(ready, "/", total, " ready"));
    const Json kernel = d.value("kernel", Json::object());
    std::vector<std::string> sas;
    for (const Json& s : kernel.value("spis", Json::array())) {
      sas.push_back(absl::StrCat(s.value("spi", 0), ":",
                                 s.value("inboundSas", 0), "/",
                                 s.value("outboundSas", 0)));
    }
    cells.push_back(sas.empty() ? "-" : absl::StrJoin(sas, " "));
    std::vector<std::string> reclaims;
    for (const Json& r : d.value("pendingReclaims", Json::array())) {
      reclaims.push_back(
          absl::StrCat("spi ", r.value("spi", 0), " in ",
                       ShortDuration(NumberAt(r, "dueInSeconds"))));
    }
    cells.push_back(reclaims.empty() ? "-" : absl::StrJoin(reclaims, ", "));
    // The outbound SA closest to running out (then the busiest): both
    // numbers are that one SA's.
    uint64_t max_seq = 0;
    double max_used = 0;
    for (const Json& sa : kernel.value("outboundSas", Json::array())) {
      const double used = NumberAt(sa, "seqUsedFraction");
      const uint64_t seq = sa.value("outputSeq", uint64_t{0});
      if (std::make_pair(used, seq) > std::make_pair(max_used, max_seq)) {
        max_used = used;
        max_seq = seq;
      }
    }
    cells.push_back(absl::StrCat(
        max_seq, " (", absl::StrFormat("%.2f", max_used * 100), "%)"));
    std::vector<std::string> rose;
    // A named copy: iterating items() of a temporary would dangle.
    const Json changed =
        kernel.value("xfrmStatChangedSinceStart", Json::object());
    for (const auto& [stat, delta] : changed.items()) {
      rose.push_back(absl::StrCat(
          stat, "+", delta.is_number() ? delta.get<uint64_t>() : 0));
    }
    cells.push_back(rose.empty() ? "none" : absl::StrJoin(rose, ","));
    table.push_back(cells);
  }
  text += Table(table);
  if (!problems.empty()) {
    text += "\nProblems:\n";
    for (const std::string& p : problems) absl::StrAppend(&text, "  ", p, "\n");
  }
  result.out = text;
  return result;
}

}  // namespace

CommandResult SecretStatus(kube::KubeClient& client,
                           const SecretStatusOptions& options) {
  // Every document read is type-checked first (StatusDocumentError); this is
  // the last line of defence against an answer no check foresaw.
  try {
    return SecretStatusUnchecked(client, options);
  } catch (const nlohmann::json::exception& e) {
    return CommandResult{
        1, "",
        absl::StrCat("Error: an answer from the cluster could not be read (",
                     e.what(), "); nothing was changed\n")};
  }
}

}  // namespace kmesh::kmeshctl
