"""The multi-node harness itself (conftest's Cluster, netlab's namespaces and relays): nodes in
network namespaces of their own on a LAN bridge become Ready against node 0's API server, and
closing a cluster leaves nothing of it on this machine (namespaces, processes, mounts,
cgroups, interfaces of the machine's own namespace)."""
import os

import netlab
from conftest import cgroup2_mount, parse_table, run


def root_links():
    """The interfaces of the machine's own namespace, by name."""
    out = run(["ip", "-o", "link", "show"]).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())


def test_three_nodes_become_ready(cluster_factory):
    cluster = cluster_factory(nodes=3)
    nodes = cluster.wait_nodes_ready(timeout=60)
    assert [n["metadata"]["name"] for n in nodes] == ["cnode-0", "cnode-1", "cnode-2"]
    for node, obj in zip(cluster.nodes, nodes):
        assert {"type": "InternalIP", "address": node.ip} in obj["status"]["addresses"]
        assert obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == node.node_port
    table = parse_table(cluster.kubectl("get", "nodes", "-o", "wide").stdout)
    assert [(r["NAME"], r["STATUS"], r["INTERNAL-IP"]) for r in table.rows] == [
        ("cnode-0", "Ready", "10.77.0.10"), ("cnode-1", "Ready", "10.77.0.11"),
        ("cnode-2", "Ready", "10.77.0.12")]
    # Each node has its address on eth0 and reaches the others over the LAN; the API server
    # is only on the LAN (HTTPS, token), not on the nodes' loopback.
    for node in cluster.nodes:
        out = cluster.node_exec(node.index, "ip", "-4", "-o", "addr", "show", "dev", "eth0",
                                check=True).stdout
        assert f"inet {node.ip}/24" in out
    answer = cluster.node_exec(2, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "--cacert", cluster.ca_file, "-H",
                               f"Authorization: Bearer {cluster.token()}",
                               f"{cluster.server_url}/readyz", check=True)
    assert answer.stdout == "200"
    assert cluster.api("GET", "/api/v1/nodes", token=None).status == 401
    # The LAN namespace holds the bridge and a port per node; the machine's own namespace
    # has none of it.
    ports = cluster.lan.run("ip", "-o", "link", "show", "master", "lan0", check=True).stdout
    assert sorted(line.split(":")[1].strip().split("@")[0]
                  for line in ports.splitlines()) == ["n0", "n1", "n2"]
    assert not {"lan0", "n0", "n1", "n2"} & set(root_links())


def test_close_leaves_nothing(cluster_factory):
    links_before = root_links()
    cluster = cluster_factory(nodes=2)
    cluster.wait_nodes_ready(timeout=60)
    namespaces = [cluster.lan] + [node.net for node in cluster.nodes]
    names = [ns.name for ns in namespaces]
    inodes = {ns.inode() for ns in namespaces}
    assert set(names) <= set(netlab.netns_names())
    assert inodes & netlab.net_inodes_in_use()  # the nodes' processes are in them
    pids = [node.proc.pid for node in cluster.nodes]
    cgroups = [os.path.join(cgroup2_mount(), node.cgroup_root) for node in cluster.nodes]
    assert all(os.path.isdir(path) for path in cgroups)
    root = cluster.root

    assert cluster.close() == []

    assert not set(names) & set(netlab.netns_names())
    # Not only unnamed: no process or thread (the relays' and the namespace threads of this
    # test process included) is in any of them any longer.
    assert not inodes & netlab.net_inodes_in_use()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), pid
    with open("/proc/self/mountinfo") as f:
        mounts = [line for line in f if root in line or any(n in line for n in names)]
    assert mounts == []
    assert not any(os.path.exists(path) for path in cgroups)
    assert not os.path.exists(root)
    assert root_links() == links_before
