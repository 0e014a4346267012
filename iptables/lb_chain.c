/* The load-balancing chains: see lb_chain.h. */
#include "iptables/lb_chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "lib/nft_expr.h"

/* The registers of the rules below: the client in 0, the packet's destination . protocol .
 * port in 1 to 3 and the slot in 4 (the affinity key, 0 to 4); a ClusterIP's backend key is 1
 * to 4, a node port's 2 to 4 (protocol . port . slot); the endpoint lands in 5 and 6. */
#define R_CLIENT NFT_REG32(0)
#define R_DESTINATION NFT_REG32(1)
#define R_SLOT NFT_REG32(4)
#define R_ENDPOINT NFT_REG32(5)

#define IPV4_SADDR 12
#define IPV4_DADDR 16
#define TRANSPORT_DPORT 2

static const char *const entry_names[] = {
    [LB_CLUSTER_IP] = "cluster", [LB_NODE_PORT] = "node-port"};

void lb_chain_name(const struct lb_chain *chain, char name[PROXY_CHAIN_NAME_MAX])
{
	if (chain->affinity_seconds)
		snprintf(name, PROXY_CHAIN_NAME_MAX, "%s-%u-affinity-%u", entry_names[chain->entry],
			 chain->endpoints, chain->affinity_seconds);
	else
		snprintf(name, PROXY_CHAIN_NAME_MAX, "%s-%u", entry_names[chain->entry],
			 chain->endpoints);
}

bool lb_chain_parse(const char *name, struct lb_chain *out)
{
	for (int entry = LB_CLUSTER_IP; entry <= LB_NODE_PORT; entry++) {
		size_t len = strlen(entry_names[entry]);
		char again[PROXY_CHAIN_NAME_MAX];
		unsigned endpoints = 0, seconds = 0;
		int end = 0;

		if (strncmp(name, entry_names[entry], len) != 0 || name[len] != '-')
			continue;
		if (sscanf(name + len, "-%u%n-affinity-%u%n", &endpoints, &end, &seconds, &end) < 1)
			return false;
		*out = (struct lb_chain){entry, endpoints, seconds};
		/* Only the canonical spelling is ours ("cluster-03" is someone else's). */
		lb_chain_name(out, again);
		return endpoints > 0 && strcmp(again, name) == 0;
	}
	return false;
}

/* The packet's destination . protocol . port into R_DESTINATION.. */
static void load_destination(struct nftnl_rule *rule)
{
	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_DADDR, 4, R_DESTINATION);
	nft_expr_meta_load(rule, NFT_META_L4PROTO, R_DESTINATION + 1);
	nft_expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, TRANSPORT_DPORT, 2, R_DESTINATION + 2);
}

/* The affinity key of the packet for `slot`: client . destination . protocol . port . slot. */
static void load_affinity_key(struct nftnl_rule *rule, uint32_t slot)
{
	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_SADDR, 4, R_CLIENT);
	load_destination(rule);
	nft_expr_immediate_u32(rule, R_SLOT, slot);
}

/* DNAT to the endpoint of the slot in R_SLOT, with R_DESTINATION.. loaded. */
static void dnat_to_slot(struct nftnl_rule *rule, enum lb_entry entry)
{
	if (entry == LB_CLUSTER_IP) {
		nft_expr_lookup(rule, proxy_set_name(PROXY_SET_BACKENDS), R_DESTINATION, R_ENDPOINT,
				0);
	} else {
		/* protocol . port . slot: the registers after the node's address. */
		nft_expr_lookup(rule, proxy_set_name(PROXY_SET_NODE_PORT_BACKENDS),
				R_DESTINATION + 1, R_ENDPOINT, 0);
	}
	nft_expr_dnat_ipv4(rule, R_ENDPOINT, R_ENDPOINT + 1);
}

static void mark_for_masquerade(struct nftnl_rule *rule)
{
	uint32_t keep = ~PROXY_MASQUERADE_MARK, set = PROXY_MASQUERADE_MARK;

	nft_expr_meta_load(rule, NFT_META_MARK, NFT_REG32(0));
	nft_expr_bitwise(rule, NFT_REG32(0), sizeof(keep), &keep, &set);
	nft_expr_meta_set(rule, NFT_META_MARK, NFT_REG32(0));
}

static void slot_chain_name(const char *chain, uint32_t slot, char name[PROXY_CHAIN_NAME_MAX])
{
	snprintf(name, PROXY_CHAIN_NAME_MAX, "%s-slot-%u", chain, slot);
}

/* Records the client for the slot (a fresh timeout each time), then DNAT. */
static void slot_spec(const struct lb_chain *chain, const char *name, uint32_t slot,
		      struct chain_spec *spec)
{
	struct nftnl_rule *rule;

