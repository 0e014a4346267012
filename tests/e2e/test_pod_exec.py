"""`kubectl exec` and `kubectl attach` on real pods: the API server upgrades the client's
WebSocket (v5.channel.k8s.io for kubectl, v4.channel.k8s.io for the Python client), asks the
node agent's endpoint for the same, and relays; the agent runs the command inside the container
through the runtime's exec. Asserted with the real kubectl (output, stderr, exit codes, stdin,
a terminal driven through a pty with resizes), the official Python client, the errors users
know, and what is left once a client goes away or the server stops."""
import errno
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import KUBECTL_1_27, REAL_KUBECTL, free_port, nsexec, wait_for


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


def node_pod(srv, name, image, command, restart="Always", **container):
    """A pod of one container "main" bound to the server's own node."""
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeName": srv.node_name, "restartPolicy": restart,
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": image, "command": command,
                                     **container}]}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text
    return answer.json


def pod(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}")


def wait_running(srv, name):
    wait_for(lambda: pod(srv, name).get("status", {}).get("phase") == "Running", timeout=30,
             what=f"pod {name} Running")


@pytest.fixture
def shell(cluster, registry):
    """A running busybox pod to exec into."""
    node_pod(cluster, "shell", registry.image("busybox"), ["sleep", "3600"])
    wait_running(cluster, "shell")
    return "shell"


def kubectl_argv(srv, *args):
    return [REAL_KUBECTL, "--kubeconfig", srv.kubeconfig, "--cache-dir", srv.cache_dir, *args]


def test_exec_output_and_exit_codes(cluster, shell):
    result = cluster.kubectl("exec", shell, "--", "echo", "hi")
    assert (result.stdout, result.stderr) == ("hi\n", "")
    # stdout and stderr stay apart.
    result = cluster.kubectl("exec", shell, "--", "sh", "-c", "echo out; echo err >&2")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    # The exit code comes back, and kubectl exits with it.
    result = cluster.kubectl("exec", shell, "--", "sh", "-c", "echo before; exit 3", check=False)
    assert result.returncode == 3
    assert result.stdout == "before\n"
    assert result.stderr == "command terminated with exit code 3\n"
    # The command runs inside the container, in its namespaces and with its environment.
    result = cluster.kubectl("exec", shell, "--", "sh", "-c", "echo $HOSTNAME; cat /proc/1/cmdline")
    assert result.stdout.split("\n")[0] == shell
    assert "sleep" in result.stdout
    # Much output passes whole (the client is slower than the command).
    result = cluster.kubectl("exec", shell, "--", "sh", "-c",
                             "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done")
    assert result.stdout == "".join(f"line {i}\n" for i in range(20000))


def test_exec_stdin(cluster, shell):
    result = cluster.kubectl("exec", "-i", shell, "--", "cat", input="data\n")
    assert (result.stdout, result.stderr) == ("data\n", "")
    # The end of stdin reaches the command (v5's close signal), which ends it.
    result = cluster.kubectl("exec", "-i", shell, "--", "sh", "-c", "wc -c; echo done",
                             input="x" * 300000)
    assert result.stdout.split() == ["300000", "done"]
    # Without -i the command's stdin is empty.
    result = cluster.kubectl("exec", shell, "--", "cat", input="ignored\n")
    assert result.stdout == ""


