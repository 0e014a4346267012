"""The real kubectl against `ckube server`: every test runs once per kubectl version present
(1.32 through the /usr/bin/kubectl dispatcher, 1.27 and 1.20), and skips with a reason for a
version the machine does not have."""
import json
import os
import re

import pytest
import yaml

from conftest import create_pod, make_node, parse_table, set_pod_running, wait_for

DATA = os.path.join(os.path.dirname(__file__), "data")
MULTI = os.path.join(DATA, "multi.yaml")


@pytest.fixture
def kc(server, kubectl_version):
    """kubectl of the version under test, bound to this test's server."""
    version, binary = kubectl_version

    def kubectl(*args, **kwargs):
        return server.kubectl(*args, binary=binary, **kwargs)

    kubectl.version = version
    kubectl.binary = binary
    kubectl.argv = [binary, "--kubeconfig", server.kubeconfig, "--cache-dir", server.cache_dir]
    return kubectl


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def pod(server, name, namespace="default"):
    return server.get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")


def test_create_multi_document(server, kc):
    out = kc("create", "-f", MULTI)
    assert lines(out.stdout) == ["pod/web created", "pod/db created", "service/web created"]
    web = pod(server, "web")
    assert web["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert web["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert pod(server, "db")["spec"]["containers"][0]["image"] == "redis"
    svc = server.get_json("/api/v1/namespaces/default/services/web")
    assert svc["spec"]["selector"] == {"app": "web"}


def test_create_duplicate_is_already_exists(server, kc):
    kc("create", "-f", MULTI)
    out = kc("create", "-f", MULTI, check=False)
    assert out.returncode == 1
    assert lines(out.stderr) == [
        f'Error from server (AlreadyExists): error when creating "{MULTI}": '
        f'{kind} "{name}" already exists'
        for kind, name in (("pods", "web"), ("pods", "db"), ("services", "web"))]


def test_get_missing_is_not_found(server, kc):
    out = kc("get", "pod", "nope", check=False)
    assert out.returncode == 1
    assert out.stdout == ""
    assert lines(out.stderr) == ['Error from server (NotFound): pods "nope" not found']


def test_apply_new_unchanged_configured(server, kc, scratch):
    out = kc("apply", "-f", MULTI)
    assert lines(out.stdout) == ["pod/web created", "pod/db created", "service/web created"]
    annotations = pod(server, "web")["metadata"]["annotations"]
    last = json.loads(annotations["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["containers"][0]["image"] == "nginx:1.25"
    rv = pod(server, "web")["metadata"]["resourceVersion"]

    out = kc("apply", "-f", MULTI)
    assert lines(out.stdout) == ["pod/web unchanged", "pod/db unchanged", "service/web unchanged"]
    assert pod(server, "web")["metadata"]["resourceVersion"] == rv

    changed = scratch / "changed.yaml"
    changed.write_text(open(MULTI).read().replace("nginx:1.25", "nginx:1.26"))
    out = kc("apply", "-f", str(changed))
    assert lines(out.stdout) == ["pod/web configured", "pod/db unchanged", "service/web unchanged"]
    web = pod(server, "web")
    assert web["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert int(web["metadata"]["resourceVersion"]) > int(rv)
    last = json.loads(web["metadata"]["annotations"]
                      ["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_apply_server_side(server, kc, scratch):
    manifest = os.path.join(DATA, "ssa.yaml")
    out = kc("apply", "--server-side", "-f", manifest)
    assert lines(out.stdout) == ["pod/ssa serverside-applied"]
    created = pod(server, "ssa")
    assert created["metadata"]["labels"] == {"stage": "one"}
    assert created["spec"]["restartPolicy"] == "Always"  # defaults apply to SSA creates too

    changed = scratch / "ssa2.yaml"
    changed.write_text(open(manifest).read().replace("stage: one", "stage: two"))
    out = kc("apply", "--server-side", "-f", str(changed))
    assert lines(out.stdout) == ["pod/ssa serverside-applied"]
    updated = pod(server, "ssa")
    assert updated["metadata"]["labels"] == {"stage": "two"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_get_pods_table_wide_name_and_selectors(server, kc):
    kc("create", "-f", MULTI)
    table = parse_table(kc("get", "pods").stdout)
    assert table.header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [(r["NAME"], r["READY"], r["STATUS"], r["RESTARTS"]) for r in table.rows] == [
        ("db", "0/1", "Pending", "0"), ("web", "0/1", "Pending", "0")]

    wide = parse_table(kc("get", "pods", "-o", "wide").stdout)
    assert wide.header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                           "NOMINATED NODE", "READINESS GATES"]
    assert [(r["NAME"], r["IP"], r["NODE"]) for r in wide.rows] == [
        ("db", "<none>", "<none>"), ("web", "<none>", "<none>")]

    assert lines(kc("get", "pods", "-o", "name").stdout) == ["pod/db", "pod/web"]
    assert lines(kc("get", "pods", "-l", "app=web", "-o", "name").stdout) == ["pod/web"]
    assert lines(kc("get", "pods", "-l", "app!=web", "-o", "name").stdout) == ["pod/db"]
    assert lines(kc("get", "pods", "-l", "app in (web,db),tier", "-o", "name").stdout) == [
        "pod/web"]
    assert lines(kc("get", "pods", "--field-selector", "metadata.name=db",
                    "-o", "name").stdout) == ["pod/db"]
    assert lines(kc("get", "pods", "--field-selector", "metadata.name!=db,status.phase=Pending",
                    "-o", "name").stdout) == ["pod/web"]
    out = kc("get", "pods", "-l", "app=nothing")
    assert out.stdout == ""
    assert lines(out.stderr) == ["No resources found in default namespace."]


def test_create_imperative(server, kc):
    # kubectl 1.32's generators send protobuf (Content-Type application/vnd.kubernetes.protobuf,
    # Accept protobuf then JSON), older ones JSON.
    out = kc("create", "namespace", "other")
    assert lines(out.stdout) == ["namespace/other created"]
    assert server.get_json("/api/v1/namespaces/other")["status"]["phase"] == "Active"
    out = kc("create", "service", "clusterip", "made", "--tcp=80:8080")
    assert lines(out.stdout) == ["service/made created"]
    svc = server.get_json("/api/v1/namespaces/default/services/made")
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, 8080)]
    out = kc("create", "configmap", "conf", "--from-literal=a=b")
    assert lines(out.stdout) == ["configmap/conf created"]
    assert server.get_json("/api/v1/namespaces/default/configmaps/conf")["data"] == {"a": "b"}
    out = kc("run", "r", "--image=busybox:1.36")
    assert lines(out.stdout) == ["pod/r created"]
    out = kc("expose", "pod", "r", "--port=80")
    assert lines(out.stdout) == ["service/r exposed"]
    assert server.get_json("/api/v1/namespaces/default/services/r")["spec"]["selector"] == {
        "run": "r"}


def test_get_all_namespaces(server, kc):
    assert server.api("POST", "/api/v1/namespaces",
                      {"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "other"}}).status == 201
    create_pod(server, "a", namespace="other", labels={"app": "x"})
    create_pod(server, "b", labels={"app": "x"})
    table = parse_table(kc("get", "pods", "-A").stdout)
    assert table.header[:2] == ["NAMESPACE", "NAME"]
    assert [(r["NAMESPACE"], r["NAME"]) for r in table.rows] == [("default", "b"), ("other", "a")]
    table = parse_table(kc("get", "pods", "-n", "other").stdout)
    assert [r["NAME"] for r in table.rows] == ["a"]
    table = parse_table(kc("get", "pods", "-A", "--field-selector",
                           "metadata.namespace=other").stdout)
    assert [(r["NAMESPACE"], r["NAME"]) for r in table.rows] == [("other", "a")]


def test_get_yaml_and_json(server, kc):
    kc("create", "-f", MULTI)
    doc = yaml.safe_load(kc("get", "pod", "web", "-o", "yaml").stdout)
    assert doc["kind"] == "Pod" and doc["apiVersion"] == "v1"
    assert doc["metadata"]["name"] == "web"
    assert doc["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert doc["status"]["phase"] == "Pending"

    listed = json.loads(kc("get", "pods", "-o", "json").stdout)
    assert listed["kind"] == "List"
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("Pod", "db"), ("Pod", "web")]
    one = json.loads(kc("get", "service", "web", "-o", "json").stdout)
    assert one["kind"] == "Service"
    assert one["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    many = yaml.safe_load(kc("get", "services", "-o", "yaml").stdout)
    assert sorted(i["metadata"]["name"] for i in many["items"]) == ["kubernetes", "web"]


def test_get_services_nodes_namespaces_events_endpoints(server, kc):
    kc("create", "-f", MULTI)
    web_ip = server.get_json("/api/v1/namespaces/default/services/web")["spec"]["clusterIP"]
    svcs = parse_table(kc("get", "services").stdout)
    assert svcs.header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert [(r["NAME"], r["TYPE"], r["CLUSTER-IP"], r["EXTERNAL-IP"], r["PORT(S)"])
            for r in svcs.rows] == [("kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"),
                                    ("web", "ClusterIP", web_ip, "<none>", "80/TCP")]
    wide = parse_table(kc("get", "svc", "-o", "wide").stdout)
    assert [(r["NAME"], r["SELECTOR"]) for r in wide.rows] == [("kubernetes", "<none>"),
                                                                ("web", "app=web")]

    namespaces = parse_table(kc("get", "namespaces").stdout)
    assert namespaces.header == ["NAME", "STATUS", "AGE"]
    assert [(r["NAME"], r["STATUS"]) for r in namespaces.rows] == [
        ("default", "Active"), ("kube-node-lease", "Active"), ("kube-public", "Active"),
        ("kube-system", "Active")]

    out = kc("get", "nodes")
    assert lines(out.stderr) == ["No resources found"]
    make_node(server, "node-a")
    nodes = parse_table(kc("get", "nodes").stdout)
    assert nodes.header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [(r["NAME"], r["STATUS"], r["ROLES"]) for r in nodes.rows] == [
        ("node-a", "Ready", "<none>")]
    wide = parse_table(kc("get", "nodes", "-o", "wide").stdout)
    assert wide.rows[0]["INTERNAL-IP"] == "192.0.2.10"

    # The pods were pending while there was no node: the scheduler said so in events.
    wait_for(lambda: "FailedScheduling" in kc("get", "events").stdout, what="an event")
    events = parse_table(kc("get", "events").stdout)
    assert events.header == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    failed = {r["OBJECT"] for r in events.rows if r["REASON"] == "FailedScheduling"}
    assert failed <= {"pod/web", "pod/db"} and failed
    assert all(r["TYPE"] == "Warning" for r in events.rows if r["REASON"] == "FailedScheduling")

    # Endpoints follow the Service: none until web is Ready with an IP.
    wait_for(lambda: "web" in kc("get", "endpoints").stdout, what="endpoints of web")
    eps = parse_table(kc("get", "endpoints", "web").stdout)
    assert eps.header == ["NAME", "ENDPOINTS", "AGE"]
    assert eps.rows[0]["ENDPOINTS"] == "<none>"
    wait_for(lambda: pod(server, "web")["spec"].get("nodeName"), what="web bound to node-a")
    set_pod_running(server, "web", "10.244.0.7")
    wait_for(lambda: parse_table(kc("get", "endpoints", "web").stdout).rows[0]["ENDPOINTS"]
             == "10.244.0.7:80", what="web's endpoint in the table")


def test_get_watch(server, kc, spawn):
    create_pod(server, "w0")
    watch = spawn(kc.argv + ["get", "pods", "-w", "--output-watch-events"])
    watch.wait_line(lambda l: l.split()[:2] == ["ADDED", "w0"], what="the initial row of w0")
    assert watch.lines[0].split() == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]

    kc("run", "w1", "--image=busybox:1.36")
    watch.wait_line(lambda l: l.split()[:2] == ["ADDED", "w1"], what="ADDED w1")
    kc("label", "pod", "w1", "color=blue")
    watch.wait_line(lambda l: l.split()[:2] == ["MODIFIED", "w1"], what="MODIFIED w1")
    kc("delete", "pod", "w1", "--wait=false")
    row = watch.wait_line(lambda l: l.split()[:2] == ["DELETED", "w1"], what="DELETED w1")
    assert row.split()[2:4] == ["0/1", "Pending"]
    assert watch.proc.poll() is None, "kubectl get -w must keep running"
    kinds = [l.split()[0] for l in watch.lines[1:] if l.split()[1] == "w1"]
    assert kinds[0] == "ADDED" and kinds[-1] == "DELETED"
    assert set(kinds[1:-1]) == {"MODIFIED"}
    watch.stop()


def test_get_watch_plain_rows(server, kc, spawn):
    create_pod(server, "w0")
    watch = spawn(kc.argv + ["get", "pods", "-w"])
    watch.wait_line(lambda l: l.split()[:1] == ["w0"], what="the initial row of w0")
    assert watch.lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    create_pod(server, "w1")
    watch.wait_line(lambda l: l.split()[:1] == ["w1"], what="a row for w1")
    # No agent runs, so the test plays the kubelet: the new status shows up as a new row.
    make_node(server, "node-a")
    wait_for(lambda: pod(server, "w1")["spec"].get("nodeName"), what="w1 bound")
    set_pod_running(server, "w1", "10.244.0.9")
    row = watch.wait_line(lambda l: l.split()[:3] == ["w1", "1/1", "Running"],
                          what="w1 Running and ready")
    assert row.split()[3] == "0"


def test_describe_pod_and_service(server, kc):
    kc("create", "-f", MULTI)
    wait_for(lambda: server.get_json(
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=web")["items"],
        what="a scheduling event for web")
    out = kc("describe", "pod", "web").stdout
    fields = dict(re.findall(r"^([A-Za-z][A-Za-z -]*):\s+(.*)$", out, re.M))
    assert fields["Name"] == "web"
    assert fields["Namespace"] == "default"
    assert fields["Status"] == "Pending"
    assert fields["QoS Class"] == "BestEffort"
    assert re.search(r"^Labels:\s+app=web\n\s+tier=front$", out, re.M), out
    assert re.search(r"^    Image:\s+nginx:1\.25$", out, re.M)
    assert re.search(r"^    Port:\s+80/TCP$", out, re.M)
    assert re.search(r"^  Warning\s+FailedScheduling\s+\S+\s+default-scheduler\s+0/0 nodes are "
                     r"available", out, re.M), out

    out = kc("describe", "service", "web").stdout
    fields = dict(re.findall(r"^([A-Za-z][A-Za-z -]*):\s+(.*)$", out, re.M))
    svc = server.get_json("/api/v1/namespaces/default/services/web")
    assert fields["Name"] == "web"
    assert fields["Selector"] == "app=web"
    assert fields["Type"] == "ClusterIP"
    assert fields["IP"] == svc["spec"]["clusterIP"]
    assert fields["Session Affinity"] == "None"
    assert re.search(r"^TargetPort:\s+80/TCP$", out, re.M)


def test_delete_by_name_and_by_file(server, kc):
    kc("create", "-f", MULTI)
    out = kc("delete", "pod", "db")
    assert lines(out.stdout) == ['pod "db" deleted']
    assert server.api("GET", "/api/v1/namespaces/default/pods/db").status == 404
    out = kc("delete", "-f", MULTI, check=False)
    assert out.returncode == 1  # db is already gone, and kubectl says so
    assert lines(out.stdout) == ['pod "web" deleted', 'service "web" deleted']
    assert lines(out.stderr) == ['Error from server (NotFound): error when deleting '
                                 f'"{MULTI}": pods "db" not found']
    assert server.get_json("/api/v1/namespaces/default/pods")["items"] == []
    names = [s["metadata"]["name"]
             for s in server.get_json("/api/v1/namespaces/default/services")["items"]]
    assert names == ["kubernetes"]
    out = kc("delete", "pod", "db", check=False)
    assert out.returncode == 1
    assert lines(out.stderr) == ['Error from server (NotFound): pods "db" not found']


def test_wait_for_condition(server, kc, spawn):
    kc("create", "-f", os.path.join(DATA, "readiness.yaml"))
    out = kc("wait", "--for=condition=Ready", "pod/waiter", "--timeout=1s", check=False)
    assert out.returncode == 1
    assert "timed out waiting for the condition" in out.stderr
    waiting = spawn(kc.argv + ["wait", "--for=condition=Ready", "pod/waiter", "--timeout=30s"])
    make_node(server, "node-a")
    wait_for(lambda: pod(server, "waiter")["spec"].get("nodeName"), what="waiter bound")
    set_pod_running(server, "waiter", "10.244.0.5", ready=False)
    set_pod_running(server, "waiter", "10.244.0.5", ready=True)
    assert waiting.wait_exit(timeout=30) == 0, waiting.err_lines
    assert waiting.lines == ["pod/waiter condition met"]
    out = kc("wait", "--for=condition=PodScheduled", "pod/waiter", "--timeout=5s")
    assert lines(out.stdout) == ["pod/waiter condition met"]


def test_wait_for_delete(server, kc, spawn):
    create_pod(server, "gone")
    # -v=6 logs each request once its answer has started: the watch line says kubectl is
    # watching, so the delete below happens while it waits (no sleep, no race).
    waiting = spawn(kc.argv + ["-v=6", "wait", "--for=delete", "pod/gone", "--timeout=30s"])
    waiting.wait_line(lambda l: "watch=true" in l and " 200 OK" in l, stderr=True,
                      what="kubectl's watch request")
    assert server.api("DELETE", "/api/v1/namespaces/default/pods/gone").status == 200
    assert waiting.wait_exit(timeout=30) == 0, waiting.err_lines
    assert waiting.lines == ["pod/gone condition met"]


def test_get_raw_discovery_and_version(server, kc):
    version = json.loads(kc("get", "--raw", "/version").stdout)
    assert version["major"] == "1"
    assert int(version["minor"]) >= 31
    assert version["gitVersion"].startswith("v1.")
    api = json.loads(kc("get", "--raw", "/api").stdout)
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = json.loads(kc("get", "--raw", "/apis").stdout)
    assert groups["kind"] == "APIGroupList"
    assert "coordination.k8s.io" in [g["name"] for g in groups["groups"]]
    core = json.loads(kc("get", "--raw", "/api/v1").stdout)
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    resources = {r["name"]: r for r in core["resources"]}
    for name, kind, namespaced in (("pods", "Pod", True), ("services", "Service", True),
                                   ("nodes", "Node", False), ("namespaces", "Namespace", False),
                                   ("endpoints", "Endpoints", True), ("events", "Event", True)):
        assert resources[name]["kind"] == kind
        assert resources[name]["namespaced"] is namespaced
        assert {"get", "list", "watch", "create", "delete"} <= set(resources[name]["verbs"])
    assert "po" in resources["pods"]["shortNames"]
    assert "svc" in resources["services"]["shortNames"]
    assert {"pods/status", "pods/binding", "pods/log"} <= set(resources)
    out = kc("get", "--raw", "/api/v2", check=False)
    assert out.returncode == 1
    assert "NotFound" in out.stderr or "not found" in out.stderr.lower()


def test_strict_field_validation(server, kc):
    manifest = os.path.join(DATA, "unknown-field.yaml")
    if kc.version == "1.20":
        # kubectl 1.20 does not ask for strict validation: the unknown field is dropped.
        out = kc("create", "-f", manifest)
        assert lines(out.stdout) == ["pod/strict created"]
        stored = pod(server, "strict")
        assert "bogusField" not in stored["spec"]
        assert stored["spec"]["containers"][0]["image"] == "busybox:1.36"
        return
    before = server.snapshot()
    for verb in (["create"], ["apply"], ["apply", "--server-side"]):
        out = kc(*verb, "-f", manifest, check=False)
        assert out.returncode == 1, (verb, out.stdout, out.stderr)
        assert 'strict decoding error: unknown field "spec.bogusField"' in out.stderr, out.stderr
        assert out.stderr.startswith("Error from server (BadRequest)"), out.stderr
    assert server.snapshot() == before
    # The same manifest goes through once the user asks for no validation; the field is dropped.
    out = kc("create", "--validate=false", "-f", manifest)
    assert lines(out.stdout) == ["pod/strict created"]
    assert "bogusField" not in pod(server, "strict")["spec"]


def test_unknown_field_on_existing_object(server, kc, scratch):
    """apply of a changed manifest with a typo is refused too (strict PATCH); kubectl 1.20
    does not ask for strictness, so there the change goes through without the field."""
    kc("apply", "-f", MULTI)
    before = pod(server, "web")
    typo = scratch / "typo.yaml"
    typo.write_text(open(MULTI).read().replace("    image: nginx:1.25",
                                               "    image: nginx:1.26\n    imagePolicy: x"))
    out = kc("apply", "-f", str(typo), check=False)
    if kc.version == "1.20":
        assert out.returncode == 0, out.stderr
        assert "pod/web configured" in lines(out.stdout)
        after = pod(server, "web")
        assert after["spec"]["containers"][0]["image"] == "nginx:1.26"
        assert "imagePolicy" not in after["spec"]["containers"][0]
        return
    assert out.returncode == 1
    assert 'unknown field "spec.containers[0].imagePolicy"' in out.stderr, out.stderr
    # What apply would have changed is unchanged (the scheduler may write the status meanwhile).
    after = pod(server, "web")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_server_side_dry_run(server, kc):
    before = server.snapshot()
    out = kc("create", "-f", MULTI, "--dry-run=server")
    assert lines(out.stdout) == ["pod/web created (server dry run)",
                                 "pod/db created (server dry run)",
                                 "service/web created (server dry run)"]
    out = kc("apply", "-f", MULTI, "--dry-run=server")
    assert lines(out.stdout) == ["pod/web created (server dry run)",
                                 "pod/db created (server dry run)",
                                 "service/web created (server dry run)"]
    assert server.snapshot() == before
    kc("create", "-f", MULTI)
    created = server.settled_snapshot()
    out = kc("delete", "pod", "web", "--dry-run=server")
    assert lines(out.stdout) == ['pod "web" deleted (server dry run)']
    out = kc("label", "pod", "db", "x=y", "--dry-run=server")
    # kubectl 1.20's label does not mention the dry run; the store shows it was one.
    assert lines(out.stdout) == ["pod/db labeled" + ("" if kc.version == "1.20"
                                                      else " (server dry run)")]
    assert server.snapshot() == created
