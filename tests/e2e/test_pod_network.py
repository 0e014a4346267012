"""The pod network: every pod gets an address of its node's pod CIDR and reaches every other
pod, on its node and on the others, with the kernel forwarding; pod traffic leaving the cluster
is masqueraded; bad configuration shows in the pods' events without breaking the node.

Single-node tests run `ckube server` with its agent in a network namespace of the harness's
(conftest's Server); multi-node tests build a LAN of node namespaces (conftest's Cluster)."""
import ipaddress
import json
import os
import signal
import threading

import pytest

from conftest import wait_for


# --- helpers --------------------------------------------------------------------------------

def pod_body(name, image, command=None, node=None, **spec):
    container = {"name": "main", "image": image}
    if command:
        container["command"] = command
    spec = {"containers": [container], "terminationGracePeriodSeconds": 1, **spec}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"test": name}}, "spec": spec}


def create(client, name, image, command=None, node=None, container=None, **spec):
    body = pod_body(name, image, command, node, **spec)
    body["spec"]["containers"][0].update(container or {})
    answer = client.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 201, answer.text()


def pod(client, name):
    return client.get_json(f"/api/v1/namespaces/default/pods/{name}")


def running_ip(client, name, timeout=60):
    """Waits for the pod to run with an address; returns the address."""
    def ip():
        status = pod(client, name).get("status", {})
        return status.get("phase") == "Running" and status.get("podIP")
    wait_for(ip, timeout=timeout, what=f"pod {name} Running with an IP")
    return pod(client, name)["status"]["podIP"]


def events_of(client, name):
    items = client.get_json("/api/v1/namespaces/default/events")["items"]
    return [e for e in items if e["involvedObject"].get("name") == name]


def sandbox_failure(client, name):
    """The message of the pod's FailedCreatePodSandBox event, or None."""
    for event in events_of(client, name):
        if event["reason"] == "FailedCreatePodSandBox":
            return event["message"]
    return None


def fetch(client, pod_name, url):
    """HTTP GET from inside a pod (busybox wget, within busybox timeout: this busybox's own
    wget -T crashes), through kubectl exec."""
    return client.kubectl("exec", pod_name, "--", "timeout", "5", "wget", "-q", "-O", "-",
                          url, check=False, timeout=30)


def node_cidr(client, node):
    return client.get_json(f"/api/v1/nodes/{node}")["spec"]["podCIDR"]


SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


@pytest.fixture
def node(server_factory, registry):
    return server_factory(agent=True, registry=registry)


# --- one node -------------------------------------------------------------------------------

def test_pods_get_addresses_and_reach_each_other(node, registry):
    create(node, "web", registry.image("httpd"), container={"ports": [{"containerPort": 80}]})
    create(node, "client", registry.image("busybox"), SLEEP)
    web, client = running_ip(node, "web"), running_ip(node, "client")
    cidr = ipaddress.ip_network(node_cidr(node, node.node_name))
    assert web != client
    assert ipaddress.ip_address(web) in cidr and ipaddress.ip_address(client) in cidr
    # Neither the network address, nor the bridge's gateway, nor the broadcast address.
    assert ipaddress.ip_address(web) not in (cidr[0], cidr[1], cidr[-1])
    status = pod(node, "web")["status"]
    assert status["podIPs"] == [{"ip": web}]
    assert node.kubectl("get", "pod", "web", "-o", "jsonpath={.status.podIP}").stdout == web
    # Pod to pod over the bridge.
    answer = fetch(node, "client", f"http://{web}/")
    assert answer.returncode == 0 and "ckube test httpd" in answer.stdout, answer.stderr
    # The node to the pod, as the API server's proxies and probes reach it.
    curl = node.net.run("curl", "-sf", "-m", "5", f"http://{web}/")
    assert curl.returncode == 0 and "ckube test httpd" in curl.stdout, curl.stderr
    # Inside the pod: eth0 with the address, the default route through the gateway.
    routes = node.kubectl("exec", "client", "--", "ip", "route").stdout
    assert f"default via {cidr[1]} dev eth0" in routes, routes
    assert f"inet {client}/{cidr.prefixlen}" in node.kubectl(
        "exec", "client", "--", "ip", "addr", "show", "eth0").stdout


