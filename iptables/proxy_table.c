/* The proxy's table, sets and fixed chains: see proxy_table.h. */
#include "iptables/proxy_table.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net/if.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lib/nft_expr.h"

#define ENDPOINT_TYPE PROXY_CONCAT2(PROXY_TYPE_IPADDR, PROXY_TYPE_INET_SERVICE)
/* A concatenation of concatenations shifts the first by six bits per member of the second. */

static const struct proxy_set_definition fixed_sets[PROXY_FIXED_SETS] = {
    [PROXY_SET_BACKENDS] = {"backends", PROXY_CONCAT2(PROXY_SERVICE_KEY_TYPE, PROXY_TYPE_MARK),
			    PROXY_SERVICE_KEY_LEN + 4, ENDPOINT_TYPE, 8, NFT_SET_MAP},
    [PROXY_SET_NODE_PORT_BACKENDS] = {"node-port-backends",
				      PROXY_CONCAT2(PROXY_NODE_PORT_KEY_TYPE, PROXY_TYPE_MARK),
				      PROXY_NODE_PORT_KEY_LEN + 4, ENDPOINT_TYPE, 8, NFT_SET_MAP},
    [PROXY_SET_NO_ENDPOINTS] = {"no-endpoints", PROXY_SERVICE_KEY_TYPE, PROXY_SERVICE_KEY_LEN, 0, 0,
				0},
    [PROXY_SET_NO_ENDPOINT_NODE_PORTS] = {"no-endpoint-node-ports", PROXY_NODE_PORT_KEY_TYPE,
					  PROXY_NODE_PORT_KEY_LEN, 0, 0, 0},
    [PROXY_SET_CLUSTER_IPS] = {"cluster-ips", PROXY_TYPE_IPADDR, 4, 0, 0, 0},
    [PROXY_SET_HAIRPIN] = {"hairpin", PROXY_CONCAT2(PROXY_TYPE_IPADDR, PROXY_TYPE_IPADDR), 8, 0, 0,
			   0},
    [PROXY_SET_AFFINITY] = {"affinity",
			    (PROXY_TYPE_IPADDR << 18 | PROXY_SERVICE_KEY_TYPE) << 6 |
				PROXY_TYPE_MARK,
			    4 + PROXY_SERVICE_KEY_LEN + 4, 0, 0, NFT_SET_TIMEOUT | NFT_SET_EVAL},
};

const struct proxy_set_definition *proxy_fixed_set(enum proxy_set set)
{
	return &fixed_sets[set];
}

const char *proxy_set_name(enum proxy_set set)
{
	return fixed_sets[set].name;
}

struct nftnl_set *proxy_set_handle(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		abort();
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_IPV4);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, PROXY_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	return s;
}

struct nftnl_set *proxy_set_object(const struct proxy_set_definition *def)
{
	struct nftnl_set *s = proxy_set_handle(def->name);
	/* Messages in one batch find the set by name; the kernel wants an id besides, unique
	 * in the batch. */
	static uint32_t id;

	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, def->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, def->key_len);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, def->flags);
	if (def->flags & NFT_SET_MAP) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, def->data_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, def->data_len);
	}
	nftnl_set_set_u32(s, NFTNL_SET_ID, __atomic_add_fetch(&id, 1, __ATOMIC_RELAXED));
	return s;
}

bool proxy_set_matches(const struct proxy_set_definition *def, const struct nftnl_set *kernel)
{
	if (nftnl_set_get_u32(kernel, NFTNL_SET_KEY_LEN) != def->key_len ||
	    nftnl_set_get_u32(kernel, NFTNL_SET_KEY_TYPE) != def->key_type ||
	    nftnl_set_get_u32(kernel, NFTNL_SET_FLAGS) != def->flags)
		return false;
	if (!(def->flags & NFT_SET_MAP))
		return true;
	return nftnl_set_get_u32(kernel, NFTNL_SET_DATA_TYPE) == def->data_type &&
	       nftnl_set_get_u32(kernel, NFTNL_SET_DATA_LEN) == def->data_len;
}

struct nftnl_table *proxy_table_object(void)
{
	struct nftnl_table *table = nftnl_table_alloc();

	if (!table)
		abort();
	nftnl_table_set_u32(table, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
	nftnl_table_set_str(table, NFTNL_TABLE_NAME, PROXY_TABLE);
	return table;
}

void chain_spec_clear(struct chain_spec *spec)
{
	for (size_t i = 0; i < spec->rule_count; i++)
		nftnl_rule_free(spec->rules[i]);
	free(spec->rules);
	memset(spec, 0, sizeof(*spec));
}

struct nftnl_rule *chain_spec_rule(struct chain_spec *spec)
{
	struct nftnl_rule *rule = nft_rule_new(NFPROTO_IPV4, PROXY_TABLE, spec->name);

