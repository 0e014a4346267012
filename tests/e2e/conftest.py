"""Fixtures for end-to-end tests: a real `ckube server` on a free loopback port with its own
directories, and the clients a user would point at it (the real kubectl, ckube kubectl and the
official Python client); node agents, each in a network namespace of its own with relays to
the test process's loopback (netlab.py); and clusters of nodes on a LAN of namespaces."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest

from netlab import ROOT, Lab, Netns, run, split_address

CKUBE = os.environ.get("CKUBE_BIN", os.path.join(os.path.dirname(__file__), "../../build/ckube"))
REAL_KUBECTL = "/usr/bin/kubectl"
# kubectl 1.27 sits beside the dispatcher on machines with Google's SDK; 1.20 is Debian's
# kubernetes-client, unpacked by scripts/deps.sh when another kubectl owns /usr/bin/kubectl.
KUBECTL_1_27 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"
KUBECTL_1_20_CANDIDATES = [
    os.path.join(os.environ.get("CKUBE_TOOLS_DIR", "/var/cache/ckube-tools"),
                 "kubectl-1.20/usr/bin/kubectl"),
]


def kubectl_1_20():
    """Debian's kubectl 1.20, wherever this machine has it, or None."""
    for path in KUBECTL_1_20_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    try:
        out = subprocess.run([REAL_KUBECTL, "version", "--client", "--short"],
                             capture_output=True, text=True, timeout=10).stdout
        if "v1.20." in out:
            return REAL_KUBECTL
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeCleanup:
    """What a node agent leaves on this machine under `self.root` and in the cgroup tree
    `self.cgroup_root` (None: no agent), and removing it."""

    def node_leftovers(self):
        """What the agent's pods left on this machine: pinned namespaces and other mounts
        under the server's directories, cgroups and their processes."""
        left = {}
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if self.root in line]
        if mounts:
            left["mounts"] = mounts
        if self.cgroup_root:
            top = os.path.join(cgroup2_mount(), self.cgroup_root)
            pods = []
            for path, dirs, _ in os.walk(top):
                pods += [os.path.join(path, d) for d in dirs if d.startswith("pod")]
            if pods:
                left["pod cgroups"] = pods
        return left

    def clean_node(self):
        """Kills what the agent's containers left running (they outlive the agent by design)
        and removes their cgroups and pinned namespaces."""
        if self.cgroup_root:
            top = os.path.join(cgroup2_mount(), self.cgroup_root)
            if os.path.isdir(top):
                with open(os.path.join(top, "cgroup.kill"), "w") as f:
                    f.write("1")
                # Killed processes leave their cgroups a moment later; removing one before
                # that fails with EBUSY.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    with open(os.path.join(top, "cgroup.events")) as f:
                        if "populated 0" in f.read():
                            break
                    time.sleep(0.02)
                for path, dirs, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                    for d in dirs:
                        try:
                            os.rmdir(os.path.join(path, d))
                        except OSError:
                            pass
                os.rmdir(top)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if self.root in line]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)


