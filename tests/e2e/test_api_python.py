"""The official Python client (Debian's python3-kubernetes) against `ckube server`."""
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from conftest import make_node, pod_manifest, wait_for


@pytest.fixture
def v1(server):
    return server.python_client()


def names(items):
    return [i.metadata.name for i in items]


def merge_patch(api, path, body, response_type="V1Pod"):
    """A JSON merge patch (RFC 7386); the generated client only sends strategic merge for
    dicts and JSON patch for lists, so this goes through its call_api."""
    return api.api_client.call_api(
        path, "PATCH", header_params={"Content-Type": "application/merge-patch+json",
                                      "Accept": "application/json"},
        body=body, response_type=response_type, auth_settings=["BearerToken"],
        _return_http_data_only=True)


def test_create_and_list(v1):
    made = v1.create_namespaced_pod("default", client.V1Pod(
        metadata=client.V1ObjectMeta(name="typed", labels={"app": "a"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")])))
    assert made.metadata.name == "typed"
    assert made.metadata.uid and made.metadata.resource_version
    v1.create_namespaced_pod("default", pod_manifest("plain", labels={"app": "b"}))
    listed = v1.list_namespaced_pod("default")
    assert names(listed.items) == ["plain", "typed"]
    assert int(listed.metadata.resource_version) >= int(made.metadata.resource_version)
    assert names(v1.list_namespaced_pod("default", label_selector="app=a").items) == ["typed"]
    assert names(v1.list_namespaced_pod("default", field_selector="metadata.name=plain").items) \
        == ["plain"]
    assert names(v1.list_pod_for_all_namespaces().items) == ["plain", "typed"]
    assert names(v1.list_namespaced_pod("kube-system").items) == []
    assert sorted(names(v1.list_namespace().items)) == [
        "default", "kube-node-lease", "kube-public", "kube-system"]
    got = v1.read_namespaced_pod("typed", "default")
    assert got.spec.containers[0].image == "busybox:1.36"
    assert got.metadata.uid == made.metadata.uid


def test_strategic_merge_patch(v1):
    pod = pod_manifest("p", labels={"keep": "yes"})
    pod["spec"]["containers"].append({"name": "side", "image": "busybox:1.36"})
    v1.create_namespaced_pod("default", pod)
    # Containers merge by name: only "side" changes (the image is the one mutable field).
    patched = v1.patch_namespaced_pod("p", "default", {
        "metadata": {"labels": {"new": "label"}},
        "spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}})
    assert patched.metadata.labels == {"keep": "yes", "new": "label"}
    assert [(c.name, c.image) for c in patched.spec.containers] == [
        ("main", "busybox:1.36"), ("side", "busybox:1.37")]
    # null deletes a key.
    patched = v1.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"keep": None}}})
    assert patched.metadata.labels == {"new": "label"}

    # Service ports merge by port; $patch: delete removes one.
    v1.create_namespaced_service("default", {
        "metadata": {"name": "s"},
        "spec": {"selector": {"app": "s"}, "ports": [{"name": "http", "port": 80}]}})
    patched = v1.patch_namespaced_service("s", "default", {
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
    # Kubernetes puts items new to the list ahead of the ones only the server had.
    assert [(p.name, p.port, p.target_port) for p in patched.spec.ports] == [
        ("https", 443, 8443), ("http", 80, 80)]
    patched = v1.patch_namespaced_service("s", "default", {
        "spec": {"ports": [{"port": 80, "$patch": "delete"}]}})
    assert [(p.name, p.port) for p in patched.spec.ports] == [("https", 443)]


def test_json_merge_patch(v1):
    v1.create_namespaced_pod("default", pod_manifest("p", labels={"a": "1", "b": "2"}))
    patched = merge_patch(v1, "/api/v1/namespaces/default/pods/p",
                          {"metadata": {"labels": {"a": None, "c": "3"},
                                        "annotations": {"note": "x"}}})
    assert patched.metadata.labels == {"b": "2", "c": "3"}
    assert patched.metadata.annotations == {"note": "x"}
    svc = v1.create_namespaced_service("default", {
        "metadata": {"name": "s"},
        "spec": {"selector": {"x": "y"}, "ports": [{"name": "http", "port": 80}]}})
    # A merge patch replaces lists whole, where a strategic merge would merge by port.
    patched = merge_patch(v1, "/api/v1/namespaces/default/services/s",
                          {"spec": {"selector": {"x": None, "z": "w"},
                                    "ports": [{"name": "https", "port": 443}]}}, "V1Service")
    assert patched.spec.selector == {"z": "w"}
    assert [(p.name, p.port) for p in patched.spec.ports] == [("https", 443)]
    assert patched.spec.cluster_ip == svc.spec.cluster_ip


def test_json_patch(v1):
    v1.create_namespaced_pod("default", pod_manifest("p", labels={"a": "1"}))
    patched = v1.patch_namespaced_pod("p", "default", [
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "test", "path": "/metadata/name", "value": "p"}])
    assert patched.metadata.labels == {"b": "2"}
    assert patched.spec.containers[0].image == "busybox:1.37"
    before = v1.read_namespaced_pod("p", "default")
    # A failing test operation rejects the whole patch.
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_pod("p", "default", [
            {"op": "add", "path": "/metadata/labels/c", "value": "3"},
            {"op": "test", "path": "/metadata/name", "value": "other"}])
    assert 400 <= err.value.status < 500
    after = v1.read_namespaced_pod("p", "default")
    # The scheduler may write the pod's status meanwhile (so its resourceVersion may move);
    # what the patch would have changed must not have.
    assert after.metadata.generation == before.metadata.generation
    assert after.metadata.labels == {"b": "2"}


def test_watch_without_resource_version(v1):
    """Without a resourceVersion a watch starts with ADDED for what exists, then live events,
    in order."""
    v1.create_namespaced_pod("default", pod_manifest("first"))
    seen = []
    w = watch.Watch()
    started = threading.Event()

    def consume():
        for event in w.stream(v1.list_namespaced_pod, "default", timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name,
                         int(event["object"].metadata.resource_version)))
            started.set()
            if event["type"] == "DELETED" and event["object"].metadata.name == "second":
                w.stop()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert started.wait(10), "the watch never delivered the existing pod"
    v1.create_namespaced_pod("default", pod_manifest("second"))
    v1.patch_namespaced_pod("second", "default", {"metadata": {"labels": {"x": "y"}}})
    v1.delete_namespaced_pod("second", "default")
    reader.join(20)
    assert not reader.is_alive(), f"the watch did not see the delete; saw {seen}"
    assert seen[0][:2] == ("ADDED", "first")
    second = [(t, n) for t, n, _ in seen if n == "second"]
    assert second[0] == ("ADDED", "second") and second[-1] == ("DELETED", "second")
    assert {t for t, _ in second[1:-1]} == {"MODIFIED"}
    versions = [rv for _, n, rv in seen if n == "second"]
    # Every event carries the revision of its own change, the deletion included.
    assert all(a < b for a, b in zip(versions, versions[1:])), seen


def mine(seen, writes):
    """The events of a watch that are the test's own writes (the scheduler also writes pod
    status, and those events are allowed in between)."""
    revisions = {rv for _, _, rv in writes}
    return [e for e in seen if e[2] in revisions]


def test_watch_from_resource_version(v1):
    """From a list's resourceVersion a watch replays exactly what happened after it, in
    order, and nothing from before."""
    v1.create_namespaced_pod("default", pod_manifest("old"))
    # Let the scheduler finish with "old" (it records PodScheduled=False: there is no node).
    wait_for(lambda: v1.read_namespaced_pod("old", "default").status.conditions,
             what="the scheduler to look at old")
    rv = v1.list_namespaced_pod("default").metadata.resource_version

    def written(kind, obj):
        return (kind, obj.metadata.name, int(obj.metadata.resource_version))

    writes = [written("ADDED", v1.create_namespaced_pod("default", pod_manifest("a"))),
              written("MODIFIED", v1.patch_namespaced_pod(
                  "a", "default", {"metadata": {"labels": {"step": "2"}}})),
              written("ADDED", v1.create_namespaced_pod("default", pod_manifest("b"))),
              written("DELETED", v1.delete_namespaced_pod("a", "default"))]
    seen = []
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_pod, "default", resource_version=rv,
                          timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name,
                     int(event["object"].metadata.resource_version)))
        if seen[-1] == writes[-1]:
            w.stop()
    assert mine(seen, writes) == writes
    assert all(e[2] > int(rv) for e in seen), seen
    assert [e[2] for e in seen] == sorted(e[2] for e in seen)
    assert {e[1] for e in seen} == {"a", "b"}


