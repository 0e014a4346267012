"""Object semantics a Kubernetes user relies on: system metadata, defaults, validation,
immutable fields, graceful deletion and finalizers."""
import copy
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import (create_pod, make_node, parse_table, pod_manifest, scheduler_done,
                      wait_for)

PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}


def ts(value):
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def test_system_metadata(server):
    # Whole seconds, and the server's clock (time(), the kernel's coarse clock) may still show
    # the last second for a few milliseconds after this process's clock has moved on.
    before = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    a = server.api("POST", PODS, pod_manifest("a")).json
    b = server.api("POST", PODS, pod_manifest("b")).json
    after = datetime.now(timezone.utc)
    for obj in (a, b):
        assert uuid.UUID(obj["metadata"]["uid"]).version == 4
        assert before <= ts(obj["metadata"]["creationTimestamp"]) <= after
        assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
        assert obj["metadata"]["namespace"] == "default"
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    assert rv(b) > rv(a)

    # Every write moves the resourceVersion up; uid and creationTimestamp never change, even
    # when an update carries other values.
    stale = server.get_json(f"{PODS}/a")
    patched = server.api("PATCH", f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}},
                         headers=MERGE).json
    assert rv(patched) > max(rv(a), rv(b), rv(stale))
    body = copy.deepcopy(patched)
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    body["metadata"]["labels"]["x"] = "2"
    updated = server.api("PUT", f"{PODS}/a", body)
    assert updated.status == 200, updated
    assert updated.json["metadata"]["creationTimestamp"] == a["metadata"]["creationTimestamp"]
    assert updated.json["metadata"]["uid"] == a["metadata"]["uid"]
    assert rv(updated.json) > rv(patched)
    listed = server.get_json(PODS)
    assert int(listed["metadata"]["resourceVersion"]) >= rv(updated.json)


