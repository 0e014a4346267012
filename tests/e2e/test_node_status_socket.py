"""The node agent's local status socket and its usage reports: the socket file (0600, a stale one
from a killed agent replaced, gone after a clean stop), `ckube status` reading it, its /healthz
and /metrics pages, and `kubectl top` fed by the agent's metrics.k8s.io reports. The pod checks
run real busybox pods from the test registry."""
import http.client
import json
import os
import signal
import socket
import stat

import pytest

from conftest import CKUBE, parse_table, run, wait_for

METRIC_NAMES = ("ckube_api_errors_total", "ckube_container_cpu_usage_seconds_total",
                "ckube_container_memory_working_set_bytes", "ckube_pod_start_duration_seconds",
                "ckube_pod_sync_duration_seconds", "ckube_running_containers")


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, as any client of the status socket talks to it."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def socket_get(path, target):
    """(status, content type, body text) of one GET over the socket."""
    conn = UnixConnection(path)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read().decode()
    finally:
        conn.close()


def answers(path):
    """Whether an agent answers on the socket now."""
    try:
        return socket_get(path, "/healthz")[0] == 200
    except OSError:
        return False


def socket_path(srv):
    return os.path.join(srv.root, "run", "ckube.sock")


def status(srv, *args, check=True):
    return run([CKUBE, "status", "--socket", socket_path(srv), *args], check=check)


@pytest.fixture
def node(server_factory):
    return server_factory(agent=True)


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def test_socket_file_and_status_of_the_node(node):
    path = socket_path(node)
    wait_for(lambda: answers(path), what="the status socket")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600

    out = status(node).stdout.splitlines()
    assert out[0].startswith(f"Node {node.node_name} (127.0.0.1): ckube ")
    assert f"API {node.url}" in out[0]
    assert out[-1] == "No pods on this node."
    # The run directory finds the same socket.
    by_dir = run([CKUBE, "status", "--run-dir", os.path.join(node.root, "run"), "node"])
    assert by_dir.stdout.splitlines()[0] == out[0]
    summary = json.loads(status(node, "--json", "node").stdout)
    assert summary["name"] == node.node_name and summary["ip"] == "127.0.0.1"
    assert summary["runDir"] == os.path.join(node.root, "run")
    assert summary["cgroup"].endswith("/" + node.cgroup_root)
    assert summary["pods"] == 0
    both = json.loads(status(node, "--json").stdout)
    assert both["node"]["name"] == node.node_name and both["pods"] == []

    code, content_type, body = socket_get(path, "/healthz")
    assert (code, body) == (200, "ok")
    assert content_type.startswith("text/plain")
    code, content_type, body = socket_get(path, "/metrics")
    assert code == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
    for name in METRIC_NAMES:
        assert f"\n# TYPE {name} " in "\n" + body, name
    assert "\nckube_running_containers 0\n" in body
    code, _, body = socket_get(path, "/pods/default/ghost")
    assert code == 404 and json.loads(body)["error"] == "pod default/ghost is not on this node"
    missing = status(node, "pod", "ghost", check=False)
    assert missing.returncode == 1
    assert missing.stderr == "ckube status: pod default/ghost is not on this node\n"

    # A clean stop removes the socket.
    assert node.stop() == 0
    assert not os.path.exists(path)


def test_service_proxy_in_status(node):
    """The Service proxy's table as the node debugger sees it: counts that follow Services, the
    load-balancing chains in use, no error."""
    path = socket_path(node)
    wait_for(lambda: answers(path), what="the status socket")
    # The kubernetes Service (one endpoint: the API server) is there from the start.
    wait_for(lambda: json.loads(socket_get(path, "/services")[2]).get("inSync"),
             what="the proxy in sync")
    made = node.api("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
        "spec": {"ports": [{"port": 5432}]}})
    assert made.status == 201, made.text()
    node.api("POST", "/api/v1/namespaces/default/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
        "subsets": [{"addresses": [{"ip": "10.244.0.50"}, {"ip": "10.244.0.51"}],
                     "ports": [{"port": 5432}]}]})

    def described():
        code, content_type, body = socket_get(path, "/services")
        assert code == 200 and content_type == "application/json"
        s = json.loads(body)
        return s if s["services"] == 2 and s["endpoints"] == 3 else None
    s = wait_for(described, what="two Services and their 3 endpoints in the proxy's table")
    assert s["table"] == "ip ckube-proxy" and s["listed"] and s["inSync"]
    assert s["servicePorts"] == 2 and s["endpoints"] == 3 and s["lastError"] is None
    assert {c["name"]: c["users"] for c in s["loadBalancingChains"]} == {
        "cluster-1": 1, "cluster-2": 1}
    out = status(node, "services").stdout.splitlines()
    assert out[0] == ("Service proxy: ip ckube-proxy, in sync; 2 Services, 2 ports, "
                      "3 endpoints"), out
    assert out[1].startswith("  last sync 20") and "failure" not in out[1]
    assert out[2] == "  load-balancing chains: cluster-1 (1) cluster-2 (1)" or \
        out[2] == "  load-balancing chains: cluster-2 (1) cluster-1 (1)", out
    assert json.loads(status(node, "--json", "services").stdout)["services"] == 2


