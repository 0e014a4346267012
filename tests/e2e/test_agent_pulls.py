"""Image pulls by the node agent, counted where they land: the test registry (Debian's
docker-registry) logs every request it serves in its directory (registry.log, one "response
completed" line with method, URI and user agent each), so a test can count the manifest and blob
GETs the agent made for an image. Several pods waiting for one image share one download; each
pod reports its own Pulling/Pulled events; imagePullPolicy Never and IfNotPresent leave the
registry alone when they should."""
import concurrent.futures
import json
import os
import re
import time

import pytest

from conftest import OCI_MANIFEST, wait_for

POD_COUNT = 5
RUN_TIMEOUT = 90

# logrus text format: key=value, the value quoted when it holds spaces or quotes.
FIELD = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')


def unquote(value):
    return json.loads(value) if value.startswith('"') else value


class RegistryLog:
    """The requests the registry serves from now on (its log is appended to, never rotated)."""

    def __init__(self, registry):
        self.path = os.path.join(registry.directory, "registry.log")
        self.offset = os.path.getsize(self.path)

    def requests(self, agent_only=True):
        """(method, uri, status) of each request served since this object was made; only the
        node agent's (user agent ckube/...) unless asked."""
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
        served = []
        for line in text.splitlines():
            if 'msg="response completed' not in line:
                continue
            fields = {k: unquote(v) for k, v in FIELD.findall(line)}
            if agent_only and not fields.get("http.request.useragent", "").startswith("ckube"):
                continue
            served.append((fields.get("http.request.method"), fields.get("http.request.uri"),
                           int(fields.get("http.response.status", 0))))
        return served


def image_content(registry, name):
    """The config and layer digests of NAME:1 (an OCI manifest), asked of the registry."""
    answer = registry.get(f"/v2/{name}/manifests/1", accept=OCI_MANIFEST)
    assert answer.status == 200, answer
    manifest = answer.json
    return manifest["config"]["digest"], [layer["digest"] for layer in manifest["layers"]]


def count(served, method, uri):
    return sum(1 for m, u, _ in served if m == method and u == uri)


def make_pod(srv, name, image, policy):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": image, "imagePullPolicy": policy,
                                     "command": ["sleep", "3600"]}],
                     "terminationGracePeriodSeconds": 1}}
    answer = srv.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()


def make_pods_at_once(srv, names, image, policy):
    """Creates the pods from parallel requests, so that they reach the agent together."""
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        for future in [pool.submit(make_pod, srv, name, image, policy) for name in names]:
            future.result()


def pod(srv, name):
    return srv.get_json(f"/api/v1/namespaces/default/pods/{name}")


def wait_running(srv, names):
    def all_running():
        phases = {name: pod(srv, name).get("status", {}).get("phase") for name in names}
        return all(phase == "Running" for phase in phases.values()) or None
    wait_for(all_running, timeout=RUN_TIMEOUT, interval=0.2, what=f"{names} Running")


def waiting_state(srv, name):
    statuses = pod(srv, name).get("status", {}).get("containerStatuses") or []
    return statuses[0].get("state", {}).get("waiting") if statuses else None


def pod_events(srv, name):
    """(type, reason, message) of the pod's events, oldest first."""
    items = srv.get_json("/api/v1/namespaces/default/events")["items"]
    mine = [e for e in items if e["involvedObject"].get("name") == name]
    mine.sort(key=lambda e: e.get("firstTimestamp") or e.get("eventTime") or "")
    return [(e["type"], e["reason"], e["message"]) for e in mine]


@pytest.fixture
def fresh_node(server_factory, registry):
    """A server with its own node agent and an empty image store, pulling from the registry."""
    return server_factory(agent=True, registry=registry)


def test_pods_waiting_for_one_image_share_one_pull(fresh_node, registry):
    """IfNotPresent on a node without the image: one pull, whatever number of pods wait."""
    image = registry.image("busybox")
    config, layers = image_content(registry, "busybox")
    log = RegistryLog(registry)
    names = [f"shared-{i}" for i in range(POD_COUNT)]
    started = time.monotonic()
    make_pods_at_once(fresh_node, names, image, "IfNotPresent")
    wait_running(fresh_node, names)
    took = time.monotonic() - started
    served = log.requests()
    print(f"{POD_COUNT} pods Running {took:.1f} s after creation; the agent asked the "
          f"registry: {served}")
    assert count(served, "GET", "/v2/busybox/manifests/1") == 1, served
    for digest in [config] + layers:
        assert count(served, "GET", f"/v2/busybox/blobs/{digest}") == 1, (digest, served)
    assert all(status == 200 for _, _, status in served), served
    # The pods that waited for the pull were told so, each with its own events.
    waited = 0
    for name in names:
        reasons = [reason for _, reason, _ in pod_events(fresh_node, name)]
        if "Pulling" in reasons:
            waited += 1
            assert reasons.count("Pulling") == 1 and reasons.count("Pulled") == 1, \
                (name, reasons)
            assert reasons.index("Pulling") < reasons.index("Pulled"), (name, reasons)
    print(f"{waited} of {POD_COUNT} pods waited for the pull")
    assert waited >= 1

    # The image is on the node now: IfNotPresent starts the next pod without the registry.
    log = RegistryLog(registry)
    make_pod(fresh_node, "present", image, "IfNotPresent")
    wait_running(fresh_node, ["present"])
    assert log.requests() == []
    reasons = [reason for _, reason, _ in pod_events(fresh_node, "present")]
    assert "Pulling" not in reasons, reasons


