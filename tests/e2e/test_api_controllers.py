"""The control loops inside `ckube server`: bootstrap objects, ClusterIP and pod CIDR
allocation, endpoints, node lifecycle, the scheduler and namespace deletion. No agent runs:
the tests register nodes and write pod status themselves, the way a kubelet would."""
import ipaddress
import threading

from conftest import (create_pod, make_node, parse_table, pod_manifest, renew_lease,
                      scheduler_done, set_node_status, set_pod_running, wait_for)

PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}


def condition(obj, kind):
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return c
    return None


def test_bootstrap_namespaces_and_kubernetes_service(server):
    namespaces = server.get_json("/api/v1/namespaces")["items"]
    assert sorted((n["metadata"]["name"], n["status"]["phase"]) for n in namespaces) == [
        ("default", "Active"), ("kube-node-lease", "Active"), ("kube-public", "Active"),
        ("kube-system", "Active")]
    svc = server.get_json(f"{SERVICES}/kubernetes")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["clusterIP"] == "10.96.0.1"  # the first address of the service range
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == [
        ("https", 443, "TCP")]
    assert "selector" not in svc["spec"]
    assert [s["metadata"]["name"] for s in server.get_json("/api/v1/services")["items"]] == [
        "kubernetes"]
    # They are there again, unchanged, after a restart.
    server.restart()
    assert server.get_json(f"{SERVICES}/kubernetes") == svc


def test_kubernetes_service_has_endpoints(server):
    """In-cluster clients reach the API through 10.96.0.1:443; kube-proxy needs the
    Endpoints default/kubernetes (kept by the API server itself) to program that."""
    eps = server.get_json("/api/v1/namespaces/default/endpoints/kubernetes")
    assert len(eps["subsets"]) == 1
    subset = eps["subsets"][0]
    assert subset["addresses"] and all(a["ip"] for a in subset["addresses"])
    assert [(p["name"], p["port"], p["protocol"]) for p in subset["ports"]] == [
        ("https", server.port, "TCP")]


def service(name, selector=None, ports=None, **spec):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports or [{"port": 80}], **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    return body


def test_cluster_ips_are_unique_across_restarts(server):
    service_range = ipaddress.ip_network("10.96.0.0/12")
    ips = {"10.96.0.1"}
    for i in range(15):
        answer = server.api("POST", SERVICES, service(f"a{i}"))
        assert answer.status == 201, answer
        ips.add(answer.json["spec"]["clusterIP"])
    fixed = server.api("POST", SERVICES, service("fixed", clusterIP="10.96.200.200"))
    assert fixed.status == 201, fixed
    assert fixed.json["spec"]["clusterIP"] == "10.96.200.200"
    ips.add("10.96.200.200")
    assert len(ips) == 17
    server.restart()
    for i in range(15):
        answer = server.api("POST", SERVICES, service(f"b{i}"))
        assert answer.status == 201, answer
        ip = answer.json["spec"]["clusterIP"]
        assert ip not in ips, f"{ip} handed out twice"
        ips.add(ip)
    assert all(ipaddress.ip_address(ip) in service_range for ip in ips)
    listed = {s["metadata"]["name"]: s["spec"]["clusterIP"]
              for s in server.get_json("/api/v1/services")["items"]}
    assert sorted(listed.values()) == sorted(ips)
    # An address in use cannot be asked for again, also after the restart.
    taken = server.api("POST", SERVICES, service("taken", clusterIP="10.96.200.200"))
    assert taken.status == 422, taken
    assert [c["field"] for c in taken.json["details"]["causes"]] == ["spec.clusterIPs"]
    assert "provided IP is already allocated" in taken.json["message"]
    outside = server.api("POST", SERVICES, service("outside", clusterIP="192.168.1.1"))
    assert outside.status == 422, outside
    # Headless services get no address.
    headless = server.api("POST", SERVICES, service("headless", clusterIP="None"))
    assert headless.status == 201 and headless.json["spec"]["clusterIP"] == "None"


