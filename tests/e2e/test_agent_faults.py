"""What goes wrong on a node: a container that cannot start, a disk that is full. Each pod
says why in its status, the others carry on, and the agent stays up."""
import os
import subprocess
import tempfile

import pytest

from conftest import wait_for


def create(srv, name, node, image, command):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": image, "command": command}]}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()


def waiting(srv, name):
    pod = srv.get_json(f"/api/v1/namespaces/default/pods/{name}")
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return statuses[0].get("state", {}).get("waiting")


def phase(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}").get("status", {}).get(
        "phase")


def test_missing_command_is_reported_and_spares_others(server_factory, registry):
    srv = server_factory(agent=True, registry=registry)
    create(srv, "broken", srv.node_name, registry.image("busybox"), ["/does/not/exist"])
    create(srv, "fine", srv.node_name, registry.image("busybox"), ["sleep", "3600"])
    state = wait_for(lambda: (waiting(srv, "broken") or {}).get("reason") in
                     ("RunContainerError", "CrashLoopBackOff") and waiting(srv, "broken"),
                     timeout=30, what="the start error")
    wait_for(lambda: phase(srv, "fine") == "Running", timeout=30, what="the other pod")
    events = srv.get_json("/api/v1/namespaces/default/events")["items"]
    messages = [e["message"] for e in events if e["involvedObject"]["name"] == "broken"
                and e["reason"] == "Failed"]
    assert any("/does/not/exist" in m for m in messages), (state, messages)
    assert srv.proc.poll() is None


@pytest.fixture
def small_disk():
    """A 256 KiB tmpfs, unmounted and removed at the end."""
    directory = tempfile.mkdtemp(prefix="ckube-e2e-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "ckube-e2e-full", directory],
                   check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", directory], check=False)
        os.rmdir(directory)


def test_full_disk_fails_the_pull_not_the_agent(server_factory, agent_factory, registry,
                                               small_disk):
    srv = server_factory(registry=registry)
    agent = agent_factory(srv, registry=registry)
    agent.stop()
    # The same agent again, its images and writable layers on the small disk.
    agent.data_dir = small_disk
    agent.start()
    wait_for(lambda: srv.api("GET", f"/api/v1/nodes/{agent.node_name}").status == 200,
             timeout=20, what="node registered")
    create(srv, "big", agent.node_name, registry.image("busybox"), ["sleep", "3600"])
    state = wait_for(lambda: (waiting(srv, "big") or {}).get("reason") in
                     ("ErrImagePull", "ImagePullBackOff") and waiting(srv, "big"),
                     timeout=40, what="ErrImagePull")
    assert "no space left on device" in state.get("message", "").lower(), state
    # Its own disk failing, the node does not go on to other registry endpoints.
    assert "https://" not in state["message"], state
    assert agent.proc.poll() is None
    # The node still tells the truth about itself.
    node = srv.get_json(f"/api/v1/nodes/{agent.node_name}")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
