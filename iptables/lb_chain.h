/* The load-balancing chains: where a Service's packet gets its endpoint. Each has a set of the
 * same name, the Service ports that go to it, and a dispatch rule in the `services` chain. The
 * random choice needs the number of endpoints as a constant (numgen's modulus), so Service
 * ports with the same number share one chain, and the chain takes the Service from the packet
 * itself: its destination and port, a ClusterIP's or a node port's. A few chains serve any
 * number of Services; a Service with a new endpoint count moves to another chain's set.
 *
 *   cluster-3:     ip saddr != <cluster CIDR> meta mark set meta mark | 0x4000
 *                  dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map
 * @backends node-port-3:   meta mark set meta mark | 0x4000   (always: the reply must come back
 * here) dnat ip to meta l4proto . th dport . numgen random mod 3 map @node-port-backends
 *
 * With ClientIP affinity for T seconds (cluster-3-affinity-T, node-port-3-affinity-T) each slot
 * has a chain of its own, <chain>-slot-<i>, that records the client in the affinity set (client
 * . destination . protocol . port . slot, refreshed by every new connection) and DNATs to the
 * slot's endpoint; the chain sends a client found in the set to its slot's chain, and any other
 * to a slot drawn at random (slot i taken with chance 1/(n - i) once the ones before were not:
 * each slot 1/n). A slot whose endpoint went is re-filled by the next one, so a recorded client
 * never reaches a removed endpoint. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iptables/proxy_table.h"

enum lb_entry { LB_CLUSTER_IP, LB_NODE_PORT };

struct lb_chain {
	enum lb_entry entry;
	uint32_t endpoints;        /* 1 or more */
	uint32_t affinity_seconds; /* 0: no affinity */
};

void lb_chain_name(const struct lb_chain *chain, char name[PROXY_CHAIN_NAME_MAX]);
/* False for a name that is not a load-balancing chain's. */
bool lb_chain_parse(const char *name, struct lb_chain *out);
/* The chain's chains: the slot chains first (the chain jumps to them), then the chain itself.
 * Returns how many; free each with chain_spec_clear, then the array. */
size_t lb_chain_specs(const struct lb_chain *chain, const struct proxy_config *config,
		      struct chain_spec **specs);
/* The chain's set: ClusterIP . protocol . port, or protocol . node port. `name` holds the set's
 * name (the chain's) for as long as the definition is used. */
void lb_chain_set(const struct lb_chain *chain, char name[PROXY_CHAIN_NAME_MAX],
		  struct proxy_set_definition *set);
/* The `services` chain: for each of the chains (sorted by name, as given), "the packet's
 * Service is in the chain's set: goto the chain". */
void lb_dispatch_chain(const struct lb_chain *chains, size_t count, struct chain_spec *spec);