def test_node_ports_are_unique_across_restarts(server):
    ports = set()
    for i in range(5):
        answer = server.api("POST", SERVICES, service(f"np{i}", type="NodePort"))
        assert answer.status == 201, answer
        ports.add(answer.json["spec"]["ports"][0]["nodePort"])
    fixed = server.api("POST", SERVICES, service(
        "fixed", type="NodePort", ports=[{"port": 80, "nodePort": 30555}]))
    assert fixed.status == 201, fixed
    ports.add(30555)
    server.restart()
    for i in range(5):
        answer = server.api("POST", SERVICES, service(f"after{i}", type="NodePort"))
        assert answer.status == 201, answer
        port = answer.json["spec"]["ports"][0]["nodePort"]
        assert port not in ports, f"nodePort {port} handed out twice"
        ports.add(port)
    assert all(30000 <= p <= 32767 for p in ports)
    taken = server.api("POST", SERVICES, service(
        "taken", type="NodePort", ports=[{"port": 80, "nodePort": 30555}]))
    assert taken.status == 422, taken
    assert "provided port is already allocated" in taken.json["message"]


def test_deleted_service_frees_its_address(server):
    made = server.api("POST", SERVICES, service("x", clusterIP="10.96.10.10"))
    assert made.status == 201, made
    assert server.api("DELETE", f"{SERVICES}/x").status == 200
    again = server.api("POST", SERVICES, service("y", clusterIP="10.96.10.10"))
    assert again.status == 201, again


def endpoints(server, name):
    answer = server.api("GET", f"/api/v1/namespaces/default/endpoints/{name}")
    return answer.json if answer.status == 200 else None


def addresses(server, name):
    """(ready IPs, not-ready IPs, ports) of an Endpoints object, or None when it is absent."""
    eps = endpoints(server, name)
    if eps is None:
        return None
    ready, not_ready, ports = [], [], set()
    for subset in eps.get("subsets") or []:
        ready += [a["ip"] for a in subset.get("addresses", [])]
        not_ready += [a["ip"] for a in subset.get("notReadyAddresses", [])]
        ports |= {(p.get("name", ""), p["port"], p["protocol"]) for p in subset["ports"]}
    return sorted(ready), sorted(not_ready), sorted(ports)


def running_pod(server, name, ip, labels, ready=True, ports=None):
    body = pod_manifest(name, labels=labels, nodeName="node-a")
    if ports:
        body["spec"]["containers"][0]["ports"] = ports
    answer = server.api("POST", PODS, body)
    assert answer.status == 201, answer
    return set_pod_running(server, name, ip, ready=ready)


def test_endpoints_follow_selector_readiness_and_ips(server):
    make_node(server, "node-a")
    running_pod(server, "web-1", "10.244.0.11", {"app": "web"})
    running_pod(server, "web-2", "10.244.0.12", {"app": "web"}, ready=False)
    running_pod(server, "other", "10.244.0.13", {"app": "other"})
    create_pod(server, "pending", labels={"app": "web"})  # no IP yet: not an endpoint
    server.api("POST", SERVICES, service("web", {"app": "web"},
                                         [{"name": "http", "port": 80, "targetPort": 8080}]))
    port = [("http", 8080, "TCP")]

    def expect(ready, not_ready, what):
        wait_for(lambda: addresses(server, "web") == (ready, not_ready, port if ready or
                                                       not_ready else []),
                 what=what)

    expect(["10.244.0.11"], ["10.244.0.12"], "web-1 ready, web-2 not ready")
    eps = endpoints(server, "web")
    ref = eps["subsets"][0]["addresses"][0]
    assert ref["targetRef"]["kind"] == "Pod" and ref["targetRef"]["name"] == "web-1"
    assert ref["targetRef"]["uid"] == server.get_json(f"{PODS}/web-1")["metadata"]["uid"]
    assert ref["nodeName"] == "node-a"

    set_pod_running(server, "web-2", "10.244.0.12", ready=True)
    expect(["10.244.0.11", "10.244.0.12"], [], "web-2 turning ready")
    set_pod_running(server, "web-2", "10.244.0.22", ready=True)
    expect(["10.244.0.11", "10.244.0.22"], [], "web-2's new IP")
    server.api("PATCH", f"{PODS}/web-1", {"metadata": {"labels": {"app": "gone"}}},
               headers=MERGE)
    expect(["10.244.0.22"], [], "web-1 leaving the selector")
    server.api("DELETE", f"{PODS}/web-2", {"gracePeriodSeconds": 0})
    expect([], [], "web-2 deleted")
    server.api("PATCH", f"{SERVICES}/web", {"spec": {"selector": {"app": "other"}}},
               headers=MERGE)
    expect(["10.244.0.13"], [], "the selector changing to app=other")
    server.api("DELETE", f"{SERVICES}/web")
    wait_for(lambda: endpoints(server, "web") is None, what="the Endpoints to go with the Service")


