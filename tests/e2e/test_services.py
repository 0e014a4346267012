"""Services on a cluster of nodes (conftest's Cluster: nodes as network namespaces on a LAN),
as a user checks them: a ClusterIP answers from pods and nodes and spreads the requests over
its endpoints; no endpoint is refused at once and an unallocated address is dropped; a failing
readiness probe takes an endpoint out; a pod reaches itself through its Service; node ports
answer from outside on every node; a UDP client follows its endpoint's deletion; the table is
repaired after someone flushes or deletes it; a killed agent leaves Services working and its
successor changes nothing; Service variables; deleted Services leave nothing in the table;
ClientIP affinity.

Endpoints are pods that answer with their own name: busybox's httpd serving a file with it, or
for UDP a small echo server run in the pod's network namespace (the test images have no UDP
server: busybox's nc here speaks TCP only)."""
import collections
import json
import os
import re
import signal
import time

from conftest import CKUBE, run, wait_for
from test_pod_network import SLEEP, running_ip

SERVICES = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
UNALLOCATED = "10.96.255.254"  # in the Service CIDR, never given to a Service here
OUTSIDE = "10.77.0.200"        # a host on the nodes' LAN (the LAN namespace's bridge)
PYTHON = "/usr/bin/python3"    # nodes share this machine's file system


# --- pods, Services and their endpoints ----------------------------------------------------

def make_pod(cluster, name, node, command, labels, **container):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": cluster.registry.image("busybox"),
                                     "command": command, **container}]}}
    answer = cluster.api("POST", PODS, body)
    assert answer.status == 201, answer


def web_pod(cluster, name, node, labels, ready_file=False):
    """A pod whose httpd on port 80 answers every request with the pod's name. ready_file: Ready
    only while /tmp/ready exists (an exec readiness probe every second)."""
    script = f"mkdir -p /tmp/www && echo {name} > /tmp/www/index.html && "
    extra = {}
    if ready_file:
        script += "touch /tmp/ready && "
        extra["readinessProbe"] = {"exec": {"command": ["cat", "/tmp/ready"]},
                                   "periodSeconds": 1, "failureThreshold": 1}
    make_pod(cluster, name, node, ["sh", "-c", script + "exec httpd -f -p 80 -h /tmp/www"],
             labels, ports=[{"containerPort": 80}], **extra)


def sleeper(cluster, name, node, labels=None, **container):
    make_pod(cluster, name, node, SLEEP, labels or {}, **container)


def make_service(cluster, name, selector, port=80, target=80, protocol="TCP", **spec):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, **spec,
                     "ports": [{"port": port, "targetPort": target, "protocol": protocol}]}}
    answer = cluster.api("POST", SERVICES, body)
    assert answer.status == 201, answer
    return answer.json


def delete(cluster, path):
    answer = cluster.api("DELETE", path)
    assert answer.status in (200, 202), answer


def ready_addresses(cluster, name):
    eps = cluster.get_json(f"/api/v1/namespaces/default/endpoints/{name}")
    return sorted(a["ip"] for s in eps.get("subsets") or [] for a in s.get("addresses", []))


def wait_endpoints(cluster, name, count, timeout=60):
    """Waits until the Service's Endpoints list `count` ready addresses; returns them."""
    found = []

    def listed():
        found[:] = ready_addresses(cluster, name)
        return len(found) == count
    wait_for(listed, timeout=timeout, interval=0.2, what=f"{count} ready endpoints of {name}")
    return found


# --- the proxy's table, read with nft inside a node -----------------------------------------

def nft_json(cluster, k, *what):
    out = cluster.node_exec(k, "nft", "-j", "list", *what, check=True).stdout
    return json.loads(out)["nftables"]


def elements(cluster, k, kind, name):
    """The elements of set or map (kind) `name` of node k's `table ip ckube-proxy`."""
    for item in nft_json(cluster, k, kind, "ip", "ckube-proxy", name):
        if kind in item:
            return item[kind].get("elem", [])
    raise AssertionError(f"no {kind} {name} in node {k}'s table")