class NodeProcess(NodeCleanup):
    """A node's long-running ckube process (`self.proc`, logging to `self.log_path`)."""

    def stop(self, sig=signal.SIGTERM):
        """Stops the process (SIGKILL for a crash); its exit status (None when it was not
        running). A clean stop exits 0; anything else (a crash, a sanitizer report) is a
        failure. Its containers keep running, as on a real node."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Server(NodeProcess):
    """One `ckube server` process with its own directories under a temporary root.

    With agent=True it runs this node's agent too, which builds its pod network where it runs:
    so the server runs in a network namespace of its own (`self.netns`, made at the first
    start, kept across restarts, deleted by close_network()), and relays (`self.lab`) make its
    API port and the agent's node port answer on the test process's 127.0.0.1 as well, and the
    registry's port answer inside the namespace."""

    def __init__(self, root, extra_args=(), host="127.0.0.1", netns=None, port=None,
                 agent=False, registry=None):
        self.root = root
        # agent: run this node's agent too, with a node name and a cgroup root of its own.
        self.agent = agent
        self.node_name = f"node-{uuid.uuid4().hex[:8]}" if agent else None
        self.cgroup_root = f"ckube-e2e-{uuid.uuid4().hex[:12]}" if agent else None
        # The agent's endpoint (logs, exec), on a port of its own so that servers can coexist.
        self.node_port = free_port() if agent else None
        self.host = host
        # netns: the name of a network namespace (made by the test) to run the server in; for
        # an agent the harness makes one (see _make_network) unless the test gives one.
        self.netns = netns
        self.net = Netns(netns) if netns else ROOT
        # lab: the namespace and relays the harness made for the agent (None: none made).
        self.lab = None
        self.registry = registry
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.data_dir = os.path.join(root, "data")
        self.config_dir = os.path.join(root, "config")
        self.kubeconfig = os.path.join(self.config_dir, "admin.kubeconfig")
        self.cache_dir = os.path.join(root, "kubectl-cache")
        self.log_path = os.path.join(root, "server.log")
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self, timeout=15):
        args = [CKUBE, "server", "--listen", f"{self.host}:{self.port}",
                "--data-dir", self.data_dir, "--run-dir", os.path.join(self.root, "run"),
                "--log-dir", os.path.join(self.root, "logs"), "--config-dir", self.config_dir]
        if self.agent:
            # The node's address is loopback: tests address nothing else on this machine.
            args += ["--node-name", self.node_name, "--node-ip", "127.0.0.1",
                     "--node-port", str(self.node_port), "--cgroup-root", self.cgroup_root]
        else:
            args += ["--no-agent"]
        args += self.extra_args
        if self.agent and self.netns is None:
            self._make_network()
        args = self.net.argv(*args)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ckube server exited with {self.proc.returncode}:\n"
                                   + self.log())
            if self._ready():
                return self
            time.sleep(0.05)
        raise RuntimeError("ckube server did not become ready:\n" + self.log())

    def _make_network(self):
        """The agent's namespace, and relays: the API and node ports from the test process's
        loopback into it, the registry's port from it to the test process's loopback. The
        namespace is fresh, so the ports picked free here are free there too."""
        assert self.host == "127.0.0.1", "an agent's server listens on loopback"
        self.lab = Lab()
        self.net = self.lab.netns()
        self.netns = self.net.name
        self.lab.relay(ROOT, (self.host, self.port), self.net)
        self.lab.relay(ROOT, ("127.0.0.1", self.node_port), self.net)
        if self.registry:
            self.lab.relay(self.net, split_address(self.registry.address), ROOT)

    def close_network(self):
        """Stops the relays and deletes the namespace the harness made (nothing otherwise).
        The server and its agent's containers must be gone first (stop(), clean_node())."""
        if self.lab:
            lab, self.lab = self.lab, None
            lab.close()
        elif not self.net.is_root:
            self.net.close()  # a thread that made sockets in the test's namespace ends

    def _ready(self):
        if self.netns and not self.lab:
            # The server is only reachable from inside its namespace; ask from there, at the
            # address its kubeconfig names (http or https), with the token (off loopback every
            # request needs it).
            if not (os.path.exists(self.kubeconfig) and
                    os.path.exists(os.path.join(self.data_dir, "token"))):
                return False
            proc = subprocess.run(
                ["nsenter", f"--net=/var/run/netns/{self.netns}", "--", "curl", "-k", "-s",
                 "-o", "/dev/null", "-w", "%{http_code}", "-m", "1", "-H",
                 f"Authorization: Bearer {self.token()}", self.kubeconfig_server() + "/readyz"],
                capture_output=True, text=True, timeout=10)
            return proc.stdout == "200"
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                return resp.status == 200 and os.path.exists(self.kubeconfig)
        except OSError:
            return False

    def restart(self, sig=signal.SIGTERM):
        """Stops the server (SIGKILL for a crash) and starts it again on the same port and
        directories."""
        if sig == signal.SIGKILL and self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        code = self.stop(sig)
        assert code in (None, 0), f"ckube server exited {code}:\n{self.log()[-4000:]}"
        return self.start()

    def kubeconfig_server(self):
        """The server URL the admin kubeconfig gives clients."""
        with open(self.kubeconfig) as f:
            for line in f:
                if line.strip().startswith("server:"):
                    return line.split(":", 1)[1].strip()
        raise AssertionError(f"no server in {self.kubeconfig}")

    def token(self):
        with open(os.path.join(self.data_dir, "token")) as f:
            return f.read().strip()

    def kubectl(self, *args, binary=REAL_KUBECTL, input=None, check=True, timeout=60):
        """Runs a real kubectl against this server with its own kubeconfig and cache."""
        cmd = [binary, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir, *args]
        return run(cmd, input=input, check=check, timeout=timeout)

    def ckube_kubectl(self, *args, input=None, check=True, timeout=60):
        cmd = [CKUBE, "kubectl", "--kubeconfig", self.kubeconfig, *args]
        return run(cmd, input=input, check=check, timeout=timeout)

    def python_client(self):
        """An official Python client (Debian's python3-kubernetes) configured for this server."""
        from kubernetes import client, config
        api_client = config.new_client_from_config(config_file=self.kubeconfig)
        return client.CoreV1Api(api_client)

    def api(self, method, path, body=None, headers=None, token=None, timeout=30):
        """One raw HTTP request to the API from the loopback: body is JSON-encoded unless it is
        bytes or str. Returns an ApiAnswer (status, headers, raw body, .json)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return api_request(conn, method, path, body, headers, token)

    def watch(self, path, count, timeout=10, **params):
        """Opens a watch (params become the query, e.g. resourceVersion=5) and returns its
        first `count` events as decoded JSON, failing if they do not come in time. The
        connection is closed afterwards."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return watch_events(conn, path, count, params)

    def get_json(self, path):
        """GET that must answer 200; returns the decoded JSON."""
        answer = self.api("GET", path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.text}"
        return answer.json

    def revision(self):
        """The store's current revision, as a list answers it."""
        return int(self.get_json("/api/v1/namespaces")["metadata"]["resourceVersion"])

    def snapshot(self):
        """What a user can list of the store: the revision and every object's name and
        resourceVersion, for proving that a request changed nothing."""
        state = {}
        for path in ("/api/v1/namespaces", "/api/v1/pods", "/api/v1/services",
                     "/api/v1/nodes", "/api/v1/endpoints", "/api/v1/events"):
            items = self.get_json(path)["items"]
            state[path] = sorted((i["metadata"].get("namespace", ""), i["metadata"]["name"],
                                  i["metadata"]["resourceVersion"]) for i in items)
        return self.revision(), state

    def settled_snapshot(self, quiet=0.3, timeout=10):
        """A snapshot once the controllers have stopped writing (the scheduler's verdicts and
        events come a moment after a create): two snapshots `quiet` seconds apart agree."""
        deadline = time.monotonic() + timeout
        previous = self.snapshot()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            current = self.snapshot()
            if current == previous:
                return current
            previous = current
        raise AssertionError("the store kept changing for %s s" % timeout)