def test_watch_with_label_selector(v1):
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    x = v1.create_namespaced_pod("default", pod_manifest("x", labels={"team": "x"}))
    v1.create_namespaced_pod("default", pod_manifest("y", labels={"team": "y"}))
    y = v1.patch_namespaced_pod("y", "default", {"metadata": {"labels": {"team": "x"}}})
    gone = v1.delete_namespaced_pod("x", "default")
    writes = [("ADDED", "x", int(x.metadata.resource_version)),
              # y enters the selection by a change: Kubernetes sends that as ADDED.
              ("ADDED", "y", int(y.metadata.resource_version)),
              ("DELETED", "x", int(gone.metadata.resource_version))]
    seen = []
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_pod, "default", resource_version=rv,
                          label_selector="team=x", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name,
                     int(event["object"].metadata.resource_version)))
        if seen[-1] == writes[-1]:
            w.stop()
    assert mine(seen, writes) == writes
    # Nothing of y from before it matched.
    assert not [e for e in seen if e[1] == "y" and e[2] < writes[1][2]], seen


def test_delete(v1):
    v1.create_namespaced_pod("default", pod_manifest("p"))
    status = v1.delete_namespaced_pod("p", "default")
    assert status.metadata.name == "p"  # an unbound pod goes at once; the answer is the pod
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_pod("p", "default")
    assert err.value.status == 404
    v1.create_namespaced_service("default", {"metadata": {"name": "s"},
                                             "spec": {"ports": [{"port": 80}]}})
    v1.delete_namespaced_service("s", "default")
    assert names(v1.list_namespaced_service("default").items) == ["kubernetes"]


