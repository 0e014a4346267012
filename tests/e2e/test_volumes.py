"""Pod volumes on a real node (issue 7, point 11): hostPath of every type and the node's
allowedHostPaths, the MySQL example, emptyDir on disk and in memory with sizeLimit (tmpfs size,
eviction on disk), configMap and secret volumes (items, modes, optional, updates pushed into a
running pod), subPath and subPathExpr, read-only mounts, a symlink planted in a volume that
tries to put a mount on the node's /etc, mount propagation, and what is left on the node after
a pod is deleted, also while its agent was killed. Everything is seen as a user sees it: through
`kubectl exec` inside the containers, the pod's status and events, and the node's files and
mount table."""
import base64
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

import pytest

from conftest import CKUBE, parse_table, wait_for

PODS = "/api/v1/namespaces/default/pods"
# The name the kubelet's atomic writer gives each version of a configMap or secret volume.
TIMESTAMPED = re.compile(r"^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$")


# --- pods and what a user reads of them -------------------------------------------------------

def container(name, image, script="exec sleep 3600", mounts=(), **extra):
    return {"name": name, "image": image, "command": ["sh", "-c", script],
            "volumeMounts": list(mounts), **extra}


def mount(volume, path, **options):
    return {"name": volume, "mountPath": path, **options}


def host_path(name, path, kind=""):
    return {"name": name, "hostPath": {"path": str(path), "type": kind}}


