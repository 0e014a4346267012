"""`kubectl logs` of real pods: the API server reads them from the node agent's endpoint (the
kubelet's /containerLogs on its own port, behind the join token) and streams them back.
Asserted with the real kubectl and the official Python client: whole logs, --tail,
--timestamps, --limit-bytes, --since, -f (also across log rotation, and ending with the
container), --previous, the errors kubectl users know, and the endpoint's own guard."""
import http.client
import os
import pathlib
import re
import subprocess
import time
import types
import uuid

import pytest

from conftest import REAL_KUBECTL, nsexec, wait_for

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def node_pod(srv, name, image, command, restart="Always", **spec):
    """A pod bound to the server's own node (no scheduler involved)."""
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeName": srv.node_name, "restartPolicy": restart,
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": image, "command": command}],
                     **spec}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text
    return answer.json


def pod(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}")


def container_status(srv, name):
    statuses = pod(srv, name).get("status", {}).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def wait_running(srv, name):
    wait_for(lambda: pod(srv, name).get("status", {}).get("phase") == "Running", timeout=30,
             what=f"pod {name} Running")


def logs(srv, *args, check=True):
    return srv.kubectl("logs", *args, check=check)


def wait_log(srv, name, text, *args):
    """Until the pod's log (kubectl logs) contains `text`; returns the log."""
    return wait_for(lambda: (lambda out: out if text in out else None)(
        logs(srv, name, *args, check=False).stdout), timeout=20, what=f"{text!r} in the log")


def follower(srv, *args, out):
    """`kubectl logs -f ARGS` in the background, writing to the file `out`."""
    f = open(out, "wb")
    proc = subprocess.Popen([REAL_KUBECTL, "--kubeconfig", srv.kubeconfig, "--cache-dir",
                             srv.cache_dir, "logs", "-f", *args], stdout=f,
                            stderr=subprocess.PIPE)
    f.close()
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def read_file(path):
    with open(path, "rb") as f:
        return f.read().decode()


def log_dir(srv, name, container="main"):
    uid = pod(srv, name)["metadata"]["uid"]
    return os.path.join(srv.root, "logs", f"default_{name}_{uid}", container)


WRITER = "echo line 1; echo line 2; echo line 3; sleep 0.5; echo err >&2; sleep 0.5; echo end; sleep 3600"


def test_logs_options(cluster, registry):
    node_pod(cluster, "talker", registry.image("busybox"), ["sh", "-c", WRITER])
    wait_running(cluster, "talker")
    whole = wait_log(cluster, "talker", "end")
    assert whole == "line 1\nline 2\nline 3\nerr\nend\n"
    assert logs(cluster, "talker", "-c", "main").stdout == whole
    assert logs(cluster, "talker", "--tail=2").stdout == "err\nend\n"
    assert logs(cluster, "talker", "--tail=0").stdout == ""
    assert logs(cluster, "talker", "--limit-bytes=10").stdout == "line 1\nlin"
    assert logs(cluster, "talker", "--since=1h").stdout == whole
    stamped = logs(cluster, "talker", "--timestamps").stdout.splitlines()
    assert len(stamped) == 5
    for line, text in zip(stamped, whole.splitlines()):
        assert re.fullmatch(STAMP + " " + re.escape(text), line), line
    # sinceTime just after the third line's stamp leaves the stderr line and what follows
    # (kubectl sends whole seconds only, so the API is asked directly).
    third = stamped[2].split(" ")[0]
    after = re.sub(r"\.(\d+)Z$", lambda m: ".%09dZ" % (int(m.group(1)) + 1), third)
    answer = cluster.api("GET", f"/api/v1/namespaces/default/pods/talker/log?sinceTime={after}")
    assert answer.status == 200 and answer.text == "err\nend\n", answer
    assert answer.headers["content-type"].startswith("text/plain")
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/talker/log",
                         headers={"Accept": "text/plain"})
    assert answer.status == 200 and answer.text == whole, answer
    # The Python client reads logs without a container parameter.
    api = cluster.python_client()
    assert api.read_namespaced_pod_log("talker", "default") == whole
    assert api.read_namespaced_pod_log("talker", "default", tail_lines=1) == "end\n"
    assert api.read_namespaced_pod_log("talker", "default", limit_bytes=4) == "line"
    text = api.read_namespaced_pod_log("talker", "default", timestamps=True, tail_lines=1)
    assert re.fullmatch(STAMP + " end\n", text), text


