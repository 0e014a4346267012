"""Pods on a node: `ckube server` with its own node agent runs the API's pods, restarts them
by their restartPolicy, reports their status, and deletes them, leaving nothing behind."""
import json
import os
import re
import signal
import time

import pytest

from conftest import parse_table, pod_manifest, wait_for


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def node_pod(srv, name, image, command=None, restart="Always", **spec):
    container = {"name": "main", "image": image}
    if command:
        container["command"] = command
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"test": name}},
            "spec": {"containers": [container], "restartPolicy": restart,
                     "terminationGracePeriodSeconds": 5, **spec}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()
    return answer.json


def pod(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}")


def container_status(srv, name):
    statuses = pod(srv, name).get("status", {}).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def assert_no_leftovers(srv, timeout=20):
    """Waits for the node to hold nothing of its pods any more; names what is left if not."""
    deadline = time.monotonic() + timeout
    while srv.node_leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.node_leftovers() == {}


def kubectl_row(srv, name):
    table = parse_table(srv.kubectl("get", "pod", name).stdout)
    return table.rows[0]


def test_pod_runs_and_shows_ready(cluster, registry):
    node_pod(cluster, "sleeper", registry.image("busybox"), ["sleep", "3600"])
    wait_for(lambda: pod(cluster, "sleeper").get("status", {}).get("phase") == "Running",
             timeout=30, what="pod Running")
    status = pod(cluster, "sleeper")["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "True"
    assert conditions["ContainersReady"] == "True"
    assert conditions["Initialized"] == "True"
    assert conditions["PodScheduled"] == "True"
    assert status["hostIP"] == "127.0.0.1"
    assert status["qosClass"] == "BestEffort"
    assert status["startTime"]
    c = status["containerStatuses"][0]
    assert c["ready"] is True and c["started"] is True and c["restartCount"] == 0
    assert "running" in c["state"] and c["state"]["running"]["startedAt"]
    assert c["containerID"].startswith("ckube://")
    assert c["imageID"]
    row = kubectl_row(cluster, "sleeper")
    assert row["READY"] == "1/1" and row["STATUS"] == "Running" and row["RESTARTS"] == "0"


def test_crashing_container_backs_off(cluster, registry):
    node_pod(cluster, "crasher", registry.image("busybox"), ["sh", "-c", "echo bye; exit 3"])

    def restarted_twice():
        c = container_status(cluster, "crasher")
        return c if c.get("restartCount", 0) >= 2 else None
    c = wait_for(restarted_twice, timeout=40, interval=0.2, what="two restarts")
    # Between restarts the container waits out its back-off: the first restart is at once,
    # the next after 10 s, then 20 s, ...
    c = wait_for(lambda: (lambda s: s if "waiting" in s.get("state", {}) else None)(
        container_status(cluster, "crasher")), timeout=15, what="waiting in back-off")
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert re.match(r"back-off (10|20|40)s restarting failed container=main "
                    r"pod=crasher_default\(", c["state"]["waiting"]["message"])
    last = c["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    assert last["startedAt"] and last["finishedAt"]
    assert c["ready"] is False
    conditions = {x["type"]: x for x in pod(cluster, "crasher")["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    row = kubectl_row(cluster, "crasher")
    assert row["STATUS"] == "CrashLoopBackOff" and row["READY"] == "0/1"
    assert int(row["RESTARTS"].split()[0]) >= 2


@pytest.mark.parametrize("policy,code,phase,reason", [
    ("Never", 0, "Succeeded", "Completed"),
    ("Never", 5, "Failed", "Error"),
    ("OnFailure", 0, "Succeeded", "Completed"),
])
def test_pods_that_end(cluster, registry, policy, code, phase, reason):
    name = f"ends-{policy.lower()}-{code}"
    node_pod(cluster, name, registry.image("busybox"), ["sh", "-c", f"exit {code}"],
             restart=policy)
    wait_for(lambda: pod(cluster, name).get("status", {}).get("phase") == phase, timeout=30,
             what=f"phase {phase}")
    c = container_status(cluster, name)
    assert c["restartCount"] == 0
    assert c["state"]["terminated"]["exitCode"] == code
    assert c["state"]["terminated"]["reason"] == reason
    assert kubectl_row(cluster, name)["STATUS"] == reason


def test_on_failure_restarts_until_success(cluster, registry):
    # A failing container is run again under OnFailure; the pod stays Running meanwhile.
    node_pod(cluster, "retry", registry.image("busybox"), ["sh", "-c", "exit 1"],
             restart="OnFailure")
    c = wait_for(lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
        container_status(cluster, "retry")), timeout=30, what="a restart")
    assert pod(cluster, "retry")["status"]["phase"] == "Running"
    assert c["lastState"]["terminated"]["exitCode"] == 1


def test_image_that_does_not_exist(cluster, registry):
    node_pod(cluster, "noimage", f"{registry.address}/does-not-exist:1", ["true"])

    def waiting_reason():
        state = container_status(cluster, "noimage").get("state", {})
        return state.get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
    wait_for(waiting_reason, timeout=30, what="ErrImagePull")
    # Another pod on the node is not held up by it.
    node_pod(cluster, "fine", registry.image("busybox"), ["sleep", "3600"])
    wait_for(lambda: pod(cluster, "fine").get("status", {}).get("phase") == "Running",
             timeout=30, what="the other pod Running")
    events = cluster.get_json("/api/v1/namespaces/default/events")["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "noimage"}
    assert "Failed" in reasons


def test_graceful_delete_leaves_nothing(cluster, registry):
    # The shell ignores SIGTERM, so only the end of the grace period (3 s) stops it.
    node_pod(cluster, "stubborn", registry.image("busybox"),
             ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"],
             terminationGracePeriodSeconds=3)
    wait_for(lambda: pod(cluster, "stubborn").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    start = time.monotonic()
    answer = cluster.api("DELETE", "/api/v1/namespaces/default/pods/stubborn")
    assert answer.status == 200, answer.text()
    wait_for(lambda: cluster.api("GET", "/api/v1/namespaces/default/pods/stubborn").status
             == 404, timeout=20, what="pod gone")
    took = time.monotonic() - start
    assert 2.5 <= took < 10, took
    assert_no_leftovers(cluster)
    events = cluster.get_json("/api/v1/namespaces/default/events")["items"]
    reasons = [e["reason"] for e in events if e["involvedObject"]["name"] == "stubborn"]
    for reason in ("Pulled", "Created", "Started", "Killing"):
        assert reason in reasons, reasons


def test_quick_delete_of_cooperative_pod(cluster, registry):
    node_pod(cluster, "polite", registry.image("busybox"), ["sleep", "3600"])
    wait_for(lambda: pod(cluster, "polite").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    start = time.monotonic()
    cluster.kubectl("delete", "pod", "polite", timeout=30)
    # `sleep` as pid 1 of its pid namespace ignores SIGTERM (no handler), so this waits out the
    # grace period as on any Kubernetes node; kubectl delete returns when the pod is gone.
    assert time.monotonic() - start < 10
    assert cluster.api("GET", "/api/v1/namespaces/default/pods/polite").status == 404


def container_pid(srv, name):
    """The host pid of the pod's container, from the runtime's state file."""
    cid = container_status(srv, name)["containerID"].split("://", 1)[1]
    with open(os.path.join(srv.root, "run", "containers", cid, "state.json")) as f:
        return json.load(f)["pid"]


def test_agent_killed_adopts_running_pods(cluster, registry):
    node_pod(cluster, "survivor", registry.image("busybox"), ["sleep", "3600"])
    node_pod(cluster, "crashy", registry.image("busybox"), ["sh", "-c", "exit 2"])
    wait_for(lambda: pod(cluster, "survivor").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    wait_for(lambda: container_status(cluster, "crashy").get("restartCount", 0) >= 1,
             timeout=30, what="a restart")
    pid = container_pid(cluster, "survivor")
    before = container_status(cluster, "survivor")
    restarts = container_status(cluster, "crashy")["restartCount"]
    cluster.restart(signal.SIGKILL)
    time.sleep(2)
    assert container_pid(cluster, "survivor") == pid
    os.kill(pid, 0)
    after = container_status(cluster, "survivor")
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert pod(cluster, "survivor")["status"]["phase"] == "Running"
    # The crashing one keeps its count and goes on from there.
    wait_for(lambda: container_status(cluster, "crashy")["restartCount"] > restarts,
             timeout=30, what="restarts continued")


def test_pod_deleted_while_agent_down(server_factory, registry):
    srv = server_factory(agent=True, registry=registry)
    node_pod(srv, "orphan", registry.image("busybox"), ["sleep", "3600"])
    wait_for(lambda: pod(srv, "orphan").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    pid = container_pid(srv, "orphan")
    srv.stop(signal.SIGKILL)
    # Force the pod out of the API without its node (as `kubectl delete --force` would) ...
    srv.extra_args = ["--no-agent"]
    srv.agent = False
    srv.start()
    answer = srv.api("DELETE", "/api/v1/namespaces/default/pods/orphan",
                     {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert answer.status == 200, answer.text()
    srv.stop()
    # ... then the agent comes back and removes what the pod left.
    srv.extra_args = []
    srv.agent = True
    srv.start()
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=20, what="container gone")
    assert_no_leftovers(srv)


def test_adopted_container_exit_code_is_known(cluster, registry):
    """A container adopted after a restart of the agent is not its child; how it ends still
    shows (from the kernel's process events), not as ContainerStatusUnknown."""
    # It must end after the restarted agent is listening: a container that ends while no agent
    # runs is ContainerStatusUnknown by design. 10 s leave room for a slow restart.
    node_pod(cluster, "finisher", registry.image("busybox"), ["sh", "-c", "sleep 10; exit 7"],
             restart="Never")
    wait_for(lambda: pod(cluster, "finisher").get("status", {}).get("phase") == "Running",
             timeout=30, what="Running")
    cluster.restart(signal.SIGKILL)
    wait_for(lambda: pod(cluster, "finisher").get("status", {}).get("phase") == "Failed",
             timeout=30, what="Failed")
    terminated = container_status(cluster, "finisher")["state"]["terminated"]
    assert terminated["exitCode"] == 7 and terminated["reason"] == "Error", terminated
