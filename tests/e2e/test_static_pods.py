"""Static pods from a node's manifest directory: run with or without the API server, shown
in the API through mirror pods; and an agent whose API server goes away keeps its pods and
catches up when it is back."""
import glob
import json
import os
import signal
import time

from conftest import wait_for

MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sleep", "3600"]
"""


def write_manifest(directory, name, image):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.yaml")
    with open(path + ".tmp", "w") as f:
        f.write(MANIFEST.format(name=name, image=image))
    os.rename(path + ".tmp", path)
    return path


def get_pod(srv, name):
    answer = srv.api("GET", f"/api/v1/namespaces/default/pods/{name}")
    return answer.json if answer.status == 200 else None


def running(srv, name):
    pod = get_pod(srv, name)
    return pod if pod and pod.get("status", {}).get("phase") == "Running" else None


def container_pids(run_dir, pod_name):
    """Host pids of the running containers of pods named `pod_name`, from the runtime's
    state files (what runs, whatever the API says)."""
    pids = []
    for path in glob.glob(os.path.join(run_dir, "containers", "*", "state.json")):
        with open(path) as f:
            state = json.load(f)
        if state.get("annotations", {}).get("podName") == pod_name and \
                os.path.exists(f"/proc/{state['pid']}"):
            pids.append(state["pid"])
    return pids


def test_static_pod_and_its_mirror(server_factory, registry):
    srv = server_factory(agent=True, registry=registry)
    name = f"web-{srv.node_name}"
    path = write_manifest(os.path.join(srv.config_dir, "manifests"), "web",
                          registry.image("busybox"))
    mirror = wait_for(lambda: running(srv, name), timeout=40, what="mirror pod Running")
    annotations = mirror["metadata"]["annotations"]
    assert annotations["kubernetes.io/config.source"] == "file"
    assert annotations["kubernetes.io/config.mirror"] == annotations["kubernetes.io/config.hash"]
    assert mirror["spec"]["nodeName"] == srv.node_name
    assert mirror["status"]["containerStatuses"][0]["ready"] is True
    pids = container_pids(os.path.join(srv.root, "run"), name)
    assert len(pids) == 1
    # Deleting the mirror does not stop the static pod: the agent makes a new mirror.
    srv.kubectl("delete", "pod", name, "--wait=false")
    wait_for(lambda: (running(srv, name) or {}).get("metadata", {}).get("uid")
             not in (None, mirror["metadata"]["uid"]), timeout=30, what="a new mirror")
    assert container_pids(os.path.join(srv.root, "run"), name) == pids
    # Removing the manifest stops the pod and removes the mirror.
    os.unlink(path)
    wait_for(lambda: get_pod(srv, name) is None, timeout=30, what="mirror gone")
    wait_for(lambda: not container_pids(os.path.join(srv.root, "run"), name), timeout=20,
             what="container stopped")
    wait_for(lambda: srv.node_leftovers() == {}, timeout=20, what="no leftovers")


def test_agent_without_api_server(server_factory, agent_factory, registry):
    srv = server_factory(registry=registry)
    agent = agent_factory(srv, registry=registry)
    wait_for(lambda: srv.api("GET", f"/api/v1/nodes/{agent.node_name}").status == 200,
             timeout=20, what="node registered")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "steady"},
            "spec": {"nodeName": agent.node_name, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": registry.image("busybox"),
                                     "command": ["sleep", "3600"]}]}}
    assert srv.api("POST", "/api/v1/namespaces/default/pods", body).status == 201
    wait_for(lambda: running(srv, "steady"), timeout=40, what="pod Running")
    pids = container_pids(agent.run_dir, "steady")
    assert len(pids) == 1

    code = srv.stop()
    assert code == 0, srv.log()[-3000:]
    # Without its API server the agent keeps its pods and starts static ones.
    static_name = f"solo-{agent.node_name}"
    write_manifest(agent.manifests_dir, "solo", registry.image("busybox"))
    wait_for(lambda: container_pids(agent.run_dir, static_name), timeout=40,
             what="static pod running without the API server")
    time.sleep(2)
    assert container_pids(agent.run_dir, "steady") == pids
    assert agent.proc.poll() is None

    srv.start()
    # Back: the static pod gets its mirror, the pod was not restarted, new work is done.
    wait_for(lambda: running(srv, static_name), timeout=40, what="mirror pod")
    steady = running(srv, "steady")
    assert steady["status"]["containerStatuses"][0]["restartCount"] == 0
    assert container_pids(agent.run_dir, "steady") == pids
    body["metadata"]["name"] = "later"
    assert srv.api("POST", "/api/v1/namespaces/default/pods", body).status == 201
    wait_for(lambda: running(srv, "later"), timeout=40, what="a new pod Running")
    os.kill(pids[0], 0)
    assert agent.stop(signal.SIGTERM) == 0
