/* The proxy's nftables table, `table ip ckube-proxy`: its sets, its fixed chains and the rules in
 * them. Services live in the sets (elements added and removed in place); the only chains that
 * come and go are the load-balancing chains of lb_chain.h, one per endpoint count in use, never
 * one per Service or endpoint. In nft's words (mark 0x4000; cluster CIDR 10.244.0.0/16; Service
 * CIDR 10.96.0.0/12):
 *
 *   set cluster-3      { ClusterIP . protocol . port }    the ports that go to chain cluster-3,
 *   set node-port-3    { protocol . node port }           one set per load-balancing chain
 *   map backends       { ClusterIP . protocol . port . slot : endpoint . port }
 *   map node-port-backends { protocol . node port . slot : endpoint . port }
 *   set no-endpoints   { ClusterIP . protocol . port }   ports without a ready endpoint
 *   set no-endpoint-node-ports { protocol . node port }
 *   set cluster-ips    { ClusterIP }
 *   set hairpin        { endpoint . endpoint }            this node's endpoints
 *   set affinity       { client . ClusterIP (or node address) . protocol . port . slot }
 *                      ClientIP affinity, written by packets
 *
 *   nat-prerouting, nat-output (nat, dstnat): jump services
 *   services: ip daddr . meta l4proto . th dport @cluster-3 goto cluster-3   (one rule per
 *             fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport @node-port-3
 *                 goto node-port-3                                 load-balancing chain)
 *   filter-prerouting, filter-output (filter, dstnat - 10): ct state new jump endpoints-check
 *   endpoints-check: the same two lookups in @no-endpoints and @no-endpoint-node-ports: goto reject
 *   reject: meta l4proto tcp reject with tcp reset; reject (ICMP port unreachable)
 *   filter-forward (filter, dstnat - 10), filter-output-post-dnat (filter, dstnat + 10):
 *             ct state new jump cluster-ips-check
 *   cluster-ips-check: ip daddr @cluster-ips goto reject; ip daddr 10.96.0.0/12 drop
 *   nat-postrouting (nat, srcnat): jump masquerading
 *   masquerading: meta mark & 0x4000 != 0 meta mark set meta mark & ~0x4000 masquerade fully-random
 *                 ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random
 *                 [ct status dnat iifname <bridge> oifname <bridge> masquerade fully-random]
 *
 * Every rule is one that nft 1.0.6 (Debian 12's) can list: it aborts on a map lookup whose
 * result feeds another lookup's key, so node ports have backends of their own rather than a
 * map to their Service's.
 *
 * No verdict maps: the kernel checks a whole table for loops whenever an element that jumps is
 * added, which made adding a Service cost time in proportion to the Services there (1 ms at
 * 10,000). Plain set elements are added in constant time; the dispatch rules change only when
 * a load-balancing chain comes or goes.
 *
 * Every rule carries a comment "ckube <hash of its expressions>", so that reconciliation can
 * tell a chain that holds exactly the wanted rules from one someone changed, without
 * comparing expressions the kernel may print back differently. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "lib/ipv4_cidr.h"
#include "lib/nft_batch.h"

#define PROXY_TABLE "ckube-proxy"
#define PROXY_TABLE_TEXT "nftables table ip " PROXY_TABLE

/* The packet mark bit that asks nat-postrouting to masquerade (kube-proxy's default bit). */
#define PROXY_MASQUERADE_MARK 0x4000u

enum proxy_set {
	PROXY_SET_BACKENDS,
	PROXY_SET_NODE_PORT_BACKENDS,
	PROXY_SET_NO_ENDPOINTS,
	PROXY_SET_NO_ENDPOINT_NODE_PORTS,
	PROXY_SET_CLUSTER_IPS,
	PROXY_SET_HAIRPIN,
	PROXY_SET_AFFINITY, /* written by packets only: never diffed, emptied on rebuild */
	PROXY_FIXED_SETS,
	/* Not one set but one per load-balancing chain, named as the chain (lb_chain.h): an
	 * element's chain says which. */
	PROXY_SET_LB = PROXY_FIXED_SETS,
	PROXY_SET_KINDS
};

/* The longest key and data of any set (affinity; a chain in PROXY_SET_LB elements). */
#define PROXY_KEY_MAX 20
#define PROXY_DATA_MAX 12

struct proxy_config {
	struct ipv4_cidr cluster_cidr; /* clients outside it are masqueraded; /0: every client */
	struct ipv4_cidr service_cidr; /* its unallocated addresses are dropped */
	/* A bridge whose forwarded traffic netfilter does not see (bridge-nf-call-iptables off):
	 * Service traffic between two pods on it is masqueraded, or the reply would go from pod
	 * to pod past the DNAT's undoing. NULL: none. */
	const char *masquerade_bridge;
	const char *node_name; /* endpoints on this node get hairpin elements */
};