def test_pod_ip_in_the_environment_and_host_network(node, registry):
    create(node, "env", registry.image("busybox"), SLEEP, container={"env": [
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]})
    create(node, "host", registry.image("busybox"), SLEEP, hostNetwork=True)
    ip = running_ip(node, "env")
    env = node.kubectl("exec", "env", "--", "sh", "-c", "echo $MY_IP").stdout.strip()
    assert env == ip
    host = pod(node, "host")
    running_ip(node, "host")
    # A host-network pod has the node's address and no interface of its own.
    assert host["status"]["podIP"] == host["status"]["hostIP"] == "127.0.0.1"


def test_host_port_is_refused_with_a_reason(node, registry):
    create(node, "hostport", registry.image("busybox"), SLEEP,
           container={"ports": [{"containerPort": 80, "hostPort": 8080}]})
    wait_for(lambda: sandbox_failure(node, "hostport"), timeout=30, what="an event")
    message = sandbox_failure(node, "hostport")
    assert "hostPort 8080/TCP" in message and "not supported" in message, message
    assert pod(node, "hostport")["status"]["phase"] == "Pending"
    assert not pod(node, "hostport")["status"].get("podIP")


def test_addresses_are_unique_across_100_pods(node, registry):
    """100 pods created and deleted in rounds of 10: no two live pods ever share an address,
    and every address goes back when its pod is gone."""
    live, seen = {}, []
    for round_ in range(10):
        names = [f"churn-{round_}-{i}" for i in range(10)]
        for name in names:
            create(node, name, registry.image("busybox"), SLEEP)
        for name in names:
            live[name] = running_ip(node, name)
        pods = node.get_json("/api/v1/namespaces/default/pods")["items"]
        addresses = [p["status"]["podIP"] for p in pods if p.get("status", {}).get("podIP")]
        assert len(addresses) == len(set(addresses)), sorted(addresses)
        seen += [live[name] for name in names]
        for name in names:
            node.api("DELETE", f"/api/v1/namespaces/default/pods/{name}")
            del live[name]
    assert len(seen) == 100
    wait_for(lambda: not node.get_json("/api/v1/namespaces/default/pods")["items"],
             timeout=60, what="every pod gone")
    ipam = f"{node.data_dir}/network/ipam"
    wait_for(lambda: not [f for f in os.listdir(ipam) if f[0].isdigit()], timeout=30,
             what="every address released")


def test_exhausted_pod_cidr_waits_with_a_reason(server_factory, registry):
    """A /29 per node holds five pods; the sixth waits, saying why, until one goes."""
    node = server_factory(agent=True, registry=registry,
                          extra_args=["--node-cidr-mask-size", "29"])
    assert node_cidr(node, node.node_name).endswith("/29")
    for i in range(5):
        create(node, f"full-{i}", registry.image("busybox"), SLEEP)
    for i in range(5):
        running_ip(node, f"full-{i}")
    create(node, "one-too-many", registry.image("busybox"), SLEEP)
    wait_for(lambda: sandbox_failure(node, "one-too-many"), timeout=30, what="an event")
    assert "is exhausted: 5 of 5 addresses in use" in sandbox_failure(node, "one-too-many")
    assert pod(node, "one-too-many")["status"]["phase"] == "Pending"
    node.api("DELETE", "/api/v1/namespaces/default/pods/full-0")
    running_ip(node, "one-too-many", timeout=60)
    # The others never noticed.
    for i in range(1, 5):
        assert pod(node, f"full-{i}")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_bridge_removed_by_someone_is_made_again(node, registry):
    create(node, "web", registry.image("httpd"))
    web = running_ip(node, "web")
    node.net.run("ip", "link", "del", "ckube0", check=True)
    create(node, "after", registry.image("busybox"), SLEEP)
    running_ip(node, "after")
    # The pod from before is a port of the new bridge again: reachable from the new pod.
    wait_for(lambda: fetch(node, "after", f"http://{web}/").returncode == 0, timeout=20,
             what="the older pod reachable again")


