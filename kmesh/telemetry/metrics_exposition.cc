#include "kmesh/telemetry/metrics_exposition.h"

#include <string>
#include <utility>

#include "prometheus/text_serializer.h"

namespace kmesh::telemetry {

HttpResponse PrometheusTextResponse(const prometheus::Collectable& metrics) {
  HttpResponse response;
  response.code = 200;
  response.content_type = std::string(kPrometheusTextContentType);
  response.body = prometheus::TextSerializer().Serialize(metrics.Collect());
  return response;
}

HttpHandler PrometheusHandler(
    std::shared_ptr<const prometheus::Registry> registry) {
  return [registry = std::move(registry)] {
    return PrometheusTextResponse(*registry);
  };
}

}  // namespace kmesh::telemetry
