#!/usr/bin/python3
"""Input files for bench/services.sh: the same N ClusterIP Services (TCP port 80, 3 endpoints
on port 8080 each) for both sides, as Kubernetes objects for `ckube proxy sync` and as an nftables
ruleset in kube-proxy's nftables-mode layout (a service chain per Service that picks one of 3
endpoint chains with `numgen random mod 3 vmap`; each endpoint chain marks hairpin traffic and
DNATs), which is what the peer loads with `nft -f`.

  services_gen.py objects N                 the Services and Endpoints, a JSON list
  services_gen.py events N CYCLES NODE      watch events, one a line: CYCLES times add a Service
                                            (Service, then Endpoints), change one endpoint of an
                                            existing Service, delete the new Service (Service, then
                                            Endpoints), change the endpoint back: the table ends as
                                            it began
  services_gen.py kp-rules N                the kube-proxy-layout ruleset (table ip kube-proxy)
  services_gen.py kp-add | kp-del           nft commands adding / removing one more Service
  services_gen.py kp-change N | kp-unchange N
                                            nft commands replacing one endpoint of an existing
                                            Service the way kube-proxy does (a new endpoint chain,
                                            the service chain rewritten, the old chain deleted),
                                            and back

Service i has ClusterIP 10.96.(i/256).(i%256) and endpoints 10.244.x.y (3i, 3i+1, 3i+2), inside
ckube's default service and cluster CIDRs; the Service added by the changes is 10.111.0.1 with
endpoints 10.244.250.1-3, a replaced endpoint of Service i becomes 10.244.(200 + i/256).(i%256).
N is at most 12,000.
"""
import json
import sys

NODE = "bench-node"
NEW_IP = "10.111.0.1"
NEW_ENDPOINTS = ["10.244.250.1", "10.244.250.2", "10.244.250.3"]
MAX_SERVICES = 12000  # the addresses below stay apart up to here
TABLE = "ip kube-proxy"


def cluster_ip(i):
    return f"10.96.{i // 256}.{i % 256}"


def endpoint_ips(i):
    return [f"10.244.{k // 256}.{k % 256}" for k in range(3 * i, 3 * i + 3)]


def replacement_ip(i):
    return f"10.244.{200 + i // 256}.{i % 256}"


def service(name, ip):
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": ip,
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}


def endpoints(name, ips, node=NODE):
    return {"kind": "Endpoints", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip, "nodeName": node} for ip in ips],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}]}


def objects(n):
    items = []
    for i in range(1, n + 1):
        items += [service(f"svc-{i}", cluster_ip(i)), endpoints(f"svc-{i}", endpoint_ips(i))]
    json.dump({"kind": "List", "apiVersion": "v1", "items": items}, sys.stdout)


def changed_service(n, cycle, cycles):
    """The existing Service whose endpoint cycle number `cycle` replaces: spread over the table."""
    return 1 + cycle * n // cycles


def events(n, cycles, node):
    def event(kind, obj):
        print(json.dumps({"type": kind, "object": obj}))

    for c in range(cycles):
        k = changed_service(n, c, cycles)
        changed = endpoint_ips(k)[:2] + [replacement_ip(k)]
        event("ADDED", service("bench-new", NEW_IP))
        event("ADDED", endpoints("bench-new", NEW_ENDPOINTS, node))
        event("MODIFIED", endpoints(f"svc-{k}", changed, node))
        event("DELETED", service("bench-new", NEW_IP))
        event("DELETED", endpoints("bench-new", NEW_ENDPOINTS, node))
        event("MODIFIED", endpoints(f"svc-{k}", endpoint_ips(k), node))


def kp_service_rules(ip, endpoint_chains):
    vmap = ", ".join(f"{e} : goto {chain}" for e, chain in enumerate(endpoint_chains))
    return [f"ip daddr {ip} tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
            f"numgen random mod 3 vmap {{ {vmap} }}"]