def create_pod(srv, name, containers, volumes, node=None, init=None, **spec):
    """A pod bound to `node` (the server's own by default) with a 1 s grace period."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node or srv.node_name, "terminationGracePeriodSeconds": 1,
                     "containers": containers, "volumes": volumes, **spec}}
    if init:
        body["spec"]["initContainers"] = init
    answer = srv.api("POST", PODS, body)
    assert answer.status == 201, answer
    return answer.json


def get_pod(srv, name):
    return srv.get_json(f"{PODS}/{name}")


def wait_until(get, ok, timeout=10, what="condition"):
    """wait_for on get()'s value: returns it once ok(value), or fails showing the last one."""
    seen = [None]

    def check():
        seen[0] = get()
        return ok(seen[0])
    try:
        wait_for(check, timeout=timeout, interval=0.1, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {seen[0]!r}") from None
    return seen[0]


def nothing_left(get, timeout=20, what="nothing left"):
    """Until get() (leftovers: a dict or list) is empty; fails naming what is still there."""
    wait_until(get, lambda left: not left, timeout=timeout, what=what)


def wait_running(srv, name, timeout=30):
    """Until the pod is Running with every container running; returns the pod."""
    def running(pod):
        status = pod.get("status", {})
        states = [c.get("state", {}) for c in status.get("containerStatuses") or []]
        return status.get("phase") == "Running" and states and all("running" in s
                                                                    for s in states)
    return wait_until(lambda: get_pod(srv, name), running, timeout=timeout,
                      what=f"pod {name} running")


def kubectl_status(srv, name):
    """The STATUS column of `kubectl get pod NAME`."""
    return parse_table(srv.kubectl("get", "pod", name).stdout).rows[0]["STATUS"]


def events(srv, name, reason=None):
    """(type, reason, message) of the pod's events, as `kubectl describe pod` lists them."""
    items = srv.get_json("/api/v1/namespaces/default/events")["items"]
    return [(e.get("type"), e["reason"], e.get("message", "")) for e in items
            if e["involvedObject"].get("name") == name and
            (reason is None or e["reason"] == reason)]


def wait_event(srv, name, reason, text, timeout=20):
    """Until the pod has a `reason` event whose message contains `text`; returns it."""
    found = wait_until(lambda: events(srv, name),
                       lambda have: any(e[1] == reason and text in e[2] for e in have),
                       timeout=timeout, what=f"a {reason} event of {name} saying {text!r}")
    return next(e for e in found if e[1] == reason and text in e[2])


def wait_warning(srv, name, *words, timeout=20):
    """Until the pod has a Warning event whose message has every one of `words`."""
    wait_until(lambda: events(srv, name),
               lambda have: any(e[0] == "Warning" and all(w in e[2] for w in words)
                                for e in have),
               timeout=timeout, what=f"a warning of {name} saying {words}")


def never_started(srv, name):
    """The pod is Pending and no container of it ever started (no Started event)."""
    pod = get_pod(srv, name)
    assert pod["status"].get("phase") == "Pending", pod["status"]
    for c in pod["status"].get("containerStatuses") or []:
        assert "running" not in c.get("state", {}), c
    assert not events(srv, name, "Started"), events(srv, name)


def sh(srv, pod, script, container_name="main"):
    """`kubectl exec POD -c CONTAINER -- sh -c SCRIPT`: the CompletedProcess."""
    return srv.kubectl("exec", pod, "-c", container_name, "--", "sh", "-c", script,
                       check=False, timeout=30)


def out(srv, pod, script, container_name="main"):
    """The output of a command that must succeed inside the container."""
    proc = sh(srv, pod, script, container_name)
    assert proc.returncode == 0, (f"in {pod}/{container_name}: {script!r} exited "
                                  f"{proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def fails_read_only(srv, pod, script, container_name="main"):
    proc = sh(srv, pod, script, container_name)
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr, \
        f"{script!r} in {pod}/{container_name} should fail read-only: {proc}"


def volume_dir(node, uid, plugin, name):
    """Where the kubelet layout keeps a pod's volume on the node (a server or an agent)."""
    return os.path.join(node.data_dir, "pods", uid, "volumes", f"kubernetes.io~{plugin}", name)


def host_mounts():
    """The node's mount table: {mount point: (fstype, super options)}."""
    found = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            point = fields[4].encode().decode("unicode_escape")
            found[point] = (fields[sep + 1], fields[sep + 3])
    return found


def mounts_below(path):
    return sorted(p for p in host_mounts() if p == path or p.startswith(path.rstrip("/") + "/"))


@pytest.fixture
def srv(server_factory, registry):
    """The server with its own node agent."""
    return server_factory(agent=True, registry=registry)


@pytest.fixture
def own_root():
    """A server root the test prepares (its config before the start); removed after the
    server (set up before server_factory, so torn down after it)."""
    root = tempfile.mkdtemp(prefix="ckube-e2e-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def node_with_settings(own_root, server_factory, registry):
    """A server with its agent whose <config-dir>/agent.yaml holds `text`."""
    def make(text):
        os.makedirs(os.path.join(own_root, "config"))
        with open(os.path.join(own_root, "config", "agent.yaml"), "w") as f:
            f.write(text)
        return server_factory(agent=True, registry=registry, root=own_root)
    return make


# --- hostPath ---------------------------------------------------------------------------------

def test_host_path_every_type(srv, registry, scratch):
    os.chmod(scratch, 0o755)
    (scratch / "plain").mkdir()
    (scratch / "plain" / "from-host").write_text("written on the host\n")
    (scratch / "dir").mkdir()
    (scratch / "file.txt").write_text("host file\n")
    os.mknod(scratch / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 250))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(scratch / "app.sock"))
    listener.listen(1)
    image = registry.image("busybox")
    try:
        create_pod(srv, "types", [container("main", image, mounts=[
            mount("plain", "/plain"), mount("created", "/created"), mount("dir", "/dir"),
            mount("made", "/etc/made.conf"), mount("file", "/file.txt"),
            mount("sock", "/run/app.sock"), mount("null", "/host-null"),
            mount("disk", "/host-disk")])], [
            host_path("plain", scratch / "plain"),
            host_path("created", scratch / "new" / "a" / "b", "DirectoryOrCreate"),
            host_path("dir", scratch / "dir", "Directory"),
            host_path("made", scratch / "made.conf", "FileOrCreate"),
            host_path("file", scratch / "file.txt", "File"),
            host_path("sock", scratch / "app.sock", "Socket"),
            host_path("null", "/dev/null", "CharDevice"),
            host_path("disk", scratch / "disk", "BlockDevice")])
        # Pods whose hostPath is not what its type asks wait, saying why.
        create_pod(srv, "no-dir", [container("main", image, mounts=[mount("data", "/data")])],
                   [host_path("data", scratch / "missing", "Directory")])
        create_pod(srv, "no-parent", [container("main", image, mounts=[mount("conf", "/c")])],
                   [host_path("conf", scratch / "absent" / "f.conf", "FileOrCreate")])
        create_pod(srv, "not-block", [container("main", image, mounts=[mount("dev", "/d")])],
                   [host_path("dev", "/dev/null", "BlockDevice")])
        wait_running(srv, "types")

        # The container reads the node's data and writes where the node sees it.
        assert out(srv, "types", "cat /plain/from-host") == "written on the host\n"
        out(srv, "types", "echo from the container > /plain/from-container; "
                          "echo appended >> /file.txt; echo made > /etc/made.conf; "
                          "touch /created/inside; test -d /dir")
        assert (scratch / "plain" / "from-container").read_text() == "from the container\n"
        assert (scratch / "file.txt").read_text() == "host file\nappended\n"
        assert (scratch / "made.conf").read_text() == "made\n"
        # DirectoryOrCreate made the directory with its parents, 0755; FileOrCreate a 0644 file.
        for d in ("new", "new/a", "new/a/b"):
            mode = os.stat(scratch / d).st_mode
            assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o755, (d, oct(mode))
        assert (scratch / "new" / "a" / "b" / "inside").exists()
        mode = os.stat(scratch / "made.conf").st_mode
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644, oct(mode)
        # The special files are what they were on the node, and /dev/null works as one.
        assert out(srv, "types", "test -S /run/app.sock && echo socket; "
                                 "test -c /host-null && echo char; "
                                 "test -b /host-disk && echo block; "
                                 "echo discarded > /host-null && cat /host-null | wc -c"
                   ).split() == ["socket", "char", "block", "0"]

        prefix = 'MountVolume.SetUp failed for volume "data" : '
        wait_event(srv, "no-dir", "FailedMount", prefix + "hostPath type check failed: "
                   f"{scratch}/missing is not a directory")
        wait_event(srv, "no-parent", "FailedMount",
                   'MountVolume.SetUp failed for volume "conf" : ')
        message = events(srv, "no-parent", "FailedMount")[0][2]
        assert f"{scratch}/absent/f.conf" in message, message
        assert not (scratch / "absent").exists(), "FileOrCreate must not make the parent"
        wait_event(srv, "not-block", "FailedMount",
                   'MountVolume.SetUp failed for volume "dev" : hostPath type check failed: '
                   "/dev/null is not a block device")
        for name in ("no-dir", "no-parent", "not-block"):
            never_started(srv, name)
            assert kubectl_status(srv, name) == "ContainerCreating", name
        # Once the directory is there, the waiting pod starts on the next retry.
        (scratch / "missing").mkdir()
        wait_running(srv, "no-dir", timeout=30)
    finally:
        listener.close()


def test_allowed_host_paths(node_with_settings, registry, scratch):
    allowed, read_only = scratch / "allowed", scratch / "readonly"
    allowed.mkdir()
    (read_only / "data").mkdir(parents=True)
    (read_only / "data" / "seed").write_text("seeded\n")
    os.symlink("/etc", allowed / "link")
    srv = node_with_settings("allowedHostPaths:\n"
                             f"- pathPrefix: {allowed}\n"
                             f"- pathPrefix: {read_only}\n"
                             "  readOnly: true\n")
    image = registry.image("busybox")
    create_pod(srv, "forbidden", [container("main", image, mounts=[mount("etc", "/host-etc")])],
               [host_path("etc", "/etc")])
    create_pod(srv, "escape", [container("main", image, mounts=[mount("etc", "/host-etc")])],
               [host_path("etc", allowed / "link")])
    create_pod(srv, "allowed", [container("main", image, mounts=[
        mount("data", "/data"), mount("ro", "/ro")])],
        [host_path("data", allowed / "data", "DirectoryOrCreate"),
         host_path("ro", read_only / "data", "Directory")])
    wait_running(srv, "allowed")
    out(srv, "allowed", "echo written > /data/f")
    assert (allowed / "data" / "f").read_text() == "written\n"
    # A readOnly rule makes the mount read-only whatever the pod asks.
    assert out(srv, "allowed", "cat /ro/seed") == "seeded\n"
    fails_read_only(srv, "allowed", "echo x > /ro/new")
    assert not (read_only / "data" / "new").exists()

    wait_event(srv, "forbidden", "FailedMount",
               'MountVolume.SetUp failed for volume "etc" : hostPath /etc is not allowed')
    # The symlink is inside an allowed prefix, where it leads is not.
    wait_warning(srv, "escape", f"{allowed}/link", "/etc", "not allowed")
    for name in ("forbidden", "escape"):
        never_started(srv, name)


def test_mysql_example_keeps_its_data(srv, registry):
    parent, data = "/var/kube-test", "/var/kube-test/mysql-db"
    made_parent, made_data = not os.path.exists(parent), not os.path.exists(data)
    manifest = f"""apiVersion: v1
kind: Pod
metadata:
  name: mysql
spec:
  nodeName: {srv.node_name}
  terminationGracePeriodSeconds: 1
  containers:
  - name: mysql
    image: {registry.image("busybox")}
    command: ["sh", "-c", "echo root:$MYSQL_ROOT_PASSWORD > /var/lib/mysql/auth; exec sleep 3600"]
    env:
    - name: MYSQL_ROOT_PASSWORD
      value: password
    ports:
    - containerPort: 3306
      name: mysql
    volumeMounts:
    - name: mysql-persistent-storage
      mountPath: /var/lib/mysql
  volumes:
  - name: mysql-persistent-storage
    hostPath:
      path: {data}
      type: DirectoryOrCreate
"""
    try:
        srv.kubectl("apply", "-f", "-", input=manifest)
        wait_running(srv, "mysql")
        auth = os.path.join(data, "auth")
        assert out(srv, "mysql", "cat /var/lib/mysql/auth", "mysql") == "root:password\n"
        with open(auth) as f:
            assert f.read() == "root:password\n"
        srv.kubectl("delete", "pod", "mysql", timeout=30)
        with open(auth) as f:
            assert f.read() == "root:password\n", "the database files outlive the pod"
    finally:
        if made_parent:
            shutil.rmtree(parent, ignore_errors=True)
        elif made_data:
            shutil.rmtree(data, ignore_errors=True)


# --- emptyDir -----------------------------------------------------------------------------------

def test_empty_dir_on_disk_and_in_memory(srv, registry):
    image = registry.image("busybox")
    pod = create_pod(srv, "cache", [
        container("writer", image, "echo shared by the writer > /cache/msg; exec sleep 3600",
                  [mount("cache", "/cache"), mount("mem", "/mem")]),
        container("reader", image, mounts=[mount("cache", "/in")])],
        [{"name": "cache", "emptyDir": {}},
         {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}])
    uid = pod["metadata"]["uid"]
    wait_running(srv, "cache")
    wait_until(lambda: out(srv, "cache", "cat /in/msg 2>/dev/null || true", "reader"),
               lambda seen: seen == "shared by the writer\n",
               what="the reader seeing the writer's file")
    assert out(srv, "cache", "stat -c %a /in", "reader") == "777\n"
    on_node = volume_dir(srv, uid, "empty-dir", "cache")
    assert stat.S_IMODE(os.stat(on_node).st_mode) == 0o777
    with open(os.path.join(on_node, "msg")) as f:
        assert f.read() == "shared by the writer\n"

    mem = [line.split() for line in out(srv, "cache", "cat /proc/mounts", "writer").splitlines()]
    mem = [m for m in mem if m[1] == "/mem"]
    assert mem and mem[0][2] == "tmpfs" and "size=8192k" in mem[0][3].split(","), mem
    assert host_mounts().get(volume_dir(srv, uid, "empty-dir", "mem"), ("",))[0] == "tmpfs"
    full = sh(srv, "cache", "dd if=/dev/zero of=/mem/fill bs=1M count=9", "writer")
    assert full.returncode != 0 and "No space left on device" in full.stderr, full

    # The node's operator sees where each volume is, from the agent's status socket.
    shown = subprocess.run(
        [CKUBE, "status", "--socket", os.path.join(srv.root, "run", "ckube.sock"), "pod",
         "cache"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert f"cache: emptyDir {on_node} (ready)" in shown, shown
    assert f"mem: emptyDir {volume_dir(srv, uid, 'empty-dir', 'mem')} (ready)" in shown, shown


def test_empty_dir_size_limit_evicts(srv, registry):
    create_pod(srv, "hog", [container(
        "main", registry.image("busybox"),
        "dd if=/dev/zero of=/scratch/fill bs=1M count=3; exec sleep 3600",
        [mount("scratch", "/scratch")])],
        [{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}])
    # The eviction may come before the pod is seen Running: the clock starts at the container's
    # start.
    wait_event(srv, "hog", "Started", "main", timeout=30)
    message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '
    status = wait_until(lambda: get_pod(srv, "hog")["status"],
                        lambda s: s.get("phase") == "Failed", timeout=15, what="the pod evicted")
    assert status.get("reason") == "Evicted", status
    assert status.get("message") == message, status
    assert ("Warning", "Evicted", message) in events(srv, "hog"), events(srv, "hog")
    # What `kubectl get pod` prints in the STATUS column of an evicted pod depends on its
    # containers' last states (Kubernetes shows Error or Evicted); the pod's reason is certain.
    assert srv.kubectl("get", "pod", "hog", "-o", "jsonpath={.status.reason}").stdout == \
        "Evicted"
    wait_until(lambda: get_pod(srv, "hog")["status"].get("containerStatuses") or [],
               lambda cs: cs and all("running" not in c.get("state", {}) for c in cs),
               timeout=15, what="the evicted pod's container stopped")


# --- configMap and secret ---------------------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def mode_of(srv, pod, path):
    """The permissions `ls -lL` shows for the file a name resolves to."""
    return out(srv, pod, f"ls -lL {path}").split()[0]


def test_config_map_and_secret_volumes(srv, registry):
    srv.kubectl("apply", "-f", "-", input=f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  app.properties: "color=blue\\n"
  nested: deep
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
type: Opaque
data:
  username: {b64("admin")}
  password: {b64("s3cret")}
""")
    image = registry.image("busybox")
    pod = create_pod(srv, "objects", [container("main", image, mounts=[
        mount("cfg", "/etc/cfg"), mount("all", "/etc/all"), mount("sec", "/etc/sec"),
        mount("opt", "/etc/opt")])], [
        {"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 0o400, "items": [
            {"key": "app.properties", "path": "app.properties"},
            {"key": "nested", "path": "dir/file", "mode": 0o644}]}},
        {"name": "all", "configMap": {"name": "app-config"}},
        {"name": "sec", "secret": {"secretName": "app-secret", "defaultMode": 0o400}},
        {"name": "opt", "configMap": {"name": "absent-config", "optional": True}}])
    uid = pod["metadata"]["uid"]
    wait_running(srv, "objects")

    assert out(srv, "objects", "ls /etc/cfg").split() == ["app.properties", "dir"]
    assert out(srv, "objects", "cat /etc/cfg/app.properties") == "color=blue\n"
    assert out(srv, "objects", "cat /etc/cfg/dir/file") == "deep"
    assert mode_of(srv, "objects", "/etc/cfg/app.properties") == "-r--------"
    assert mode_of(srv, "objects", "/etc/cfg/dir/file") == "-rw-r--r--"
    assert out(srv, "objects", "ls /etc/all").split() == ["app.properties", "mode", "nested"]
    assert mode_of(srv, "objects", "/etc/all/mode") == "-rw-r--r--"
    assert out(srv, "objects", "cat /etc/sec/username; echo; cat /etc/sec/password") == \
        "admin\ns3cret"
    assert mode_of(srv, "objects", "/etc/sec/password") == "-r--------"
    # An optional configMap that does not exist is an empty volume (the atomic writer's ..data
    # of nothing, as with the kubelet).
    assert out(srv, "objects", "ls /etc/opt") == "", "an optional missing configMap is empty"
    assert out(srv, "objects", "ls /etc/opt/..data/ | wc -l") == "0\n"
    assert out(srv, "objects", "readlink /etc/cfg/app.properties") == "..data/app.properties\n"
    first = out(srv, "objects", "readlink /etc/cfg/..data").strip()
    assert TIMESTAMPED.match(first), first
    fails_read_only(srv, "objects", "touch /etc/cfg/new")
    # Secrets live on a tmpfs of the node, never on its disk; configMaps on disk.
    mounts = host_mounts()
    assert mounts.get(volume_dir(srv, uid, "secret", "sec"), ("",))[0] == "tmpfs", \
        mounts_below(os.path.join(srv.data_dir, "pods", uid))
    assert volume_dir(srv, uid, "configmap", "cfg") not in mounts

    # Changes reach the running container, all files at once through a new ..data.
    srv.kubectl("patch", "configmap", "app-config", "--type", "merge", "-p",
                '{"data": {"app.properties": "color=red\\n", "extra": "1"}}')
    srv.kubectl("patch", "secret", "app-secret", "--type", "merge", "-p",
                '{"data": {"password": "%s"}}' % b64("n3w-pass"))
    wait_until(lambda: out(srv, "objects", "cat /etc/cfg/app.properties"),
               lambda seen: seen == "color=red\n", timeout=10,
               what="the configMap's new value in the container")
    wait_until(lambda: out(srv, "objects", "cat /etc/sec/password"),
               lambda seen: seen == "n3w-pass", timeout=10,
               what="the secret's new value in the container")
    wait_until(lambda: out(srv, "objects", "ls /etc/all").split(),
               lambda seen: seen == ["app.properties", "extra", "mode", "nested"], timeout=10,
               what="the new key in the volume of every key")
    assert out(srv, "objects", "ls /etc/cfg").split() == ["app.properties", "dir"]
    second = out(srv, "objects", "readlink /etc/cfg/..data").strip()
    assert TIMESTAMPED.match(second) and second != first, (first, second)
    versions = [n for n in out(srv, "objects", "ls -a /etc/cfg").split() if TIMESTAMPED.match(n)]
    assert versions == [second], f"the old version stays behind: {versions}"


def test_missing_config_map_and_secret_hold_the_pod(srv, registry):
    """A required object that does not exist holds the pod back until it is created."""
    create_pod(srv, "waiter", [container("main", registry.image("busybox"), mounts=[
        mount("late", "/etc/late"), mount("late-secret", "/etc/late-secret")])], [
        {"name": "late", "configMap": {"name": "late-config"}},
        {"name": "late-secret", "secret": {"secretName": "late-secret"}}])
    wait_event(srv, "waiter", "FailedMount",
               'MountVolume.SetUp failed for volume "late" : configmap "late-config" not found')
    wait_event(srv, "waiter", "FailedMount", 'MountVolume.SetUp failed for volume '
               '"late-secret" : secret "late-secret" not found')
    never_started(srv, "waiter")
    assert kubectl_status(srv, "waiter") == "ContainerCreating"
    srv.kubectl("create", "configmap", "late-config", "--from-literal=greeting=hello")
    srv.kubectl("create", "secret", "generic", "late-secret", "--from-literal=token=t0k3n")
    wait_running(srv, "waiter", timeout=30)
    assert out(srv, "waiter", "cat /etc/late/greeting /etc/late-secret/token") == "hellot0k3n"


# --- volumeMounts -----------------------------------------------------------------------------

def test_sub_paths_and_read_only_mounts(srv, registry):
    srv.kubectl("create", "configmap", "sub-config", "--from-literal=settings.conf=answer=42")
    pod = create_pod(srv, "subpaths", [container(
        "main", registry.image("busybox"),
        env=[{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        mounts=[mount("work", "/var/log/app", subPath="logs"),
                mount("work", "/data", subPath="data/db"),
                mount("work", "/per-pod", subPathExpr="$(POD_NAME)"),
                mount("cfg", "/etc/app/settings.conf", subPath="settings.conf"),
                mount("work", "/work"),
                mount("work", "/work-ro", readOnly=True)])],
        [{"name": "work", "emptyDir": {}},
         {"name": "cfg", "configMap": {"name": "sub-config"}}])
    uid = pod["metadata"]["uid"]
    wait_running(srv, "subpaths")
    # The subPaths were made on demand inside the volume.
    work = volume_dir(srv, uid, "empty-dir", "work")
    for sub in ("logs", "data/db", "subpaths"):
        assert os.path.isdir(os.path.join(work, sub)), (sub, os.listdir(work))
    out(srv, "subpaths", "echo log > /var/log/app/l; echo db > /data/d; echo pod > /per-pod/p")
    assert out(srv, "subpaths", "cat /work/logs/l /work/data/db/d /work/subpaths/p") == \
        "log\ndb\npod\n"
    # A subPath of a configMap key is that one file.
    assert out(srv, "subpaths", "test -f /etc/app/settings.conf && "
                                "cat /etc/app/settings.conf") == "answer=42"
    # The read-only mount refuses writes; the same volume mounted read-write takes them, and
    # the read-only mount shows them.
    fails_read_only(srv, "subpaths", "echo x > /work-ro/x")
    out(srv, "subpaths", "echo y > /work/y")
    assert out(srv, "subpaths", "cat /work-ro/y") == "y\n"


def test_symlinks_in_a_volume_stay_inside_the_container(srv, registry):
    """An init container plants `evil -> /etc` in an emptyDir; a configMap mounted at
    /shared/evil/NAME must land on the container's own /etc, never the node's. A subPath that is
    a symlink to / is the volume's root."""
    name = "ckube-e2e-cfg"  # a name no node has in /etc
    assert not os.path.lexists(f"/etc/{name}")
    etc_mounts = mounts_below("/etc")
    srv.kubectl("create", "configmap", "attack-config", "--from-literal=payload=from-configmap")
    image = registry.image("busybox")
    pod = create_pod(srv, "attack", [container("main", image, mounts=[
        mount("shared", "/shared"), mount("cfg", f"/shared/evil/{name}"),
        mount("shared", "/volume-root", subPath="root")])],
        [{"name": "shared", "emptyDir": {}},
         {"name": "cfg", "configMap": {"name": "attack-config"}}],
        init=[container("plant", image, "ln -s /etc /shared/evil && ln -s / /shared/root && "
                        "echo inside the volume > /shared/marker", [mount("shared", "/shared")])])
    wait_running(srv, "attack")
    assert out(srv, "attack", f"cat /etc/{name}/payload") == "from-configmap"
    assert out(srv, "attack", f"cat /shared/evil/{name}/payload") == "from-configmap"
    assert not os.path.lexists(f"/etc/{name}"), "a pod's mount reached the node's /etc"
    assert mounts_below("/etc") == etc_mounts, "a pod's mount reached the node's /etc"
    assert os.readlink(os.path.join(volume_dir(srv, pod["metadata"]["uid"], "empty-dir",
                                               "shared"), "evil")) == "/etc"
    assert out(srv, "attack", "ls -A /volume-root").split() == ["evil", "marker", "root"]
    assert out(srv, "attack", "cat /volume-root/marker") == "inside the volume\n"


@pytest.fixture
def shared_dir(scratch):
    """A directory that is a shared mount point, as mount propagation needs on the node (this
    machine's / is private); unmounted with whatever is below it at the end."""
    path = scratch / "propagated"
    path.mkdir()
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(path)], check=True)
        yield path
    finally:
        for point in reversed(mounts_below(str(path))):
            subprocess.run(["umount", "-l", point], check=False)


def test_mount_propagation(srv, registry, shared_dir):
    image = registry.image("busybox")
    volume = [host_path("host", shared_dir, "Directory")]
    create_pod(srv, "propagation", [
        container("to-container", image,
                  mounts=[mount("host", "/host", mountPropagation="HostToContainer")]),
        container("none", image, mounts=[mount("host", "/host")]),
        container("both", image, "mkdir -p /host/from-container && mount -t tmpfs -o size=1m "
                  "from-container /host/from-container && echo made in the container > "
                  "/host/from-container/f && exec sleep 3600",
                  [mount("host", "/host", mountPropagation="Bidirectional")],
                  securityContext={"privileged": True})], volume)
    wait_running(srv, "propagation")
    # Bidirectional: the privileged container's mount shows on the node.
    wait_for(lambda: str(shared_dir / "from-container") in host_mounts(), timeout=10,
             what="the container's tmpfs in the node's mount table")
    assert (shared_dir / "from-container" / "f").read_text() == "made in the container\n"
    # HostToContainer: the node's new mount shows inside; None: it does not.
    (shared_dir / "from-host").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ckube-e2e-prop",
                    str(shared_dir / "from-host")], check=True)
    (shared_dir / "from-host" / "f").write_text("made on the node\n")
    wait_until(lambda: sh(srv, "propagation", "cat /host/from-host/f", "to-container").stdout,
               lambda seen: seen == "made on the node\n", timeout=10,
               what="the node's mount in the HostToContainer mount")
    assert out(srv, "propagation", "cat /host/from-container/f", "to-container") == \
        "made in the container\n"
    seen = sh(srv, "propagation", "cat /host/from-host/f", "none")
    assert seen.returncode != 0, f"the node's mount propagated into a None mount: {seen.stdout}"

    # Bidirectional is for privileged containers only: the API refuses it, as Kubernetes does.
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unprivileged"},
            "spec": {"nodeName": srv.node_name, "volumes": volume, "containers": [
                container("main", image, mounts=[
                    mount("host", "/host", mountPropagation="Bidirectional")])]}}
    answer = srv.api("POST", PODS, body)
    assert answer.status == 422, answer
    assert "Bidirectional mount propagation is available only to privileged containers" \
        in answer.text, answer
    assert srv.api("GET", f"{PODS}/unprivileged").status == 404


