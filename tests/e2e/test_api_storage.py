"""Storage: the watch window, 410 Expired after a restart, and durability of acknowledged
writes across kill -9."""
import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import watch
from kubernetes.client.rest import ApiException

from conftest import create_pod, pod_manifest, scheduler_done

NS = "/api/v1/namespaces/store"
MERGE = {"Content-Type": "application/merge-patch+json"}


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def watch_events(server, path, since, timeout_seconds=1, **params):
    """A raw watch from `since` that the server ends after timeout_seconds; returns the HTTP
    answer and its events as (type, name, resourceVersion)."""
    query = "&".join([f"watch=true&resourceVersion={since}&timeoutSeconds={timeout_seconds}"] +
                     [f"{k}={v}" for k, v in params.items()])
    answer = server.api("GET", f"{path}?{query}", timeout=timeout_seconds + 10)
    events = []
    if answer.status == 200:
        for line in answer.text.splitlines():
            event = json.loads(line)
            meta = event["object"].get("metadata", {})
            events.append((event["type"], meta.get("name"), meta.get("resourceVersion")))
    return answer, events


def expired(answer, events):
    """Kubernetes says 410 Expired either as the HTTP answer or as the watch's first event
    (an ERROR carrying a Status); client-go and the Python client re-list on both."""
    if answer.status == 410:
        return answer.json["reason"] == "Expired" and answer.json["code"] == 410
    if answer.status == 200 and events and events[0][0] == "ERROR":
        status = json.loads(answer.text.splitlines()[0])["object"]
        return status["code"] == 410 and status["reason"] in ("Expired", "Gone")
    return False


def make_namespace(server, name="store"):
    answer = server.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}})
    assert answer.status == 201, answer


def service(name, **labels):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {"ports": [{"port": 80}]}}


def test_watch_replays_from_inside_the_window(server):
    make_namespace(server)
    written = []
    for i in range(5):
        obj = server.api("POST", f"{NS}/services", service(f"s{i}")).json
        written.append(("ADDED", f"s{i}", obj["metadata"]["resourceVersion"]))
    obj = server.api("PATCH", f"{NS}/services/s1", {"metadata": {"labels": {"a": "b"}}},
                     headers=MERGE).json
    written.append(("MODIFIED", "s1", obj["metadata"]["resourceVersion"]))
    obj = server.api("DELETE", f"{NS}/services/s2").json
    written.append(("DELETED", "s2", obj["metadata"]["resourceVersion"]))

    # From every point in the history, the events after it, in order...
    for i, (_, _, since) in enumerate(written[:-1]):
        events = server.watch(f"{NS}/services", len(written) - i - 1, resourceVersion=since)
        assert [(e["type"], e["object"]["metadata"]["name"],
                 e["object"]["metadata"]["resourceVersion"]) for e in events] == written[i + 1:]
    # ... and nothing more.
    answer, events = watch_events(server, f"{NS}/services", written[0][2])
    assert answer.status == 200, answer
    assert events == written[1:]
    answer, events = watch_events(server, f"{NS}/services", written[-1][2])
    assert answer.status == 200 and events == []
    # Without a revision: the current state as ADDED events.
    events = server.watch(f"{NS}/services", 4)
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["s0", "s1", "s3", "s4"]
    assert {e["type"] for e in events} == {"ADDED"}
    # Selectors apply to replayed events too: s1 enters the selection by its update.
    events = server.watch(f"{NS}/services", 1, resourceVersion=written[0][2],
                          labelSelector="a%3Db")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "s1")]


def test_watch_older_than_the_window_is_expired(server):
    """The window holds a bounded amount of recent history (8 MiB); a watch from before it
    gets 410 Expired and the client re-lists."""
    make_namespace(server)
    first = server.api("POST", f"{NS}/services", service("big")).json
    server.api("POST", f"{NS}/services", service("after"))
    blob = "x" * (200 * 1024)
    for i in range(60):  # 60 events of 200 KiB push the first ones out of an 8 MiB window
        answer = server.api("PATCH", f"{NS}/services/big",
                            {"metadata": {"annotations": {"blob": f"{i}{blob}"}}},
                            headers=MERGE)
        assert answer.status == 200, answer
    answer, events = watch_events(server, f"{NS}/services", first["metadata"]["resourceVersion"])
    assert expired(answer, events), (answer, events[:2])
    # The newest revision is still inside the window.
    answer, events = watch_events(server, f"{NS}/services", server.revision())
    assert answer.status == 200 and events == []


