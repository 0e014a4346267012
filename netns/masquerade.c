/* The pod network's masquerade rule in ckube's nftables table: see masquerade.h. */
#include "netns/masquerade.h"

#include <errno.h>
#include <stdlib.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "lib/cleanup.h"
#include "lib/nft_batch.h"
#include "lib/nft_expr.h"

#define TABLE_TEXT "nftables table ip " POD_MASQUERADE_TABLE

/* NF_IP_PRI_NAT_SRC, the priority nft calls "srcnat": after the filter chains have had their
 * say, as every source NAT is. */
#define SRCNAT_PRIORITY 100

/* The offsets of the addresses in the IPv4 header. */
#define IPV4_SADDR_OFFSET 12
#define IPV4_DADDR_OFFSET 16

static void table_freep(struct nftnl_table **table)
{
	if (*table)
		nftnl_table_free(*table);
}

static void chain_freep(struct nftnl_chain **chain)
{
	if (*chain)
		nftnl_chain_free(*chain);
}

static void rule_freep(struct nftnl_rule **rule)
{
	if (*rule)
		nftnl_rule_free(*rule);
}

static void batch_freep(struct nft_batch **batch)
{
	nft_batch_free(*batch);
}

static struct nftnl_table *table_new(void)
{
	struct nftnl_table *table = nftnl_table_alloc();

	if (!table)
		abort();
	nftnl_table_set_u32(table, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
	nftnl_table_set_str(table, NFTNL_TABLE_NAME, POD_MASQUERADE_TABLE);
	return table;
}

static struct nftnl_chain *chain_new(void)
{
	struct nftnl_chain *chain = nftnl_chain_alloc();

	if (!chain)
		abort();
	nftnl_chain_set_u32(chain, NFTNL_CHAIN_FAMILY, NFPROTO_IPV4);
	nftnl_chain_set_str(chain, NFTNL_CHAIN_TABLE, POD_MASQUERADE_TABLE);
	nftnl_chain_set_str(chain, NFTNL_CHAIN_NAME, POD_MASQUERADE_CHAIN);
	nftnl_chain_set_str(chain, NFTNL_CHAIN_TYPE, "nat");
	nftnl_chain_set_u32(chain, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
	nftnl_chain_set_s32(chain, NFTNL_CHAIN_PRIO, SRCNAT_PRIORITY);
	nftnl_chain_set_u32(chain, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	return chain;
}

/* nft shows it as "ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 masquerade". */
static struct nftnl_rule *rule_new(const struct ipv4_cidr *pod_cidr,
				   const struct ipv4_cidr *cluster_cidr)
{
	struct nftnl_rule *rule =
	    nft_rule_new(NFPROTO_IPV4, POD_MASQUERADE_TABLE, POD_MASQUERADE_CHAIN);

	nft_expr_ipv4_prefix_match(rule, IPV4_SADDR_OFFSET, pod_cidr->network, pod_cidr->prefix,
				   NFT_CMP_EQ);
	nft_expr_ipv4_prefix_match(rule, IPV4_DADDR_OFFSET, cluster_cidr->network,
				   cluster_cidr->prefix, NFT_CMP_NEQ);
	nft_expr_masquerade(rule, 0);
	return rule;
}

/* The rule is built from the numbers, so a malformed block would silently match other
 * addresses than the ones its text names. */
static int check_cidr(const struct ipv4_cidr *cidr, const char *what, struct ck_error *err)
{
	if (cidr->prefix > 32)
		return ck_error_set(err, EINVAL, TABLE_TEXT ": %s: prefix length %u over 32", what,
				    cidr->prefix);
	if (cidr->network & ~ipv4_cidr_mask(cidr)) {
		char text[IPV4_TEXT_MAX + 1];

		return ck_error_set(err, EINVAL, TABLE_TEXT ": %s %s: host bits set", what,
				    ipv4_cidr_format(cidr, text));
	}
	return 0;
}

int pod_masquerade_apply(const struct ipv4_cidr *pod_cidr, const struct ipv4_cidr *cluster_cidr,
			 struct ck_error *err)
{
	_cleanup_(table_freep) struct nftnl_table *table = NULL;
	_cleanup_(chain_freep) struct nftnl_chain *chain = NULL;
	_cleanup_(rule_freep) struct nftnl_rule *rule = NULL;
	_cleanup_(batch_freep) struct nft_batch *batch = NULL;
	int r;

	r = check_cidr(pod_cidr, "pod CIDR", err);
	if (r < 0)
		return r;
	r = check_cidr(cluster_cidr, "cluster CIDR", err);
	if (r < 0)
		return r;
	table = table_new();
	chain = chain_new();
	rule = rule_new(pod_cidr, cluster_cidr);

	/* Deleting and creating the table again, rather than flushing a chain, also clears
	 * whatever else an older ckube or a person left in it, and a chain with another hook or
	 * priority, which the kernel would not change in place. The kernel commits the batch as
	 * one: packets see the old rules until the commit and the new ones after it. */
	batch = nft_batch_new(NFPROTO_IPV4, TABLE_TEXT);
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	nft_batch_table(batch, NFT_MSG_DELTABLE, 0, table, "delete the old table");
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "create the table");
	nft_batch_chain(batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, chain,
			"add chain " POD_MASQUERADE_CHAIN);
	nft_batch_rule(batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule,
		       "add the masquerade rule");
	return nft_batch_commit(batch, err);
}

int pod_masquerade_remove(struct ck_error *err)
{
	_cleanup_(table_freep) struct nftnl_table *table = table_new();
	_cleanup_(batch_freep) struct nft_batch *batch = nft_batch_new(NFPROTO_IPV4, TABLE_TEXT);

	/* Creating it first makes the delete succeed whether or not the table was there, in the
	 * same atomic batch, so "absent" needs no error code of its own. */
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	nft_batch_table(batch, NFT_MSG_DELTABLE, 0, table, "delete the table");
	return nft_batch_commit(batch, err);
}