def test_noop_writes_keep_the_resource_version(server):
    created = server.api("POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "b"}},
        "spec": {"ports": [{"port": 80}]}}).json
    same = server.api("PUT", f"{SERVICES}/s", created)
    assert same.status == 200, same
    assert same.json["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    same = server.api("PATCH", f"{SERVICES}/s", {"metadata": {"labels": {"a": "b"}}},
                      headers=MERGE)
    assert same.status == 200, same
    assert same.json["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_generation(server):
    svc = server.api("POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}}).json
    assert svc["metadata"]["generation"] == 1
    labelled = server.api("PATCH", f"{SERVICES}/s", {"metadata": {"labels": {"l": "1"}}},
                          headers=MERGE).json
    assert labelled["metadata"]["generation"] == 1  # metadata is not spec
    changed = server.api("PATCH", f"{SERVICES}/s", {"spec": {"selector": {"app": "b"}}},
                         headers=MERGE).json
    assert changed["metadata"]["generation"] == 2
    changed = server.api("PATCH", f"{SERVICES}/s", {"spec": {"ports": [{"port": 81}]}},
                         headers=MERGE).json
    assert changed["metadata"]["generation"] == 3
    ns = server.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": "gen"}}).json
    assert "deletionTimestamp" not in ns["metadata"]


def test_generate_name(server):
    names = set()
    for _ in range(5):
        body = pod_manifest("ignored")
        del body["metadata"]["name"]
        body["metadata"]["generateName"] = "web-"
        answer = server.api("POST", PODS, body)
        assert answer.status == 201, answer
        name = answer.json["metadata"]["name"]
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name), name
        assert answer.json["metadata"]["generateName"] == "web-"
        names.add(name)
    assert len(names) == 5
    assert sorted(p["metadata"]["name"] for p in server.get_json(PODS)["items"]) == sorted(names)
    body = pod_manifest("ignored")
    del body["metadata"]["name"]
    answer = server.api("POST", PODS, body)
    assert answer.status == 422, answer
    assert answer.json["reason"] == "Invalid"
    assert [c["field"] for c in answer.json["details"]["causes"]] == ["metadata.name"]


def test_pod_defaults(server):
    body = pod_manifest("d")
    body["spec"]["containers"] = [
        {"name": "latest", "image": "nginx:latest", "ports": [{"containerPort": 80}]},
        {"name": "notag", "image": "nginx"},
        {"name": "tagged", "image": "nginx:1.25",
         "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 54}]},
        {"name": "digest", "image": "nginx@sha256:" + "a" * 64},
        {"name": "registry", "image": "localhost:5000/nginx"},
    ]
    pod = server.api("POST", PODS, body).json
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["enableServiceLinks"] is True
    assert spec["securityContext"] == {}
    pulls = {c["name"]: c["imagePullPolicy"] for c in spec["containers"]}
    assert pulls == {"latest": "Always", "notag": "Always", "tagged": "IfNotPresent",
                     "digest": "IfNotPresent", "registry": "Always"}
    ports = {c["name"]: c.get("ports") for c in spec["containers"]}
    assert ports["latest"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert ports["tagged"] == [{"containerPort": 53, "protocol": "UDP"},
                               {"containerPort": 54, "protocol": "TCP"}]
    for c in spec["containers"]:
        assert c["terminationMessagePath"] == "/dev/termination-log"
        assert c["terminationMessagePolicy"] == "File"
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["qosClass"] == "BestEffort"
    # What a user writes is kept: no default overrides a given value.
    body = pod_manifest("kept", restartPolicy="Never", terminationGracePeriodSeconds=5,
                        dnsPolicy="Default")
    body["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    kept = server.api("POST", PODS, body).json["spec"]
    assert (kept["restartPolicy"], kept["terminationGracePeriodSeconds"], kept["dnsPolicy"],
            kept["containers"][0]["imagePullPolicy"]) == ("Never", 5, "Default", "Never")


@pytest.mark.parametrize("resources,qos", [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}}, "Burstable"),
    ({"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}},
     "Guaranteed"),
    # Limits alone: the requests default to them, so the pod is Guaranteed.
    ({"limits": {"cpu": "500m", "memory": "1Gi"}}, "Guaranteed"),
])
def test_qos_class(server, resources, qos):
    body = pod_manifest("q")
    body["spec"]["containers"][0]["resources"] = resources
    pod = server.api("POST", PODS, body).json
    assert pod["status"]["qosClass"] == qos
    if "limits" in resources and "requests" not in resources:
        assert pod["spec"]["containers"][0]["resources"]["requests"] == resources["limits"]


def test_create_ignores_status(server):
    body = pod_manifest("s")
    body["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
    pod = server.api("POST", PODS, body).json
    assert pod["status"]["phase"] == "Pending"
    assert "podIP" not in pod["status"]


def test_status_and_spec_are_written_separately(server):
    server.api("POST", PODS, pod_manifest("s"))
    pod = scheduler_done(server, "s")
    body = copy.deepcopy(pod)
    body["status"]["phase"] = "Running"
    body["metadata"]["labels"] = {"via": "main"}
    main = server.api("PUT", f"{PODS}/s", body).json
    assert main["status"]["phase"] == "Pending"  # the main resource ignores status
    assert main["metadata"]["labels"] == {"via": "main"}
    body = copy.deepcopy(main)
    body["status"]["phase"] = "Running"
    body["spec"]["containers"][0]["image"] = "busybox:9"
    status = server.api("PUT", f"{PODS}/s/status", body)
    assert status.status == 200, status
    assert status.json["status"]["phase"] == "Running"
    assert rv(status.json) > rv(main)
    assert status.json["spec"]["containers"][0]["image"] == "busybox:1.36"  # spec is ignored
    assert server.get_json(f"{PODS}/s")["spec"] == main["spec"]


def test_service_defaults(server):
    svc = server.api("POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80},
                           {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
                           {"name": "named", "port": 8080, "targetPort": "http-alt"}]}}).json
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
        {"name": "named", "port": 8080, "protocol": "TCP", "targetPort": "http-alt"}]
    assert re.fullmatch(r"10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+", spec["clusterIP"])
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"


