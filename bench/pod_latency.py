#!/usr/bin/python3
"""Pod start latency for bench/pods.sh: from the moment a pod's create request is sent to the
moment a watch delivers the pod with its Ready condition True.

    pod_latency.py [--node-cgroup DIR] single PORT RUNS IMAGE
        RUNS pods one after another: create, wait for Ready, delete, wait until gone
    pod_latency.py [--node-cgroup DIR] burst PORT COUNT IMAGE CONNECTIONS [PREFIX]
        COUNT pods at once over CONNECTIONS keep-alive connections; they stay running
    pod_latency.py [--node-cgroup DIR] volumes PORT RUNS IMAGE HOSTDIR
        2 x RUNS pods one after another, alternately without volumes and with a hostPath
        (HOSTDIR), an emptyDir and a configMap volume: what the volumes add to a start
    pod_latency.py [--node-cgroup DIR] delete PORT
        deletes every bench pod (label ckube-bench=pods) and waits until all are gone

With --node-cgroup DIR (the agent's cgroup root under the cgroup2 mount), every wait for
deleted pods also waits until the node has let go of them: their pod cgroups (DIR/.../pod<uid>)
are removed. A DELETED event alone comes first, since pods with terminationGracePeriodSeconds 0
leave the API at once and the agent tears them down afterwards.

One watch on the bench's label is opened (from the resourceVersion of a list, so no event can
be missed however late it registers) before the first create. A reader thread timestamps every
event line as it arrives, before parsing it. Prints one key=value line (times in milliseconds)
that bench/pods.sh reads. Standard library only, plain HTTP/1.1 on loopback."""
import argparse
import http.client
import json
import math
import os
import sys
import threading
import time

NAMESPACE_PODS = "/api/v1/namespaces/default/pods"
LABEL = "ckube-bench=pods"
# No pod may take longer than this to become Ready or to go away.
DEADLINE_S = 60.0


def die(message):
    print(f"pod_latency: {message}", file=sys.stderr)
    sys.exit(1)


def connect(port, timeout=30):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(conn, method, path, body=None):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


# The container sleeps, as an idle service does, and leaves on SIGTERM as a well-behaved one
# does: a plain `sleep` as pid 1 of its namespace ignores SIGTERM, so each delete would wait
# out the agent's kill grace (2 s for a pod that left the API at once) before the node is clean.
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


CONFIG_MAP = "ckube-bench-volumes"


def pod_body(name, image, host_dir=None):
    spec = {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image, "command": COMMAND}]}
    if host_dir:
        spec["volumes"] = [
            {"name": "host", "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "config", "configMap": {"name": CONFIG_MAP}}]
        spec["containers"][0]["volumeMounts"] = [
            {"name": "host", "mountPath": "/host"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "config", "mountPath": "/config"}]
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"ckube-bench": "pods"}},
        "spec": spec}).encode()


class PodWatch:
    """One watch on the bench pods. For every pod name it keeps when the watch first showed it
    scheduled (spec.nodeName set), Ready True, and DELETED, as time.monotonic() values, plus
    its last phase and reason for error messages."""

    def __init__(self, port, node_cgroup=None):
        self.port = port
        self.node_cgroup = node_cgroup
        self.uids = {}
        self.cond = threading.Condition()
        self.scheduled = {}
        self.ready = {}
        self.deleted = {}
        self.last = {}
        self.error = None
        conn = connect(port)
        status, body = request(conn, "GET", f"{NAMESPACE_PODS}?labelSelector={LABEL}")
        if status != 200:
            die(f"list pods: {status} {body[:300]!r}")
        listing = json.loads(body)
        self.present = {item["metadata"]["name"] for item in listing["items"]}
        rv = listing["metadata"]["resourceVersion"]
        conn.close()
        # No read timeout: a quiet watch is not an error.
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.conn.request("GET", f"{NAMESPACE_PODS}?watch=true&labelSelector={LABEL}"
                          f"&resourceVersion={rv}&allowWatchBookmarks=false",
                          headers={"Accept": "application/json"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            die(f"watch pods: {self.resp.status} {self.resp.read()[:300]!r}")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                now = time.monotonic()
                if not line:
                    raise RuntimeError("the watch ended")
                if not line.strip():
                    continue
                self._event(json.loads(line), now)
        except Exception as e:  # reported to the waiting thread
            with self.cond:
                self.error = f"watch: {e}"
                self.cond.notify_all()

    def _event(self, event, now):
        kind = event.get("type")
        obj = event.get("object") or {}
        name = obj.get("metadata", {}).get("name")
        if kind == "ERROR" or not name:
            raise RuntimeError(f"event {json.dumps(event)[:300]}")
        status = obj.get("status") or {}
        with self.cond:
            self.uids[name] = obj.get("metadata", {}).get("uid")
            if kind == "DELETED":
                self.deleted.setdefault(name, now)
                self.present.discard(name)
            else:
                self.present.add(name)
                if obj.get("spec", {}).get("nodeName"):
                    self.scheduled.setdefault(name, now)
                if any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in status.get("conditions") or []):
                    self.ready.setdefault(name, now)
            waiting = [s.get("state", {}).get("waiting", {}).get("reason")
                       for s in status.get("containerStatuses") or []]
            self.last[name] = f"{kind} {status.get('phase')} {','.join(filter(None, waiting))}"
            self.cond.notify_all()

    def wait(self, what, done, names):
        """Waits until done() holds (called with the lock held); names the pods not done."""
        deadline = time.monotonic() + DEADLINE_S
        with self.cond:
            while not done():
                if self.error:
                    die(self.error)
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in what]
                    die(f"{len(missing)} pod(s) not there after {DEADLINE_S:.0f} s: " +
                        "; ".join(f"{n}: {self.last.get(n, 'no event')}" for n in missing[:10]))
                self.cond.wait(left)

    def wait_ready(self, names):
        self.wait(self.ready, lambda: all(n in self.ready for n in names), names)

    def wait_gone(self, names):
        """Until the watch says DELETED for every one of names and, with a node cgroup, the
        node has removed their pod cgroups. Returns when the last cgroup went."""
        self.wait(self.deleted, lambda: not any(n in self.present for n in names), names)
        if not self.node_cgroup:
            return time.monotonic()
        wanted = {f"pod{self.uids[n]}" for n in names if self.uids.get(n)}
        deadline = time.monotonic() + DEADLINE_S
        while True:
            left = [d for _, dirs, _ in os.walk(self.node_cgroup) for d in dirs if d in wanted]
            now = time.monotonic()
            if not left:
                return now
            if now > deadline:
                die(f"{len(left)} pod cgroup(s) still on the node after {DEADLINE_S:.0f} s: "
                    + ", ".join(left[:5]))
            time.sleep(0.002)


