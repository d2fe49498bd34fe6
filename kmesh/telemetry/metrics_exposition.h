// Prometheus exposition of a prometheus-cpp registry for HttpEndpoint: the
// registry's families serialized by prometheus-cpp's TextSerializer in the
// text format 0.0.4, with that format's content type. Prometheus asks for
// OpenMetrics or text 0.0.4 (`Accept: application/openmetrics-text;...,
// text/plain;version=0.0.4`); answering 0.0.4 always is correct for it. Only
// prometheus-cpp's core library is used (docs/decisions.md).
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   options.routes["/metrics"] = PrometheusHandler(registry);
#ifndef KMESH_TELEMETRY_METRICS_EXPOSITION_H_
#define KMESH_TELEMETRY_METRICS_EXPOSITION_H_

#include <memory>

#include "absl/strings/string_view.h"
#include "kmesh/telemetry/http_endpoint.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"

namespace kmesh::telemetry {

inline constexpr absl::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// The metrics of `metrics` (a prometheus::Registry, or any Collectable that
// computes them when asked) now, as a 200 in the text format 0.0.4.
HttpResponse PrometheusTextResponse(const prometheus::Collectable& metrics);

// A handler answering PrometheusTextResponse(*registry); it keeps the
// registry alive.
HttpHandler PrometheusHandler(
    std::shared_ptr<const prometheus::Registry> registry);

}  // namespace kmesh::telemetry

#endif  // KMESH_TELEMETRY_METRICS_EXPOSITION_H_