def api_request(conn, method, path, body=None, headers=None, token=None):
    """One request on an http.client connection (closed afterwards): body is JSON-encoded
    unless it is bytes or str. Returns an ApiAnswer."""
    hdrs = {"Accept": "application/json"}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return ApiAnswer(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()


def watch_events(conn, path, count, params, token=None):
    """The first `count` events of a watch on an http.client connection (closed afterwards)."""
    query = "&".join(["watch=true"] + [f"{k}={v}" for k, v in params.items()])
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("GET", f"{path}?{query}", headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200, f"watch {path}: {resp.status} {resp.read()[:500]!r}"
        events = []
        while len(events) < count:
            line = resp.readline()
            if not line:
                raise AssertionError(f"watch {path} ended after {events}")
            if line.strip():
                events.append(json.loads(line))
        return events
    finally:
        conn.close()


class ApiAnswer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.text[:500]}>"


class Table:
    """A kubectl table: header cells and one dict per row, keyed by header."""

    def __init__(self, header, rows):
        self.header = header
        self.rows = rows

    def __repr__(self):
        return f"Table({self.header!r}, {self.rows!r})"


def parse_table(text):
    """Parses kubectl's column output. Cells are cut at the columns where the header's cells
    start (kubectl aligns every row to them), so cells with spaces ("NOMINATED NODE", event
    messages) stay whole."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return Table([], [])
    starts = [m.start() for m in re.finditer(r"(?:(?<=\s\s)|^)\S", lines[0])]
    header = [lines[0][a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(header, cells)))
    return Table(header, rows)


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class LineReader:
    """A long-running client (kubectl get -w, kubectl wait) whose output lines are collected as
    they come, so a test can wait for a line instead of sleeping."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.lines = []
        self.err_lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._pump,
                                          args=(self.proc.stderr, self.err_lines), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink):
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, predicate, timeout=10.0, what="a line", stderr=False):
        """Waits for an output line (of stderr when asked) that satisfies predicate; returns
        it."""
        deadline = time.monotonic() + timeout
        sink = self.err_lines if stderr else self.lines
        with self._cond:
            while True:
                for line in sink:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(
                        t.is_alive() for t in self._threads)):
                    raise AssertionError(f"no {what} from {' '.join(self.cmd)}; stdout: "
                                         f"{self.lines!r}; stderr: {self.err_lines!r}")
                self._cond.wait(min(left, 0.2))

    def wait_exit(self, timeout=30.0):
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)


def take_down(nodes, what, roots):
    """The end of a test's nodes, also when it failed: each is stopped, what its containers
    left is removed, then its namespace and relays, then the directories `roots`. Fails the
    test when a node did not exit cleanly (a crash, a sanitizer report)."""
    unclean = []
    errors = []
    for node in nodes:
        try:
            code = node.stop()
            if code not in (None, 0):
                unclean.append(f"{what} exited {code}; its log ends:\n{node.log()[-4000:]}")
            node.clean_node()
        except Exception as e:  # noqa: BLE001 - every node is still taken down
            errors.append(e)
        finally:
            try:
                node.close_network()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    if errors:
        raise errors[0]
    if unclean:
        pytest.fail("\n".join(unclean))


@pytest.fixture
def server_factory():
    """Makes servers that are stopped and removed at the end of the test, also on failure."""
    made = []
    roots = []

    def make(extra_args=(), root=None, host="127.0.0.1", netns=None, agent=False,
             registry=None):
        if root is None:
            root = tempfile.mkdtemp(prefix="ckube-e2e-")
            roots.append(root)
        srv = Server(root, extra_args, host=host, netns=netns, agent=agent, registry=registry)
        if registry:
            registry.write_registries(srv.config_dir)
        made.append(srv)
        return srv.start()

    yield make
    take_down(made, "ckube server", roots)


@pytest.fixture
def server(server_factory):
    return server_factory()


class Agent(NodeProcess):
    """One `ckube agent` process joined to a server, with its own directories and cgroup
    root under a temporary root (a second node, or a node whose API server comes and goes).

    It runs in a network namespace of its own (`self.net`, `self.netns`: made at the first
    start, kept across restarts, deleted by close_network()). Relays (`self.lab`) carry, at the
    same loopback addresses and ports as without namespaces: the agent's requests to its API
    server (server.url) into the server's namespace, the API server's requests to the agent's
    node port (logs, exec) from the server's namespace (and the test process's) into the
    agent's, and the agent's pulls to the test registry out to the test process's loopback."""

    def __init__(self, root, server, name=None, registry=None):
        self.root = root
        self.server = server
        self.node_name = name or f"node-{uuid.uuid4().hex[:8]}"
        self.cgroup_root = f"ckube-e2e-{uuid.uuid4().hex[:12]}"
        self.node_port = free_port()
        self.config_dir = os.path.join(root, "config")
        self.run_dir = os.path.join(root, "run")
        self.data_dir = os.path.join(root, "data")
        self.manifests_dir = os.path.join(self.config_dir, "manifests")
        self.log_path = os.path.join(root, "agent.log")
        self.registry = registry
        self.net = None
        self.netns = None
        self.lab = None
        self.proc = None

    def _make_network(self):
        server = self.server
        host = "127.0.0.1" if server.host == "0.0.0.0" else server.host
        assert host.startswith("127."), \
            f"an agent reaches its server on loopback, not {server.host}"
        self.lab = Lab()
        self.net = self.lab.netns()
        self.netns = self.net.name
        self.lab.relay(self.net, (host, server.port), server.net)
        self.lab.relay(server.net, ("127.0.0.1", self.node_port), self.net)
        if not server.net.is_root:
            self.lab.relay(ROOT, ("127.0.0.1", self.node_port), self.net)
        if self.registry:
            self.lab.relay(self.net, split_address(self.registry.address), ROOT)

    def close_network(self):
        """Stops the relays and deletes the namespace (the agent and its containers must be
        gone first: stop(), clean_node())."""
        if self.lab:
            lab, self.lab = self.lab, None
            lab.close()

    def start(self):
        os.makedirs(self.config_dir, exist_ok=True)
        if self.lab is None:
            self._make_network()
        token_file = os.path.join(self.server.data_dir, "token")
        args = [CKUBE, "agent", "--server", self.server.url, "--token-file", token_file,
                "--node-name", self.node_name, "--node-ip", "127.0.0.1",
                "--node-port", str(self.node_port), "--cgroup-root", self.cgroup_root,
                "--data-dir", self.data_dir, "--run-dir", self.run_dir,
                "--log-dir", os.path.join(self.root, "logs"), "--config-dir", self.config_dir]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.net.argv(*args), stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

