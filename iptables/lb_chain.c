/* The load-balancing chains: see lb_chain.h. */
#include "iptables/lb_chain.h"

#include <stdio.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>

#include "lib/nft_expr.h"

/* The registers of the rules below: the client in 0, the Service (address . protocol . port)
 * in 1 to 3, then the slot in 4, where the endpoint (address . port) lands in 4 and 5. The
 * backends key is 1 to 4, the affinity key 0 to 3, the affinity-endpoints key 1 to 5. */
#define R_CLIENT NFT_REG32(0)
#define R_SERVICE NFT_REG32(1)
#define R_SLOT NFT_REG32(4)
#define R_ENDPOINT NFT_REG32(4)
#define R_ENDPOINT_PORT NFT_REG32(5)

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

/* The Service the packet is for, into R_SERVICE.. */
static void load_service(struct nftnl_rule *rule, enum lb_entry entry)
{
	if (entry == LB_CLUSTER_IP) {
		nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_DADDR, 4, R_SERVICE);
		nft_expr_meta_load(rule, NFT_META_L4PROTO, R_SERVICE + 1);
		nft_expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, TRANSPORT_DPORT, 2,
				 R_SERVICE + 2);
		return;
	}
	nft_expr_meta_load(rule, NFT_META_L4PROTO, R_SERVICE);
	nft_expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, TRANSPORT_DPORT, 2, R_SERVICE + 1);
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_NODE_PORT_TARGETS), R_SERVICE, R_SERVICE, 0);
}

static void load_client_and_service(struct nftnl_rule *rule, enum lb_entry entry)
{
	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_SADDR, 4, R_CLIENT);
	load_service(rule, entry);
}

static void mark_for_masquerade(struct nftnl_rule *rule)
{
	uint32_t keep = ~PROXY_MASQUERADE_MARK, set = PROXY_MASQUERADE_MARK;

	nft_expr_meta_load(rule, NFT_META_MARK, NFT_REG32(0));
	nft_expr_bitwise(rule, NFT_REG32(0), sizeof(keep), &keep, &set);
	nft_expr_meta_set(rule, NFT_META_MARK, NFT_REG32(0));
}

/* A random endpoint of the Service in R_SERVICE.., into R_ENDPOINT. */
static void choose_endpoint(struct nftnl_rule *rule, uint32_t endpoints)
{
	nft_expr_numgen_random(rule, R_SLOT, endpoints);
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_BACKENDS), R_SERVICE, R_ENDPOINT, 0);
}

/* The client's endpoint from the affinity map, into R_ENDPOINT, and whether the Service still
 * has it (`flags` 0) or no longer has it (NFT_LOOKUP_F_INV). */
static void recall_endpoint(struct nftnl_rule *rule, uint32_t flags)
{
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_AFFINITY), R_CLIENT, R_ENDPOINT, 0);
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_AFFINITY_ENDPOINTS), R_SERVICE, 0, flags);
}

static void remember_endpoint(struct nftnl_rule *rule, uint32_t seconds)
{
	nft_expr_dynset(rule, proxy_set_name(PROXY_SET_AFFINITY), NFT_DYNSET_OP_UPDATE, R_CLIENT,
			R_ENDPOINT, (uint64_t)seconds * 1000);
}

void lb_chain_spec(const struct lb_chain *chain, const struct proxy_config *config,
		   struct chain_spec *spec)
{
	struct nftnl_rule *rule;

	memset(spec, 0, sizeof(*spec));
	lb_chain_name(chain, spec->name);

	rule = chain_spec_rule(spec);
	/* A client outside the cluster (the node itself, another host) gets the answer only if
	 * it goes back through this node; a node port's client always. */
	if (chain->entry == LB_CLUSTER_IP && config->cluster_cidr.prefix > 0)
		nft_expr_ipv4_prefix_match(rule, IPV4_SADDR, config->cluster_cidr.network,
					   config->cluster_cidr.prefix, NFT_CMP_NEQ);
	mark_for_masquerade(rule);

	if (chain->affinity_seconds) {
		rule = chain_spec_rule(spec);
		load_client_and_service(rule, chain->entry);
		recall_endpoint(rule, 0);
		remember_endpoint(rule, chain->affinity_seconds);
		nft_expr_dnat_ipv4(rule, R_ENDPOINT, R_ENDPOINT_PORT);

		rule = chain_spec_rule(spec);
		load_client_and_service(rule, chain->entry);
		recall_endpoint(rule, NFT_LOOKUP_F_INV);
		/* The kernel wants a map's data register even to delete. */
		nft_expr_dynset(rule, proxy_set_name(PROXY_SET_AFFINITY), NFT_DYNSET_OP_DELETE,
				R_CLIENT, R_ENDPOINT, 0);

		rule = chain_spec_rule(spec);
		load_client_and_service(rule, chain->entry);
		choose_endpoint(rule, chain->endpoints);
		remember_endpoint(rule, chain->affinity_seconds);
		nft_expr_dnat_ipv4(rule, R_ENDPOINT, R_ENDPOINT_PORT);
	} else {
		rule = chain_spec_rule(spec);
		load_service(rule, chain->entry);
		choose_endpoint(rule, chain->endpoints);
		nft_expr_dnat_ipv4(rule, R_ENDPOINT, R_ENDPOINT_PORT);
	}
	chain_spec_seal(spec);
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
