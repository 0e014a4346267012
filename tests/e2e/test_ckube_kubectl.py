"""`ckube kubectl` against a real `ckube server`: what a user sees (exact lines, exit codes) and
what ends up in the store, read back with the real kubectl. Where the real kubectl can run the
same command, both outputs must be identical."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import CKUBE, REAL_KUBECTL

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
"""

POD_AND_SERVICE = POD + """\
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: nginx
  ports:
  - port: 8080
    targetPort: 80
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
  labels: {team: a, tier: back}
data:
  port: "8080"
  enabled: "yes"
  empty: ""
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def real_get(server, *args):
    """An object as the real kubectl reads it back from the store, or None when absent."""
    proc = server.kubectl("get", *args, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def same_as_real(server, *args, input=None):
    """Runs a command with ckube kubectl and the real kubectl; both must print the same and
    exit the same. Ages may tick over between the two runs, so a difference is retried."""
    for _ in range(3):
        ours = server.ckube_kubectl(*args, input=input, check=False)
        real = server.kubectl(*args, input=input, check=False)
        if (ours.stdout, ours.stderr, ours.returncode) == \
                (real.stdout, real.stderr, real.returncode):
            return ours
        time.sleep(0.3)
    assert ours.stdout == real.stdout
    assert ours.stderr == real.stderr
    assert ours.returncode == real.returncode
    return ours


def test_create_get_describe_delete_a_pod(server, tmp_path):
    manifest = write(tmp_path, "pod.yaml", POD)
    created = server.ckube_kubectl("create", "-f", manifest)
    assert created.stdout == "pod/nginx created\n"
    assert created.stderr == ""
    stored = real_get(server, "pod", "nginx")
    assert stored["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert stored["metadata"]["labels"] == {"app": "nginx"}

    listed = server.ckube_kubectl("get", "pods")
    lines = listed.stdout.splitlines()
    assert lines[0] == "NAME    READY   STATUS    RESTARTS   AGE"
    assert re.fullmatch(r"nginx   0/1     Pending   0          \d+s", lines[1])
    assert len(lines) == 2

    same_as_real(server, "get", "pods")
    same_as_real(server, "get", "po", "nginx", "-o", "wide")
    same_as_real(server, "get", "pods", "-o", "yaml")
    same_as_real(server, "get", "pod", "nginx", "-o", "json")
    same_as_real(server, "get", "pods", "-o", "name")
    same_as_real(server, "get", "pods", "-A")
    same_as_real(server, "describe", "pod", "nginx")

    deleted = server.ckube_kubectl("delete", "pod", "nginx")
    assert deleted.stdout == 'pod "nginx" deleted\n'
    assert real_get(server, "pod", "nginx") is None


def test_get_yaml_prints_the_whole_stored_object(server, tmp_path):
    server.ckube_kubectl("create", "-f", write(tmp_path, "cm.yaml", CONFIGMAP))
    shown = server.ckube_kubectl("get", "cm", "conf", "-o", "yaml").stdout
    stored = real_get(server, "configmap", "conf")
    # strings that YAML would read as numbers, booleans or null stay quoted
    assert '  port: "8080"\n' in shown
    assert '  enabled: "yes"\n' in shown
    assert '  empty: ""\n' in shown
    assert f'  resourceVersion: "{stored["metadata"]["resourceVersion"]}"\n' in shown
    assert f'  uid: {stored["metadata"]["uid"]}\n' in shown
    same_as_real(server, "get", "cm", "conf", "-o", "yaml")


def test_service_and_namespaced_lists_match_kubectl(server, tmp_path):
    created = server.ckube_kubectl("create", "-f", write(tmp_path, "all.yaml", POD_AND_SERVICE))
    assert created.stdout == "pod/nginx created\nservice/web created\n"
    for args in (["get", "svc"], ["get", "services", "web"], ["get", "ns"],
                 ["get", "pods,svc"], ["get", "all"], ["describe", "service", "web"],
                 ["get", "endpoints"], ["get", "cm", "-A"], ["get", "nodes"],
                 ["get", "events"]):
        same_as_real(server, *args)


def test_empty_and_missing(server):
    empty = server.ckube_kubectl("get", "pods")
    assert (empty.stdout, empty.stderr, empty.returncode) == \
        ("", "No resources found in default namespace.\n", 0)
    other = server.ckube_kubectl("-n", "kube-public", "get", "configmaps")
    assert other.stderr == "No resources found in kube-public namespace.\n"

    missing = server.ckube_kubectl("get", "pod", "nope", check=False)
    assert (missing.stdout, missing.stderr, missing.returncode) == \
        ("", 'Error from server (NotFound): pods "nope" not found\n', 1)
    gone = server.ckube_kubectl("delete", "pod", "nope", check=False)
    assert gone.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    assert gone.returncode == 1
    unknown = server.ckube_kubectl("get", "foos", check=False)
    assert unknown.stderr == 'error: the server doesn\'t have a resource type "foos"\n'
    assert unknown.returncode == 1


def test_create_twice_reports_already_exists(server, tmp_path):
    manifest = write(tmp_path, "pod.yaml", POD)
    server.ckube_kubectl("create", "-f", manifest)
    again = server.ckube_kubectl("create", "-f", manifest, check=False)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == ('Error from server (AlreadyExists): error when creating '
                            f'"{manifest}": pods "nginx" already exists\n')


def test_create_reads_stdin_with_several_documents(server):
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
            "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}\n"
            "- {apiVersion: v1, kind: Secret, metadata: {name: three}, "
            "stringData: {token: abc}}\n")
    created = server.ckube_kubectl("create", "-f", "-", input=text)
    assert created.stdout == ("configmap/one created\nconfigmap/two created\n"
                              "secret/three created\n")
    assert real_get(server, "configmap", "two") is not None
    assert real_get(server, "secret", "three") is not None


def test_apply_creates_configures_and_leaves_unchanged(server, tmp_path):
    manifest = write(tmp_path, "cm.yaml", CONFIGMAP)
    first = server.ckube_kubectl("apply", "-f", manifest)
    assert first.stdout == "configmap/conf created\n"
    stored = real_get(server, "configmap", "conf")
    applied = json.loads(stored["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["data"] == {"port": "8080", "enabled": "yes", "empty": ""}

    again = server.ckube_kubectl("apply", "-f", manifest)
    assert again.stdout == "configmap/conf unchanged\n"
    assert real_get(server, "configmap", "conf")["metadata"]["resourceVersion"] == \
        stored["metadata"]["resourceVersion"]

    # a field and a label removed from the manifest are removed from the object
    write(tmp_path, "cm.yaml", CONFIGMAP.replace("  enabled: \"yes\"\n", "")
          .replace(", tier: back", "").replace('"8080"', '"9090"'))
    changed = server.ckube_kubectl("apply", "-f", manifest)
    assert changed.stdout == "configmap/conf configured\n"
    stored = real_get(server, "configmap", "conf")
    assert stored["data"] == {"port": "9090", "empty": ""}
    assert stored["metadata"]["labels"] == {"team": "a"}

    # the real kubectl reads our last-applied-configuration as its own
    real = server.kubectl("apply", "-f", manifest)
    assert real.stdout == "configmap/conf unchanged\n"


def test_apply_over_a_created_object_warns_and_adds_the_annotation(server, tmp_path):
    manifest = write(tmp_path, "pod.yaml", POD)
    server.ckube_kubectl("create", "-f", manifest)
    write(tmp_path, "pod.yaml", POD.replace("app: nginx", "app: nginx\n    tier: web"))
    applied = server.ckube_kubectl("apply", "-f", manifest)
    assert applied.stdout == "pod/nginx configured\n"
    assert applied.stderr == (
        "Warning: resource pods/nginx is missing the "
        "kubectl.kubernetes.io/last-applied-configuration annotation which is required by "
        "kubectl apply. kubectl apply should only be used on resources created declaratively "
        "by either kubectl create --save-config or kubectl apply. The missing annotation will "
        "be patched automatically.\n")
    stored = real_get(server, "pod", "nginx")
    assert stored["metadata"]["labels"] == {"app": "nginx", "tier": "web"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    assert server.ckube_kubectl("apply", "-f", manifest).stdout == "pod/nginx unchanged\n"


def assert_nothing_created(server, *names):
    for kind, name in names:
        assert real_get(server, kind, name) is None, f"{kind}/{name} was created"


def test_invalid_yaml_names_file_document_and_line(server, tmp_path):
    manifest = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n"
                     "metadata: {name: first}\n---\napiVersion: v1\nkind: ConfigMap\n"
                     "metadata:\n  name: second\n labels: x\n")
    result = server.ckube_kubectl("create", "-f", manifest, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f'error: error parsing "{manifest}": document 2, line 9: '
                             "did not find expected key\n")
    assert_nothing_created(server, ("configmap", "first"))


def test_unknown_kind_and_missing_fields_are_refused_before_any_write(server, tmp_path):
    manifest = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n"
                     "metadata: {name: first}\n---\napiVersion: v1\nkind: Foo\n"
                     "metadata: {name: x}\n---\nkind: Pod\nmetadata: {name: p}\n")
    for verb in ("create", "apply"):
        result = server.ckube_kubectl(verb, "-f", manifest, check=False)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr == (
            f'error: resource mapping not found for name: "x" namespace: "" from "{manifest}": '
            'no matches for kind "Foo" in version "v1"\n'
            f'error: error validating "{manifest}": document 3: apiVersion not set\n')
    assert_nothing_created(server, ("configmap", "first"))


def test_wrong_types_are_caught_by_the_server_dry_run(server, tmp_path):
    manifest = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n"
                     "metadata: {name: first}\n---\napiVersion: v1\nkind: Pod\n"
                     "metadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
                     "    image: busybox\n    ports:\n    - containerPort: eighty\n")
    result = server.ckube_kubectl("create", "-f", manifest, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    assert len(errors) == 1
    assert errors[0].startswith(
        f'Error from server (BadRequest): error when creating "{manifest}": ')
    assert "containerPort" in errors[0]
    assert_nothing_created(server, ("configmap", "first"), ("pod", "p"))


def test_invalid_objects_read_like_kubectl(server, tmp_path):
    one = write(tmp_path, "one.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\n"
                "spec: {containers: []}\n")
    single = server.ckube_kubectl("create", "-f", one, check=False)
    assert single.stderr == 'The Pod "bad" is invalid: spec.containers: Required value\n'
    assert single.returncode == 1
    same_as_real(server, "create", "-f", one)
    two = write(tmp_path, "two.yaml", open(one).read() + "---\n" +
                open(one).read().replace("name: bad", "name: worse"))
    same_as_real(server, "create", "-f", two)


def test_delete_by_file_and_namespace_flag(server, tmp_path):
    manifest = write(tmp_path, "all.yaml", POD_AND_SERVICE)
    server.ckube_kubectl("-n", "kube-public", "create", "-f", manifest)
    assert real_get(server, "-n", "kube-public", "service", "web") is not None
    assert real_get(server, "service", "web") is None

    mismatch = write(tmp_path, "ns.yaml", "apiVersion: v1\nkind: ConfigMap\n"
                     "metadata: {name: c, namespace: kube-system}\n")
    refused = server.ckube_kubectl("-n", "kube-public", "create", "-f", mismatch, check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        'error: the namespace from the provided object "kube-system" does not match the '
        "namespace \"kube-public\". You must pass '--namespace=kube-system' to perform this "
        "operation.\n")

    deleted = server.ckube_kubectl("delete", "-n", "kube-public", "-f", manifest)
    assert deleted.stdout == 'pod "nginx" deleted\nservice "web" deleted\n'
    assert real_get(server, "-n", "kube-public", "pod", "nginx") is None


def test_kubeconfig_from_environment_and_home(server, tmp_path):
    env = dict(os.environ, KUBECONFIG=f"{server.kubeconfig}:/nonexistent")
    proc = subprocess.run([CKUBE, "kubectl", "get", "ns", "-o", "name"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "namespace/default\n" in proc.stdout

    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(open(server.kubeconfig).read())
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(home)
    proc = subprocess.run([CKUBE, "kubectl", "get", "ns", "default", "-o", "name"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert (proc.stdout, proc.returncode) == ("namespace/default\n", 0)

    env["KUBECONFIG"] = str(tmp_path / "missing.kubeconfig")
    proc = subprocess.run([CKUBE, "kubectl", "get", "ns"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr == (f"error: load kubeconfig: open {tmp_path}/missing.kubeconfig: "
                           "No such file or directory\n")


def test_unreachable_server_reads_like_kubectl(server_factory, tmp_path):
    srv = server_factory()
    srv.stop()
    result = srv.ckube_kubectl("get", "pods", check=False)
    assert result.returncode == 1
    assert result.stderr == (f"The connection to the server 127.0.0.1:{srv.port} was refused - "
                             "did you specify the right host or port?\n")


def test_watch_prints_changes_under_one_header(server, tmp_path):
    server.ckube_kubectl("create", "-f", write(tmp_path, "pod.yaml", POD))
    watcher = subprocess.Popen([CKUBE, "kubectl", "--kubeconfig", server.kubeconfig, "get",
                                "pods", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        header = watcher.stdout.readline()
        first = watcher.stdout.readline()
        server.kubectl("create", "-f", "-", input="apiVersion: v1\nkind: Pod\nmetadata: {name: w1}\n"
                       "spec: {containers: [{name: c, image: busybox}]}\n")
        added = watcher.stdout.readline()
        server.kubectl("delete", "pod", "w1", "--wait=false")
        changed = watcher.stdout.readline()
    finally:
        watcher.kill()
        watcher.wait()
    assert header == "NAME    READY   STATUS    RESTARTS   AGE\n"
    assert re.fullmatch(r"nginx   0/1     Pending   0          \d+s\n", first)
    assert re.fullmatch(r"w1      0/1     Pending   0          \d+s\n", added)
    assert changed.startswith("w1      ")


def test_logs_and_describe_node_match_kubectl(server, tmp_path):
    server.ckube_kubectl("create", "-f", write(tmp_path, "pod.yaml", POD))
    same_as_real(server, "logs", "nginx")
    same_as_real(server, "logs", "nope")
    same_as_real(server, "logs", "nginx", "-c", "other")
    node = write(tmp_path, "node.yaml", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n9\n"
                 "  labels: {node-role.kubernetes.io/worker: ''}\nspec:\n"
                 "  taints: [{key: k, value: v, effect: NoSchedule}]\n")
    assert server.ckube_kubectl("create", "-f", node).stdout == "node/n9 created\n"
    same_as_real(server, "describe", "node", "n9")
    same_as_real(server, "get", "nodes", "-o", "wide")