@pytest.fixture
def agent_factory(server_factory):
    """Makes `ckube agent`s joined to a server, each in a network namespace of its own;
    stopped, cleaned and removed (namespace and relays too) at the end of the test (a clean
    stop must exit 0). It depends on server_factory so that the agents, which relay into
    their servers' namespaces, are taken down before their servers."""
    made = []

    def make(server, registry=None, name=None):
        root = tempfile.mkdtemp(prefix="ckube-e2e-agent-")
        agent = Agent(root, server, name, registry=registry)
        if registry:
            registry.write_registries(agent.config_dir)
        made.append(agent)
        return agent.start()

    yield make
    take_down(made, "ckube agent", [agent.root for agent in made])


@pytest.fixture
def scratch():
    """A temporary directory (pathlib.Path) removed at the end of the test, also on failure."""
    import pathlib
    root = tempfile.mkdtemp(prefix="ckube-e2e-scratch-")
    yield pathlib.Path(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def spawn():
    """Starts long-running clients as LineReaders; every one is stopped at the end."""
    started = []

    def start(cmd):
        reader = LineReader(cmd)
        started.append(reader)
        return reader

    yield start
    for reader in started:
        reader.stop()


KUBECTL_VERSIONS = {
    "1.32": lambda: REAL_KUBECTL if os.access(REAL_KUBECTL, os.X_OK) else None,
    "1.27": lambda: KUBECTL_1_27 if os.access(KUBECTL_1_27, os.X_OK) else None,
    "1.20": kubectl_1_20,
}


@pytest.fixture(params=list(KUBECTL_VERSIONS))
def kubectl_version(request):
    """(version, binary) for each real kubectl; skipped with a reason where it is absent."""
    binary = KUBECTL_VERSIONS[request.param]()
    if binary is None:
        pytest.skip(f"kubectl {request.param} is not installed on this machine")
    return request.param, binary


@pytest.fixture
def netns():
    """A network namespace of the test's own, with lo up and a veth pair whose two ends both
    live inside it (10.213.0.1/24 and 10.213.0.2/24). Deleted at the end, also on failure.
    Nothing is created in, or changed about, the machine's own namespace."""
    name = f"ckube-e2e-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "e2e0", "type", "veth", "peer", "name", "e2e1"],
                    ["addr", "add", "10.213.0.1/24", "dev", "e2e0"],
                    ["addr", "add", "10.213.0.2/24", "dev", "e2e1"],
                    ["link", "set", "e2e0", "up"],
                    ["link", "set", "e2e1", "up"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def nsexec(name, *cmd, input=None, check=False, timeout=60):
    """Runs a command inside the test's network namespace (nsenter keeps /sys as it is)."""
    return run(["nsenter", f"--net=/var/run/netns/{name}", "--", *cmd], input=input,
               check=check, timeout=timeout)



# --- A cluster of nodes on a LAN of their own ------------------------------------------------
# Each node is a network namespace joined to a "LAN" namespace's bridge by a veth (eth0 on the
# node, 10.77.0.(10+K)/24). Node 0 runs `ckube server` with its agent on 10.77.0.10:6443 (off
# loopback: HTTPS with the server's own CA and the bearer token); the others run `ckube agent`
# joined to it. Every process sees this machine's file system, mounts and cgroups as the tests
# do; only the network is the node's own.

CLUSTER_LAN = "10.77.0"
CLUSTER_API_PORT = 6443
CLUSTER_NODE_PORT = 10250


class ClusterNode(NodeProcess):
    """Node K of a Cluster: its namespace (`net`, `netns`), address (`ip`), name (`name`,
    cnode-K), directories under `root`, cgroup root, and its process (`ckube server` with the
    agent on node 0, `ckube agent` elsewhere)."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = f"cnode-{index}"
        self.ip = f"{CLUSTER_LAN}.{10 + index}"
        self.node_port = CLUSTER_NODE_PORT
        self.root = os.path.join(cluster.root, f"node{index}")
        self.data_dir = os.path.join(self.root, "data")
        self.run_dir = os.path.join(self.root, "run")
        self.log_dir = os.path.join(self.root, "logs")
        self.config_dir = os.path.join(self.root, "config")
        self.manifests_dir = os.path.join(self.config_dir, "manifests")
        self.log_path = os.path.join(self.root, "node.log")
        self.cgroup_root = f"ckube-e2e-{uuid.uuid4().hex[:12]}"
        self.net = None
        self.netns = None
        self.proc = None
        os.makedirs(self.config_dir, exist_ok=True)

    def __repr__(self):
        return f"<ClusterNode {self.name} {self.ip} in {self.netns}>"

    @property
    def is_server(self):
        return self.index == 0

    def command(self):
        common = ["--node-name", self.name, "--node-ip", self.ip,
                  "--node-port", str(self.node_port), "--cgroup-root", self.cgroup_root,
                  "--data-dir", self.data_dir, "--run-dir", self.run_dir,
                  "--log-dir", self.log_dir, "--config-dir", self.config_dir]
        if self.is_server:
            return [CKUBE, "server", "--listen", f"{self.ip}:{CLUSTER_API_PORT}", *common,
                    *self.cluster.server_args]
        return [CKUBE, "agent", "--server", self.cluster.server_url,
                "--token-file", self.cluster.token_file, "--ca-file", self.cluster.ca_file,
                *common, *self.cluster.agent_args]

    def start(self):
        """Starts the node's process (again, after stop(): same namespace and directories)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.net.argv(*self.command()), stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

    def exec(self, *cmd, input=None, check=False, timeout=60):
        """Runs CMD in the node's network namespace; the CompletedProcess (text)."""
        return self.net.run(*cmd, input=input, check=check, timeout=timeout)


class Cluster:
    """N nodes on a LAN of their own (see above). `nodes[K]` are ClusterNodes; `lan` is the
    LAN namespace (bridge lan0, ports nK); `server` is nodes[0]. Clients run in node 0's
    namespace: `kubectl` (the real one, through nsenter, with the server's admin kubeconfig),
    `api`/`get_json`/`watch` (HTTPS sockets made in node 0's namespace, the server's CA and
    token). With a registry each node's config has registries.yaml for it and a relay makes
    its 127.0.0.1 port answer inside the node. close() removes everything."""

    def __init__(self, root, nodes=3, registry=None, server_args=(), agent_args=()):
        assert 1 <= nodes <= 200
        self.root = root
        self.registry = registry
        self.server_args = list(server_args)
        self.agent_args = list(agent_args)
        self.lab = Lab()
        self.lan = None
        self.nodes = [ClusterNode(self, k) for k in range(nodes)]
        self.server = self.nodes[0]
        self.server_url = f"https://{self.server.ip}:{CLUSTER_API_PORT}"
        self.kubeconfig = os.path.join(self.server.config_dir, "admin.kubeconfig")
        self.token_file = os.path.join(self.server.data_dir, "token")
        self.ca_file = os.path.join(self.server.data_dir, "tls", "ca.crt")
        self.cache_dir = os.path.join(root, "kubectl-cache")
        self.closed = False
        self._ssl = None

    def start(self, timeout=30):
        """Builds the network, starts the server and waits until it answers, then starts the
        agents (not waiting for them: wait_nodes_ready())."""
        self._make_network()
        self.server.start()
        deadline = time.monotonic() + timeout
        while not self._server_ready():
            if self.server.proc.poll() is not None:
                raise RuntimeError(f"ckube server of the cluster exited "
                                   f"{self.server.proc.returncode}:\n{self.server.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError("ckube server of the cluster did not become ready:\n"
                                   + self.server.log())
            time.sleep(0.05)
        for node in self.nodes[1:]:
            node.start()
        return self

    def _make_network(self):
        self.lan = self.lab.netns("ckube-e2e-lan")
        self.lan.ip("link", "add", "lan0", "type", "bridge")
        self.lan.ip("link", "set", "lan0", "up")
        for node in self.nodes:
            node.net = self.lab.netns(f"ckube-e2e-cnode{node.index}")
            node.netns = node.net.name
            port = f"n{node.index}"
            # Made from inside the LAN namespace: the machine's own namespace never holds
            # even half of the pair.
            self.lan.ip("link", "add", port, "type", "veth", "peer", "name", "eth0",
                        "netns", node.netns)
            self.lan.ip("link", "set", port, "master", "lan0")
            self.lan.ip("link", "set", port, "up")
            node.net.ip("addr", "add", f"{node.ip}/24", "dev", "eth0")
            node.net.ip("link", "set", "eth0", "up")
            if self.registry:
                self.registry.write_registries(node.config_dir)
                self.lab.relay(node.net, split_address(self.registry.address), ROOT)

    def _server_ready(self):
        if not all(os.path.exists(p) for p in (self.kubeconfig, self.token_file, self.ca_file)):
            return False
        try:
            return self.api("GET", "/readyz", timeout=2).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def token(self):
        with open(self.token_file) as f:
            return f.read().strip()

    def ssl_context(self):
        """TLS that trusts the cluster's CA only (checked against 10.77.0.10)."""
        if self._ssl is None:
            import ssl
            self._ssl = ssl.create_default_context(cafile=self.ca_file)
        return self._ssl

    def connection(self, timeout=30):
        """An http.client HTTPS connection to the API server, its socket made in node 0."""
        return self.server.net.http_connection(self.server.ip, CLUSTER_API_PORT,
                                               timeout=timeout, context=self.ssl_context())

    def api(self, method, path, body=None, headers=None, token=True, timeout=30):
        """One request to the API with the admin token (token=None: without one; a string:
        that one); an ApiAnswer as Server.api gives."""
        if token is True:
            token = self.token()
        return api_request(self.connection(timeout), method, path, body, headers, token)

    def get_json(self, path):
        answer = self.api("GET", path)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.text}"
        return answer.json

    def watch(self, path, count, timeout=10, **params):
        return watch_events(self.connection(timeout), path, count, params, token=self.token())

    def kubectl_argv(self, *args, binary=REAL_KUBECTL):
        """The command line of a kubectl run in node 0 against the cluster (for spawn())."""
        return self.server.net.argv(binary, "--kubeconfig", self.kubeconfig,
                                    "--cache-dir", self.cache_dir, *args)

    def kubectl(self, *args, binary=REAL_KUBECTL, input=None, check=True, timeout=60):
        return run(self.kubectl_argv(*args, binary=binary), input=input, check=check,
                   timeout=timeout)

    def node_exec(self, k, *cmd, input=None, check=False, timeout=60):
        """Runs CMD in node K's network namespace; the CompletedProcess (text)."""
        return self.nodes[k].exec(*cmd, input=input, check=check, timeout=timeout)

    def connect(self, k, host, port, timeout=10):
        """A TCP socket connected from inside node K to (host, port)."""
        return self.nodes[k].net.connect((host, port), timeout=timeout)

    def wait_nodes_ready(self, timeout=60):
        """Waits until every node is registered and Ready; returns the Node objects."""
        names = {node.name for node in self.nodes}

        def ready():
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise AssertionError(f"{node.name} exited {node.proc.returncode}:\n"
                                         f"{node.log()[-4000:]}")
            items = self.get_json("/api/v1/nodes")["items"]
            found = {i["metadata"]["name"]: i for i in items}
            if not names <= set(found):
                return None
            for name in names:
                conditions = found[name].get("status", {}).get("conditions", [])
                if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return None
            return [found[node.name] for node in self.nodes]
        return wait_for(ready, timeout=timeout, interval=0.2, what="every node Ready")

    def close(self):
        """Stops the agents and the server, kills what their pods left (cgroups, mounts),
        deletes the relays and namespaces and the directories. Returns what went wrong that
        a test should see (a process that did not exit 0); safe to call twice."""
        if self.closed:
            return []
        self.closed = True
        unclean, errors = [], []
        for node in reversed(self.nodes):  # the agents before their server
            try:
                code = node.stop()
                if code not in (None, 0):
                    unclean.append(f"{node.name} exited {code}; its log ends:\n"
                                   f"{node.log()[-4000:]}")
            except Exception as e:  # noqa: BLE001 - everything is still removed
                errors.append(e)
        for node in self.nodes:
            try:
                node.clean_node()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        try:
            self.lab.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]
        return unclean


