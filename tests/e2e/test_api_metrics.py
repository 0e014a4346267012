"""Resource metrics (metrics.k8s.io/v1beta1) for `kubectl top`: node agents report usage with
PUT, the server serves the latest report of each pod and node."""
import json

from conftest import create_pod, make_node

METRICS = "/apis/metrics.k8s.io/v1beta1"


def report_pod(server, name, cpu, memory, namespace="default", container="c"):
    return server.api("PUT", f"{METRICS}/namespaces/{namespace}/pods/{name}",
                      {"containers": [{"name": container, "usage": {"cpu": cpu,
                                                                      "memory": memory}}]})


def table(text):
    return [line.split() for line in text.strip().splitlines()]


def test_discovery_lists_the_metrics_group(server):
    groups = server.get_json("/apis")["groups"]
    assert {"name": "metrics.k8s.io",
            "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
            "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1",
                                 "version": "v1beta1"}} in groups
    resources = {r["name"]: r for r in server.get_json(METRICS)["resources"]}
    assert resources["pods"]["kind"] == "PodMetrics" and resources["pods"]["namespaced"]
    assert resources["nodes"]["verbs"] == ["get", "list"]


def test_kubectl_top_shows_reported_usage(server):
    make_node(server, "node-1", cpu="2", memory="4Gi")
    create_pod(server, "web", labels={"app": "web"})
    create_pod(server, "db", labels={"app": "db"})
    assert report_pod(server, "web", "3m", "5Mi").status == 200
    assert report_pod(server, "db", "120m", "64Mi").status == 200
    answer = server.api("PUT", f"{METRICS}/nodes/node-1",
                        {"usage": {"cpu": "500m", "memory": "1Gi"}})
    assert answer.status == 200, answer
    out = server.kubectl("top", "pods")
    assert table(out.stdout) == [["NAME", "CPU(cores)", "MEMORY(bytes)"],
                                 ["db", "120m", "64Mi"], ["web", "3m", "5Mi"]]
    out = server.kubectl("top", "pods", "-l", "app=web")
    assert table(out.stdout)[1:] == [["web", "3m", "5Mi"]]
    out = server.kubectl("top", "nodes")
    assert table(out.stdout) == [["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
                                 ["node-1", "500m", "25%", "1024Mi", "25%"]]
    # A newer report replaces the older one.
    assert report_pod(server, "web", "7m", "6Mi").status == 200
    out = server.kubectl("top", "pod", "web")
    assert table(out.stdout)[1:] == [["web", "7m", "6Mi"]]


def test_reports_are_checked(server):
    create_pod(server, "web")
    before = server.settled_snapshot()
    answer = report_pod(server, "web", "lots", "5Mi")
    assert answer.status == 422, answer
    assert answer.json["details"]["causes"][0]["field"] == "containers[0].usage.cpu"
    answer = report_pod(server, "ghost", "1m", "1Mi")
    assert answer.status == 404, answer
    assert answer.json["message"] == 'pods "ghost" not found'
    answer = server.api("POST", f"{METRICS}/namespaces/default/pods", {"containers": []})
    assert answer.status == 405, answer
    assert server.snapshot() == before
    answer = server.api("GET", f"{METRICS}/namespaces/default/pods/web")
    assert answer.status == 404, answer
    assert server.get_json(f"{METRICS}/namespaces/default/pods")["items"] == []
    assert json.loads(server.api("GET", f"{METRICS}/nodes").text)["kind"] == "NodeMetricsList"