	if (spec->rule_count == spec->rule_capacity) {
		spec->rule_capacity = spec->rule_capacity ? 2 * spec->rule_capacity : 4;
		spec->rules = realloc(spec->rules, spec->rule_capacity * sizeof(*spec->rules));
		if (!spec->rules)
			abort();
	}
	spec->rules[spec->rule_count++] = rule;
	return rule;
}

/* FNV-1a over the rule as it goes to the kernel, which is all its expressions say. */
static uint64_t rule_hash(const struct nftnl_rule *rule)
{
	/* A rule of this table takes a few hundred bytes. Zeroed: libnftnl leaves some bytes of
	 * its attributes unwritten, and they must not make two equal rules hash apart. */
	char buf[8192] = {0};
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_IPV4, 0, 0);
	const unsigned char *p = mnl_nlmsg_get_payload(nlh);
	uint64_t hash = 0xcbf29ce484222325ull;

	nftnl_rule_nlmsg_build_payload(nlh, (struct nftnl_rule *)rule);
	for (size_t i = 0; i < mnl_nlmsg_get_payload_len(nlh); i++)
		hash = (hash ^ p[i]) * 0x100000001b3ull;
	return hash;
}

void chain_spec_seal(struct chain_spec *spec)
{
	for (size_t i = 0; i < spec->rule_count; i++) {
		struct nftnl_udata_buf *udata = nftnl_udata_buf_alloc(64);
		char comment[32];

		if (!udata)
			abort();
		snprintf(comment, sizeof(comment), "ckube %016llx",
			 (unsigned long long)rule_hash(spec->rules[i]));
		nftnl_udata_put_strz(udata, NFTNL_UDATA_RULE_COMMENT, comment);
		nftnl_rule_set_data(spec->rules[i], NFTNL_RULE_USERDATA,
				    nftnl_udata_buf_data(udata), nftnl_udata_buf_len(udata));
		nftnl_udata_buf_free(udata);
	}
}

bool chain_spec_rule_matches(const struct chain_spec *spec, size_t index, const void *userdata,
			     uint32_t len)
{
	uint32_t wanted_len = 0;
	const void *wanted;

	if (index >= spec->rule_count || !userdata)
		return false;
	wanted = nftnl_rule_get_data(spec->rules[index], NFTNL_RULE_USERDATA, &wanted_len);
	return wanted && wanted_len == len && memcmp(wanted, userdata, len) == 0;
}

struct nftnl_chain *chain_spec_object(const struct chain_spec *spec)
{
	struct nftnl_chain *chain = nftnl_chain_alloc();