def test_nodeport_service(server):
    answer = server.api("POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "np"},
        "spec": {"type": "NodePort", "selector": {"app": "np"}, "ports": [{"port": 80}]}})
    assert answer.status == 201, answer
    port = answer.json["spec"]["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767
    assert answer.json["spec"]["externalTrafficPolicy"] == "Cluster"


def causes(answer):
    return sorted((c["field"], c["reason"]) for c in answer.json["details"]["causes"])


def assert_invalid(answer, kind, name, expected_causes):
    assert answer.status == 422, answer
    body = answer.json
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["reason"] == "Invalid"
    assert body["details"]["kind"] == kind and body["details"]["name"] == name
    assert body["message"].startswith(f'{kind} "{name}" is invalid: '), body["message"]
    assert causes(answer) == sorted(expected_causes)


def test_validation_of_pods(server):
    before = server.snapshot()
    bad_name = pod_manifest("Bad_Name")
    assert_invalid(server.api("POST", PODS, bad_name), "Pod", "Bad_Name",
                   [("metadata.name", "FieldValueInvalid")])
    long_name = pod_manifest("a" * 254)
    assert_invalid(server.api("POST", PODS, long_name), "Pod", "a" * 254,
                   [("metadata.name", "FieldValueInvalid")])
    bad_labels = pod_manifest("l", labels={"bad key!": "v", "ok": "bad value!"})
    assert_invalid(server.api("POST", PODS, bad_labels), "Pod", "l",
                   [("metadata.labels", "FieldValueInvalid"),
                    ("metadata.labels", "FieldValueInvalid")])
    no_containers = pod_manifest("nc")
    no_containers["spec"]["containers"] = []
    assert_invalid(server.api("POST", PODS, no_containers), "Pod", "nc",
                   [("spec.containers", "FieldValueRequired")])
    no_image = pod_manifest("ni")
    del no_image["spec"]["containers"][0]["image"]
    assert_invalid(server.api("POST", PODS, no_image), "Pod", "ni",
                   [("spec.containers[0].image", "FieldValueRequired")])
    twins = pod_manifest("twins")
    twins["spec"]["containers"].append(dict(twins["spec"]["containers"][0]))
    assert_invalid(server.api("POST", PODS, twins), "Pod", "twins",
                   [("spec.containers[1].name", "FieldValueDuplicate")])
    ports = pod_manifest("ports")
    ports["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 80},
                                               {"name": "http", "containerPort": 81}]
    assert_invalid(server.api("POST", PODS, ports), "Pod", "ports",
                   [("spec.containers[0].ports[1].name", "FieldValueDuplicate")])
    bad_port = pod_manifest("badport")
    bad_port["spec"]["containers"][0]["ports"] = [{"containerPort": 70000}]
    assert_invalid(server.api("POST", PODS, bad_port), "Pod", "badport",
                   [("spec.containers[0].ports[0].containerPort", "FieldValueInvalid")])
    bad_policy = pod_manifest("policy", restartPolicy="Sometimes")
    assert_invalid(server.api("POST", PODS, bad_policy), "Pod", "policy",
                   [("spec.restartPolicy", "FieldValueNotSupported")])
    assert server.snapshot() == before


def test_validation_message_through_kubectl(server):
    out = server.kubectl("create", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  containers: []
""", check=False)
    assert out.returncode == 1
    assert 'The Pod "bad" is invalid: spec.containers: Required value' in out.stderr, out.stderr


def test_validation_of_services(server):
    before = server.snapshot()

    def svc(name, **spec):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"ports": [{"port": 80}], **spec}}

    # Service names are DNS-1035 labels: no dots, and a letter first.
    assert_invalid(server.api("POST", SERVICES, svc("a.b")), "Service", "a.b",
                   [("metadata.name", "FieldValueInvalid")])
    assert_invalid(server.api("POST", SERVICES, svc("1abc")), "Service", "1abc",
                   [("metadata.name", "FieldValueInvalid")])
    dup = svc("dup", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])
    assert_invalid(server.api("POST", SERVICES, dup), "Service", "dup",
                   [("spec.ports[1]", "FieldValueDuplicate")])
    unnamed = svc("unnamed", ports=[{"port": 80}, {"port": 81}])
    assert_invalid(server.api("POST", SERVICES, unnamed), "Service", "unnamed",
                   [("spec.ports[0].name", "FieldValueRequired"),
                    ("spec.ports[1].name", "FieldValueRequired")])
    bad_type = svc("badtype", type="Magic")
    assert_invalid(server.api("POST", SERVICES, bad_type), "Service", "badtype",
                   [("spec.type", "FieldValueNotSupported")])
    assert server.snapshot() == before


def test_immutable_pod_fields(server):
    server.api("POST", PODS, pod_manifest("imm"))
    pod = scheduler_done(server, "imm")
    for change in (lambda s: s.update(restartPolicy="Never"),
                   lambda s: s["containers"][0].update(command=["sh"]),
                   lambda s: s["containers"][0].update(ports=[{"containerPort": 1}]),
                   lambda s: s["containers"].append({"name": "more", "image": "x"})):
        body = server.get_json(f"{PODS}/imm")
        change(body["spec"])
        answer = server.api("PUT", f"{PODS}/imm", body)
        assert answer.status == 422, answer
        assert answer.json["reason"] == "Invalid"
        assert [c["field"] for c in answer.json["details"]["causes"]] == ["spec"]
        assert "pod updates may not change fields other than" in answer.json["message"]
    answer = server.api("PATCH", f"{PODS}/imm", {"spec": {"dnsPolicy": "Default"}},
                        headers=MERGE)
    assert answer.status == 422, answer
    assert server.get_json(f"{PODS}/imm")["metadata"]["resourceVersion"] == \
        pod["metadata"]["resourceVersion"]
    # The image is mutable, and so is activeDeadlineSeconds.
    answer = server.api("PATCH", f"{PODS}/imm",
                        {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}],
                                  "activeDeadlineSeconds": 600}},
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert answer.status == 200, answer
    assert answer.json["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_immutable_service_cluster_ip(server):
    svc = server.api("POST", SERVICES, {"apiVersion": "v1", "kind": "Service",
                                        "metadata": {"name": "s"},
                                        "spec": {"ports": [{"port": 80}]}}).json
    answer = server.api("PATCH", f"{SERVICES}/s", {"spec": {"clusterIP": "10.96.55.55",
                                                            "clusterIPs": ["10.96.55.55"]}},
                        headers=MERGE)
    assert answer.status == 422, answer
    assert "spec.clusterIPs[0]" in [c["field"] for c in answer.json["details"]["causes"]] or \
        "spec.clusterIP" in [c["field"] for c in answer.json["details"]["causes"]]
    assert server.get_json(f"{SERVICES}/s")["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


def bound_pod(server, name):
    make_node(server, "node-a")
    create_pod(server, name)
    wait_for(lambda: server.get_json(f"{PODS}/{name}")["spec"].get("nodeName") == "node-a",
             what=f"{name} bound to node-a")


def test_graceful_deletion_of_a_bound_pod(server):
    bound_pod(server, "g")
    start = datetime.now(timezone.utc).replace(microsecond=0)
    answer = server.api("DELETE", f"{PODS}/g")
    assert answer.status == 200, answer  # Kubernetes answers a graceful delete with 200
    meta = answer.json["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30
    deadline = ts(meta["deletionTimestamp"])
    assert start + timedelta(seconds=29) <= deadline <= start + timedelta(seconds=32)
    kept = server.get_json(f"{PODS}/g")
    assert kept["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    table = parse_table(server.kubectl("get", "pods").stdout)
    assert [(r["NAME"], r["STATUS"]) for r in table.rows] == [("g", "Terminating")]
    # A shorter grace period shortens the wait; a longer one does not lengthen it.
    shorter = server.api("DELETE", f"{PODS}/g", {"gracePeriodSeconds": 10}).json["metadata"]
    assert shorter["deletionGracePeriodSeconds"] == 10
    assert ts(shorter["deletionTimestamp"]) < deadline
    longer = server.api("DELETE", f"{PODS}/g", {"gracePeriodSeconds": 60}).json["metadata"]
    assert longer["deletionGracePeriodSeconds"] == 10
    # What the kubelet does once the containers are gone: delete with grace 0.
    answer = server.api("DELETE", f"{PODS}/g", {"gracePeriodSeconds": 0})
    assert answer.status == 200, answer
    assert server.api("GET", f"{PODS}/g").status == 404


def test_force_delete_with_kubectl(server):
    bound_pod(server, "f")
    out = server.kubectl("delete", "pod", "f", "--grace-period=0", "--force")
    assert 'pod "f" force deleted' in out.stdout
    assert server.api("GET", f"{PODS}/f").status == 404


def test_unbound_pod_is_deleted_at_once(server):
    create_pod(server, "u")
    answer = server.api("DELETE", f"{PODS}/u")
    assert answer.status == 200, answer
    assert server.api("GET", f"{PODS}/u").status == 404


def test_finalizers_keep_an_object(server):
    body = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "held", "finalizers": ["e2e.ckube.io/hold"]},
            "spec": {"ports": [{"port": 80}]}}
    assert server.api("POST", SERVICES, body).status == 201
    answer = server.api("DELETE", f"{SERVICES}/held")
    assert answer.status in (200, 202), answer
    held = server.get_json(f"{SERVICES}/held")
    assert "deletionTimestamp" in held["metadata"]
    assert held["metadata"]["finalizers"] == ["e2e.ckube.io/hold"]
    # No new finalizer may be added once deletion started.
    answer = server.api("PATCH", f"{SERVICES}/held",
                        {"metadata": {"finalizers": ["e2e.ckube.io/hold", "e2e.ckube.io/more"]}},
                        headers=MERGE)
    assert answer.status == 422, answer
    assert causes(answer) == [("metadata.finalizers", "FieldValueForbidden")]
    assert "no new finalizers can be added if the object is being deleted" in \
        answer.json["message"]
    # Other changes are still allowed while it waits.
    answer = server.api("PATCH", f"{SERVICES}/held", {"metadata": {"labels": {"x": "y"}}},
                        headers=MERGE)
    assert answer.status == 200, answer
    answer = server.api("PATCH", f"{SERVICES}/held", {"metadata": {"finalizers": None}},
                        headers=MERGE)
    assert answer.status == 200, answer
    assert server.api("GET", f"{SERVICES}/held").status == 404


def test_finalizer_on_a_pod_and_a_watch_sees_it_go(server):
    create_pod(server, "fp")
    server.api("PATCH", f"{PODS}/fp", {"metadata": {"finalizers": ["e2e.ckube.io/hold"]}},
               headers=MERGE)
    start = server.revision()
    assert server.api("DELETE", f"{PODS}/fp").status in (200, 202)
    assert "deletionTimestamp" in server.get_json(f"{PODS}/fp")["metadata"]
    server.api("PATCH", f"{PODS}/fp", {"metadata": {"finalizers": []}}, headers=MERGE)
    assert server.api("GET", f"{PODS}/fp").status == 404
    events = server.api("GET", f"{PODS}?watch=true&resourceVersion={start}&timeoutSeconds=1",
                        timeout=10)
    kinds = [e["type"] for e in map(json.loads, events.text.splitlines())
             if e["object"]["metadata"].get("name") == "fp"]
    assert kinds[-1] == "DELETED" and "DELETED" not in kinds[:-1], kinds


def test_delete_preconditions(server):
    pod = server.api("POST", SERVICES, {"apiVersion": "v1", "kind": "Service",
                                        "metadata": {"name": "s"},
                                        "spec": {"ports": [{"port": 80}]}}).json
    answer = server.api("DELETE", f"{SERVICES}/s", {"preconditions": {"uid": "wrong"}})
    assert answer.status == 409, answer
    assert answer.json["reason"] == "Conflict"
    assert "Precondition failed: UID in precondition: wrong" in answer.json["message"]
    answer = server.api("DELETE", f"{SERVICES}/s",
                        {"preconditions": {"resourceVersion": "1"}})
    assert answer.status == 409, answer
    assert server.get_json(f"{SERVICES}/s")["metadata"]["uid"] == pod["metadata"]["uid"]
    answer = server.api("DELETE", f"{SERVICES}/s",
                        {"preconditions": {"uid": pod["metadata"]["uid"],
                                           "resourceVersion": pod["metadata"]["resourceVersion"]}})
    assert answer.status == 200, answer
    assert server.api("GET", f"{SERVICES}/s").status == 404