@pytest.fixture
def cluster_factory():
    """Makes Clusters: cluster_factory(nodes=3, registry=None, server_args=(), agent_args=())
    returns a started one (server ready, agents starting). Each is closed at the end of the
    test, also on failure; a node process that did not stop cleanly fails the test."""
    made = []

    def make(nodes=3, registry=None, server_args=(), agent_args=()):
        root = tempfile.mkdtemp(prefix="ckube-e2e-cluster-")
        cluster = Cluster(root, nodes, registry, server_args, agent_args)
        made.append(cluster)
        return cluster.start()

    yield make
    unclean, errors = [], []
    for cluster in made:
        try:
            unclean += cluster.close()
        except Exception as e:  # noqa: BLE001 - every cluster is still closed
            errors.append(e)
    if errors:
        raise errors[0]
    if unclean:
        pytest.fail("\n".join(unclean))

def make_node(srv, name, cpu="4", memory="8Gi", pods="110", ready=True, labels=None,
              taints=None, unschedulable=False, lease=True):
    """Registers a Node through the API the way a kubelet would: the object, then its status
    (Ready, capacity and allocatable) through the status subresource, and a Lease in
    kube-node-lease. Returns the node as read back."""
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": {}}
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    answer = srv.api("POST", "/api/v1/nodes", node)
    assert answer.status == 201, answer
    set_node_status(srv, name, cpu=cpu, memory=memory, pods=pods, ready=ready)
    if lease:
        renew_lease(srv, name)
    return srv.get_json(f"/api/v1/nodes/{name}")