def test_socket_of_a_killed_agent_is_replaced(node):
    path = socket_path(node)
    wait_for(lambda: answers(path), what="the status socket")
    node.proc.kill()
    node.proc.wait()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left behind by kill -9
    node.proc = None
    node.start()
    wait_for(lambda: answers(path), what="the new agent's socket")
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert status(node, "node").stdout.startswith(f"Node {node.node_name} ")


def test_status_without_an_agent(scratch):
    path = str(scratch / "none.sock")
    proc = run([CKUBE, "status", "--socket", path], check=False)
    assert proc.returncode == 1
    assert proc.stderr == (f"ckube status: cannot reach the node agent at {path}: "
                           "No such file or directory (is ckube running?)\n")
    assert proc.stdout == ""


def test_kubectl_top_nodes(node):
    # Two readings 15 s apart make the first report.
    def node_row():
        out = node.kubectl("top", "nodes", check=False)
        if out.returncode != 0:
            return None
        rows = [r for r in parse_table(out.stdout).rows if r["NAME"] == node.node_name]
        return rows[0] if rows else None
    row = wait_for(node_row, timeout=40, interval=1, what="the node in kubectl top nodes")
    assert row["CPU(cores)"].endswith("m") and int(row["CPU(cores)"][:-1]) >= 0
    assert row["MEMORY(bytes)"].endswith("Mi") and int(row["MEMORY(bytes)"][:-2]) > 0
    assert row["CPU(%)"].endswith("%") and row["MEMORY(%)"].endswith("%")
    metrics = node.get_json(f"/apis/metrics.k8s.io/v1beta1/nodes/{node.node_name}")
    assert metrics["window"] == "15s" or metrics["window"].startswith("15.")
    assert metrics["timestamp"].endswith("Z")


def run_pod(srv, registry, name, command):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": registry.image("busybox"),
                                     "command": command}],
                     "terminationGracePeriodSeconds": 1}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer
    wait_for(lambda: srv.get_json(f"/api/v1/namespaces/default/pods/{name}")
             .get("status", {}).get("phase") == "Running", timeout=30, what=f"{name} Running")


def test_pods_in_status(cluster, registry):
    run_pod(cluster, registry, "sleeper", ["sleep", "3600"])
    table = parse_table(status(cluster, "pods").stdout)
    assert table.header == ["NAMESPACE", "NAME", "PHASE", "IP", "CONTAINERS", "RESTARTS"]
    assert [(r["NAMESPACE"], r["NAME"], r["PHASE"], r["CONTAINERS"], r["RESTARTS"])
            for r in table.rows] == [("default", "sleeper", "Running", "1/1", "0")]

    pod = json.loads(status(cluster, "--json", "pod", "sleeper").stdout)
    uid = cluster.get_json("/api/v1/namespaces/default/pods/sleeper")["metadata"]["uid"]
    assert pod["uid"] == uid and pod["phase"] == "Running" and pod["errors"] == {}
    assert pod["netns"] == os.path.join(cluster.root, "run", "pods", uid, "ns", "net")
    assert os.path.exists(pod["netns"])
    [main] = pod["containers"]
    assert main["state"] == "running" and main["restartCount"] == 0 and main["lastError"] is None
    assert main["imageID"] and main["image"] == registry.image("busybox")
    # The pid is the container's process, and it lives in the cgroup shown.
    with open(f"/proc/{main['pid']}/cgroup") as f:
        own = [line.split(":", 2)[2].strip() for line in f if line.startswith("0::")][0]
    assert main["cgroup"].endswith(own)
    assert main["cgroup"].startswith(pod["cgroup"] + "/")
    with open(f"/proc/{main['pid']}/cmdline") as f:
        assert f.read().split("\0")[:2] == ["sleep", "3600"]

    text = status(cluster, "pod", "sleeper.default").stdout
    assert "Pod:          default/sleeper\n" in text
    assert f"    PID:         {main['pid']}\n" in text
    assert f"    Cgroup:      {main['cgroup']}\n" in text
    assert f"Network:      {pod['netns']}\n" in text
    assert "Errors:       <none>\n" in text

    code, _, body = socket_get(socket_path(cluster), "/metrics")
    assert code == 200
    assert "\nckube_running_containers 1\n" in body
    assert ('ckube_container_cpu_usage_seconds_total{namespace="default",pod="sleeper",'
            'container="main"} ') in body


def test_kubectl_top_pods(cluster, registry):
    # A container that keeps a CPU busy shows in hundreds of millicores.
    run_pod(cluster, registry, "spinner", ["sh", "-c", "while :; do :; done"])
    run_pod(cluster, registry, "sleeper", ["sleep", "3600"])

    def rows():
        out = cluster.kubectl("top", "pods", check=False)
        if out.returncode != 0:
            return None
        found = {r["NAME"]: r for r in parse_table(out.stdout).rows}
        return found if {"spinner", "sleeper"} <= set(found) else None
    found = wait_for(rows, timeout=40, interval=1, what="both pods in kubectl top pods")
    assert int(found["spinner"]["CPU(cores)"].rstrip("m")) >= 300, found
    assert int(found["sleeper"]["CPU(cores)"].rstrip("m")) <= 50, found
    assert found["sleeper"]["MEMORY(bytes)"].endswith("Mi")
    containers = cluster.kubectl("top", "pod", "spinner", "--containers").stdout
    assert parse_table(containers).rows[0]["NAME"] == "main"
