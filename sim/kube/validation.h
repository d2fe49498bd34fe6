// Name and label syntax as the Kubernetes API server validates it
// (k8s.io/apimachinery/pkg/util/validation): object names are DNS-1123
// subdomains (Namespaces: DNS-1123 labels), label keys are an optional
// subdomain prefix plus '/' and a qualified name, label values are short
// qualified names or empty. Each check returns the real server's message for
// the first problem, or "" when the value is valid.
#ifndef SIM_KUBE_VALIDATION_H_
#define SIM_KUBE_VALIDATION_H_

#include <string>

namespace kmesh::sim::kube {

std::string Dns1123SubdomainError(const std::string& value);
std::string Dns1123LabelError(const std::string& value);
std::string LabelKeyError(const std::string& key);
std::string LabelValueError(const std::string& value);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_VALIDATION_H_
