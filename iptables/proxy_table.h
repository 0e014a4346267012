/* The proxy's nftables table, `table ip ckube-proxy`: its sets, its fixed chains and the rules in
 * them. Services live in the sets (elements added and removed in place); the only chains that
 * come and go are the load-balancing chains of lb_chain.h, one per endpoint count in use, never
 * one per Service or endpoint. In nft's words (mark 0x4000; cluster CIDR 10.244.0.0/16; Service
 * CIDR 10.96.0.0/12):
 *
 *   map services       { ClusterIP . protocol . port : goto <lb chain> }
 *   map node-ports     { protocol . node port : goto <lb chain> }
 *   map node-port-targets { protocol . node port : ClusterIP . protocol . port }
 *   map backends       { ClusterIP . protocol . port . slot : endpoint . port }
 *   set no-endpoints   { ClusterIP . protocol . port }   ports without a ready endpoint
 *   set no-endpoint-node-ports { protocol . node port }
 *   set cluster-ips    { ClusterIP }
 *   set hairpin        { endpoint . endpoint }            this node's endpoints
 *   set affinity-endpoints { ClusterIP . protocol . port . endpoint . port }   ClientIP affinity
 *   map affinity       { client . ClusterIP . protocol . port : endpoint . port }  (packet path)
 *
 *   nat-prerouting, nat-output (nat, dstnat): jump services
 *   services: ip daddr . meta l4proto . th dport vmap @services
 *             fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @node-ports
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
	PROXY_SET_SERVICES,
	PROXY_SET_NODE_PORTS,
	PROXY_SET_NODE_PORT_TARGETS,
	PROXY_SET_BACKENDS,
	PROXY_SET_NO_ENDPOINTS,
	PROXY_SET_NO_ENDPOINT_NODE_PORTS,
	PROXY_SET_CLUSTER_IPS,
	PROXY_SET_HAIRPIN,
	PROXY_SET_AFFINITY_ENDPOINTS,
	PROXY_SET_AFFINITY, /* written by packets only: never diffed, emptied on rebuild */
	PROXY_SET_COUNT
};

/* The longest key and data of any set (affinity-endpoints; node-port-targets). */
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

const char *proxy_set_name(enum proxy_set set);
/* A verdict map: elements point to chains. */
bool proxy_set_is_verdict_map(enum proxy_set set);
/* The set as the kernel should have it (type, flags, key and data), ready for NFT_MSG_NEWSET
 * or for comparing with what a dump returned. */
struct nftnl_set *proxy_set_definition(enum proxy_set set);
/* Only the names: for element messages and dumps. */
struct nftnl_set *proxy_set_handle(enum proxy_set set);
/* True when the kernel's set (from a dump) is the one wanted. */
bool proxy_set_matches(enum proxy_set set, const struct nftnl_set *kernel);

struct nftnl_table *proxy_table_object(void);

/* A chain as it should be: a base chain (type, hook, priority) or a regular one, and its rules
 * with their comments. */
#define PROXY_CHAIN_NAME_MAX 48
#define PROXY_CHAIN_RULES_MAX 4

struct chain_spec {
	char name[PROXY_CHAIN_NAME_MAX];
	const char *type; /* "nat", "filter"; NULL: a regular chain */
	uint32_t hook;
	int32_t priority;
	struct nftnl_rule *rules[PROXY_CHAIN_RULES_MAX];
	size_t rule_count;
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
/* Batch steps: create the chain with its rules (chain_spec_create, then chain_spec_fill, when
 * chains jump to each other: all are created first); or empty an existing one and put the
 * rules in again. */
void chain_spec_add(struct nft_batch *batch, const struct chain_spec *spec);
void chain_spec_create(struct nft_batch *batch, const struct chain_spec *spec);
void chain_spec_fill(struct nft_batch *batch, const struct chain_spec *spec);
void chain_spec_rewrite(struct nft_batch *batch, const struct chain_spec *spec);

/* The fixed chains, base chains first (PROXY_FIXED_CHAINS of them). */
#define PROXY_FIXED_CHAINS 12
void proxy_fixed_chains(const struct proxy_config *config,
			struct chain_spec chains[PROXY_FIXED_CHAINS]);
