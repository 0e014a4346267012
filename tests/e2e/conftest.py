"""Fixtures for end-to-end tests: a real `ckube server` on a free loopback port with its own
directories, and the clients a user would point at it (the real kubectl, ckube kubectl and the
official Python client)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

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


class Server:
    """One `ckube server` process with its own directories under a temporary root."""

    def __init__(self, root, extra_args=()):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = os.path.join(root, "data")
        self.config_dir = os.path.join(root, "config")
        self.kubeconfig = os.path.join(self.config_dir, "admin.kubeconfig")
        self.cache_dir = os.path.join(root, "kubectl-cache")
        self.log_path = os.path.join(root, "server.log")
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self, timeout=15):
        args = [CKUBE, "server", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", self.data_dir, "--run-dir", os.path.join(self.root, "run"),
                "--log-dir", os.path.join(self.root, "logs"), "--config-dir", self.config_dir,
                "--no-agent"] + self.extra_args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ckube server exited with {self.proc.returncode}:\n"
                                   + self.log())
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200 and os.path.exists(self.kubeconfig):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("ckube server did not become ready:\n" + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

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


def run(cmd, input=None, check=True, timeout=60):
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def server_factory():
    """Makes servers that are stopped and removed at the end of the test, also on failure."""
    made = []
    roots = []

    def make(extra_args=(), root=None):
        if root is None:
            root = tempfile.mkdtemp(prefix="ckube-e2e-")
            roots.append(root)
        srv = Server(root, extra_args)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server(server_factory):
    return server_factory()