/* The fixed sets (below PROXY_FIXED_SETS). */
const char *proxy_set_name(enum proxy_set set);

/* Any set of the table, fixed or a load-balancing chain's. A set's definition: its key's
 * type and length (with the data's for a map), flags. */
struct proxy_set_definition {
	const char *name;
	uint32_t key_type, key_len;
	uint32_t data_type, data_len; /* data_len 0: a set */
	uint32_t flags;
};
struct nftnl_set *proxy_set_object(const struct proxy_set_definition *definition);
/* Only the names: for element messages and dumps. */
struct nftnl_set *proxy_set_handle(const char *name);
/* True when the kernel's set (from a dump) is the one wanted. */
bool proxy_set_matches(const struct proxy_set_definition *definition,
		       const struct nftnl_set *kernel);
const struct proxy_set_definition *proxy_fixed_set(enum proxy_set set);

/* nft's data type numbers, so that `nft list table` prints keys as addresses, protocols and
 * ports. A concatenation's type is its members' types, six bits each. */
enum {
	PROXY_TYPE_IPADDR = 7,
	PROXY_TYPE_INET_PROTOCOL = 12,
	PROXY_TYPE_INET_SERVICE = 13,
	PROXY_TYPE_MARK = 19, /* a 32-bit number in host order: the load-balancing slot */
};
#define PROXY_CONCAT2(a, b) ((a) << 6 | (b))
#define PROXY_CONCAT3(a, b, c) (PROXY_CONCAT2(a, b) << 6 | (c))
#define PROXY_SERVICE_KEY_TYPE \
	PROXY_CONCAT3(PROXY_TYPE_IPADDR, PROXY_TYPE_INET_PROTOCOL, PROXY_TYPE_INET_SERVICE)
#define PROXY_NODE_PORT_KEY_TYPE PROXY_CONCAT2(PROXY_TYPE_INET_PROTOCOL, PROXY_TYPE_INET_SERVICE)
/* Key lengths count each member of a concatenation as four bytes, as registers hold them. */
#define PROXY_SERVICE_KEY_LEN 12
#define PROXY_NODE_PORT_KEY_LEN 8

struct nftnl_table *proxy_table_object(void);

/* A chain as it should be: a base chain (type, hook, priority) or a regular one, and its rules
 * with their comments. */
#define PROXY_CHAIN_NAME_MAX 48

struct chain_spec {
	char name[PROXY_CHAIN_NAME_MAX];
	const char *type; /* "nat", "filter"; NULL: a regular chain */
	uint32_t hook;
	int32_t priority;
	struct nftnl_rule **rules;
	size_t rule_count, rule_capacity;
};

void chain_spec_clear(struct chain_spec *spec);
/* A new rule of `spec`, appended to it; its comment comes with chain_spec_seal(). */
struct nftnl_rule *chain_spec_rule(struct chain_spec *spec);
/* Gives every rule its comment. */
void chain_spec_seal(struct chain_spec *spec);
/* True when `userdata` (a kernel rule's) is the comment of rule `index`. */
bool chain_spec_rule_matches(const struct chain_spec *spec, size_t index, const void *userdata,
			     uint32_t len);
struct nftnl_chain *chain_spec_object(const struct chain_spec *spec);
/* Batch steps: create the chain, then put its rules in (chains jump to each other: all are
 * created first); or empty an existing one and put the rules in again. */
void chain_spec_create(struct nft_batch *batch, const struct chain_spec *spec);
void chain_spec_fill(struct nft_batch *batch, const struct chain_spec *spec);
void chain_spec_rewrite(struct nft_batch *batch, const struct chain_spec *spec);

/* Rule parts the dispatch rules share with the fixed chains: the packet's destination as a
 * Service's key (address . protocol . port) from register `reg`, or as a node port's
 * (protocol . port); and "addressed to this node, not on loopback" (fib daddr type local ip
 * daddr != 127.0.0.0/8). */
void proxy_load_service_key(struct nftnl_rule *rule, uint32_t reg);
void proxy_load_protocol_port(struct nftnl_rule *rule, uint32_t reg);
void proxy_match_node_address(struct nftnl_rule *rule);

/* The fixed chains, regular ones first (PROXY_FIXED_CHAINS of them); `services` is not one:
 * its rules follow the load-balancing chains (lb_chain.h). */
#define PROXY_FIXED_CHAINS 11
void proxy_fixed_chains(const struct proxy_config *config,
			struct chain_spec chains[PROXY_FIXED_CHAINS]);