def test_logs_errors(cluster, registry):
    node_pod(cluster, "solo", registry.image("busybox"), ["sh", "-c", "echo hi; sleep 3600"])
    wait_running(cluster, "solo")
    wait_log(cluster, "solo", "hi")
    result = logs(cluster, "solo", "--previous", check=False)
    assert result.returncode == 1
    assert result.stderr == ('Error from server (BadRequest): previous terminated container '
                             '"main" in pod "solo" not found\n')
    result = logs(cluster, "solo", "-c", "nope", check=False)
    assert result.returncode == 1
    assert "container nope is not valid for pod solo" in result.stderr
    # A pod of two containers needs a name (the API's own check, as the Python client sends
    # none; kubectl picks the first one itself).
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pair"},
            "spec": {"nodeName": cluster.node_name, "terminationGracePeriodSeconds": 1,
                     "containers": [
                         {"name": "a", "image": registry.image("busybox"),
                          "command": ["sh", "-c", "echo from a; sleep 3600"]},
                         {"name": "b", "image": registry.image("busybox"),
                          "command": ["sh", "-c", "echo from b; sleep 3600"]}]}}
    assert cluster.api("POST", "/api/v1/namespaces/default/pods", body).status == 201
    wait_running(cluster, "pair")
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/pair/log")
    assert answer.status == 400
    assert answer.json["message"] == ("a container name must be specified for pod pair, "
                                      "choose one of: [a b]")
    assert wait_log(cluster, "pair", "from b", "-c", "b") == "from b\n"
    # Option values the API refuses before asking the node.
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/solo/log?tailLines=-1")
    assert answer.status == 422 and answer.json["reason"] == "Invalid", answer
    assert "tailLines" in answer.json["message"]
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/solo/log?limitBytes=x")
    assert answer.status == 400, answer
    # An image that cannot be pulled: the container never ran, and kubectl says why.
    node_pod(cluster, "nopull", f"{registry.address}/does-not-exist:1", ["true"])

    def waiting():
        result = logs(cluster, "nopull", check=False)
        return result if "is waiting to start" in result.stderr else None
    result = wait_for(waiting, timeout=30, what="waiting to start")
    assert result.returncode == 1
    assert re.fullmatch(r'Error from server \(BadRequest\): container "main" in pod "nopull" '
                        r'is waiting to start: \w+\n', result.stderr), result.stderr


def test_follow_streams_and_ends_with_container(cluster, registry, scratch):
    node_pod(cluster, "ticker", registry.image("busybox"),
             ["sh", "-c", "i=0; while [ $i -lt 8 ]; do echo tick $i; i=$((i+1)); sleep 0.5;"
              " done"], restart="Never")
    wait_running(cluster, "ticker")
    out = scratch / "follow"
    start = time.monotonic()
    proc = follower(cluster, "ticker", out=out)
    try:
        # Lines arrive while the container runs, not at its end.
        wait_for(lambda: "tick 1\n" in read_file(out), timeout=10, what="the first ticks")
        assert "tick 7" not in read_file(out)
        # The stream ends by itself once the container has exited.
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        stop(proc)
    assert read_file(out) == "".join(f"tick {i}\n" for i in range(8))
    assert time.monotonic() - start < 15
    # Following a container that has ended gives its log and ends at once.
    result = logs(cluster, "ticker", "-f")
    assert result.stdout == read_file(out)
    # The Python client, streaming.
    api = cluster.python_client()
    resp = api.read_namespaced_pod_log("ticker", "default", follow=True, tail_lines=2,
                                       _preload_content=False)
    assert resp.data.decode() == "tick 6\ntick 7\n"


