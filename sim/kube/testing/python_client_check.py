#!/usr/bin/python3
"""The official Kubernetes Python client against the simulated API server.

Run by sim/kube:python_client_compat_test with a kubeconfig for a server on
loopback whose watches send a BOOKMARK every fraction of a second. With the
client's own calls (CoreV1Api, kubernetes.watch.Watch) it:
  1. creates 6 pods in a new namespace, 3 on node-a and 3 on node-b;
  2. lists them with limit=2, following metadata.continue to the end;
  3. lists with the field selector spec.nodeName=node-a, and with an
     unsupported field (expecting the server's 400);
  4. watches with allow_watch_bookmarks=True and timeout_seconds while a
     thread creates, modifies and deletes a pod, until the server ends it;
  5. does the same kinds of reads for the product's other objects: Nodes
     (spec.unschedulable), Namespaces (status.phase), Secrets (type) and
     KmeshNodeInfo custom objects (pages, a watch with a bookmark).
Asserts as it goes (exit 1 with the reason), and prints a JSON summary of
what it saw on stdout for the C++ test to check too.
"""

import json
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NAMESPACE = "pyclient"


def pod(name, node):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "demo"}),
        spec=client.V1PodSpec(
            node_name=node,
            containers=[client.V1Container(name="c", image="busybox")]))


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    summary = {}

    v1.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    for i in range(6):
        v1.create_namespaced_pod(NAMESPACE,
                                 pod("pod-%d" % i, "node-a" if i < 3 else
                                     "node-b"))

    # Pagination: limit=2 over 6 pods, following the continue tokens.
    names, pages, remaining, token = [], [], [], None
    while True:
        page = v1.list_namespaced_pod(NAMESPACE, limit=2, _continue=token)
        pages.append(len(page.items))
        names.extend(p.metadata.name for p in page.items)
        remaining.append(page.metadata.remaining_item_count)
        token = page.metadata._continue
        if not token:
            break
    check(names == ["pod-%d" % i for i in range(6)],
          "paginated list: %s" % names)
    check(pages == [2, 2, 2], "page sizes: %s" % pages)
    check(remaining == [4, 2, None], "remainingItemCount: %s" % remaining)
    summary["paginated_names"] = names
    summary["page_sizes"] = pages
    summary["remaining_item_counts"] = remaining

    # A field selector on spec.nodeName, and an unsupported one.
    on_a = v1.list_namespaced_pod(NAMESPACE, field_selector="spec.nodeName=node-a")
    summary["node_a_pods"] = sorted(p.metadata.name for p in on_a.items)
    check(summary["node_a_pods"] == ["pod-0", "pod-1", "pod-2"],
          "spec.nodeName=node-a: %s" % summary["node_a_pods"])
    try:
        v1.list_namespaced_pod(NAMESPACE, field_selector="spec.priority=1")
        check(False, "an unsupported field selector was accepted")
    except ApiException as e:
        body = json.loads(e.body)
        summary["unsupported_field"] = {"status": e.status,
                                        "message": body["message"]}
        check(e.status == 400 and
              body["message"] == "field label not supported: spec.priority",
              "unsupported field selector: %s %s" % (e.status, e.body))

    # A watch with bookmarks and a timeout, from the list's resourceVersion.
    start_rv = v1.list_namespaced_pod(NAMESPACE).metadata.resource_version

    def mutate():
        time.sleep(0.5)
        v1.create_namespaced_pod(NAMESPACE, pod("watched", "node-a"))
        v1.patch_namespaced_pod("watched", NAMESPACE,
                                {"metadata": {"labels": {"step": "2"}}})
        v1.delete_namespaced_pod("watched", NAMESPACE)

    writer = threading.Thread(target=mutate)
    writer.start()
    events, bookmarks = [], []
    started = time.monotonic()
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_pod, NAMESPACE,
                          resource_version=start_rv,
                          allow_watch_bookmarks=True, timeout_seconds=4):
        if event["type"] == "BOOKMARK":
            bookmarks.append(event["raw_object"])
        else:
            events.append([event["type"], event["object"].metadata.name])
    elapsed = time.monotonic() - started
    writer.join()
    summary["watch_events"] = events
    summary["bookmarks"] = len(bookmarks)
    summary["bookmark_object"] = bookmarks[-1] if bookmarks else None
    summary["watch_seconds"] = round(elapsed, 1)
    check(events == [["ADDED", "watched"], ["MODIFIED", "watched"],
                     ["DELETED", "watched"]], "watch events: %s" % events)
    check(len(bookmarks) >= 1, "no BOOKMARK")
    for b in bookmarks:
        check(b["kind"] == "Pod" and b["apiVersion"] == "v1" and
              int(b["metadata"]["resourceVersion"]) >= int(start_rv),
              "bookmark: %s" % b)
    check(3 <= elapsed < 8, "the watch lasted %.1fs (timeout_seconds=4)" %
          elapsed)
    summary.update(other_objects(v1))
    print(json.dumps(summary, sort_keys=True))