def test_restart_expires_old_versions_and_informers_relist(server):
    v1 = server.python_client()
    make_namespace(server)
    old = server.api("POST", f"{NS}/services", service("a")).json
    server.api("POST", f"{NS}/services", service("b"))
    current = server.revision()
    server.restart()

    answer, events = watch_events(server, f"{NS}/services", old["metadata"]["resourceVersion"])
    assert expired(answer, events), answer
    # What an informer does: its watch fails with 410, it re-lists and watches from there.
    v1 = server.python_client()
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(v1.list_namespaced_service, "store",
                                      resource_version=old["metadata"]["resourceVersion"],
                                      timeout_seconds=2):
            pass
    assert err.value.status == 410
    listed = v1.list_namespaced_service("store")
    assert sorted(s.metadata.name for s in listed.items) == ["a", "b"]
    assert int(listed.metadata.resource_version) >= current
    made = server.api("POST", f"{NS}/services", service("c")).json
    assert rv(made) > current
    seen = []
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_service, "store",
                          resource_version=listed.metadata.resource_version, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert seen == [("ADDED", "c")]


def test_kill_9_loses_no_acknowledged_write(server):
    make_namespace(server)
    # Objects that no controller writes to: services, leases and pods already bound to a
    # (missing) node, so what the store holds must be exactly what the test was told.
    def create_svc(i):
        return server.api("POST", f"{NS}/services", service(f"svc-{i}", n=str(i)))

    def create_pod_bound(i):
        body = pod_manifest(f"pod-{i}", nodeName="elsewhere")
        return server.api("POST", f"{NS}/pods", body)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create_svc, range(60))) + \
            list(pool.map(create_pod_bound, range(60)))
    assert all(a.status == 201 for a in answers), [a for a in answers if a.status != 201][:3]

    def update(i):
        return server.api("PATCH", f"{NS}/services/svc-{i}",
                          {"metadata": {"labels": {"updated": "yes"}}}, headers=MERGE)

    def delete(i):
        return server.api("DELETE", f"{NS}/pods/pod-{i}", {"gracePeriodSeconds": 0})

    with ThreadPoolExecutor(8) as pool:
        updates = list(pool.map(update, range(0, 60, 2)))
        deletes = list(pool.map(delete, range(0, 60, 3)))
    assert [a.status for a in updates + deletes] == [200] * (len(updates) + len(deletes))
    last = server.api("POST", f"{NS}/services", service("last")).json
    server.proc.send_signal(signal.SIGKILL)  # right after the last acknowledgement
    server.proc.wait()

    expected = {}
    for answer in answers + updates:
        obj = answer.json
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in expected or rv(obj) > rv(expected[key]):
            expected[key] = obj
    for answer in deletes:
        expected.pop(("Pod", answer.json["metadata"]["name"]))
    expected[("Service", "last")] = last
    highest = max(rv(o) for o in expected.values())
    highest = max([highest] + [rv(a.json) for a in deletes])

    server.proc = None
    server.start()
    stored = {}
    for kind, path in (("Service", f"{NS}/services"), ("Pod", f"{NS}/pods")):
        for item in server.get_json(path)["items"]:
            stored[(kind, item["metadata"]["name"])] = item
    assert sorted(stored) == sorted(expected)
    for key, obj in expected.items():
        assert stored[key] == obj, key
    assert server.revision() >= highest
    after = server.api("POST", f"{NS}/services", service("after-restart")).json
    assert rv(after) > highest
    again = server.api("PATCH", f"{NS}/services/svc-1", {"metadata": {"labels": {"b": "c"}}},
                       headers=MERGE).json
    assert rv(again) > rv(after)


def test_restart_keeps_everything_and_counts_on(server):
    create_pod(server, "p", labels={"keep": "me"})
    pod = scheduler_done(server, "p")
    ns_before = server.get_json("/api/v1/namespaces")
    svc_before = server.get_json("/api/v1/services")
    revision = server.revision()
    server.restart()
    assert server.get_json("/api/v1/namespaces/default/pods/p") == pod
    assert server.get_json("/api/v1/namespaces")["items"] == ns_before["items"]
    assert server.get_json("/api/v1/services")["items"] == svc_before["items"]
    assert server.revision() >= revision
    made = create_pod(server, "q")
    assert rv(made) > revision


def server_connections(server):
    """Connections the server holds open on its port (ESTABLISHED or CLOSE_WAIT on its side),
    from /proc/net/tcp: a connection the client closed and the server has not let go of stays
    in CLOSE_WAIT."""
    held = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port == server.port and fields[3] in ("01", "08"):
                held += 1
    return held


def wait_for(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_watches_of_clients_that_went_away_are_released(server):
    """A watch with nothing to send waits parked; when its client disconnects the server must
    notice and let go of the connection, without waiting for an event that may never come."""
    clients = []
    for _ in range(5):
        conn = socket.create_connection(("127.0.0.1", server.port))
        conn.sendall(b"GET /api/v1/namespaces/default/pods?watch=true&resourceVersion="
                     + str(server.revision()).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200"), "watch did not start"
        clients.append(conn)
    assert wait_for(lambda: server_connections(server) >= 5)
    for conn in clients:
        conn.close()
    assert wait_for(lambda: server_connections(server) == 0), server_connections(server)
    # And it still serves.
    assert server.get_json("/api/v1/namespaces/default/pods")["items"] == []
