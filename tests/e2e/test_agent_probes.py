"""Probes on a node: liveness restarts a container, readiness drives the Ready condition,
startup holds the others back; exec, httpGet and tcpSocket, as Kubernetes runs them."""
import time

import pytest

from conftest import wait_for


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def create(srv, name, container, **spec):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", **container}],
                     "terminationGracePeriodSeconds": 2, **spec}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()


def status(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}").get("status", {})


def container(srv, name):
    statuses = status(srv, name).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def ready(srv, name):
    conditions = {c["type"]: c["status"] for c in status(srv, name).get("conditions", [])}
    return conditions.get("Ready")


def events(srv, name):
    items = srv.get_json("/api/v1/namespaces/default/events")["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


def test_failing_liveness_restarts_the_container(cluster, registry):
    create(cluster, "sick", {
        "image": registry.image("busybox"), "command": ["sleep", "3600"],
        "livenessProbe": {"exec": {"command": ["sh", "-c", "echo not well; exit 1"]},
                          "periodSeconds": 1, "failureThreshold": 2}})
    wait_for(lambda: container(cluster, "sick").get("restartCount", 0) >= 1, timeout=30,
             what="a restart")
    c = container(cluster, "sick")
    # Killed by its stop signal (sleep as pid 1 ignores SIGTERM, so by the kill after 2 s).
    assert c["lastState"]["terminated"]["exitCode"] in (137, 143)
    found = events(cluster, "sick")
    assert ("Unhealthy", "Liveness probe failed: not well\n") in found, found
    assert ("Killing", "Container main failed liveness probe, will be restarted") in found


def test_readiness_follows_the_probe(cluster, registry):
    # Ready after 3 s, not ready from 8 s on: the probe runs every second.
    create(cluster, "moody", {
        "image": registry.image("busybox"),
        "command": ["sh", "-c", "sleep 3; touch /tmp/ready; sleep 5; rm /tmp/ready; "
                    "sleep 3600"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}})
    wait_for(lambda: status(cluster, "moody").get("phase") == "Running", timeout=30,
             what="Running")
    assert ready(cluster, "moody") == "False"
    assert container(cluster, "moody")["ready"] is False
    wait_for(lambda: ready(cluster, "moody") == "True", timeout=15, what="Ready")
    assert container(cluster, "moody")["ready"] is True
    wait_for(lambda: ready(cluster, "moody") == "False", timeout=15, what="not Ready again")
    assert container(cluster, "moody")["restartCount"] == 0
    assert any(reason == "Unhealthy" and message.startswith("Readiness probe failed:")
               for reason, message in events(cluster, "moody"))


def test_httpd_ready_by_http_probe_and_answers(cluster, registry):
    create(cluster, "httpd", {
        "image": registry.image("httpd"), "ports": [{"containerPort": 80}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1}},
        **{})
    wait_for(lambda: ready(cluster, "httpd") == "True", timeout=30, what="Ready")
    c = container(cluster, "httpd")
    assert c["ready"] and c["started"] and c["restartCount"] == 0
    # The pod answers HTTP on its pod IP, from the node.
    ip = cluster.get_json("/api/v1/namespaces/default/pods/httpd")["status"]["podIP"]
    out = cluster.net.run("curl", "-sf", "-m", "5", f"http://{ip}:80/")
    assert out.returncode == 0 and "ckube test httpd" in out.stdout, out.stderr
    time.sleep(3)
    assert container(cluster, "httpd")["restartCount"] == 0


def test_tcp_liveness_on_a_closed_port_restarts(cluster, registry):
    create(cluster, "deaf", {
        "image": registry.image("busybox"), "command": ["sleep", "3600"],
        "livenessProbe": {"tcpSocket": {"port": 8081}, "periodSeconds": 1,
                          "failureThreshold": 1}})
    wait_for(lambda: container(cluster, "deaf").get("restartCount", 0) >= 1, timeout=30,
             what="a restart")
    assert any(reason == "Unhealthy" and "connection refused" in message
               for reason, message in events(cluster, "deaf"))


def test_startup_probe_holds_back_readiness(cluster, registry):
    create(cluster, "slow", {
        "image": registry.image("busybox"),
        "command": ["sh", "-c", "sleep 4; touch /tmp/up; sleep 3600"],
        "startupProbe": {"exec": {"command": ["cat", "/tmp/up"]}, "periodSeconds": 1,
                         "failureThreshold": 30}})
    wait_for(lambda: status(cluster, "slow").get("phase") == "Running", timeout=30,
             what="Running")
    c = container(cluster, "slow")
    assert c["started"] is False and c["ready"] is False
    wait_for(lambda: container(cluster, "slow").get("started") is True, timeout=15,
             what="started")
    wait_for(lambda: ready(cluster, "slow") == "True", timeout=5, what="Ready")