def table_sets(cluster, k):
    """{name: elements} of every set and map of node k's table, read in one listing (read
    one by one, a chain's set that goes meanwhile would make nft fail)."""
    found = {}
    for item in nft_json(cluster, k, "table", "ip", "ckube-proxy"):
        for kind in ("set", "map"):
            if kind in item:
                found[item[kind]["name"]] = item[kind].get("elem", [])
    return found


def lb_chains(cluster, k):
    """The names of node k's load-balancing chains (cluster-N, node-port-N, ...-affinity-T, and
    their slot chains ...-affinity-T-slot-I)."""
    return {i["chain"]["name"] for i in nft_json(cluster, k, "chains", "ip") if "chain" in i
            and i["chain"]["table"] == "ckube-proxy" and
            re.fullmatch(r"(cluster|node-port)-\d+(-affinity-\d+(-slot-\d+)?)?",
                         i["chain"]["name"])}


def leaves(value):
    """Every address, protocol and number inside nft's JSON for set elements."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def backends(cluster, k):
    """Node k's endpoints per Service port: {(ClusterIP, protocol, port): {"ip:port", ...}}."""
    found = collections.defaultdict(set)
    for key, value in elements(cluster, k, "map", "backends"):
        ip, protocol, port, _slot = key["concat"]
        found[(ip, protocol, port)].add("%s:%s" % tuple(value["concat"]))
    return found


def wait_programmed(cluster, svc, count):
    """Waits until every node's table sends the Service's port to `count` endpoints."""
    spec = svc["spec"]
    key = (spec["clusterIP"], spec["ports"][0]["protocol"].lower(), spec["ports"][0]["port"])
    for k in range(len(cluster.nodes)):
        wait_for(lambda: len(backends(cluster, k).get(key, ())) == count, timeout=20,
                 interval=0.1, what=f"{count} endpoints of {key} in node {k}'s table")


# --- clients --------------------------------------------------------------------------------

def from_pod(cluster, pod_name, url, count):
    """`count` GETs from inside a pod (busybox wget within `timeout`: this busybox's own wget -T
    crashes); the answers, "FAILED" for each failure."""
    loop = f"for i in $(seq {count}); do timeout 5 wget -q -O - {url} || echo FAILED; done"
    out = cluster.kubectl("exec", pod_name, "--", "sh", "-c", loop, timeout=120).stdout
    return out.split()


def from_node(cluster, k, url, count, timeout=5):
    """`count` GETs with curl from node k's own network namespace; the answers."""
    loop = f"for i in $(seq {count}); do curl -s -m {timeout} {url} || echo FAILED; done"
    return cluster.node_exec(k, "sh", "-c", loop, timeout=120).stdout.split()


def from_outside(cluster, url, count):
    """`count` GETs from a host on the LAN (the LAN namespace, given an address on its
    bridge once)."""
    if OUTSIDE not in cluster.lan.run("ip", "-br", "addr", "show", "lan0").stdout:
        cluster.lan.ip("addr", "add", f"{OUTSIDE}/24", "dev", "lan0")
    loop = f"for i in $(seq {count}); do curl -s -m 5 {url} || echo FAILED; done"
    return cluster.lan.run("sh", "-c", loop, timeout=120).stdout.split()


def timed_from_pod(cluster, pod_name, *cmd):
    """Runs CMD in the pod under busybox `time -p`: (exit code, output, seconds it took)."""
    proc = cluster.kubectl("exec", pod_name, "--", "time", "-p", *cmd, check=False)
    real = re.search(r"^real (\d+\.\d+)$", proc.stderr, re.M)
    assert real, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr, float(real.group(1))


def timed_connect(cluster, k, ip, port, timeout):
    """A TCP connection from node k: (how it ended, seconds it took)."""
    started = time.monotonic()
    try:
        cluster.connect(k, ip, port, timeout=timeout).close()
        outcome = "connected"
    except ConnectionRefusedError:
        outcome = "refused"
    except TimeoutError:
        outcome = "timeout"
    except OSError as e:
        outcome = f"error {e}"
    return outcome, time.monotonic() - started


