"""Services as a user of a real node sees them: Endpoints that follow a pod's readiness probe
within a second (with targetRef, nodeName and resolved named ports), the Service variables a
container starts with (pkg/kubelet/envvars), and node port allocation across type changes."""
import http.client
import json
import re
import socket
import threading
import time

import pytest

from conftest import wait_for

SERVICES = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def cluster(server_factory, registry):
    return server_factory(agent=True, registry=registry)


class Recorder:
    """A watch whose events are kept with the monotonic time each one arrived, so that a test
    can tell when the server made a change visible."""

    def __init__(self, srv, path, **params):
        query = "&".join(["watch=true"] + [f"{k}={v}" for k, v in params.items()])
        self.conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        self.conn.request("GET", f"{path}?{query}", headers={"Accept": "application/json"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, f"watch {path}: {self.resp.status}"
        self.events = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for line in self.resp:
                if line.strip():
                    with self.cond:
                        self.events.append((time.monotonic(), json.loads(line)))
                        self.cond.notify_all()
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by close()

    def wait(self, predicate, after=0.0, timeout=30.0, what="an event"):
        """The first (time, object) arriving at or after `after` whose object satisfies
        predicate."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, event in self.events:
                    if at >= after and predicate(event["object"]):
                        return at, event["object"]
                left = deadline - time.monotonic()
                assert left > 0, f"no {what}; events: {[e for _, e in self.events]!r}"
                self.cond.wait(min(left, 0.2))

    def close(self):
        """Ends the stream under the reader (which then sees the end), then the connection."""
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=5)
        self.conn.close()


@pytest.fixture
def recorders():
    made = []

    def start(srv, path, **params):
        made.append(Recorder(srv, path, **params))
        return made[-1]

    yield start
    for recorder in made:
        recorder.close()


def create(srv, path, body):
    answer = srv.api("POST", path, body)
    assert answer.status == 201, answer
    return answer.json


def service(name, ports, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports, **spec}}


def pod(name, image, labels=None, namespace=None, **container):
    """A pod of one container `main` running `sleep` unless told otherwise."""
    main = {"name": "main", "image": image, "command": ["sleep", "3600"], **container}
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [main], "terminationGracePeriodSeconds": 1}}
    if namespace:
        body["metadata"]["namespace"] = namespace
    return body


def condition(pod_obj, kind):
    for c in pod_obj.get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return c["status"]
    return None


def subset_lists(eps):
    """(ready IPs, not-ready IPs) of an Endpoints object."""
    ready = [a["ip"] for s in eps.get("subsets") or [] for a in s.get("addresses", [])]
    not_ready = [a["ip"] for s in eps.get("subsets") or []
                 for a in s.get("notReadyAddresses", [])]
    return ready, not_ready


# --- Endpoints and a real readiness probe --------------------------------------------------


def test_endpoints_follow_a_readiness_probe_within_a_second(cluster, registry, recorders):
    create(cluster, SERVICES, service("web", [
        {"name": "http", "port": 80, "targetPort": "web"},
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}],
        selector={"app": "web"}))
    endpoints = recorders(cluster, "/api/v1/namespaces/default/endpoints",
                          fieldSelector="metadata.name=web")
    pods = recorders(cluster, PODS, fieldSelector="metadata.name=web-0")
    create(cluster, PODS, pod("web-0", registry.image("busybox"), {"app": "web"},
                              ports=[{"name": "web", "containerPort": 8080}],
                              readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]},
                                              "periodSeconds": 1, "failureThreshold": 1}))

    # Running with an address and the probe failing: listed, not ready.
    _, running = pods.wait(lambda p: p.get("status", {}).get("podIP") and
                           p["status"].get("phase") == "Running", what="web-0 Running")
    ip = running["status"]["podIP"]
    _, eps = endpoints.wait(lambda e: subset_lists(e) == ([], [ip]),
                            what="web-0 under notReadyAddresses")
    assert len(eps["subsets"]) == 1
    subset = eps["subsets"][0]
    assert subset["notReadyAddresses"] == [{
        "ip": ip, "nodeName": cluster.node_name,
        "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                      "uid": running["metadata"]["uid"]}}]
    # The named targetPort resolves to the container's port 8080; the numbered one stays.
    assert sorted(subset["ports"], key=lambda p: p["name"]) == [
        {"name": "dns", "port": 5353, "protocol": "UDP"},
        {"name": "http", "port": 8080, "protocol": "TCP"}]
    # kubectl shows no ready endpoint yet.
    assert cluster.kubectl("get", "endpoints", "web", "-o",
                           "jsonpath={.subsets[0].addresses}").stdout == ""

    latencies = {}
    for direction, command, ready in (("ready", "touch", True), ("not ready", "rm", False)):
        started = time.monotonic()
        cluster.kubectl("exec", "web-0", "--", command, "/tmp/ready")
        want = "True" if ready else "False"
        became, _ = pods.wait(lambda p: condition(p, "Ready") == want, after=started,
                              what=f"web-0 Ready={want}")
        expected = ([ip], []) if ready else ([], [ip])
        moved, eps = endpoints.wait(lambda e: subset_lists(e) == expected, after=started,
                                    what=f"web-0 moving to {direction} in the Endpoints")
        latencies[direction] = (moved - became, moved - started)
        # Pod and Endpoints arrive on two connections: allow the few ms between them.
        assert -0.05 < moved - became < 1.0, latencies
        # The probe runs every second and one result turns it: the whole way from the file
        # to the Endpoints is at most the period, `kubectl exec`, the probe and the controller.
        assert moved - started < 2.0, latencies
        assert all(a["targetRef"]["name"] == "web-0" for s in eps["subsets"]
                   for a in s.get("addresses", []) + s.get("notReadyAddresses", []))
    print("readiness -> Endpoints (pod Ready event to Endpoints event, file to Endpoints): "
          + ", ".join(f"{d}: {a * 1000:.1f} ms, {b * 1000:.0f} ms"
                      for d, (a, b) in latencies.items()))


# --- Service environment variables ---------------------------------------------------------

SERVICE_VAR = re.compile(r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|"
                         r"PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)")


def service_vars(name, ip, ports):
    """The variables Kubernetes gives for one Service (envvars.FromServices): ports are
    (name or None, port, protocol), the first one also as {NAME}_SERVICE_PORT and
    {NAME}_PORT."""
    prefix = name.upper().replace("-", "_")
    out = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0][1]),
           f"{prefix}_PORT": f"{ports[0][2].lower()}://{ip}:{ports[0][1]}"}
    for port_name, port, proto in ports:
        if port_name:
            out[f"{prefix}_SERVICE_PORT_{port_name.upper().replace('-', '_')}"] = str(port)
        link = f"{prefix}_PORT_{port}_{proto}"
        out[link] = f"{proto.lower()}://{ip}:{port}"
        out[f"{link}_PROTO"] = proto.lower()
        out[f"{link}_PORT"] = str(port)
        out[f"{link}_ADDR"] = ip
    return out


def environment(srv, name, namespace="default"):
    """The environment the container's process started with, and what `kubectl exec` gets."""
    started = srv.kubectl("exec", "-n", namespace, name, "--", "cat", "/proc/1/environ").stdout
    env = dict(entry.split("=", 1) for entry in started.split("\0") if entry)
    in_exec = srv.kubectl("exec", "-n", namespace, name, "--", "env").stdout
    exec_env = dict(line.split("=", 1) for line in in_exec.splitlines() if "=" in line)
    assert {k: v for k, v in exec_env.items() if SERVICE_VAR.fullmatch(k)} == \
        {k: v for k, v in env.items() if SERVICE_VAR.fullmatch(k)}, name
    return env


def only_service_vars(env):
    return {k: v for k, v in env.items() if SERVICE_VAR.fullmatch(k)}


def wait_running(srv, names):
    def all_running():
        phases = {}
        for namespace, name in names:
            p = srv.get_json(f"/api/v1/namespaces/{namespace}/pods/{name}")
            phases[name] = p.get("status", {}).get("phase")
        return all(v == "Running" for v in phases.values()) or None
    wait_for(all_running, timeout=60, what=f"pods {names} Running")


def test_service_environment_variables(cluster, registry):
    busybox = registry.image("busybox")
    create(cluster, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": "other"}})
    ips = {}
    for path, body in (
            (SERVICES, service("mysql-master", [{"port": 3306}])),
            (SERVICES, service("multi", [{"name": "http-alt", "port": 8080},
                                         {"name": "dns", "port": 53, "protocol": "UDP"}])),
            (SERVICES, service("headless", [{"port": 80}], clusterIP="None")),
            (SERVICES, service("ext", [{"port": 80}], type="ExternalName",
                               externalName="db.example.com")),
            ("/api/v1/namespaces/other/services", service("elsewhere", [{"port": 5432}]))):
        made = create(cluster, path, body)
        ips[made["metadata"]["name"]] = made["spec"].get("clusterIP")
    assert ips["headless"] == "None"
    kubernetes = service_vars("kubernetes", "10.96.0.1", [("https", 443, "TCP")])
    mysql = service_vars("mysql-master", ips["mysql-master"], [(None, 3306, "TCP")])
    multi = service_vars("multi", ips["multi"], [("http-alt", 8080, "TCP"), ("dns", 53, "UDP")])

    create(cluster, PODS, pod("all", busybox))
    body = pod("nolinks", busybox)
    body["spec"]["enableServiceLinks"] = False
    create(cluster, PODS, body)
    create(cluster, PODS, pod("explicit", busybox, env=[
        {"name": "MYSQL_MASTER_SERVICE_HOST", "value": "mine"},
        {"name": "MYSQL_MASTER_SERVICE_PORT", "value": "$(MYSQL_MASTER_PORT_3306_TCP_PORT)-x"}]))
    create(cluster, "/api/v1/namespaces/other/pods", pod("there", busybox, namespace="other"))
    wait_running(cluster, [("default", "all"), ("default", "nolinks"), ("default", "explicit"),
                           ("other", "there")])

    # A Service made after a container started is not in its environment; a pod started
    # later has it.
    late = create(cluster, SERVICES, service("late", [{"port": 9000}]))
    create(cluster, PODS, pod("after", busybox))
    wait_running(cluster, [("default", "after")])

    env = environment(cluster, "all")
    assert env["MYSQL_MASTER_SERVICE_HOST"] == ips["mysql-master"]
    assert env["MYSQL_MASTER_SERVICE_PORT"] == "3306"
    assert env["MYSQL_MASTER_PORT"] == f"tcp://{ips['mysql-master']}:3306"
    assert env["MYSQL_MASTER_PORT_3306_TCP"] == f"tcp://{ips['mysql-master']}:3306"
    assert env["MYSQL_MASTER_PORT_3306_TCP_PROTO"] == "tcp"
    assert env["MYSQL_MASTER_PORT_3306_TCP_PORT"] == "3306"
    assert env["MYSQL_MASTER_PORT_3306_TCP_ADDR"] == ips["mysql-master"]
    assert env["MULTI_SERVICE_PORT_HTTP_ALT"] == "8080"
    assert env["MULTI_PORT_53_UDP"] == f"udp://{ips['multi']}:53"
    # Exactly these: no headless, ExternalName, other namespace's or later Service.
    assert only_service_vars(env) == {**kubernetes, **mysql, **multi}

    after = environment(cluster, "after")
    assert only_service_vars(after) == {
        **kubernetes, **mysql, **multi,
        **service_vars("late", late["spec"]["clusterIP"], [(None, 9000, "TCP")])}

    # enableServiceLinks: false keeps only the API server's variables.
    assert only_service_vars(environment(cluster, "nolinks")) == kubernetes

    # Another namespace sees its own Services and the API server's.
    assert only_service_vars(environment(cluster, "there", "other")) == {
        **kubernetes, **service_vars("elsewhere", ips["elsewhere"], [(None, 5432, "TCP")])}

    # Explicit values win over Service variables of the same name, and $(VAR) sees those.
    explicit = environment(cluster, "explicit")
    assert only_service_vars(explicit) == {**kubernetes, **mysql, **multi,
                                           "MYSQL_MASTER_SERVICE_HOST": "mine",
                                           "MYSQL_MASTER_SERVICE_PORT": "3306-x"}


# --- Node ports ----------------------------------------------------------------------------


def node_ports(svc):
    return [p.get("nodePort") for p in svc["spec"]["ports"]]


def test_node_ports_of_several_ports_and_types(server):
    made = create(server, SERVICES, service("np", [{"name": "a", "port": 80},
                                                   {"name": "b", "port": 81},
                                                   {"name": "c", "port": 53, "protocol": "UDP"}],
                                            type="NodePort"))
    ports = node_ports(made)
    assert len(set(ports)) == 3 and all(30000 <= p <= 32767 for p in ports), ports
    lb = create(server, SERVICES, service("lb", [{"port": 80}], type="LoadBalancer"))
    assert 30000 <= node_ports(lb)[0] <= 32767 and node_ports(lb)[0] not in ports
    plain = create(server, SERVICES, service("plain", [{"port": 80}]))
    assert node_ports(plain) == [None]
    # Services created at the same moment by several clients never share one.
    answers = [None] * 16

    def make(i):
        answers[i] = server.api("POST", SERVICES, service(f"racer{i}", [{"port": 80}],
                                                          type="NodePort"))
    threads = [threading.Thread(target=make, args=(i,)) for i in range(len(answers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a.status == 201 for a in answers), answers
    everyone = ports + node_ports(lb) + [node_ports(a.json)[0] for a in answers]
    assert len(set(everyone)) == len(everyone), everyone
    listed = [p for s in server.get_json(SERVICES)["items"] for p in node_ports(s) if p]
    assert sorted(listed) == sorted(everyone)
    # Outside the range, and on a ClusterIP Service, a node port is refused.
    outside = server.api("POST", SERVICES, service("out", [{"port": 80, "nodePort": 80}],
                                                   type="NodePort"))
    assert outside.status == 422, outside
    assert [c["field"] for c in outside.json["details"]["causes"]] == ["spec.ports[0].nodePort"]
    forbidden = server.api("POST", SERVICES, service("cip", [{"port": 80, "nodePort": 30999}]))
    assert forbidden.status == 422, forbidden
    assert [(c["field"], c["reason"]) for c in forbidden.json["details"]["causes"]] == [
        ("spec.ports[0].nodePort", "FieldValueForbidden")]


def test_a_refused_service_takes_no_node_port(server):
    create(server, SERVICES, service("owner", [{"port": 80, "nodePort": 30100}],
                                     type="NodePort"))
    # The second port's node port is taken: the whole Service is refused, and the first
    # port's node port stays free.
    refused = server.api("POST", SERVICES, service(
        "greedy", [{"name": "a", "port": 80, "nodePort": 30101},
                   {"name": "b", "port": 81, "nodePort": 30100}], type="NodePort"))
    assert refused.status == 422, refused
    assert "provided port is already allocated" in refused.json["message"]
    create(server, SERVICES, service("next", [{"port": 80, "nodePort": 30101}], type="NodePort"))
    # The same on an update of a Service.
    create(server, SERVICES, service("grow", [{"name": "a", "port": 80}], type="NodePort"))
    refused = server.api("PATCH", f"{SERVICES}/grow", {"spec": {"ports": [
        {"name": "a", "port": 80, "nodePort": 30102},
        {"name": "b", "port": 81, "nodePort": 30101}]}}, headers=MERGE)
    assert refused.status == 422, refused
    create(server, SERVICES, service("later", [{"port": 80, "nodePort": 30102}],
                                     type="NodePort"))


def test_changing_type_to_cluster_ip_releases_node_ports(server):
    made = create(server, SERVICES, service("np", [{"port": 80}], type="NodePort",
                                            selector={"app": "np"}))
    port = node_ports(made)[0]
    # What a user types: the node port goes with the type.
    server.kubectl("patch", "service", "np", "-p", '{"spec":{"type":"ClusterIP"}}')
    svc = server.get_json(f"{SERVICES}/np")
    assert svc["spec"]["type"] == "ClusterIP"
    assert node_ports(svc) == [None], svc["spec"]
    assert "externalTrafficPolicy" not in svc["spec"], svc["spec"]
    assert svc["spec"]["clusterIP"] == made["spec"]["clusterIP"]
    taken = create(server, SERVICES, service("taker", [{"port": 80, "nodePort": port}],
                                             type="NodePort"))
    assert node_ports(taken) == [port]
    # Back to NodePort: a new port, never the one another Service holds now.
    server.kubectl("patch", "service", "np", "-p", '{"spec":{"type":"NodePort"}}')
    again = server.get_json(f"{SERVICES}/np")
    assert node_ports(again)[0] not in (None, port), again["spec"]
    # And the allocations survive a restart as they are now.
    server.restart()
    clash = server.api("POST", SERVICES, service("clash", [{"port": 80, "nodePort": port}],
                                                 type="NodePort"))
    assert clash.status == 422, clash
    clash = server.api("POST", SERVICES, service(
        "clash", [{"port": 80, "nodePort": node_ports(again)[0]}], type="NodePort"))
    assert clash.status == 422, clash
