"""Lifecycle hooks: postStart runs before a container counts as started (and a failing one
restarts it), preStop runs before the stop signal, within the grace period."""
import time

import pytest

from conftest import REAL_KUBECTL, wait_for

# The hooks write into the main process's stdout, so what they did shows in the pod's log.
TO_LOG = "> /proc/1/fd/1"


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def create(srv, name, container, grace=10):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": grace,
                     "containers": [{"name": "main", **container}]}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()
    return answer.json


def pod(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}")


def events(srv, name):
    items = srv.get_json("/api/v1/namespaces/default/events")["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


def test_post_start_runs_before_the_container_counts_as_started(cluster, registry):
    create(cluster, "greeter", {
        "image": registry.image("busybox"), "command": ["sh", "-c", "echo main; sleep 3600"],
        "lifecycle": {"postStart": {"exec": {"command": [
            "sh", "-c", f"sleep 1; echo poststart {TO_LOG}"]}}}})
    wait_for(lambda: pod(cluster, "greeter").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    status = pod(cluster, "greeter")["status"]["containerStatuses"][0]
    assert status["ready"] is True and "running" in status["state"]
    assert "poststart" in cluster.kubectl("logs", "greeter").stdout


def test_failing_post_start_restarts_the_container(cluster, registry):
    create(cluster, "unlucky", {
        "image": registry.image("busybox"), "command": ["sleep", "3600"],
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo nope; exit 7"]}}}},
        grace=1)
    wait_for(lambda: (pod(cluster, "unlucky")["status"].get("containerStatuses") or [{}])[0]
             .get("restartCount", 0) >= 1, timeout=30, what="a restart")
    found = events(cluster, "unlucky")
    assert any(reason == "FailedPostStartHook" and
               message.startswith('Exec lifecycle hook ([sh -c echo nope; exit 7]) for '
                                  'Container "main" in Pod "unlucky_default(')
               for reason, message in found), found


def test_pre_stop_runs_before_the_stop_signal(cluster, registry, spawn):
    create(cluster, "tidy", {
        "image": registry.image("busybox"),
        "command": ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo up; "
                    "while true; do sleep 0.2; done"],
        "lifecycle": {"preStop": {"exec": {"command": [
            "sh", "-c", f"echo prestop {TO_LOG}; sleep 1"]}}}})
    wait_for(lambda: pod(cluster, "tidy").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    # The log goes with the pod: follow it while the pod stops.
    follower = spawn([REAL_KUBECTL, "--kubeconfig", cluster.kubeconfig, "--cache-dir",
                      cluster.cache_dir, "logs", "-f", "tidy"])
    follower.wait_line(lambda line: line.strip() == "up", what="the container up")
    start = time.monotonic()
    assert cluster.api("DELETE", "/api/v1/namespaces/default/pods/tidy").status == 200
    follower.wait_line(lambda line: line.strip() == "prestop", what="the preStop hook")
    follower.wait_line(lambda line: line.strip() == "got TERM", what="the stop signal")
    assert time.monotonic() - start >= 1
    wait_for(lambda: cluster.api("GET", "/api/v1/namespaces/default/pods/tidy").status == 404,
             timeout=15, what="pod gone")


def test_pre_stop_sleep_and_the_grace_period(cluster, registry):
    # A cooperative container, but a 2 s preStop sleep before its stop signal ...
    create(cluster, "sleepy", {
        "image": registry.image("busybox"),
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        "lifecycle": {"preStop": {"sleep": {"seconds": 2}}}})
    wait_for(lambda: pod(cluster, "sleepy").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    start = time.monotonic()
    cluster.api("DELETE", "/api/v1/namespaces/default/pods/sleepy")
    wait_for(lambda: cluster.api("GET", "/api/v1/namespaces/default/pods/sleepy").status == 404,
             timeout=15, what="pod gone")
    assert 2 <= time.monotonic() - start < 6
    # ... and a hook longer than the grace period is cut off by the kill at its end.
    create(cluster, "endless", {
        "image": registry.image("busybox"),
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        "lifecycle": {"preStop": {"sleep": {"seconds": 60}}}}, grace=2)
    wait_for(lambda: pod(cluster, "endless").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    start = time.monotonic()
    cluster.api("DELETE", "/api/v1/namespaces/default/pods/endless")
    wait_for(lambda: cluster.api("GET", "/api/v1/namespaces/default/pods/endless").status
             == 404, timeout=15, what="pod gone")
    assert time.monotonic() - start < 6