	if (!chain)
		abort();
	nftnl_chain_set_u32(chain, NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
	nftnl_chain_set_str(chain, NFTNL_CHAIN_TABLE, PROXY_TABLE);
	nftnl_chain_set_str(chain, NFTNL_CHAIN_NAME, spec->name);
	if (spec->type) {
		nftnl_chain_set_str(chain, NFTNL_CHAIN_TYPE, spec->type);
		nftnl_chain_set_u32(chain, NFTNL_CHAIN_HOOKNUM, spec->hook);
		nftnl_chain_set_s32(chain, NFTNL_CHAIN_PRIO, spec->priority);
		nftnl_chain_set_u32(chain, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	return chain;
}

void chain_spec_fill(struct nft_batch *batch, const struct chain_spec *spec)
{
	char step[96];

	snprintf(step, sizeof(step), "add the rules of chain %s", spec->name);
	for (size_t i = 0; i < spec->rule_count; i++)
		nft_batch_rule(batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, spec->rules[i],
			       step);
}

void chain_spec_create(struct nft_batch *batch, const struct chain_spec *spec)
{
	struct nftnl_chain *chain = chain_spec_object(spec);
	char step[96];

	snprintf(step, sizeof(step), "add chain %s", spec->name);
	nft_batch_chain(batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, chain, step);
	nftnl_chain_free(chain);
}

void chain_spec_rewrite(struct nft_batch *batch, const struct chain_spec *spec)
{
	struct nftnl_rule *all = nft_rule_new(NFPROTO_IPV4, PROXY_TABLE, spec->name);
	char step[96];

	snprintf(step, sizeof(step), "empty chain %s", spec->name);
	nft_batch_rule(batch, NFT_MSG_DELRULE, 0, all, step);
	nftnl_rule_free(all);
	chain_spec_fill(batch, spec);
}

/* --- the fixed chains ------------------------------------------------------------------- */

#define DSTNAT_PRIORITY (-100)
#define SRCNAT_PRIORITY 100

/* Offsets in the IPv4 header, and of the destination port in TCP, UDP and SCTP alike. */
#define IPV4_SADDR 12
#define IPV4_DADDR 16
#define TRANSPORT_DPORT 2

static void load_daddr(struct nftnl_rule *rule, uint32_t reg)
{
	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_DADDR, 4, reg);
}

void proxy_load_protocol_port(struct nftnl_rule *rule, uint32_t reg)
{
	nft_expr_meta_load(rule, NFT_META_L4PROTO, reg);
	nft_expr_payload(rule, NFT_PAYLOAD_TRANSPORT_HEADER, TRANSPORT_DPORT, 2, reg + 1);
}

void proxy_load_service_key(struct nftnl_rule *rule, uint32_t reg)
{
	load_daddr(rule, reg);
	proxy_load_protocol_port(rule, reg + 1);
}

void proxy_match_node_address(struct nftnl_rule *rule)
{
	uint32_t local = RTN_LOCAL;

	nft_expr_fib_daddr_type(rule, NFT_REG32(0));
	nft_expr_cmp(rule, NFT_REG32(0), NFT_CMP_EQ, &local, sizeof(local));
	nft_expr_ipv4_prefix_match(rule, IPV4_DADDR, 0x7f000000, 8, NFT_CMP_NEQ);
}

static void match_ct_state_new(struct nftnl_rule *rule)
{
	nft_expr_ct_load(rule, NFT_CT_STATE, NFT_REG32(0));
	nft_expr_masked_cmp32(rule, NFT_REG32(0), NF_CT_STATE_BIT(IP_CT_NEW), NFT_CMP_NEQ, 0);
}

static void match_ct_status_dnat(struct nftnl_rule *rule)
{
	nft_expr_ct_load(rule, NFT_CT_STATUS, NFT_REG32(0));
	nft_expr_masked_cmp32(rule, NFT_REG32(0), IPS_DST_NAT, NFT_CMP_NEQ, 0);
}

static void match_interface(struct nftnl_rule *rule, uint32_t meta_key, const char *name)
{
	char padded[IFNAMSIZ] = {0};

	strncpy(padded, name, IFNAMSIZ - 1);
	nft_expr_meta_load(rule, meta_key, NFT_REG_1);
	nft_expr_cmp(rule, NFT_REG_1, NFT_CMP_EQ, padded, IFNAMSIZ);
}

static void base_chain(struct chain_spec *spec, const char *name, const char *type, uint32_t hook,
		       int32_t priority)
{
	snprintf(spec->name, sizeof(spec->name), "%s", name);
	spec->type = type;
	spec->hook = hook;
	spec->priority = priority;
}

static void regular_chain(struct chain_spec *spec, const char *name)
{
	snprintf(spec->name, sizeof(spec->name), "%s", name);
}

/* A base chain whose one rule sends new connections (or every packet) to `target`. */
static void hook_chain(struct chain_spec *spec, const char *name, const char *type, uint32_t hook,
		       int32_t priority, bool new_only, const char *target)
{
	struct nftnl_rule *rule;

	base_chain(spec, name, type, hook, priority);
	rule = chain_spec_rule(spec);
	if (new_only)
		match_ct_state_new(rule);
	nft_expr_verdict(rule, NFT_JUMP, target);
}

static void endpoints_check_chain(struct chain_spec *spec)
{
	struct nftnl_rule *rule;

	regular_chain(spec, "endpoints-check");
	rule = chain_spec_rule(spec);
	proxy_load_service_key(rule, NFT_REG32(0));
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_NO_ENDPOINTS), NFT_REG32(0), 0, 0);
	nft_expr_verdict(rule, NFT_GOTO, "reject");

	rule = chain_spec_rule(spec);
	proxy_match_node_address(rule);
	proxy_load_protocol_port(rule, NFT_REG32(0));
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_NO_ENDPOINT_NODE_PORTS), NFT_REG32(0), 0, 0);
	nft_expr_verdict(rule, NFT_GOTO, "reject");
}

/* A TCP client learns at once with a reset, any other with ICMP port unreachable (which the
 * kernel does not send to the node's own sockets: a reset is the one answer they all get). */
static void reject_chain(struct chain_spec *spec)
{
	uint8_t tcp = IPPROTO_TCP;
	struct nftnl_rule *rule;

	regular_chain(spec, "reject");
	rule = chain_spec_rule(spec);
	nft_expr_meta_load(rule, NFT_META_L4PROTO, NFT_REG32(0));
	nft_expr_cmp(rule, NFT_REG32(0), NFT_CMP_EQ, &tcp, sizeof(tcp));
	nft_expr_reject(rule, NFT_REJECT_TCP_RST, 0);

	rule = chain_spec_rule(spec);
	nft_expr_reject(rule, NFT_REJECT_ICMP_UNREACH, 3 /* port unreachable */);
}