# --- what is left on the node ---------------------------------------------------------------

def test_deleted_pod_leaves_no_volume_behind(srv, registry, scratch):
    srv.kubectl("create", "configmap", "tidy-config", "--from-literal=k=v")
    srv.kubectl("create", "secret", "generic", "tidy-secret", "--from-literal=k=v")
    pod = create_pod(srv, "tidy", [container(
        "main", registry.image("busybox"),
        "echo kept > /host/kept; echo x > /disk/x; echo y > /mem/y; exec sleep 3600",
        [mount("host", "/host"), mount("disk", "/disk"), mount("mem", "/mem"),
         mount("cfg", "/cfg"), mount("sec", "/sec")])], [
        host_path("host", scratch / "keep", "DirectoryOrCreate"),
        {"name": "disk", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory"}},
        {"name": "cfg", "configMap": {"name": "tidy-config"}},
        {"name": "sec", "secret": {"secretName": "tidy-secret"}}])
    pod_dir = os.path.join(srv.data_dir, "pods", pod["metadata"]["uid"])
    wait_running(srv, "tidy")
    wait_for(lambda: (scratch / "keep" / "kept").exists(), what="the pod's hostPath write")
    assert len(mounts_below(pod_dir)) == 2, mounts_below(pod_dir)  # the Memory emptyDir, secret
    srv.kubectl("delete", "pod", "tidy", timeout=30)
    wait_for(lambda: not os.path.exists(pod_dir), timeout=10, what=f"{pod_dir} removed")
    assert os.listdir(os.path.join(srv.data_dir, "pods")) == []
    nothing_left(srv.node_leftovers, what="the node holding nothing of the pod")
    assert (scratch / "keep" / "kept").read_text() == "kept\n", "hostPath data is the node's"


def test_killed_agent_cleans_volumes_of_pods_deleted_meanwhile(server_factory, agent_factory,
                                                               registry):
    srv = server_factory(registry=registry)
    agent = agent_factory(srv, registry=registry)
    srv.kubectl("create", "secret", "generic", "crash-secret", "--from-literal=k=v")
    wait_for(lambda: srv.api("GET", f"/api/v1/nodes/{agent.node_name}").status == 200,
             timeout=20, what="the agent's node registered")
    pod = create_pod(srv, "orphan", [container(
        "main", registry.image("busybox"), "echo y > /mem/y; exec sleep 3600",
        [mount("mem", "/mem"), mount("sec", "/sec")])], [
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
        {"name": "sec", "secret": {"secretName": "crash-secret"}}], node=agent.node_name)
    pod_dir = os.path.join(agent.data_dir, "pods", pod["metadata"]["uid"])
    wait_running(srv, "orphan")
    assert len(mounts_below(pod_dir)) == 2, mounts_below(pod_dir)
    agent.stop(signal.SIGKILL)
    srv.kubectl("delete", "pod", "orphan", "--force", "--grace-period=0")
    assert srv.api("GET", f"{PODS}/orphan").status == 404
    # What the restarted agent has to clean: the killed one could not.
    assert len(mounts_below(pod_dir)) == 2, mounts_below(pod_dir)
    agent.start()
    nothing_left(lambda: mounts_below(pod_dir) + [p for p in [pod_dir] if os.path.exists(p)],
                 what="the deleted pod's mounts and directory removed by the new agent")
    nothing_left(agent.node_leftovers, what="the node holding nothing of the pod")
    assert agent.proc.poll() is None, agent.log()[-3000:]


def test_restarted_agent_keeps_serving_a_running_pods_volumes(srv, registry):
    """After kill -9 of the node's agent, its successor adopts the running pod with its
    volumes: configMap updates still reach the container, and a container that restarts
    gets its volumes again, with the emptyDir's data intact."""
    srv.kubectl("create", "configmap", "survivor-config", "--from-literal=level=one")
    create_pod(srv, "survivor", [container(
        "main", registry.image("busybox"),
        "[ -f /data/marker ] || echo first run > /data/marker; "
        "while [ ! -f /data/stop ]; do sleep 0.2; done; rm /data/stop; exit 1",
        [mount("data", "/data"), mount("cfg", "/cfg")])], [
        {"name": "data", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "survivor-config"}}])
    wait_running(srv, "survivor")
    srv.restart(signal.SIGKILL)
    srv.kubectl("patch", "configmap", "survivor-config", "--type=merge",
                "-p", '{"data":{"level":"two"}}')
    wait_until(lambda: sh(srv, "survivor", "cat /cfg/level").stdout,
               lambda seen: seen == "two", timeout=30,
               what="the update reaching the adopted pod through the new agent")
    out(srv, "survivor", "touch /data/stop")
    wait_until(lambda: (get_pod(srv, "survivor")["status"].get("containerStatuses") or [{}])[0],
               lambda s: s.get("restartCount") == 1 and "running" in s.get("state", {}),
               timeout=30, what="the container restarted and running")
    assert out(srv, "survivor", "cat /data/marker; cat /cfg/level") == "first run\ntwo"


def test_agent_start_removes_volumes_of_pods_it_no_longer_has(own_root, server_factory,
                                                              registry):
    """What a node keeps of a pod the API no longer has and whose sandbox is gone too (a
    reboot took /run, or the agent died between the two removals): its volume directory with
    a secret's tmpfs still mounted. The agent's start unmounts and removes it."""
    uid = "0b0e7a1c-6d1e-4c2b-9a53-5d7c2f4e8a10"
    stale = os.path.join(own_root, "data", "pods", uid, "volumes", "kubernetes.io~secret", "s")
    os.makedirs(stale)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", stale], check=True)
    try:
        with open(os.path.join(stale, "token"), "w") as f:
            f.write("secret left behind\n")
        srv = server_factory(agent=True, registry=registry, root=own_root)
        pod_dir = os.path.dirname(os.path.dirname(os.path.dirname(stale)))
        nothing_left(lambda: mounts_below(pod_dir) + [p for p in [pod_dir] if os.path.exists(p)],
                     what="the stale volume unmounted and its directory removed")
        assert "volumes of gone pod " + uid in srv.log(), srv.log()[-2000:]
    finally:
        if stale in mounts_below(os.path.dirname(stale)):
            subprocess.run(["umount", "-l", stale], check=False)
