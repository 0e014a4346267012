"""The node agent's Node: registered with what the kernel says, its Lease renewed, its
conditions computed, and the cgroup controllers it cannot use said plainly."""
import os
import platform
import time

from conftest import cgroup2_mount, parse_table, wait_for


def node(srv):
    return srv.get_json(f"/api/v1/nodes/{srv.node_name}")


def test_node_registers_with_the_kernels_figures(server_factory):
    srv = server_factory(agent=True)
    n = wait_for(lambda: srv.api("GET", f"/api/v1/nodes/{srv.node_name}").status == 200
                 and node(srv), timeout=20, what="node registered")
    labels = n["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == srv.node_name
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(
        platform.machine(), platform.machine())
    status = n["status"]
    assert status["capacity"]["cpu"] == str(os.cpu_count())
    with open("/proc/meminfo") as f:
        total_kib = int(f.readline().split()[1])
    assert status["capacity"]["memory"] == f"{total_kib}Ki"
    assert status["capacity"]["pods"] == "110"
    assert "ephemeral-storage" in status["capacity"]
    assert set(status["allocatable"]) >= {"cpu", "memory", "pods", "ephemeral-storage"}
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    info = status["nodeInfo"]
    assert info["kernelVersion"] == platform.release()
    assert info["operatingSystem"] == "linux"
    assert info["containerRuntimeVersion"].startswith("ckube://")
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == srv.node_port
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[pressure]["status"] == "False", conditions[pressure]
    row = parse_table(srv.kubectl("get", "nodes").stdout).rows[0]
    assert row["NAME"] == srv.node_name and row["STATUS"] == "Ready"


def test_unenforced_limits_are_said(server_factory):
    """Where cgroup v2 lacks cpu, memory or pids (as on hosts that keep them in v1), the node
    says so in a condition and an annotation rather than pretend to enforce limits."""
    srv = server_factory(agent=True)
    n = wait_for(lambda: srv.api("GET", f"/api/v1/nodes/{srv.node_name}").status == 200
                 and node(srv), timeout=20, what="node registered")
    with open(os.path.join(cgroup2_mount(), "cgroup.controllers")) as f:
        available = set(f.read().split())
    missing = [c for c in ("cpu", "memory", "pids") if c not in available]
    condition = {c["type"]: c for c in n["status"]["conditions"]}["CgroupLimitsEnforced"]
    annotation = n["metadata"].get("annotations", {}).get("node.ckube.io/unenforced-limits")
    if missing:
        assert condition["status"] == "False"
        assert annotation == ",".join(missing)
        assert all(c in condition["message"] for c in missing)
    else:
        assert condition["status"] == "True"
        assert annotation is None


def test_lease_is_renewed(server_factory):
    srv = server_factory(agent=True)
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{srv.node_name}"
    first = wait_for(lambda: srv.api("GET", path).status == 200 and srv.get_json(path),
                     timeout=20, what="lease")
    assert first["spec"]["holderIdentity"] == srv.node_name
    assert first["spec"]["leaseDurationSeconds"] == 40
    time.sleep(11)
    assert srv.get_json(path)["spec"]["renewTime"] != first["spec"]["renewTime"]