# --- several nodes --------------------------------------------------------------------------

SERVICE_CIDR = "10.96.0.0/12"


def routes_via(cluster, k):
    """ckube's routes in node k: {destination: gateway, or the device for the Service CIDR}."""
    out = cluster.node_exec(k, "ip", "-j", "route", "show", "proto", "77", check=True).stdout
    return {r["dst"]: r.get("gateway") or r["dev"] for r in json.loads(out or "[]")}


def test_pods_reach_each_other_across_nodes(cluster_factory, registry):
    cluster = cluster_factory(nodes=3, registry=registry)
    nodes = cluster.wait_nodes_ready()
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in nodes}
    # Each node routes to the others' pods through their addresses, and to none of its own;
    # ClusterIPs go to the pods' bridge.
    for k in range(3):
        wanted = {cidrs[cluster.nodes[j].name]: cluster.nodes[j].ip for j in range(3) if j != k}
        wanted[SERVICE_CIDR] = "ckube0"
        wait_for(lambda: routes_via(cluster, k) == wanted, timeout=20,
                 what=f"routes on node {k}")
    create(cluster, "web", registry.image("httpd"), node="cnode-1")
    create(cluster, "far", registry.image("busybox"), SLEEP, node="cnode-2")
    create(cluster, "near", registry.image("busybox"), SLEEP, node="cnode-1")
    web = running_ip(cluster, "web")
    assert ipaddress.ip_address(web) in ipaddress.ip_network(cidrs["cnode-1"])
    running_ip(cluster, "far")
    running_ip(cluster, "near")
    for client in ("far", "near"):
        answer = fetch(cluster, client, f"http://{web}/")
        assert answer.returncode == 0 and "ckube test httpd" in answer.stdout, answer.stderr
    # The API server's node (0) reaches the pod on node 1 too.
    curl = cluster.node_exec(0, "curl", "-sf", "-m", "5", f"http://{web}/")
    assert curl.returncode == 0, curl.stderr


def test_traffic_leaving_the_cluster_is_masqueraded(cluster_factory, registry):
    cluster = cluster_factory(nodes=2, registry=registry)
    cluster.wait_nodes_ready()
    # A host on the LAN outside the cluster, which notes who connects.
    outside = cluster.lab.netns("ckube-e2e-out")
    cluster.lan.ip("link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns",
                   outside.name)
    cluster.lan.ip("link", "set", "out0", "master", "lan0")
    cluster.lan.ip("link", "set", "out0", "up")
    outside.ip("addr", "add", "10.77.0.200/24", "dev", "eth0")
    outside.ip("link", "set", "eth0", "up")
    listener = outside.listen(("10.77.0.200", 8080))
    peers = []

    def accept():
        try:
            conn, peer = listener.accept()
            peers.append(peer[0])
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhi\n")
            conn.close()
        except OSError:
            pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    create(cluster, "leaver", registry.image("busybox"), SLEEP, node="cnode-1")
    pod_ip = running_ip(cluster, "leaver")
    answer = fetch(cluster, "leaver", "http://10.77.0.200:8080/")
    thread.join(timeout=10)
    listener.close()
    assert answer.returncode == 0 and answer.stdout == "hi\n", answer.stderr
    # The outside host saw node 1's address, not the pod's.
    assert peers == [cluster.nodes[1].ip], (peers, pod_ip)