def test_endpoints_drop_a_terminating_pod(server):
    make_node(server, "node-a")
    running_pod(server, "web-1", "10.244.0.11", {"app": "web"})
    running_pod(server, "web-2", "10.244.0.12", {"app": "web"})
    server.api("POST", SERVICES, service("web", {"app": "web"}))
    wait_for(lambda: addresses(server, "web") == (["10.244.0.11", "10.244.0.12"], [],
                                                  [("", 80, "TCP")]), what="both ready")
    server.api("DELETE", f"{PODS}/web-1")  # graceful: the pod stays while it stops
    assert "deletionTimestamp" in server.get_json(f"{PODS}/web-1")["metadata"]
    # The Endpoints controller leaves terminating pods out (EndpointSlices would keep them
    # as serving but not ready).
    wait_for(lambda: addresses(server, "web") == (["10.244.0.12"], [], [("", 80, "TCP")]),
             what="the terminating pod to leave the endpoints")


def test_endpoints_resolve_named_target_ports(server):
    make_node(server, "node-a")
    running_pod(server, "a", "10.244.0.31", {"app": "n"},
                ports=[{"name": "web", "containerPort": 8080}])
    running_pod(server, "b", "10.244.0.32", {"app": "n"},
                ports=[{"name": "web", "containerPort": 9090}])
    server.api("POST", SERVICES, service("n", {"app": "n"},
                                         [{"name": "http", "port": 80, "targetPort": "web"}]))

    def by_port():
        eps = endpoints(server, "n")
        if not eps:
            return None
        return sorted((p["port"], a["ip"]) for s in eps.get("subsets") or []
                      for a in s.get("addresses", []) for p in s["ports"])

    wait_for(lambda: by_port() == [(8080, "10.244.0.31"), (9090, "10.244.0.32")],
             what="one subset per resolved port")


def test_endpoints_table_in_kubectl(server):
    make_node(server, "node-a")
    server.api("POST", SERVICES, service("web", {"app": "web"}))
    running_pod(server, "web-1", "10.244.0.11", {"app": "web"})
    running_pod(server, "web-2", "10.244.0.12", {"app": "web"})
    wait_for(lambda: parse_table(server.kubectl("get", "endpoints", "web").stdout).rows[0]
             ["ENDPOINTS"] == "10.244.0.11:80,10.244.0.12:80", what="both endpoints in the table")


def test_nodes_get_distinct_pod_cidrs(server):
    cluster = ipaddress.ip_network("10.244.0.0/16")
    cidrs = []
    for name in ("n1", "n2", "n3"):
        node = make_node(server, name)
        cidrs.append(node["spec"]["podCIDR"])
        assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]
    server.restart()
    cidrs.append(make_node(server, "n4")["spec"]["podCIDR"])
    nets = [ipaddress.ip_network(c) for c in cidrs]
    assert all(n.prefixlen == 24 and n.subnet_of(cluster) for n in nets), cidrs
    assert len(set(nets)) == 4, cidrs
    listed = {n["metadata"]["name"]: n["spec"]["podCIDR"]
              for n in server.get_json("/api/v1/nodes")["items"]}
    assert listed == dict(zip(("n1", "n2", "n3", "n4"), cidrs))