	memset(spec, 0, sizeof(*spec));
	slot_chain_name(name, slot, spec->name);
	rule = chain_spec_rule(spec);
	load_affinity_key(rule, slot);
	nft_expr_dynset(rule, proxy_set_name(PROXY_SET_AFFINITY), NFT_DYNSET_OP_UPDATE, R_CLIENT, 0,
			(uint64_t)chain->affinity_seconds * 1000);
	dnat_to_slot(rule, chain->entry);
	chain_spec_seal(spec);
}

static void main_spec(const struct lb_chain *chain, const struct proxy_config *config,
		      const char *name, struct chain_spec *spec)
{
	struct nftnl_rule *rule;
	char slot[PROXY_CHAIN_NAME_MAX];

	memset(spec, 0, sizeof(*spec));
	snprintf(spec->name, sizeof(spec->name), "%s", name);
	rule = chain_spec_rule(spec);
	/* A client outside the cluster (the node itself, another host) gets the answer only if
	 * it goes back through this node; a node port's client always. */
	if (chain->entry == LB_CLUSTER_IP && config->cluster_cidr.prefix > 0)
		nft_expr_ipv4_prefix_match(rule, IPV4_SADDR, config->cluster_cidr.network,
					   config->cluster_cidr.prefix, NFT_CMP_NEQ);
	mark_for_masquerade(rule);

	if (!chain->affinity_seconds) {
		rule = chain_spec_rule(spec);
		load_destination(rule);
		nft_expr_numgen_random(rule, R_SLOT, chain->endpoints);
		dnat_to_slot(rule, chain->entry);
		chain_spec_seal(spec);
		return;
	}
	for (uint32_t i = 0; i < chain->endpoints; i++) {
		rule = chain_spec_rule(spec);
		load_affinity_key(rule, i);
		nft_expr_lookup(rule, proxy_set_name(PROXY_SET_AFFINITY), R_CLIENT, 0, 0);
		slot_chain_name(name, i, slot);
		nft_expr_verdict(rule, NFT_GOTO, slot);
	}
	for (uint32_t i = 0; i < chain->endpoints; i++) {
		uint32_t zero = 0;

		rule = chain_spec_rule(spec);
		if (i + 1 < chain->endpoints) {
			nft_expr_numgen_random(rule, NFT_REG32(0), chain->endpoints - i);
			nft_expr_cmp(rule, NFT_REG32(0), NFT_CMP_EQ, &zero, sizeof(zero));
		}
		slot_chain_name(name, i, slot);
		nft_expr_verdict(rule, NFT_GOTO, slot);
	}
	chain_spec_seal(spec);
}

size_t lb_chain_specs(const struct lb_chain *chain, const struct proxy_config *config,
		      struct chain_spec **specs)
{
	size_t slots = chain->affinity_seconds ? chain->endpoints : 0;
	struct chain_spec *out = calloc(slots + 1, sizeof(*out));
	char name[PROXY_CHAIN_NAME_MAX];

	if (!out)
		abort();
	lb_chain_name(chain, name);
	for (uint32_t i = 0; i < slots; i++)
		slot_spec(chain, name, i, &out[i]);
	main_spec(chain, config, name, &out[slots]);
	*specs = out;
	return slots + 1;
}

void lb_chain_set(const struct lb_chain *chain, char name[PROXY_CHAIN_NAME_MAX],
		  struct proxy_set_definition *set)
{
	lb_chain_name(chain, name);
	if (chain->entry == LB_CLUSTER_IP)
		*set = (struct proxy_set_definition){name, PROXY_SERVICE_KEY_TYPE,
						     PROXY_SERVICE_KEY_LEN};
	else
		*set = (struct proxy_set_definition){name, PROXY_NODE_PORT_KEY_TYPE,
						     PROXY_NODE_PORT_KEY_LEN};
}

void lb_dispatch_chain(const struct lb_chain *chains, size_t count, struct chain_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->name, sizeof(spec->name), "services");
	for (size_t i = 0; i < count; i++) {
		struct nftnl_rule *rule = chain_spec_rule(spec);
		char name[PROXY_CHAIN_NAME_MAX];

		lb_chain_name(&chains[i], name);
		if (chains[i].entry == LB_CLUSTER_IP) {
			proxy_load_service_key(rule, NFT_REG32(0));
		} else {
			proxy_match_node_address(rule);
			proxy_load_protocol_port(rule, NFT_REG32(0));
		}
		nft_expr_lookup(rule, name, NFT_REG32(0), 0, 0);
		nft_expr_verdict(rule, NFT_GOTO, name);
	}
	chain_spec_seal(spec);
}