def test_agent_killed_and_restarted_keeps_addresses(cluster_factory, registry):
    cluster = cluster_factory(nodes=3, registry=registry)
    cluster.wait_nodes_ready()
    create(cluster, "web", registry.image("httpd"), node="cnode-1")
    create(cluster, "client", registry.image("busybox"), SLEEP, node="cnode-2")
    web = running_ip(cluster, "web")
    running_ip(cluster, "client")
    assert fetch(cluster, "client", f"http://{web}/").returncode == 0
    cluster.nodes[1].stop(signal.SIGKILL)
    cluster.nodes[1].start()
    wait_for(lambda: any(c["type"] == "Ready" and c["status"] == "True" for c in
                         cluster.get_json("/api/v1/nodes/cnode-1")["status"]["conditions"]),
             timeout=30, what="cnode-1 Ready again")
    # Let the restarted agent write its first statuses, then check nothing moved.
    create(cluster, "marker", registry.image("busybox"), SLEEP, node="cnode-1")
    running_ip(cluster, "marker")
    status = pod(cluster, "web")["status"]
    assert status["podIP"] == web
    assert status["containerStatuses"][0]["restartCount"] == 0
    answer = fetch(cluster, "client", f"http://{web}/")
    assert answer.returncode == 0 and "ckube test httpd" in answer.stdout, answer.stderr


def test_deleted_node_routes_disappear(cluster_factory, registry):
    cluster = cluster_factory(nodes=3, registry=registry)
    nodes = cluster.wait_nodes_ready()
    gone = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in nodes}["cnode-2"]
    for k in (0, 1):
        wait_for(lambda: gone in routes_via(cluster, k), timeout=20, what="a route to cnode-2")
    cluster.nodes[2].stop()
    cluster.kubectl("delete", "node", "cnode-2")
    for k in (0, 1):
        wait_for(lambda: gone not in routes_via(cluster, k), timeout=20,
                 what=f"node {k} forgets cnode-2's route")
    assert cluster.nodes[2].ip not in routes_via(cluster, 0).values()


def test_pod_cidr_overlapping_the_lan_is_refused(cluster_factory, registry):
    """A cluster CIDR that holds the nodes' own LAN: the first node's pod CIDR is the LAN's
    block. Its pods wait with the reason; the node stays Ready and its agent alive."""
    cluster = cluster_factory(nodes=1, registry=registry,
                              server_args=("--cluster-cidr", "10.77.0.0/16"))
    cluster.wait_nodes_ready()
    assert node_cidr(cluster, "cnode-0") == "10.77.0.0/24"
    create(cluster, "stuck", registry.image("busybox"), SLEEP)
    wait_for(lambda: sandbox_failure(cluster, "stuck"), timeout=30, what="an event")
    message = sandbox_failure(cluster, "stuck")
    assert "overlaps the node's route to 10.77.0.0/24 through eth0" in message, message
    assert pod(cluster, "stuck")["status"]["phase"] == "Pending"
    # Nothing of the pod network was made.
    assert "ckube0" not in cluster.node_exec(0, "ip", "-br", "link").stdout
    conditions = {c["type"]: c["status"] for c in
                  cluster.get_json("/api/v1/nodes/cnode-0")["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert cluster.nodes[0].proc.poll() is None


def test_leftovers_of_pods_deleted_while_the_agent_was_down_are_collected(cluster_factory,
                                                                          registry):
    """A pod force-deleted while its node's agent is down: the restarted agent removes its
    namespace (and with it the veth) and gives its address back."""
    cluster = cluster_factory(nodes=2, registry=registry)
    cluster.wait_nodes_ready()
    create(cluster, "orphan", registry.image("busybox"), SLEEP, node="cnode-1")
    ip = running_ip(cluster, "orphan")
    ipam = os.path.join(cluster.nodes[1].data_dir, "network", "ipam")
    assert ip in os.listdir(ipam)
    veths = cluster.node_exec(1, "ip", "-br", "link", "show", "master", "ckube0").stdout
    assert veths.strip(), "the pod's veth on the bridge"
    cluster.nodes[1].stop(signal.SIGKILL)
    cluster.kubectl("delete", "pod", "orphan", "--grace-period=0", "--force")
    cluster.nodes[1].start()
    wait_for(lambda: ip not in os.listdir(ipam), timeout=30, what="the address released")
    wait_for(lambda: not cluster.node_exec(1, "ip", "-br", "link", "show", "master",
                                           "ckube0").stdout.strip(),
             timeout=30, what="the veth gone")
    assert not [line for line in open("/proc/self/mountinfo")
                if f"{cluster.nodes[1].run_dir}/pods/" in line]