def url_of(svc):
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/"


def spread(answers, names, what):
    """Asserts that every answer came from one of `names` and each got a fair share."""
    counts = collections.Counter(answers)
    assert set(counts) == set(names), (what, counts)
    for name in names:
        assert counts[name] >= 0.15 * len(answers), (what, counts)
    return counts


def proxy_status(node):
    """The node's Service proxy as `ckube status services --json` shows it."""
    socket = os.path.join(node.run_dir, "ckube.sock")
    return json.loads(run([CKUBE, "status", "--socket", socket, "--json", "services"]).stdout)


def chains_settled(node):
    """Waits until the node's proxy has deleted the load-balancing chains no Service uses (they
    stay a couple of seconds after their last user went)."""
    wait_for(lambda: all(c["users"] > 0 for c in proxy_status(node)["loadBalancingChains"]),
             timeout=15, interval=0.2, what=f"{node.name}'s unused chains deleted")


def two_nodes(cluster_factory, registry):
    cluster = cluster_factory(nodes=2, registry=registry)
    cluster.wait_nodes_ready()
    return cluster


# --- the tests ------------------------------------------------------------------------------

def test_cluster_ip_spreads_over_endpoints_on_two_nodes(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    names = ["web-0", "web-1", "web-2"]
    for name, node in zip(names, ["cnode-0", "cnode-0", "cnode-1"]):
        web_pod(cluster, name, node, {"app": "web"})
    sleeper(cluster, "client-0", "cnode-0")
    sleeper(cluster, "client-1", "cnode-1")
    svc = make_service(cluster, "web", {"app": "web"})
    wait_endpoints(cluster, "web", 3)
    running_ip(cluster, "client-0")
    running_ip(cluster, "client-1")
    wait_programmed(cluster, svc, 3)
    url = url_of(svc)
    for client in ("client-0", "client-1"):
        spread(from_pod(cluster, client, url, 300), names, f"from pod {client}")
    for k in (0, 1):
        spread(from_node(cluster, k, url, 300), names, f"from node {k}")


def test_no_endpoints_refused_at_once_unallocated_address_dropped(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "web-0", "cnode-1", {"app": "web"})
    web_pod(cluster, "web-1", "cnode-1", {"app": "web"})
    sleeper(cluster, "client", "cnode-0")
    svc = make_service(cluster, "web", {"app": "web"})
    ip = svc["spec"]["clusterIP"]
    wait_endpoints(cluster, "web", 2)
    running_ip(cluster, "client")
    wait_programmed(cluster, svc, 2)
    assert set(from_node(cluster, 0, url_of(svc), 10)) <= {"web-0", "web-1"}

    delete(cluster, f"{PODS}/web-0")
    delete(cluster, f"{PODS}/web-1")
    wait_endpoints(cluster, "web", 0)
    # Each node's proxy learns it a moment later; from then on every connection is refused.
    for k in (0, 1):
        wait_for(lambda: timed_connect(cluster, k, ip, 80, 2)[0] == "refused", timeout=10,
                 what=f"node {k} refusing {ip}:80")
    for k in (0, 1):
        outcome, took = timed_connect(cluster, k, ip, 80, 5)
        assert outcome == "refused" and took < 0.5, (k, outcome, took)
    code, out, took = timed_from_pod(cluster, "client", "wget", "-q", "-O", "-", url_of(svc))
    assert code != 0 and "Connection refused" in out and took < 0.5, (code, out, took)

    # An address of the Service CIDR that no Service has: nothing answers, not even a refusal.
    for k in (0, 1):
        outcome, took = timed_connect(cluster, k, UNALLOCATED, 80, 2)
        assert outcome == "timeout", (k, outcome, took)
    code, out, took = timed_from_pod(cluster, "client", "timeout", "2", "wget", "-q", "-O", "-",
                                     f"http://{UNALLOCATED}/")
    assert code != 0 and "refused" not in out and took >= 1.9, (code, out, took)


def test_failing_readiness_probe_takes_the_endpoint_out(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "web-0", "cnode-0", {"app": "web"}, ready_file=True)
    web_pod(cluster, "web-1", "cnode-1", {"app": "web"}, ready_file=True)
    sleeper(cluster, "client", "cnode-0")
    svc = make_service(cluster, "web", {"app": "web"})
    url = url_of(svc)
    wait_endpoints(cluster, "web", 2)
    running_ip(cluster, "client")
    wait_programmed(cluster, svc, 2)
    assert set(from_node(cluster, 0, url, 40)) == {"web-0", "web-1"}

    started = time.monotonic()
    cluster.kubectl("exec", "web-1", "--", "rm", "/tmp/ready")
    # One failed probe (every second) and the node sends nothing more to web-1.
    wait_for(lambda: set(from_node(cluster, 0, url, 10)) == {"web-0"}, timeout=4,
             interval=0, what="web-1 out of the Service")
    gone_after = time.monotonic() - started
    assert set(from_node(cluster, 1, url, 30)) == {"web-0"}
    assert set(from_pod(cluster, "client", url, 30)) == {"web-0"}

    started = time.monotonic()
    cluster.kubectl("exec", "web-1", "--", "touch", "/tmp/ready")
    wait_for(lambda: "web-1" in from_node(cluster, 0, url, 10), timeout=4, interval=0,
             what="web-1 back in the Service")
    back_after = time.monotonic() - started
    assert set(from_pod(cluster, "client", url, 40)) == {"web-0", "web-1"}
    print(f"readiness lost: out of the Service after {gone_after:.2f} s; "
          f"regained: back after {back_after:.2f} s")


def test_pod_reaches_itself_through_its_service(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "self", "cnode-1", {"app": "self"})
    web_pod(cluster, "other", "cnode-1", {"app": "other"})
    svc = make_service(cluster, "self", {"app": "self"})
    wait_endpoints(cluster, "self", 1)
    running_ip(cluster, "other")
    wait_programmed(cluster, svc, 1)
    # A neighbour on the same node first, then the endpoint itself (hairpin).
    assert from_pod(cluster, "other", url_of(svc), 3) == ["self"] * 3
    code, out, took = timed_from_pod(cluster, "self", "timeout", "5", "wget", "-q", "-O", "-",
                                     url_of(svc))
    assert code == 0 and out.startswith("self\n") and took < 1, (code, out, took)
    assert from_pod(cluster, "self", url_of(svc), 10) == ["self"] * 10


def test_node_port_answers_on_every_node_from_outside(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "web-0", "cnode-1", {"app": "web"})
    web_pod(cluster, "web-1", "cnode-1", {"app": "web"})
    svc = make_service(cluster, "web", {"app": "web"}, port=8080, type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    wait_endpoints(cluster, "web", 2)
    wait_programmed(cluster, svc, 2)
    # Node 0 runs none of the endpoints: it forwards to node 1's pods.
    for node in cluster.nodes:
        answers = from_outside(cluster, f"http://{node.ip}:{node_port}/", 60)
        spread(answers, ["web-0", "web-1"], f"from outside to {node.name}")
    # The ClusterIP answers beside it.
    assert set(from_node(cluster, 0, url_of(svc), 20)) == {"web-0", "web-1"}
    # An outside host that routes the Service CIDR through node 0 reaches the ClusterIP too:
    # masqueraded by node 0, or node 1's pods would answer it straight from their own
    # addresses, which its TCP would refuse.
    from_outside(cluster, url_of(svc), 0)
    cluster.lan.ip("route", "add", "10.96.0.0/12", "via", cluster.nodes[0].ip)
    answers = from_outside(cluster, url_of(svc), 30)
    spread(answers, ["web-0", "web-1"], "from outside to the ClusterIP")


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(sys.argv[1].encode(), peer)
"""

UDP_CLIENT = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.1)
for _ in range(600):
    sent = time.monotonic()
    s.sendto(b"ping", (sys.argv[1], 9000))
    try:
        answer = s.recv(2048).decode()
    except socket.timeout:
        answer = "-"
    print(f"{sent:.3f} {answer}", flush=True)
    time.sleep(max(0.0, sent + 0.1 - time.monotonic()))
"""


def test_udp_client_follows_its_endpoint_deletion(cluster_factory, registry, spawn):
    cluster = two_nodes(cluster_factory, registry)
    nodes = {"udp-0": cluster.nodes[0], "udp-1": cluster.nodes[1]}
    for name, node in nodes.items():
        sleeper(cluster, name, node.name, {"app": "udp"},
                ports=[{"containerPort": 9000, "protocol": "UDP"}])
    svc = make_service(cluster, "echo", {"app": "udp"}, port=9000, target=9000,
                       protocol="UDP")
    wait_endpoints(cluster, "echo", 2)
    servers = {}
    for name, node in nodes.items():
        uid = cluster.get_json(f"{PODS}/{name}")["metadata"]["uid"]
        netns = f"{node.run_dir}/pods/{uid}/ns/net"
        servers[name] = spawn(["nsenter", f"--net={netns}", "--", PYTHON, "-c", UDP_ECHO,
                               name])
        servers[name].wait_line(lambda line: line == "ready", what="the echo server ready")
    wait_programmed(cluster, svc, 2)

    # One socket, one source port: one conntrack flow, one endpoint.
    client = spawn(cluster.nodes[1].net.argv(PYTHON, "-c", UDP_CLIENT,
                                            svc["spec"]["clusterIP"]))
    client.wait_line(lambda line: len([x for x in client.lines if x.split()[1] != "-"]) >= 10,
                     timeout=10, what="ten answers")
    answered = [x.split()[1] for x in client.lines if x.split()[1] != "-"]
    first = answered[0]
    assert first in nodes and answered == [first] * len(answered), client.lines
    other = next(name for name in nodes if name != first)

    servers[first].stop()
    deleted = time.monotonic()
    delete(cluster, f"{PODS}/{first}")
    line = client.wait_line(lambda x: x.split()[1] == other, timeout=10,
                            what=f"an answer from {other}")
    switched = float(line.split()[0]) - deleted
    assert switched < 3.0, (switched, client.lines[-40:])
    # And it stays there.
    count = len(client.lines)
    client.wait_line(lambda x: len(client.lines) >= count + 10, what="ten more datagrams")
    assert {x.split()[1] for x in client.lines[count:count + 10]} == {other}
    print(f"UDP flow moved to {other} {switched:.2f} s after {first} was deleted")


def test_flushed_or_deleted_table_is_repaired(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "web-0", "cnode-0", {"app": "web"})
    web_pod(cluster, "web-1", "cnode-0", {"app": "web"})
    svc = make_service(cluster, "web", {"app": "web"}, type="NodePort")
    sticky = make_service(cluster, "sticky", {"app": "web"}, sessionAffinity="ClientIP")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    ip = svc["spec"]["clusterIP"]
    wait_endpoints(cluster, "web", 2)
    wait_programmed(cluster, svc, 2)
    wait_programmed(cluster, sticky, 2)
    node = cluster.nodes[1]
    for command in ("flush", "delete"):
        log_mark = len(node.log())
        cluster.node_exec(1, "nft", command, "table", "ip", "ckube-proxy", check=True)
        started = time.monotonic()
        # The agent asks the kernel every 2 s whether someone changed the ruleset.
        wait_for(lambda: from_node(cluster, 1, url_of(svc), 1, timeout=0.5) != ["FAILED"],
                 timeout=5, interval=0.1, what=f"the ClusterIP from node 1 after {command}")
        repaired = time.monotonic() - started
        assert set(from_node(cluster, 1, url_of(svc), 20)) == {"web-0", "web-1"}
        assert "table repaired" in node.log()[log_mark:], node.log()[log_mark:]
        answers = from_outside(cluster, f"http://{node.ip}:{node_port}/", 20)
        assert set(answers) == {"web-0", "web-1"}, (command, answers)
        answers = from_node(cluster, 1, url_of(sticky), 10)
        assert len(set(answers)) == 1 and answers[0] in ("web-0", "web-1"), (command, answers)
        assert set(backends(cluster, 1)[(ip, "tcp", 80)]) == {
            f"{a}:80" for a in ready_addresses(cluster, "web")}
        print(f"nft {command} table: Services answer again after {repaired:.2f} s")
    # What a user reads back: the whole table, with the Service's rules and elements.
    listing = cluster.node_exec(1, "nft", "list", "table", "ip", "ckube-proxy")
    assert listing.returncode == 0, listing.stderr
    assert ip in listing.stdout and f"tcp . {node_port}" in listing.stdout
    assert "goto cluster-2" in listing.stdout and "goto node-port-2" in listing.stdout
    assert "goto cluster-2-affinity-10800" in listing.stdout


def test_killed_agent_leaves_services_working_and_its_successor_changes_nothing(
        cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    web_pod(cluster, "web-0", "cnode-0", {"app": "web"})
    web_pod(cluster, "web-1", "cnode-1", {"app": "web"})
    web_pod(cluster, "solo", "cnode-1", {"app": "solo"})
    svc = make_service(cluster, "web", {"app": "web"})
    solo = make_service(cluster, "solo", {"app": "solo"})
    dns = make_service(cluster, "dns", {"app": "web"}, port=53, target=5353, protocol="UDP")
    make_service(cluster, "empty", {"app": "none"})
    sticky = make_service(cluster, "sticky", {"app": "web"}, port=81, type="NodePort",
                          sessionAffinity="ClientIP")
    wait_endpoints(cluster, "web", 2)
    wait_endpoints(cluster, "solo", 1)
    for service, count in ((svc, 2), (solo, 1), (dns, 2), (sticky, 2)):
        wait_programmed(cluster, service, count)
    node = cluster.nodes[1]
    # Chains left by the endpoints' arrival one by one (cluster-1 before cluster-2) are
    # garbage a restarted agent would rightly delete: the table is compared once they went.
    chains_settled(node)
    before = cluster.node_exec(1, "nft", "-a", "list", "table", "ip", "ckube-proxy",
                               check=True).stdout
    assert "goto cluster-2" in before and "goto cluster-1" in before
    assert "goto node-port-2-affinity-10800" in before

    assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    assert set(from_node(cluster, 1, url_of(svc), 30)) == {"web-0", "web-1"}
    assert set(from_node(cluster, 1, url_of(solo), 5)) == {"solo"}
    log_mark = len(node.log())
    node.start()
    line = wait_for(lambda: re.search(r"^.*service proxy: table ip ckube-proxy in sync.*$",
                                      node.log()[log_mark:], re.M), timeout=30,
                    what="the restarted agent's first sync").group(0)
    assert ("0 elements added, 0 deleted; chains 0 added, 0 rewritten, 0 deleted;" in line
            and "made anew" not in line), line
    after = cluster.node_exec(1, "nft", "-a", "list", "table", "ip", "ckube-proxy",
                              check=True).stdout
    assert after == before
    assert set(from_node(cluster, 1, url_of(svc), 30)) == {"web-0", "web-1"}


def test_service_variables_in_a_pod_created_after_the_service(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    svc = make_service(cluster, "mysql-master", {"app": "mysql"}, port=3306, target=3306)
    ip = svc["spec"]["clusterIP"]
    sleeper(cluster, "app", "cnode-1")
    running_ip(cluster, "app")
    env = cluster.kubectl("exec", "app", "--", "env").stdout.splitlines()
    assert f"MYSQL_MASTER_SERVICE_HOST={ip}" in env
    assert "MYSQL_MASTER_SERVICE_PORT=3306" in env
    assert f"MYSQL_MASTER_PORT=tcp://{ip}:3306" in env


def test_deleted_services_leave_nothing_in_the_table(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    for name, node, labels in (("web-0", "cnode-0", {"app": "web", "keep": "yes"}),
                               ("web-1", "cnode-1", {"app": "web", "keep": "yes"}),
                               ("web-2", "cnode-1", {"app": "web"})):
        web_pod(cluster, name, node, labels)
    gone = [make_service(cluster, "plain", {"app": "web"}),
            make_service(cluster, "ports", {"app": "web"}, port=8080, type="NodePort"),
            make_service(cluster, "sticky", {"app": "web"}, port=81,
                         sessionAffinity="ClientIP"),
            make_service(cluster, "dns", {"app": "web"}, port=53, target=5353,
                         protocol="UDP", type="NodePort")]
    keep = make_service(cluster, "keep", {"keep": "yes"})
    for svc in gone:
        wait_endpoints(cluster, svc["metadata"]["name"], 3)
        wait_programmed(cluster, svc, 3)
    wait_programmed(cluster, keep, 2)
    gone_ips = {svc["spec"]["clusterIP"] for svc in gone}
    gone_ports = {p["nodePort"] for svc in gone for p in svc["spec"]["ports"] if "nodePort" in p}
    assert len(gone_ports) == 2
    for k in (0, 1):
        assert {"cluster-3", "node-port-3", "cluster-3-affinity-10800"} <= lb_chains(cluster, k)
        # Used, so that the sticky Service's clients are remembered too.
        for svc in gone[:3]:
            assert len(from_node(cluster, k, url_of(svc), 3)) == 3

    for svc in gone:
        delete(cluster, f"{SERVICES}/{svc['metadata']['name']}")
    # What stays: the kubernetes Service's chain (the API server's one endpoint) and keep's.
    wanted_chains = {f"cluster-{len(ready_addresses(cluster, 'kubernetes'))}", "cluster-2"}

    def leftovers(k):
        left = {}
        for name, members in table_sets(cluster, k).items():
            found = (gone_ips | gone_ports) & set(leaves(members))
            if found:
                left[name] = sorted(map(str, found))
        chains = lb_chains(cluster, k)
        if chains != wanted_chains:
            left["chains"] = sorted(chains)
        return left
    for k in (0, 1):
        try:
            # Unused chains go 2 s after their last user, at the proxy's next 2 s check; a
            # loaded machine (the whole suite) has needed more than 10 s.
            wait_for(lambda: not leftovers(k), timeout=30, interval=0.2)
        except AssertionError:
            raise AssertionError(f"node {k}'s table after 30 s: {leftovers(k)}") from None
    assert set(from_node(cluster, 1, url_of(keep), 20)) == {"web-0", "web-1"}
    # Their Endpoints went with them.
    endpoints = cluster.get_json("/api/v1/namespaces/default/endpoints")["items"]
    assert sorted(e["metadata"]["name"] for e in endpoints) == ["keep", "kubernetes"]


def test_client_ip_affinity_keeps_one_endpoint(cluster_factory, registry):
    cluster = two_nodes(cluster_factory, registry)
    names = ["web-0", "web-1", "web-2"]
    for name, node in zip(names, ["cnode-0", "cnode-0", "cnode-1"]):
        web_pod(cluster, name, node, {"app": "web"})
    sleeper(cluster, "client", "cnode-1")
    sticky = make_service(cluster, "sticky", {"app": "web"}, sessionAffinity="ClientIP")
    plain = make_service(cluster, "plain", {"app": "web"})
    wait_endpoints(cluster, "sticky", 3)
    running_ip(cluster, "client")
    wait_programmed(cluster, sticky, 3)
    wait_programmed(cluster, plain, 3)
    for what, answers in (("pod", from_pod(cluster, "client", url_of(sticky), 30)),
                          ("node 0", from_node(cluster, 0, url_of(sticky), 30))):
        assert len(answers) == 30 and len(set(answers)) == 1 and answers[0] in names, \
            (what, answers)
    answers = from_pod(cluster, "client", url_of(plain), 30)
    assert len(set(answers)) > 1 and set(answers) <= set(names), answers
