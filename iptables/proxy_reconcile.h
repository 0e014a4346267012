/* Bringing the kernel's table to what the proxy wants, whatever it holds now: nothing (first
 * start), exactly that (a restart: nothing is sent), or something else (a table flushed,
 * elements or chains deleted or added by hand, an older ckube's layout). It reads the table
 * back (sets, chains, rules, elements) and sends the difference as one batch: missing chains
 * and rules, element by element; only a table whose sets or base chains are not the wanted
 * ones is made again as a whole. Chains the table should not have go in a second batch, once
 * nothing refers to them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "iptables/lb_chain.h"
#include "iptables/proxy_elements.h"
#include "iptables/proxy_table.h"
#include "lib/error.h"

struct mnl_socket;

struct proxy_wanted {
	/* Every set: the fixed ones (PROXY_FIXED_SETS, in their order), then the load-balancing
	 * chains' in the order of `lb_chains`. */
	const struct proxy_set_definition *sets;
	size_t set_count;
	const struct lb_chain *lb_chains; /* the load-balancing chains in use */
	/* Every chain, regular ones first: the fixed ones, `services`, the load-balancing ones. */
	struct chain_spec *chains;
	size_t chain_count;
	const struct element_list *elements; /* sorted; every set's but the affinity map's */
};

/* What a commit or reconciliation did, for logs, metrics and tests. */
struct proxy_stats {
	bool rebuilt; /* the table was made anew */
	size_t messages, bytes;
	size_t elements_added, elements_deleted;
	size_t chains_added, chains_rewritten, chains_deleted;
	size_t udp_flows_deleted;
};

int proxy_reconcile_table(struct mnl_socket *nl, const struct proxy_wanted *wanted,
			  struct proxy_stats *stats, struct ck_error *err);