def test_always_pulls_fetch_each_blob_once(fresh_node, registry):
    """imagePullPolicy Always: every pod resolves the tag (its own Pulling and Pulled events),
    but pulls running together download each blob once, and every pull asks for the manifest
    once."""
    image = registry.image("busybox")
    config, layers = image_content(registry, "busybox")
    log = RegistryLog(registry)
    names = [f"always-{i}" for i in range(POD_COUNT)]
    make_pods_at_once(fresh_node, names, image, "Always")
    wait_running(fresh_node, names)
    served = log.requests()
    # Each pull starts from a client of its own, which first pings /v2/.
    pulls = count(served, "GET", "/v2/")
    manifests = count(served, "GET", "/v2/busybox/manifests/1")
    print(f"{POD_COUNT} pods with Always: {pulls} pulls, {manifests} manifest GETs; "
          f"the agent asked the registry: {served}")
    assert 1 <= pulls <= POD_COUNT, served
    assert manifests == pulls, served
    for digest in [config] + layers:
        assert count(served, "GET", f"/v2/busybox/blobs/{digest}") == 1, (digest, served)
    for name in names:
        events = pod_events(fresh_node, name)
        pulling = [m for _, reason, m in events if reason == "Pulling"]
        pulled = [m for _, reason, m in events if reason == "Pulled"]
        assert pulling == [f'Pulling image "{image}"'], (name, events)
        assert len(pulled) == 1, (name, events)
        assert pulled[0].startswith(f'Successfully pulled image "{image}" in '), pulled


def test_never_with_missing_image(fresh_node, registry):
    """imagePullPolicy Never and the image not on the node: ErrImageNeverPull, and the registry
    is never asked."""
    image = registry.image("httpd")
    log = RegistryLog(registry)
    make_pod(fresh_node, "never", image, "Never")
    waiting = wait_for(lambda: (lambda w: w if w and w.get("reason") == "ErrImageNeverPull"
                                else None)(waiting_state(fresh_node, "never")),
                       timeout=30, what="ErrImageNeverPull")
    assert "is not present with pull policy of Never" in waiting["message"], waiting
    assert pod(fresh_node, "never")["status"]["phase"] == "Pending"
    # Long enough for a pull that should not happen to have shown at the registry.
    time.sleep(1)
    assert log.requests() == []
    reasons = [reason for _, reason, _ in pod_events(fresh_node, "never")]
    assert "Pulling" not in reasons, reasons


def test_never_with_missing_image_as_kubernetes_words_it(fresh_node, registry):
    """Kubernetes' image manager (pkg/kubelet/images/image_manager.go): the waiting message
    and a Warning event, both 'Container image "IMAGE" is not present with pull policy of
    Never'."""
    image = registry.image("httpd")
    make_pod(fresh_node, "never", image, "Never")
    expected = f'Container image "{image}" is not present with pull policy of Never'
    waiting = wait_for(lambda: (lambda w: w if w and w.get("reason") == "ErrImageNeverPull"
                                else None)(waiting_state(fresh_node, "never")),
                       timeout=30, what="ErrImageNeverPull")
    assert waiting["message"] == expected
    assert ("Warning", "ErrImageNeverPull", expected) in pod_events(fresh_node, "never")


def test_present_image_event_as_kubernetes_words_it(fresh_node, registry):
    image = registry.image("busybox")
    make_pod(fresh_node, "first", image, "IfNotPresent")
    wait_running(fresh_node, ["first"])
    make_pod(fresh_node, "second", image, "IfNotPresent")
    wait_running(fresh_node, ["second"])
    expected = f'Container image "{image}" already present on machine'
    wait_for(lambda: ("Normal", "Pulled", expected) in pod_events(fresh_node, "second"),
             timeout=5, what="the Pulled event")