class Terminal:
    """kubectl run on a pty of its own (its controlling terminal), as a person's shell runs it;
    the test types and reads on the master side and resizes it."""

    def __init__(self, argv, rows, cols):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.resize(rows, cols)
        self.output = b""

    def resize(self, rows, cols):
        # The kernel tells kubectl (the terminal's foreground process) with SIGWINCH.
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout=15):
        """Reads until `pattern` (a regex) matches the output since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output.decode(errors="replace"))
            if match:
                self.output = self.output[match.end():]
                return match
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.output!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError as e:
                    assert e.errno == errno.EIO, e
                    chunk = b""
                assert chunk, f"kubectl ended before {pattern!r}; output {self.output!r}"
                self.output += chunk

    def wait(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = None
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.output += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"kubectl did not end; output {self.output!r}")

    def close(self):
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def terminal():
    made = []

    def start(argv, rows=24, cols=80):
        t = Terminal(argv, rows, cols)
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def test_exec_tty_session(cluster, shell, terminal):
    t = terminal(kubectl_argv(cluster, "exec", "-it", shell, "--", "sh"), rows=30, cols=100)
    t.expect(r"# ")
    t.type("echo $((6*7))\n")
    t.expect(r"\r\n42\r\n")
    # kubectl sends the terminal's size at the start and on each change.
    t.type("stty size\n")
    t.expect(r"\r\n30 100\r\n")
    t.resize(40, 120)
    wait_for(lambda: (t.type("stty size\n"), "40 120" in t.expect(r"\r\n\d+ \d+\r\n")[0])[1],
             timeout=10, what="the new size")
    # A terminal: the shell sees one, and stderr comes through it.
    t.type("tty; ls /nonexistent\n")
    t.expect(r"/dev/pts/\d+\r\n")
    t.expect(r"No such file or directory")
    # Ctrl-C goes to the command in the container, not to kubectl.
    t.type("sleep 30\n")
    wait_for(lambda: processes(cluster, shell, r"^sleep 30$"), what="sleep 30 running")
    t.type("\x03")
    t.type("echo after\n")
    t.expect(r"\r\nafter\r\n", timeout=10)
    t.type("exit 5\n")
    assert t.wait() == 5


def exec_stream(api, name, command, **kwargs):
    from kubernetes.stream import stream
    options = {"stderr": True, "stdin": False, "stdout": True, "tty": False, **kwargs}
    return stream(api.connect_get_namespaced_pod_exec, name, "default", command=command,
                  **options)


def test_python_client(cluster, shell):
    api = cluster.python_client()
    assert exec_stream(api, shell, ["sh", "-c", "echo py; echo oops >&2"]) == "py\noops\n"
    resp = exec_stream(api, shell, ["sh", "-c", "echo out; echo err >&2; exit 4"],
                       _preload_content=False)
    resp.run_forever(timeout=20)
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    assert resp.returncode == 4
    resp.close()
    # The Status itself, as the kubelet writes it.
    resp = exec_stream(api, shell, ["sh", "-c", "exit 7"], _preload_content=False)
    resp.run_forever(timeout=20)
    assert json.loads(resp.read_channel(3)) == {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[sh -c exit 7], exit code 7",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}
    resp.close()
    resp = exec_stream(api, shell, ["true"], _preload_content=False)
    resp.run_forever(timeout=20)
    assert resp.returncode == 0
    resp.close()
    # stdin over v4, which has no way to close it but the end of the connection.
    resp = exec_stream(api, shell, ["sh", "-c", "read line; echo got $line"], stdin=True,
                       _preload_content=False)
    resp.write_stdin("hello\n")
    resp.run_forever(timeout=20)
    assert resp.read_stdout() == "got hello\n"
    assert resp.returncode == 0
    resp.close()


def test_exec_errors(cluster, registry, shell):
    result = cluster.kubectl("exec", shell, "-c", "nope", "--", "true", check=False)
    assert result.returncode == 1
    assert result.stderr == ("Error from server (BadRequest): container nope is not valid for "
                             "pod shell\n")
    # A command that does not exist: the runtime's reason, as an internal error.
    result = cluster.kubectl("exec", shell, "--", "no-such-command", check=False)
    assert result.returncode == 1
    assert re.fullmatch(r'error: Internal error occurred: error executing command in '
                        r'container: .*exec: "no-such-command": executable file not found in '
                        r'\$PATH\n', result.stderr), result.stderr
    # A container that does not run: the kubelet's words, which kubectl prefixes.
    node_pod(cluster, "nopull", f"{registry.address}/does-not-exist:1", ["true"])
    result = cluster.kubectl("exec", "nopull", "--", "true", check=False)
    assert result.returncode == 1
    assert result.stderr == ('error: unable to upgrade connection: container not found '
                             '("main")\n')
    # A pod without a node.
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nowhere"},
            "spec": {"schedulerName": "none", "containers": [
                {"name": "main", "image": registry.image("busybox")}]}}
    assert cluster.api("POST", "/api/v1/namespaces/default/pods", body).status == 201
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/nowhere/exec?command=true"
                         "&stdout=true")
    assert answer.status == 400, answer
    assert answer.json["message"] == "pod nowhere does not have a host assigned"
    # No stream asked for, and no command: the kubelet's checks, passed on.
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/shell/exec?command=true")
    assert (answer.status, answer.text) == (
        400, "you must specify at least 1 of stdin, stdout, stderr\n"), answer
    assert answer.headers["content-type"].startswith("text/plain")
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/shell/exec?stdout=true")
    assert (answer.status, answer.text) == (
        400, "you must specify at least one command for the container\n"), answer
    # SPDY (kubectl before 1.30, and 1.30+ after a refused WebSocket) is refused clearly.
    answer = cluster.api("POST", "/api/v1/namespaces/default/pods/shell/exec?command=true"
                         "&stdout=true", headers={"Connection": "Upgrade",
                                                  "Upgrade": "SPDY/3.1",
                                                  "X-Stream-Protocol-Version":
                                                  "v4.channel.k8s.io"})
    assert answer.status == 400, answer
    assert "WebSocket only" in answer.text and "kubectl 1.30 or newer" in answer.text
    # A WebSocket offering no subprotocol the node speaks.
    answer = cluster.api("GET", "/api/v1/namespaces/default/pods/shell/exec?command=true"
                         "&stdout=true", headers={
                             "Connection": "Upgrade", "Upgrade": "websocket",
                             "Sec-WebSocket-Version": "13",
                             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                             "Sec-WebSocket-Protocol": "channel.k8s.io"})
    assert answer.status == 400, answer
    assert "v5.channel.k8s.io" in answer.json["message"]
    # The Python client's WebSocket library shows the status line only.
    from kubernetes.client.rest import ApiException
    api = cluster.python_client()
    with pytest.raises(ApiException) as raised:
        exec_stream(api, shell, ["true"], container="nope")
    assert "Handshake status 400 Bad Request" in str(raised.value)


def test_attach_shows_output(cluster, registry, spawn):
    node_pod(cluster, "ticker", registry.image("busybox"),
             ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"])
    wait_running(cluster, "ticker")
    wait_for(lambda: "tick 3" in cluster.kubectl("logs", "ticker").stdout, timeout=10,
             what="some ticks")
    before = int(re.findall(r"^tick (\d+)$", cluster.kubectl("logs", "ticker").stdout, re.M)[-1])
    attached = spawn(kubectl_argv(cluster, "attach", "ticker"))
    first = int(attached.wait_line(lambda line: line.startswith("tick "),
                                   what="a tick").split()[1])
    # Output from now on, not the log so far, then every new line in order.
    assert first > before
    attached.wait_line(lambda line: line == f"tick {first + 5}", what="five more ticks")
    numbers = [int(line.split()[1]) for line in attached.lines if line.startswith("tick ")]
    assert numbers == list(range(first, first + len(numbers)))
    attached.stop()
    wait_for(lambda: not node_connections(cluster), what="the first attach's end at the node")
    # A container that ends ends the attach, which succeeds.
    node_pod(cluster, "brief", registry.image("busybox"),
             ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo last words"],
             restart="Never")
    wait_running(cluster, "brief")
    attached = spawn(kubectl_argv(cluster, "attach", "brief"))
    # Attached once the API server holds a connection to the node (the agent follows the
    # log from before its answer).
    wait_for(lambda: node_connections(cluster), what="the attach's node connection")
    cluster.kubectl("exec", "brief", "--", "touch", "/tmp/go")
    attached.wait_line(lambda line: line == "last words", what="the last words")
    assert attached.wait_exit(timeout=20) == 0
    # Its stdin cannot be attached to: said plainly.
    node_pod(cluster, "reader", registry.image("busybox"), ["sh", "-c", "sleep 3600"],
             stdin=True)
    wait_running(cluster, "reader")
    result = cluster.kubectl("attach", "-i", "reader", check=False, input="")
    assert result.returncode == 1
    assert result.stderr.endswith(
        "error: Internal error occurred: error attaching to container: ckube does not keep a "
        "container's stdin open, so it cannot be attached to (attach without -i to follow the "
        "container's output)\n"), result.stderr


def node_connections(srv):
    """Established TCP connections to the agent's endpoint (in the namespace the API server
    and its agent run in)."""
    out = nsexec(srv.netns, "ss", "-Htn", "state", "established",
                 f"( dport = :{srv.node_port} )", check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def processes(srv, name, pattern):
    """The command lines in the pod's container that match `pattern`."""
    out = srv.kubectl("exec", name, "--", "ps", "-o", "args").stdout
    return [line for line in out.splitlines()[1:] if re.search(pattern, line)]