def test_follow_tail_of_running_container(cluster, registry, scratch):
    node_pod(cluster, "clock", registry.image("busybox"),
             ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"])
    wait_running(cluster, "clock")
    wait_log(cluster, "clock", "tick 3\n")
    out = scratch / "follow"
    proc = follower(cluster, "clock", "--tail=1", out=out)
    try:
        def ticks():
            numbers = [int(m) for m in re.findall(r"^tick (\d+)$", read_file(out), re.M)]
            return numbers if len(numbers) >= 6 else None
        numbers = wait_for(ticks, timeout=15, what="six ticks")
        # One old line, then every new one in order, none twice.
        assert numbers[0] >= 3
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    finally:
        stop(proc)
    # With --tail=0 nothing is there to send at first: the answer must not wait for it.
    last = int(re.findall(r"^tick (\d+)$", logs(cluster, "clock").stdout, re.M)[-1])
    out = scratch / "follow-new"
    start = time.monotonic()
    proc = follower(cluster, "clock", "--tail=0", out=out)
    try:
        wait_for(lambda: read_file(out).count("\n") >= 2, timeout=5, what="new ticks")
        assert time.monotonic() - start < 3
        first = int(re.findall(r"^tick (\d+)$", read_file(out), re.M)[0])
        assert first > last
    finally:
        stop(proc)


def node_connections(srv):
    """Established TCP connections to the agent's endpoint (in the namespace the API server
    and its agent run in)."""
    out = nsexec(srv.netns, "ss", "-Htn", "state", "established",
                 f"( dport = :{srv.node_port} )", check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_follow_ends_at_node_when_client_leaves(cluster, registry, scratch):
    node_pod(cluster, "quiet", registry.image("busybox"), ["sh", "-c", "echo once; sleep 3600"])
    wait_running(cluster, "quiet")
    wait_log(cluster, "quiet", "once")
    out = scratch / "follow"
    proc = follower(cluster, "quiet", out=out)
    try:
        wait_for(lambda: read_file(out) == "once\n", timeout=10, what="the line")
        wait_for(lambda: node_connections(cluster), timeout=5, what="a connection to the node")
    finally:
        stop(proc)
    # The API server notices, and ends its request to the node, which lets go of it.
    wait_for(lambda: not node_connections(cluster), timeout=10,
             what="the node connection closed")
    # Nothing to send yet (a quiet container, no old lines): the answer starts all the same,
    # and the client leaving ends it as well.
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=10)
    start = time.monotonic()
    conn.request("GET", "/api/v1/namespaces/default/pods/quiet/log?follow=true&tailLines=0")
    resp = conn.getresponse()
    assert resp.status == 200
    assert time.monotonic() - start < 3
    wait_for(lambda: node_connections(cluster), timeout=5, what="a connection to the node")
    resp.close()
    conn.close()
    wait_for(lambda: not node_connections(cluster), timeout=10,
             what="the node connection closed")


LINE_COUNT = 25000


def test_follow_across_rotation(cluster, registry, scratch):
    # 25000 lines of 1 KB: the 10 MiB log file rotates twice while a follower reads along
    # (fewer than the 5 files kept, so a slow follower loses nothing either).
    script = ("sleep 3; i=0; while [ $i -lt %d ]; do printf '%%06d %%01000d\\n' $i 0; "
              "i=$((i+1)); done; sleep 3600" % LINE_COUNT)
    node_pod(cluster, "writer", registry.image("busybox"), ["sh", "-c", script])
    wait_running(cluster, "writer")
    out = scratch / "follow"
    proc = follower(cluster, "writer", out=out)
    try:
        def done():
            with open(out, "rb") as f:
                return f.read().count(b"\n") >= LINE_COUNT
        wait_for(done, timeout=120, interval=0.5, what=f"{LINE_COUNT} lines")
        time.sleep(0.5)
    finally:
        stop(proc)
    filler = "0" * 1000
    expected = "".join("%06d %s\n" % (i, filler) for i in range(LINE_COUNT))
    got = read_file(out)
    if got != expected:
        numbers = [int(line.split(" ")[0]) for line in got.splitlines()]
        missing = sorted(set(range(LINE_COUNT)) - set(numbers))
        pytest.fail(f"{len(numbers)} lines, {len(missing)} missing (first {missing[:5]}), "
                    f"in order: {numbers == sorted(numbers)}")
    rotated = [n for n in os.listdir(log_dir(cluster, "writer")) if n.startswith("0.log.")]
    assert len(rotated) >= 2, os.listdir(log_dir(cluster, "writer"))
    # Without -f the whole log is read over the rotated files, and the tail crosses them.
    assert logs(cluster, "writer").stdout == expected
    tail = logs(cluster, "writer", "--tail=3").stdout
    assert tail == expected[-3 * 1008:]


def test_previous_run(cluster, registry):
    # Every run prints something of its own; the first restart is at once, the next after a
    # 10 s back-off, which leaves time to read both runs.
    node_pod(cluster, "twice", registry.image("busybox"),
             ["sh", "-c", "echo run $(cat /proc/sys/kernel/random/uuid); sleep 2; exit 1"])
    wait_for(lambda: container_status(cluster, "twice").get("restartCount", 0) >= 1,
             timeout=40, what="a restart")
    assert container_status(cluster, "twice")["restartCount"] == 1
    # The status can be ahead of the second run's log file by a moment.
    previous = wait_for(lambda: logs(cluster, "twice", "--previous", check=False).stdout,
                        timeout=10, what="the previous run's log")
    current = wait_log(cluster, "twice", "run ")
    assert re.fullmatch(r"run [0-9a-f-]{36}\n", current), current
    assert re.fullmatch(r"run [0-9a-f-]{36}\n", previous), previous
    assert current != previous
    api = cluster.python_client()
    assert api.read_namespaced_pod_log("twice", "default", previous=True) == previous
    stamped = logs(cluster, "twice", "-p", "--timestamps").stdout
    assert re.fullmatch(STAMP + " " + re.escape(previous), stamped), stamped


def test_node_endpoint_needs_the_token(cluster, registry):
    node_pod(cluster, "guarded", registry.image("busybox"), ["sh", "-c", "echo secret; sleep 3600"])
    wait_running(cluster, "guarded")
    wait_log(cluster, "guarded", "secret")
    path = "/containerLogs/default/guarded/main"

    def get(path, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", cluster.node_port, timeout=10)
        try:
            conn.request("GET", path,
                         headers={"Authorization": f"Bearer {token}"} if token else {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()
    assert get(path)[0] == 401
    assert get(path, "not-the-token")[0] == 401
    assert get(path, cluster.token()) == (200, "secret\n")
    assert get(path + "?tailLines=0", cluster.token()) == (200, "")
    status, text = get("/containerLogs/default/absent/main", cluster.token())
    assert status == 404 and "absent" in text
    status, text = get("/containerLogs/default/guarded/other", cluster.token())
    assert status == 404 and "other" in text
    assert get("/containerLogs/default/guarded", cluster.token())[0] == 404
    # The Node tells the API server where this endpoint is.
    node = cluster.get_json(f"/api/v1/nodes/{cluster.node_name}")
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == cluster.node_port


@pytest.fixture
def second_node(cluster, registry, agent_factory):
    """Another node: `ckube agent` joined to the cluster with the join token, with directories,
    a cgroup root, an endpoint port and a network namespace of its own (agent_factory stops
    and cleans it up at the end, its containers with it, and fails on an unclean exit)."""
    agent = agent_factory(cluster, registry=registry,
                          name=f"node2-{uuid.uuid4().hex[:6]}")
    wait_for(lambda: cluster.api("GET", f"/api/v1/nodes/{agent.node_name}").status == 200,
             timeout=15, what="the second node registered")
    return types.SimpleNamespace(name=agent.node_name, port=agent.node_port,
                                 root=pathlib.Path(agent.root))


def test_logs_of_a_pod_on_another_node(cluster, registry, second_node, scratch):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "remote"},
            "spec": {"nodeName": second_node.name, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": registry.image("busybox"),
                                     "command": ["sh", "-c",
                                                 "echo far away; sleep 1; echo later; "
                                                 "sleep 3600"]}]}}
    assert cluster.api("POST", "/api/v1/namespaces/default/pods", body).status == 201
    wait_running(cluster, "remote")
    node = cluster.get_json(f"/api/v1/nodes/{second_node.name}")
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == second_node.port
    assert wait_log(cluster, "remote", "later") == "far away\nlater\n"
    # The log lives on that node only.
    def has_log(logs_dir):
        return os.path.isdir(logs_dir) and any(n.startswith("default_remote_")
                                               for n in os.listdir(logs_dir))
    assert has_log(second_node.root / "logs")
    assert not has_log(os.path.join(cluster.root, "logs"))
    out = scratch / "follow"
    proc = follower(cluster, "remote", "--tail=1", out=out)
    try:
        wait_for(lambda: read_file(out) == "later\n", timeout=10, what="the followed line")
    finally:
        stop(proc)