def test_deletecollection_with_label_selector(v1):
    for name, team in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        v1.create_namespaced_pod("default", pod_manifest(name, labels={"team": team}))
    v1.delete_collection_namespaced_pod("default", label_selector="team=a")
    assert names(v1.list_namespaced_pod("default").items) == ["b1"]
    v1.delete_collection_namespaced_pod("default")
    assert names(v1.list_namespaced_pod("default").items) == []


def test_conflicts_and_not_found(v1):
    v1.create_namespaced_pod("default", pod_manifest("p"))
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_pod("default", pod_manifest("p"))
    assert err.value.status == 409
    assert '"reason":"AlreadyExists"' in err.value.body.replace(" ", "")
    assert 'pods \\"p\\" already exists' in err.value.body

    current = v1.read_namespaced_pod("p", "default")
    stale = v1.read_namespaced_pod("p", "default")
    current.metadata.labels = {"writer": "first"}
    v1.replace_namespaced_pod("p", "default", current)
    stale.metadata.labels = {"writer": "second"}
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_pod("p", "default", stale)
    assert err.value.status == 409
    assert '"reason":"Conflict"' in err.value.body.replace(" ", "")
    assert "the object has been modified" in err.value.body
    assert v1.read_namespaced_pod("p", "default").metadata.labels == {"writer": "first"}

    for call in (lambda: v1.read_namespaced_pod("missing", "default"),
                 lambda: v1.delete_namespaced_pod("missing", "default"),
                 lambda: v1.patch_namespaced_pod("missing", "default", {"metadata": {}}),
                 lambda: v1.read_namespaced_service("missing", "default"),
                 lambda: v1.read_namespace("missing"),
                 lambda: v1.read_node("missing")):
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 404
        assert '"reason":"NotFound"' in err.value.body.replace(" ", "")


def test_replace_without_resource_version_is_unconditional(v1):
    v1.create_namespaced_pod("default", pod_manifest("p"))
    body = v1.read_namespaced_pod("p", "default")
    body.metadata.resource_version = None
    body.metadata.labels = {"forced": "yes"}
    replaced = v1.replace_namespaced_pod("p", "default", body)
    assert replaced.metadata.labels == {"forced": "yes"}


def test_list_in_pages(v1):
    """limit and continue, as informers list: every object once, in name order."""
    for i in range(7):
        v1.create_namespaced_pod("default", pod_manifest(f"p{i}", nodeName="elsewhere"))
    first = v1.list_namespaced_pod("default", limit=3)
    assert names(first.items) == ["p0", "p1", "p2"]
    assert first.metadata._continue
    seen = names(first.items)
    token = first.metadata._continue
    v1.create_namespaced_pod("default", pod_manifest("p9", nodeName="elsewhere"))
    while token:
        page = v1.list_namespaced_pod("default", limit=3, _continue=token)
        # Later pages are served at the first page's resourceVersion: a consistent snapshot.
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += names(page.items)
        token = page.metadata._continue
    assert seen == [f"p{i}" for i in range(7)]
    assert names(v1.list_namespaced_pod("default").items)[-1] == "p9"


def test_list_remaining_item_count(v1):
    """An unfiltered page says how many objects are left, as Kubernetes does."""
    for i in range(5):
        v1.create_namespaced_pod("default", pod_manifest(f"p{i}", nodeName="elsewhere"))
    page = v1.list_namespaced_pod("default", limit=2)
    assert page.metadata.remaining_item_count == 3


def test_watch_by_node_name(server, v1):
    """What a kubelet does: watch the pods whose spec.nodeName is its node. A pod enters that
    selection when the scheduler binds it, and the watch says ADDED."""
    make_node(server, "node-a")
    since = v1.list_pod_for_all_namespaces().metadata.resource_version
    v1.create_namespaced_pod("default", pod_manifest("elsewhere", nodeName="node-b"))
    v1.create_namespaced_pod("default", pod_manifest("mine"))
    events = server.watch("/api/v1/pods", 1, resourceVersion=since,
                          fieldSelector="spec.nodeName%3Dnode-a")
    assert [(e["type"], e["object"]["metadata"]["name"], e["object"]["spec"]["nodeName"])
            for e in events] == [("ADDED", "mine", "node-a")]
    listed = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")
    assert names(listed.items) == ["mine"]