def percentile(values, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def create(conn, name, image):
    status, body = request(conn, "POST", NAMESPACE_PODS, pod_body(name, image))
    if status != 201:
        die(f"create {name}: {status} {body[:300]!r}")


def delete_all(port, watch, names):
    """Deletes names; returns (seconds until the last DELETED event, until the node let go)."""
    conn = connect(port)
    first = time.monotonic()
    for name in names:
        status, body = request(conn, "DELETE", f"{NAMESPACE_PODS}/{name}")
        if status not in (200, 202, 404):
            die(f"delete {name}: {status} {body[:300]!r}")
    conn.close()
    gone = watch.wait_gone(names)
    deleted = max([watch.deleted[n] for n in names if n in watch.deleted], default=first)
    return deleted - first, gone - first


def summary(latencies, scheduled):
    return (f"samples={len(latencies)} p50_ms={ms(percentile(latencies, 50))} "
            f"p99_ms={ms(percentile(latencies, 99))} min_ms={ms(min(latencies))} "
            f"max_ms={ms(max(latencies))} scheduled_p50_ms={ms(percentile(scheduled, 50))}")


def start_one(conn, watch, name, body):
    """Creates the pod, waits for Ready, deletes it and waits until the node let go of it.
    Returns (create to Ready, create to scheduled, delete to gone) in seconds."""
    sent = time.monotonic()
    status, answer = request(conn, "POST", NAMESPACE_PODS, body)
    if status != 201:
        die(f"create {name}: {status} {answer[:300]!r}")
    watch.wait_ready([name])
    asked = time.monotonic()
    status, answer = request(conn, "DELETE", f"{NAMESPACE_PODS}/{name}")
    if status not in (200, 202):
        die(f"delete {name}: {status} {answer[:300]!r}")
    gone = watch.wait_gone([name])
    return (watch.ready[name] - sent, watch.scheduled.get(name, watch.ready[name]) - sent,
            gone - asked)


def single(port, runs, image, node_cgroup):
    watch = PodWatch(port, node_cgroup)
    conn = connect(port)
    latencies, scheduled, teardown = [], [], []
    tag = f"{time.monotonic_ns() % 100000:05d}"
    for run in range(runs):
        name = f"bench-one-{tag}-{run}"
        ready, sched, gone = start_one(conn, watch, name, pod_body(name, image))
        latencies.append(ready)
        scheduled.append(sched)
        teardown.append(gone)
    print("runs_ms=" + ",".join(ms(v) for v in latencies))
    print(f"{summary(latencies, scheduled)} teardown_p50_ms={ms(percentile(teardown, 50))}")


def volumes(port, runs, image, host_dir, node_cgroup):
    """Plain and volume pods in turn, so that the machine's noise falls on both alike."""
    conn = connect(port)
    config_map = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": CONFIG_MAP},
                             "data": {"app.conf": "workers 4\n", "level": "info"}}).encode()
    status, answer = request(conn, "POST", "/api/v1/namespaces/default/configmaps", config_map)
    if status not in (201, 409):
        die(f"create the configMap: {status} {answer[:300]!r}")
    watch = PodWatch(port, node_cgroup)
    plain, with_volumes, teardown_plain, teardown_volumes = [], [], [], []
    tag = f"{time.monotonic_ns() % 100000:05d}"
    for run in range(runs):
        name = f"bench-plain-{tag}-{run}"
        ready, _, gone = start_one(conn, watch, name, pod_body(name, image))
        plain.append(ready)
        teardown_plain.append(gone)
        name = f"bench-volumes-{tag}-{run}"
        ready, _, gone = start_one(conn, watch, name, pod_body(name, image, host_dir))
        with_volumes.append(ready)
        teardown_volumes.append(gone)
    # The difference of each pair, so that slow and fast stretches of the run cancel out.
    added = [v - p for p, v in zip(plain, with_volumes)]
    print(f"samples={runs} plain_p50_ms={ms(percentile(plain, 50))} "
          f"volumes_p50_ms={ms(percentile(with_volumes, 50))} "
          f"added_p50_ms={ms(percentile(added, 50))} "
          f"plain_teardown_p50_ms={ms(percentile(teardown_plain, 50))} "
          f"volumes_teardown_p50_ms={ms(percentile(teardown_volumes, 50))}")