def set_node_status(srv, name, cpu="4", memory="8Gi", pods="110", ready=True):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    resources = {"cpu": cpu, "memory": memory, "pods": pods}
    status = {"capacity": resources, "allocatable": resources,
              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                              "reason": "KubeletReady" if ready else "KubeletNotReady",
                              "message": "e2e test node", "lastHeartbeatTime": now,
                              "lastTransitionTime": now}],
              "addresses": [{"type": "InternalIP", "address": "192.0.2.10"},
                            {"type": "Hostname", "address": name}]}
    answer = srv.api("PATCH", f"/api/v1/nodes/{name}/status", {"status": status},
                     headers={"Content-Type": "application/merge-patch+json"})
    assert answer.status == 200, answer
    return answer.json


def renew_lease(srv, name):
    """Creates or renews the node's Lease in kube-node-lease, as a kubelet heartbeat does."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": name, "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}}
    answer = srv.api("GET", path)
    if answer.status == 404:
        answer = srv.api("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                         lease)
        assert answer.status == 201, answer
    else:
        answer = srv.api("PATCH", path, {"spec": {"renewTime": now}},
                         headers={"Content-Type": "application/merge-patch+json"})
        assert answer.status == 200, answer
    return answer.json


def pod_manifest(name, image="busybox:1.36", namespace=None, labels=None, **spec):
    """A minimal Pod as a user writes it; spec keys given are added to (or replace) the spec."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": dict(labels or {})},
           "spec": {"containers": [{"name": "main", "image": image,
                                    "command": ["sleep", "3600"]}]}}
    if namespace:
        pod["metadata"]["namespace"] = namespace
    pod["spec"].update(spec)
    return pod


def create_pod(srv, name, namespace="default", **kwargs):
    answer = srv.api("POST", f"/api/v1/namespaces/{namespace}/pods",
                     pod_manifest(name, namespace=namespace, **kwargs))
    assert answer.status == 201, answer
    return answer.json