def other_objects(v1):
    """Nodes, Namespaces, Secrets and KmeshNodeInfo through the client."""
    seen = {}
    for name in ("node-a", "node-b", "node-c"):
        v1.create_node(client.V1Node(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1NodeSpec(unschedulable=(name == "node-c"))))
    nodes, token = [], None
    while True:
        page = v1.list_node(limit=2, _continue=token)
        nodes.extend(n.metadata.name for n in page.items)
        token = page.metadata._continue
        if not token:
            break
    check(nodes == ["node-a", "node-b", "node-c"], "nodes: %s" % nodes)
    cordoned = v1.list_node(field_selector="spec.unschedulable=true")
    seen["unschedulable_nodes"] = [n.metadata.name for n in cordoned.items]
    check(seen["unschedulable_nodes"] == ["node-c"],
          "spec.unschedulable=true: %s" % seen["unschedulable_nodes"])

    spaces = v1.list_namespace(field_selector="metadata.name=" + NAMESPACE)
    check([n.metadata.name for n in spaces.items] == [NAMESPACE],
          "namespaces by name")

    v1.create_namespaced_secret(NAMESPACE, client.V1Secret(
        metadata=client.V1ObjectMeta(name="opaque"), type="Opaque",
        string_data={"k": "v"}))
    v1.create_namespaced_secret(NAMESPACE, client.V1Secret(
        metadata=client.V1ObjectMeta(name="tls"), type="kubernetes.io/tls",
        data={"tls.crt": "", "tls.key": ""}))
    opaque = v1.list_namespaced_secret(NAMESPACE, field_selector="type=Opaque")
    seen["opaque_secrets"] = [s.metadata.name for s in opaque.items]
    check(seen["opaque_secrets"] == ["opaque"],
          "type=Opaque: %s" % seen["opaque_secrets"])

    custom = client.CustomObjectsApi()
    group, version, plural = "kmesh.net", "v1alpha1", "kmeshnodeinfos"
    for name in ("node-a", "node-b", "node-c"):
        custom.create_namespaced_custom_object(group, version, NAMESPACE,
                                               plural, {
            "apiVersion": "kmesh.net/v1alpha1", "kind": "KmeshNodeInfo",
            "metadata": {"name": name},
            "spec": {"addresses": ["10.0.0.1"], "bootID": "b",
                     "podCIDRS": ["10.244.0.0/24"], "spi": 1}})
    infos, token = [], None
    while True:
        page = custom.list_namespaced_custom_object(
            group, version, NAMESPACE, plural, limit=2, _continue=token)
        infos.extend(i["metadata"]["name"] for i in page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
    seen["kmeshnodeinfos"] = infos
    check(infos == ["node-a", "node-b", "node-c"], "kmeshnodeinfos: %s" % infos)
    try:
        custom.list_namespaced_custom_object(group, version, NAMESPACE, plural,
                                             field_selector="spec.spi=1")
        check(False, "spec.spi was accepted as a field selector")
    except ApiException as e:
        check(e.status == 400 and "field label not supported: spec.spi" in
              e.body, "spec.spi: %s %s" % (e.status, e.body))
    start_rv = custom.list_namespaced_custom_object(
        group, version, NAMESPACE, plural)["metadata"]["resourceVersion"]
    events = []
    for event in watch.Watch().stream(
            custom.list_namespaced_custom_object, group, version, NAMESPACE,
            plural, resource_version=start_rv, allow_watch_bookmarks=True,
            timeout_seconds=3):
        events.append(event["type"])
        if event["type"] == "BOOKMARK":
            check(event["raw_object"] == {
                "apiVersion": "kmesh.net/v1alpha1", "kind": "KmeshNodeInfo",
                "metadata": {"resourceVersion": event["raw_object"][
                    "metadata"]["resourceVersion"]}},
                "custom resource bookmark: %s" % event["raw_object"])
    seen["kmeshnodeinfo_watch_events"] = events
    check("BOOKMARK" in events, "no BOOKMARK on kmeshnodeinfos: %s" % events)
    return seen


if __name__ == "__main__":
    main()