def burst(port, count, image, connections, prefix, node_cgroup):
    watch = PodWatch(port, node_cgroup)
    names = [f"{prefix}-{i}" for i in range(count)]
    bodies = {name: pod_body(name, image) for name in names}
    sent = {}
    conns = [connect(port) for _ in range(connections)]
    for conn in conns:  # connected before the clock starts
        conn.connect()
    start = threading.Barrier(connections + 1)
    failures = []

    def creator(index):
        conn = conns[index]
        mine = names[index::connections]
        start.wait()
        try:
            for name in mine:
                sent[name] = time.monotonic()
                conn.request("POST", NAMESPACE_PODS, body=bodies[name],
                             headers={"Content-Type": "application/json",
                                      "Accept": "application/json"})
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status != 201:
                    failures.append(f"create {name}: {resp.status} {answer[:300]!r}")
                    return
        except OSError as e:
            failures.append(f"create: {e}")

    threads = [threading.Thread(target=creator, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    first = time.monotonic()
    for t in threads:
        t.join()
    created = time.monotonic()
    if failures:
        die("; ".join(failures[:5]))
    watch.wait_ready(names)
    latencies = [watch.ready[n] - sent[n] for n in names]
    scheduled = [watch.scheduled.get(n, watch.ready[n]) - sent[n] for n in names]
    readies = sorted(watch.ready[n] for n in names)
    all_ready = readies[-1] - first
    # From the first Ready to the last: how fast the node turns pods Ready one after another.
    per_pod = (readies[-1] - readies[0]) / max(1, len(readies) - 1)
    print(f"{summary(latencies, scheduled)} all_ready_ms={ms(all_ready)} "
          f"first_ready_ms={ms(readies[0] - first)} per_pod_ms={ms(per_pod)} "
          f"creates_ms={ms(created - first)} "
          f"scheduled_all_ms={ms(max(watch.scheduled.get(n, 0) for n in names) - first)}")


def delete(port, node_cgroup):
    watch = PodWatch(port, node_cgroup)
    with watch.cond:
        names = sorted(watch.present)
    # The uids of pods listed before the watch came only with the list.
    conn = connect(port)
    status, body = request(conn, "GET", f"{NAMESPACE_PODS}?labelSelector={LABEL}")
    conn.close()
    if status == 200:
        for item in json.loads(body)["items"]:
            watch.uids.setdefault(item["metadata"]["name"], item["metadata"]["uid"])
    api_s, node_s = delete_all(port, watch, names)
    print(f"deleted={len(names)} api_ms={ms(api_s)} node_ms={ms(node_s)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--node-cgroup", help="the agent's cgroup root directory")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("single")
    p.add_argument("port", type=int)
    p.add_argument("runs", type=int)
    p.add_argument("image")
    p = sub.add_parser("burst")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("image")
    p.add_argument("connections", type=int)
    p.add_argument("prefix", nargs="?", default="bench-burst")
    p = sub.add_parser("volumes")
    p.add_argument("port", type=int)
    p.add_argument("runs", type=int)
    p.add_argument("image")
    p.add_argument("host_dir")
    p = sub.add_parser("delete")
    p.add_argument("port", type=int)
    args = parser.parse_args()
    if args.mode == "single":
        single(args.port, args.runs, args.image, args.node_cgroup)
    elif args.mode == "volumes":
        volumes(args.port, args.runs, args.image, args.host_dir, args.node_cgroup)
    elif args.mode == "burst":
        burst(args.port, args.count, args.image, args.connections, args.prefix,
              args.node_cgroup)
    else:
        delete(args.port, args.node_cgroup)


if __name__ == "__main__":
    # The reader thread must get the interpreter soon after its event arrives, also while
    # the creator threads are busy.
    sys.setswitchinterval(0.0005)
    main()