def kp_endpoint_rules(ip):
    return [f"ip saddr {ip} jump mark-for-masquerade", f"meta l4proto tcp dnat to {ip}:8080"]


def kp_block(name, rules):
    """A chain as the ruleset file declares it (kube-proxy's own dump format)."""
    return "\n".join([f"  chain {name} {{"] + [f"    {r}" for r in rules] + ["  }"])


def kp_commands(name, rules, add_chain=True):
    """A chain as single nft commands, for the changes."""
    return ([f"add chain {TABLE} {name}"] if add_chain else []) + \
        [f"add rule {TABLE} {name} {r}" for r in rules]


KP_HEAD = """table ip kube-proxy {
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
  chain mark-for-masquerade {
    meta mark set meta mark | 0x4000
  }
  chain masquerading {
    meta mark & 0x4000 == 0 return
    meta mark set meta mark ^ 0x4000
    masquerade fully-random
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }"""


def kp_rules(n):
    out = [KP_HEAD]
    for i in range(1, n + 1):
        chains = [f"ep-{i}-{e}" for e in range(3)]
        out.append(kp_block(f"svc-{i}", kp_service_rules(cluster_ip(i), chains)))
        out += [kp_block(c, kp_endpoint_rules(ip)) for c, ip in zip(chains, endpoint_ips(i))]
    out.append("}")
    # The map's elements last, in one statement, once every chain they point to exists.
    elements = ",\n  ".join(f"{cluster_ip(i)} . tcp . 80 : goto svc-{i}" for i in range(1, n + 1))
    out.append(f"add element {TABLE} service-ips {{\n  {elements}\n}}")
    print("\n".join(out))


def kp_add():
    chains = [f"ep-new-{e}" for e in range(3)]
    out = []
    for chain, ip in zip(chains, NEW_ENDPOINTS):
        out += kp_commands(chain, kp_endpoint_rules(ip))
    out += kp_commands("svc-new", kp_service_rules(NEW_IP, chains))
    out.append(f"add element {TABLE} service-ips {{ {NEW_IP} . tcp . 80 : goto svc-new }}")
    print("\n".join(out))


def kp_del():
    print("\n".join([f"delete element {TABLE} service-ips {{ {NEW_IP} . tcp . 80 }}",
                     f"delete chain {TABLE} svc-new"] +
                    [f"delete chain {TABLE} ep-new-{e}" for e in range(3)]))


def kp_change(n, back):
    """Endpoint 2 of one Service replaced (or put back). kube-proxy names an endpoint chain after
    its endpoint, so a new address is a new chain, the service chain is rewritten to point at it,
    and the old chain goes."""
    k = changed_service(n, 1, 2)
    old, new, ip = f"ep-{k}-2", f"ep-{k}-x", replacement_ip(k)
    if back:
        old, new, ip = new, old, endpoint_ips(k)[2]
    out = kp_commands(new, kp_endpoint_rules(ip))
    out.append(f"flush chain {TABLE} svc-{k}")
    out += kp_commands(f"svc-{k}", kp_service_rules(cluster_ip(k), [f"ep-{k}-0", f"ep-{k}-1", new]),
                       add_chain=False)
    out.append(f"delete chain {TABLE} {old}")
    print("\n".join(out))


def main(argv):
    commands = {"objects": objects, "events": events, "kp-rules": kp_rules, "kp-add": kp_add,
                "kp-del": kp_del, "kp-change": lambda n: kp_change(n, False),
                "kp-unchange": lambda n: kp_change(n, True)}
    try:
        command = commands[argv[1]]
        args = [int(a) if a.isdigit() else a for a in argv[2:]]
        if args and isinstance(args[0], int) and not 1 <= args[0] <= MAX_SERVICES:
            raise TypeError
        command(*args)
    except (IndexError, KeyError, TypeError):
        sys.exit("usage: services_gen.py objects N | events N CYCLES NODE | kp-rules N | kp-add"
                 " | kp-del | kp-change N | kp-unchange N")


if __name__ == "__main__":
    main(sys.argv)