def test_node_without_lease_renewal_becomes_unknown(server_factory):
    server = server_factory(["--node-monitor-grace-period", "3"])
    make_node(server, "alive")
    make_node(server, "dead")
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(0.5):
            renew_lease(server, "alive")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        wait_for(lambda: condition(server.get_json("/api/v1/nodes/dead"), "Ready")["status"]
                 == "Unknown", timeout=20, interval=0.2, what="dead to become Ready=Unknown")
        dead = server.get_json("/api/v1/nodes/dead")
        assert condition(dead, "Ready")["reason"] == "NodeStatusUnknown"
        taints = {(t["key"], t["effect"]) for t in dead["spec"].get("taints", [])}
        assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints
        assert condition(server.get_json("/api/v1/nodes/alive"), "Ready")["status"] == "True"
        table = parse_table(server.kubectl("get", "nodes").stdout)
        # New pods go to the live node only.
        create_pod(server, "p")
        wait_for(lambda: server.get_json(f"{PODS}/p")["spec"].get("nodeName"), what="p bound")
        assert server.get_json(f"{PODS}/p")["spec"]["nodeName"] == "alive"
        # The node's kubelet comes back: fresh lease and status make it Ready again.
        renew_lease(server, "dead")
        set_node_status(server, "dead")
        assert condition(server.get_json("/api/v1/nodes/dead"), "Ready")["status"] == "True"
        # kubectl showed the lost node as NotReady (any Ready status but True).
        assert [(r["NAME"], r["STATUS"]) for r in table.rows] == [("alive", "Ready"),
                                                                 ("dead", "NotReady")]
    finally:
        stop.set()
        beat.join(5)


def events_for(server, pod):
    return server.get_json(f"/api/v1/namespaces/default/events?fieldSelector="
                           f"involvedObject.name={pod}")["items"]