def test_client_going_away(cluster, shell, terminal):
    # The command's stdin is closed when its client goes away: cat ends.
    proc = subprocess.Popen(kubectl_argv(cluster, "exec", "-i", shell, "--", "cat"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"ping\n"
        wait_for(lambda: node_connections(cluster), timeout=5, what="a node connection")
        assert processes(cluster, shell, r"^cat$")
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not processes(cluster, shell, r"^cat$"), timeout=10, what="cat ended")
    # A terminal's process gets its hangup.
    t = terminal(kubectl_argv(cluster, "exec", "-it", shell, "--", "sh", "-c",
                              "echo ready; exec sleep 600"))
    t.expect("ready")
    assert processes(cluster, shell, r"^sleep 600$")
    t.close()
    wait_for(lambda: not processes(cluster, shell, r"^sleep 600$"), timeout=10,
             what="sleep 600 ended")
    # A command that needs no stdin goes on, as in Kubernetes, and the node still serves
    # everything else meanwhile.
    proc = subprocess.Popen(kubectl_argv(cluster, "exec", shell, "--", "sh", "-c",
                                         "echo started; exec sleep 500"),
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not node_connections(cluster), timeout=10, what="no node connection")
    assert processes(cluster, shell, r"^sleep 500$")
    assert cluster.kubectl("exec", shell, "--", "echo", "still here").stdout == "still here\n"
    # The server stops cleanly all the same (the fixture checks its exit code).


def test_server_stops_with_sessions_open(server_factory, registry):
    srv = server_factory(agent=True, registry=registry)
    node_pod(srv, "shell", registry.image("busybox"), ["sleep", "3600"])
    wait_running(srv, "shell")
    proc = subprocess.Popen(kubectl_argv(srv, "exec", "-i", "shell", "--", "sh", "-c",
                                         "echo started; exec sleep 300"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        start = time.monotonic()
        assert srv.stop() == 0, srv.log()[-3000:]
        assert time.monotonic() - start < 8
        proc.wait(timeout=10)
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


FAKE_AGENT = r'''
import base64, hashlib, socket, sys
listener = socket.create_server(("10.213.0.2", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = listener.accept()
head = b""
while b"\r\n\r\n" not in head:
    head += conn.recv(4096)
lines = head.decode().split("\r\n")
headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
print(lines[0], headers.get("authorization"), headers.get("sec-websocket-protocol"), flush=True)
accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] +
    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n"
              ).encode())
def frame(opcode, payload):
    return bytes([0x80 | opcode, len(payload)]) + payload
conn.sendall(frame(2, b"\x01") + frame(2, b"\x01over tls\n") +
             frame(2, b'\x03{"metadata":{},"status":"Success"}') + frame(8, b"\x03\xe8"))
while True:  # until the client's close frame (masked: opcode in the low bits of byte 0)
    data = conn.recv(4096)
    if not data or data[0] & 0x0F == 8:
        break
print("closed", flush=True)
'''


def test_exec_over_tls(netns, server_factory, spawn):
    """Beyond loopback the API server speaks TLS, and the upgraded connection goes through
    libmicrohttpd's TLS layer. A stand-in agent in the namespace plays the node's part."""
    srv = server_factory(host="10.213.0.1", netns=netns)
    port = free_port()
    agent = spawn(["nsenter", f"--net=/var/run/netns/{netns}", "--", "/usr/bin/python3", "-c",
                   FAKE_AGENT, str(port)])
    agent.wait_line(lambda line: line == "listening", what="the stand-in agent")

    def kubectl(*args, input=None):
        return nsexec(netns, *kubectl_argv(srv, *args), input=input, check=True)
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "faraway"}}))
    kubectl("patch", "node", "faraway", "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.213.0.2"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "far"},
         "spec": {"nodeName": "faraway",
                  "containers": [{"name": "main", "image": "busybox"}]}}))
    result = kubectl("exec", "far", "--", "echo", "hi")
    assert result.stdout == "over tls\n"
    request = agent.wait_line(lambda line: line.startswith("GET "), what="the request")
    assert request.startswith("GET /exec/default/far/main?command=echo&command=hi&stdin=false"
                              "&stdout=true&stderr=true&tty=false&podUID=")
    assert request.endswith(f" HTTP/1.1 Bearer {srv.token()} v5.channel.k8s.io")
    agent.wait_line(lambda line: line == "closed", what="the client's close")


def test_spdy_only_kubectl_is_told_why(cluster, shell):
    """kubectl before 1.30 speaks SPDY only, which ckube does not: it is told so, after the
    same checks as a WebSocket client (so its errors stay the usual ones)."""
    if not os.access(KUBECTL_1_27, os.X_OK):
        pytest.skip("kubectl 1.27 is not installed on this machine")
    result = cluster.kubectl("exec", shell, "--", "true", binary=KUBECTL_1_27, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "error: unable to upgrade connection: ckube serves exec over WebSocket only "
        "(v5.channel.k8s.io or v4.channel.k8s.io), not over SPDY; kubectl 1.30 or newer uses "
        "WebSocket\n")
    result = cluster.kubectl("exec", shell, "-c", "nope", "--", "true", binary=KUBECTL_1_27,
                             check=False)
    assert result.stderr == ("Error from server (BadRequest): container nope is not valid for "
                             "pod shell\n")
