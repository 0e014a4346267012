/* Reading nf_tables state back from the kernel (dumps over a netfilter netlink socket, from
 * nft_socket_open), for the proxy's reconciliation and its watch on other writers. A dump that the
 * kernel marks as interrupted (the ruleset changed under it) fails with -EINTR: read again. */
#pragma once

#include <stdint.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "lib/error.h"

struct mnl_socket;

/* The ruleset's generation: every commit by anyone adds one. */
int nft_read_generation(struct mnl_socket *nl, uint32_t *generation, struct ck_error *err);

/* Called for every object of a dump; the object is freed after it returns. */
typedef void (*nft_table_fn)(void *ctx, struct nftnl_table *table);
typedef void (*nft_chain_fn)(void *ctx, struct nftnl_chain *chain);
typedef void (*nft_rule_fn)(void *ctx, struct nftnl_rule *rule);
typedef void (*nft_set_fn)(void *ctx, struct nftnl_set *set);

int nft_read_tables(struct mnl_socket *nl, uint16_t family, nft_table_fn fn, void *ctx,
		    struct ck_error *err);
/* The chains, rules and sets of one table. */
int nft_read_chains(struct mnl_socket *nl, uint16_t family, const char *table, nft_chain_fn fn,
		    void *ctx, struct ck_error *err);
int nft_read_rules(struct mnl_socket *nl, uint16_t family, const char *table, nft_rule_fn fn,
		   void *ctx, struct ck_error *err);
int nft_read_sets(struct mnl_socket *nl, uint16_t family, const char *table, nft_set_fn fn,
		  void *ctx, struct ck_error *err);
/* The elements of one set, in batches: `fn` gets a set object holding some of them. */
int nft_read_elements(struct mnl_socket *nl, uint16_t family, const char *table, const char *set,
		      nft_set_fn fn, void *ctx, struct ck_error *err);