/* After DNAT: what still goes to a ClusterIP went to a port the Service does not have
 * (refused), or to an address no Service has (dropped, as nothing answers there). */
static void cluster_ips_check_chain(struct chain_spec *spec, const struct proxy_config *config)
{
	struct nftnl_rule *rule;

	regular_chain(spec, "cluster-ips-check");
	rule = chain_spec_rule(spec);
	load_daddr(rule, NFT_REG32(0));
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_CLUSTER_IPS), NFT_REG32(0), 0, 0);
	nft_expr_verdict(rule, NFT_GOTO, "reject");

	rule = chain_spec_rule(spec);
	nft_expr_ipv4_prefix_match(rule, IPV4_DADDR, config->service_cidr.network,
				   config->service_cidr.prefix, NFT_CMP_EQ);
	nft_expr_verdict(rule, NF_DROP, NULL);
}

static void masquerading_chain(struct chain_spec *spec, const struct proxy_config *config)
{
	uint32_t keep = ~PROXY_MASQUERADE_MARK, zero = 0;
	struct nftnl_rule *rule;

	regular_chain(spec, "masquerading");
	/* Marked on the way in (lb_chain.h): the mark is taken off so that nothing later
	 * mistakes it, and the source becomes the outgoing interface's address. */
	rule = chain_spec_rule(spec);
	nft_expr_meta_load(rule, NFT_META_MARK, NFT_REG32(0));
	nft_expr_masked_cmp32(rule, NFT_REG32(0), PROXY_MASQUERADE_MARK, NFT_CMP_NEQ, 0);
	nft_expr_meta_load(rule, NFT_META_MARK, NFT_REG32(0));
	nft_expr_bitwise(rule, NFT_REG32(0), sizeof(keep), &keep, &zero);
	nft_expr_meta_set(rule, NFT_META_MARK, NFT_REG32(0));
	nft_expr_masquerade(rule, NF_NAT_RANGE_PROTO_RANDOM_FULLY);

	/* A pod that reached itself through its Service: with its own address as the source,
	 * its answer would never go back through the DNAT. */
	rule = chain_spec_rule(spec);
	match_ct_status_dnat(rule);
	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, IPV4_SADDR, 4, NFT_REG32(0));
	load_daddr(rule, NFT_REG32(1));
	nft_expr_lookup(rule, proxy_set_name(PROXY_SET_HAIRPIN), NFT_REG32(0), 0, 0);
	nft_expr_masquerade(rule, NF_NAT_RANGE_PROTO_RANDOM_FULLY);

	if (config->masquerade_bridge) {
		rule = chain_spec_rule(spec);
		match_ct_status_dnat(rule);
		match_interface(rule, NFT_META_IIFNAME, config->masquerade_bridge);
		match_interface(rule, NFT_META_OIFNAME, config->masquerade_bridge);
		nft_expr_masquerade(rule, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	}
}

void proxy_fixed_chains(const struct proxy_config *config,
			struct chain_spec chains[PROXY_FIXED_CHAINS])
{
	struct chain_spec *c = chains;

	memset(chains, 0, PROXY_FIXED_CHAINS * sizeof(*chains));
	/* Regular chains first: the base chains jump to them. */
	endpoints_check_chain(c++);
	reject_chain(c++);
	cluster_ips_check_chain(c++, config);
	masquerading_chain(c++, config);
	hook_chain(c++, "nat-prerouting", "nat", NF_INET_PRE_ROUTING, DSTNAT_PRIORITY, false,
		   "services");
	hook_chain(c++, "nat-output", "nat", NF_INET_LOCAL_OUT, DSTNAT_PRIORITY, false, "services");
	hook_chain(c++, "nat-postrouting", "nat", NF_INET_POST_ROUTING, SRCNAT_PRIORITY, false,
		   "masquerading");
	/* Before DNAT, the filter hooks still see the Service's address: ports without
	 * endpoints are refused there (reject works in prerouting since Linux 5.9). */
	hook_chain(c++, "filter-prerouting", "filter", NF_INET_PRE_ROUTING, DSTNAT_PRIORITY - 10,
		   true, "endpoints-check");
	hook_chain(c++, "filter-output", "filter", NF_INET_LOCAL_OUT, DSTNAT_PRIORITY - 10, true,
		   "endpoints-check");
	/* After DNAT: whatever still goes to the Service range found no Service. */
	hook_chain(c++, "filter-forward", "filter", NF_INET_FORWARD, DSTNAT_PRIORITY - 10, true,
		   "cluster-ips-check");
	hook_chain(c++, "filter-output-post-dnat", "filter", NF_INET_LOCAL_OUT,
		   DSTNAT_PRIORITY + 10, true, "cluster-ips-check");
	for (c = chains; c < chains + PROXY_FIXED_CHAINS; c++)
		chain_spec_seal(c);
}