def scheduler_done(srv, name, namespace="default"):
    """Waits until the scheduler has written its verdict on a pod (PodScheduled, True or
    False), so that a test's own writes do not race with it; returns the pod."""
    def verdict():
        pod = srv.get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")
        done = any(c.get("type") == "PodScheduled"
                   for c in pod.get("status", {}).get("conditions", []))
        return pod if done else None
    return wait_for(verdict, what=f"the scheduler's verdict on {namespace}/{name}")


def set_pod_running(srv, name, ip, ready=True, namespace="default"):
    """Writes a pod's status through the status subresource as a kubelet would: Running, with a
    pod IP, and Ready True or False."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    flag = "True" if ready else "False"
    containers = srv.get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")["spec"]["containers"]
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.0.2.10",
              "startTime": now,
              "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "",
                                     "containerID": f"ckube://{name}-{c['name']}",
                                     "ready": ready, "started": True, "restartCount": 0,
                                     "state": {"running": {"startedAt": now}}}
                                    for c in containers],
              "conditions": [{"type": t, "status": s, "lastTransitionTime": now}
                             for t, s in (("Initialized", "True"), ("Ready", flag),
                                          ("ContainersReady", flag), ("PodScheduled", "True"))]}
    answer = srv.api("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                     {"status": status},
                     headers={"Content-Type": "application/merge-patch+json"})
    assert answer.status == 200, answer
    return answer.json


# --- Test images and the local registry -------------------------------------------------------
# Images are built from Debian packages by scripts/test-images.sh (into build/test-images, or
# $CKUBE_TEST_IMAGES, where an unchanged rebuild costs nothing) and served by Debian's
# docker-registry on a free 127.0.0.1 port (scripts/registry.sh); nothing reaches the internet.

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
TEST_IMAGES_SH = os.path.join(REPO_ROOT, "scripts/test-images.sh")
REGISTRY_SH = os.path.join(REPO_ROOT, "scripts/registry.sh")
TEST_IMAGES_DIR = os.environ.get("CKUBE_TEST_IMAGES",
                                 os.path.join(REPO_ROOT, "build/test-images"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def write_registries_yaml(config_dir, address):
    """Writes <config_dir>/registries.yaml in the k3s format: docker.io is mirrored by the
    local registry, so plain `image: httpd` resolves to ADDRESS/library/httpd:latest, and the
    registry itself is reached over plain http (an http:// endpoint marks it insecure).
    Returns the file's path."""
    os.makedirs(config_dir, exist_ok=True)
    path = os.path.join(config_dir, "registries.yaml")
    with open(path, "w") as f:
        f.write("mirrors:\n"
                "  docker.io:\n"
                f"    endpoint: [\"http://{address}\"]\n"
                f"  \"{address}\":\n"
                f"    endpoint: [\"http://{address}\"]\n")
    return path


class Registry:
    """A running local registry filled with the test images: busybox, httpd, testbin, nonroot
    (testbin with User app) and multiarch (an image index). Each NAME is pushed as NAME:1,
    NAME:latest, library/NAME:1 and library/NAME:latest (OCI manifests), and NAME:1-docker
    (Docker schema 2) for all but the index."""

    def __init__(self, address, images_dir, directory):
        self.address = address
        self.url = f"http://{address}"
        self.images_dir = images_dir
        self.layout = os.path.join(images_dir, "oci")
        self.directory = directory
        self.digests = {}
        with open(os.path.join(images_dir, "images.txt")) as f:
            for line in f:
                if line.strip():
                    name, digest = line.split()
                    self.digests[name] = digest
        self.names = list(self.digests)

    def image(self, name, tag="1"):
        """A reference to a pushed image: image("busybox") -> "127.0.0.1:PORT/busybox:1"."""
        assert name in self.digests, f"no test image {name!r} (have {self.names})"
        return f"{self.address}/{name}:{tag}"

    def digest(self, name):
        """The manifest digest (OCI) of NAME:1, NAME:latest and library/NAME:*."""
        return self.digests[name]

    def write_registries(self, config_dir):
        """registries.yaml for a ckube --config-dir, pointing docker.io at this registry."""
        return write_registries_yaml(config_dir, self.address)

    def get(self, path, accept=None, timeout=30):
        """One GET of the distribution API (path like "/v2/_catalog"); returns an ApiAnswer."""
        host, port = self.address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("GET", path, headers={"Accept": accept} if accept else {})
            resp = conn.getresponse()
            return ApiAnswer(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()


def build_test_images(out=None):
    """Builds (or finds up to date) the test images; returns the output directory."""
    out = out or TEST_IMAGES_DIR
    run([TEST_IMAGES_SH, out], timeout=600)
    return out


@pytest.fixture(scope="session")
def registry():
    """The test images built and pushed to a registry of this session on 127.0.0.1; stopped,
    and its directory removed, at the end (also on failure)."""
    images_dir = build_test_images()
    directory = tempfile.mkdtemp(prefix="ckube-e2e-registry-")
    served = False
    try:
        address = run([REGISTRY_SH, "start", directory], timeout=60).stdout.strip()
        run([REGISTRY_SH, "push", images_dir, address], timeout=300)
        served = True
        yield Registry(address, images_dir, directory)
    finally:
        stopped = run([REGISTRY_SH, "stop", directory], check=False, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)
        # A failed start or push is the error to see; a failed stop only after a good run.
        if served and stopped.returncode != 0:
            pytest.fail(f"registry.sh stop failed: {stopped.stderr}")


def cgroup2_mount():
    """Where this machine mounts cgroup2 (never assumed to be /sys/fs/cgroup)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4]
    raise AssertionError("no cgroup2 mount")


class RuntimeNode:
    """The directories `ckube run`, `exec`, `wait` and `rm` work in for one test, and a cgroup
    root of its own, so that tests never see each other's containers."""

    def __init__(self, root):
        self.root = root
        self.data_dir = os.path.join(root, "data")
        self.run_dir = os.path.join(root, "run")
        self.config_dir = os.path.join(root, "config")
        self.cgroup_root = f"ckube-e2e-{uuid.uuid4().hex[:12]}"
        self.cgroup_path = os.path.join(cgroup2_mount(), self.cgroup_root)

    def dir_args(self):
        return ["--data-dir", self.data_dir, "--run-dir", self.run_dir,
                "--config-dir", self.config_dir, "--cgroup-root", self.cgroup_root]

    def command(self, verb, *args):
        return [CKUBE, verb, *self.dir_args(), *args]

    def run(self, *args, input=None, timeout=60):
        """`ckube run ARGS`; returns the CompletedProcess (the container's exit code)."""
        return run(self.command("run", *args), input=input, check=False, timeout=timeout)

    def start(self, *args):
        """`ckube run ARGS` in the background; returns the Popen."""
        return subprocess.Popen(self.command("run", *args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def exec(self, container_id, *cmd, timeout=60):
        return run(self.command("exec", container_id, "--", *cmd), check=False, timeout=timeout)

    def wait_running(self, container_id, timeout=10):
        """Until the container's command runs: its state file exists (written while the
        container is set up) and its process has left ckube for the command (execve)."""
        state = os.path.join(self.run_dir, "containers", container_id, "state.json")
        deadline = time.monotonic() + timeout
        while not os.path.exists(state):
            assert time.monotonic() < deadline, f"container {container_id} did not start"
            time.sleep(0.02)
        with open(state) as f:
            info = json.load(f)
        ckube = os.path.realpath(CKUBE)
        while True:
            try:
                if os.path.realpath(f"/proc/{info['pid']}/exe") != ckube:
                    return info
            except OSError:
                return info  # it has run and ended already
            assert time.monotonic() < deadline, f"container {container_id} did not exec"
            time.sleep(0.02)

    def container_dirs(self):
        """What is left of containers: state directories and writable layers."""
        left = []
        for parent in (os.path.join(self.run_dir, "containers"),
                       os.path.join(self.data_dir, "containers")):
            if os.path.isdir(parent):
                # .root is the mount point every container uses in its own namespace.
                left += [os.path.join(parent, name) for name in os.listdir(parent)
                         if name != ".root"]
        return left

    def cgroups(self):
        """Cgroups below the test's root, deepest first."""
        found = []
        for path, dirs, _ in os.walk(self.cgroup_path):
            found += [os.path.join(path, d) for d in dirs]
        return sorted(found, key=lambda p: -p.count("/"))

    def container_cgroups(self):
        """Cgroups of containers (<root>/run/<id>, and the pod tree later)."""
        parents = {os.path.join(self.cgroup_path, "run")}
        return [p for p in self.cgroups() if p not in parents]

    def mounts(self):
        """Mounts of this machine's namespace that involve the test's directories."""
        with open("/proc/self/mountinfo") as f:
            return [line for line in f if self.root in line]

    def processes(self):
        """Processes in the test's cgroups."""
        pids = []
        for path in self.cgroups() + [self.cgroup_path]:
            procs = os.path.join(path, "cgroup.procs")
            if os.path.exists(procs):
                with open(procs) as f:
                    pids += [int(p) for p in f.read().split()]
        return pids

    def leftovers(self, containers=True):
        """Everything a finished --rm container must not leave behind."""
        left = {"mounts": self.mounts(), "processes": self.processes(),
                "cgroups": self.container_cgroups()}
        if containers:
            left["container dirs"] = self.container_dirs()
        return {k: v for k, v in left.items() if v}

    def clean(self):
        if os.path.isdir(self.cgroup_path):
            with open(os.path.join(self.cgroup_path, "cgroup.kill"), "w") as f:
                f.write("1")
            deadline = time.monotonic() + 5
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.02)
            for path in self.cgroups() + [self.cgroup_path]:
                os.rmdir(path)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def node():
    """A RuntimeNode whose processes, cgroups and directories are removed at the end."""
    n = RuntimeNode(tempfile.mkdtemp(prefix="ckube-e2e-node-"))
    try:
        yield n
    finally:
        n.clean()


@pytest.fixture(scope="session")
def rootfs():
    """A root file system directory (as `ckube run ROOTFS` takes it) with busybox and the
    static test binary at /bin/testbin, users root, app (1000, also in group users) and
    nobody. Removed at the end of the session."""
    images_dir = build_test_images()
    root = tempfile.mkdtemp(prefix="ckube-e2e-rootfs-")
    os.chmod(root, 0o755)  # it becomes /, which every user must be able to walk
    try:
        for d in ("bin", "etc", "tmp"):
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        applets = run(["/bin/busybox", "--list"]).stdout.split()
        for applet in applets:
            link = os.path.join(root, "bin", applet)
            if not os.path.exists(link):
                os.symlink("busybox", link)
        shutil.copy(os.path.join(images_dir, "ckube-testbin"), os.path.join(root, "bin", "testbin"))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "app:x:1000:1000:app:/home/app:/bin/sh\n"
                    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        with open(os.path.join(root, "etc", "group"), "w") as f:
            f.write("root:x:0:\nusers:x:100:app\napp:x:1000:\nnogroup:x:65534:\n")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