def failed_scheduling(server, pod):
    """The message of the pod's latest FailedScheduling event, once there is one."""
    events = [e for e in events_for(server, pod) if e["reason"] == "FailedScheduling"]
    if not events:
        return None
    return max(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")["message"]


def node_of(server, pod):
    return server.get_json(f"{PODS}/{pod}")["spec"].get("nodeName")


def wait_bound(server, pod, node):
    wait_for(lambda: node_of(server, pod) == node, what=f"{pod} bound to {node}")


def requests_pod(server, name, cpu=None, memory=None, **spec):
    body = pod_manifest(name, **spec)
    requests = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    body["spec"]["containers"][0]["resources"] = {"requests": requests}
    answer = server.api("POST", PODS, body)
    assert answer.status == 201, answer


def test_scheduler_fits_cpu_and_records_failures(server):
    make_node(server, "small", cpu="1", memory="1Gi")
    requests_pod(server, "first", cpu="600m")
    wait_bound(server, "first", "small")
    scheduled = [e for e in events_for(server, "first") if e["reason"] == "Scheduled"]
    assert [(e["type"], e["message"]) for e in scheduled] == [
        ("Normal", "Successfully assigned default/first to small")]
    requests_pod(server, "second", cpu="600m")
    message = wait_for(lambda: failed_scheduling(server, "second"), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 Insufficient cpu."), message
    pod = server.get_json(f"{PODS}/second")
    assert "nodeName" not in pod["spec"]
    cond = condition(pod, "PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    event = [e for e in events_for(server, "second") if e["reason"] == "FailedScheduling"][0]
    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "Pod"
    assert event["involvedObject"]["uid"] == pod["metadata"]["uid"]
    # A new node with room takes the waiting pod.
    make_node(server, "big", cpu="8", memory="16Gi")
    wait_bound(server, "second", "big")
    assert condition(server.get_json(f"{PODS}/second"), "PodScheduled")["status"] == "True"


def test_scheduler_fits_memory(server):
    make_node(server, "a", cpu="8", memory="1Gi")
    requests_pod(server, "m1", memory="700Mi")
    wait_bound(server, "m1", "a")
    requests_pod(server, "m2", memory="700Mi")
    message = wait_for(lambda: failed_scheduling(server, "m2"), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 Insufficient memory."), message
    # Freeing the memory (the first pod goes) lets the second one in.
    server.api("DELETE", f"{PODS}/m1", {"gracePeriodSeconds": 0})
    wait_bound(server, "m2", "a")


def test_scheduler_counts_pods(server):
    make_node(server, "a", pods="2")
    for name in ("p1", "p2", "p3"):
        create_pod(server, name)
    wait_for(lambda: sum(1 for n in ("p1", "p2", "p3") if node_of(server, n) == "a") == 2,
             what="two pods on a")
    waiting = [n for n in ("p1", "p2", "p3") if node_of(server, n) is None]
    assert len(waiting) == 1
    message = wait_for(lambda: failed_scheduling(server, waiting[0]), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 Too many pods."), message


def test_scheduler_spreads_to_the_least_requested_node(server):
    make_node(server, "a", cpu="4", memory="8Gi")
    make_node(server, "b", cpu="4", memory="8Gi")
    requests_pod(server, "x", cpu="2", memory="1Gi")
    wait_for(lambda: node_of(server, "x"), what="x bound")
    first = node_of(server, "x")
    requests_pod(server, "y", cpu="2", memory="1Gi")
    wait_for(lambda: node_of(server, "y"), what="y bound")
    assert node_of(server, "y") != first


def test_scheduler_honours_node_selector(server):
    make_node(server, "plain")
    make_node(server, "fast", labels={"disk": "ssd"})
    create_pod(server, "wants-ssd", nodeSelector={"disk": "ssd"})
    wait_bound(server, "wants-ssd", "fast")
    create_pod(server, "wants-gpu", nodeSelector={"gpu": "yes"})
    message = wait_for(lambda: failed_scheduling(server, "wants-gpu"), what="FailedScheduling")
    assert message.startswith("0/2 nodes are available: 2 node(s) didn't match Pod's node "
                              "affinity/selector."), message
    server.api("PATCH", "/api/v1/nodes/plain", {"metadata": {"labels": {"gpu": "yes"}}},
               headers=MERGE)
    wait_bound(server, "wants-gpu", "plain")


def test_scheduler_respects_node_name(server):
    make_node(server, "a")
    make_node(server, "b", unschedulable=True)
    create_pod(server, "pinned", nodeName="b")
    create_pod(server, "free")
    wait_bound(server, "free", "a")
    pod = server.get_json(f"{PODS}/pinned")
    assert pod["spec"]["nodeName"] == "b"
    assert failed_scheduling(server, "pinned") is None
    assert not [e for e in events_for(server, "pinned") if e["reason"] == "Scheduled"]


def test_scheduler_skips_unschedulable_nodes(server):
    make_node(server, "a")
    out = server.kubectl("cordon", "a")
    assert out.stdout.strip() == "node/a cordoned"
    assert server.get_json("/api/v1/nodes/a")["spec"]["unschedulable"] is True
    table = parse_table(server.kubectl("get", "nodes").stdout)
    assert [(r["NAME"], r["STATUS"]) for r in table.rows] == [("a", "Ready,SchedulingDisabled")]
    create_pod(server, "p")
    message = wait_for(lambda: failed_scheduling(server, "p"), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 node(s) were unschedulable."), message
    assert node_of(server, "p") is None
    assert server.kubectl("uncordon", "a").stdout.strip() == "node/a uncordoned"
    wait_bound(server, "p", "a")


def test_scheduler_honours_no_schedule_taints(server):
    make_node(server, "gpu", taints=[{"key": "dedicated", "value": "gpu",
                                      "effect": "NoSchedule"}])
    create_pod(server, "plain")
    message = wait_for(lambda: failed_scheduling(server, "plain"), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 node(s) had untolerated taint(s)."), \
        message
    create_pod(server, "tolerant", tolerations=[{"key": "dedicated", "operator": "Equal",
                                                 "value": "gpu", "effect": "NoSchedule"}])
    wait_bound(server, "tolerant", "gpu")
    create_pod(server, "wrong-value", tolerations=[{"key": "dedicated", "operator": "Equal",
                                                    "value": "cpu", "effect": "NoSchedule"}])
    wait_for(lambda: failed_scheduling(server, "wrong-value"), what="FailedScheduling")
    assert node_of(server, "plain") is None and node_of(server, "wrong-value") is None
    # PreferNoSchedule is only a preference.
    make_node(server, "soft", taints=[{"key": "x", "effect": "PreferNoSchedule"}])
    wait_bound(server, "plain", "soft")


def test_scheduler_ignores_nodes_that_are_not_ready(server):
    make_node(server, "down", ready=False)
    create_pod(server, "p")
    message = wait_for(lambda: failed_scheduling(server, "p"), what="FailedScheduling")
    assert message.startswith("0/1 nodes are available: 1 node(s) were not ready."), message
    set_node_status(server, "down", ready=True)
    wait_bound(server, "p", "down")


def test_namespace_deletion_deletes_its_contents(server):
    ns = "/api/v1/namespaces/doomed"
    assert server.api("POST", "/api/v1/namespaces",
                      {"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "doomed"}}).status == 201
    for i in range(3):
        assert server.api("POST", f"{ns}/pods", pod_manifest(f"p{i}")).status == 201
        assert server.api("POST", f"{ns}/services", service(f"s{i}")).status == 201
    scheduler_done(server, "p0", namespace="doomed")
    create_pod(server, "survivor")  # another namespace's objects stay
    out = server.kubectl("delete", "namespace", "doomed", "--wait=false")
    assert out.stdout.strip() == 'namespace "doomed" deleted'

    def gone():
        return server.api("GET", ns).status == 404
    wait_for(gone, timeout=20, what="the namespace to go")
    assert server.get_json(f"{ns}/pods")["items"] == []
    assert server.get_json(f"{ns}/services")["items"] == []
    assert server.get_json(f"{ns}/events")["items"] == []
    assert [p["metadata"]["name"] for p in server.get_json("/api/v1/pods")["items"]] == [
        "survivor"]
    assert server.api("POST", f"{ns}/pods", pod_manifest("late")).status == 404


def test_terminating_namespace_refuses_new_objects(server):
    ns = "/api/v1/namespaces/closing"
    server.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "closing"}})
    # A finalizer on a service keeps the namespace in Terminating while the test looks.
    held = service("held")
    held["metadata"]["finalizers"] = ["e2e.ckube.io/hold"]
    assert server.api("POST", f"{ns}/services", held).status == 201
    server.api("DELETE", ns)
    wait_for(lambda: server.get_json(ns)["status"]["phase"] == "Terminating",
             what="phase Terminating")
    answer = server.api("POST", f"{ns}/pods", pod_manifest("late"))
    assert answer.status == 403, answer
    assert answer.json["reason"] == "Forbidden"
    assert "because it is being terminated" in answer.json["message"]
    server.api("PATCH", f"{ns}/services/held", {"metadata": {"finalizers": None}},
               headers=MERGE)
    wait_for(lambda: server.api("GET", ns).status == 404, timeout=20, what="the namespace to go")


def test_system_namespaces_cannot_be_deleted(server):
    for name in ("default", "kube-system", "kube-public"):
        answer = server.api("DELETE", f"/api/v1/namespaces/{name}")
        assert answer.status == 403, (name, answer)
        assert answer.json["reason"] == "Forbidden"
        assert "this namespace may not be deleted" in answer.json["message"]
        ns = server.get_json(f"/api/v1/namespaces/{name}")
        assert ns["status"]["phase"] == "Active"
        assert "deletionTimestamp" not in ns["metadata"]
