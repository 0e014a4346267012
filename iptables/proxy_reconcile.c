/* Reconciling the kernel's table with the wanted one: see proxy_reconcile.h. */
#include "iptables/proxy_reconcile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "iptables/nft_read.h"
#include "lib/cleanup.h"

/* A rule as read back: only its comment counts. */
struct kernel_rule {
	void *userdata;
	uint32_t len;
};

struct kernel_chain {
	char name[PROXY_CHAIN_NAME_MAX];
	bool base;
	char type[16];
	uint32_t hook;
	int32_t priority;
	struct kernel_rule *rules;
	size_t rule_count;
	bool wanted;
};

struct kernel_table {
	const struct proxy_wanted *wanted;
	bool exists;
	bool sets_wrong; /* a wanted set unlike the wanted one */
	bool *set_seen;  /* per wanted set */
	char **extra_sets;
	size_t extra_set_count;
	struct kernel_chain *chains;
	size_t chain_count;
	struct element_list elements;
	/* The set whose elements are being read. */
	enum proxy_set reading;
	const struct lb_chain *reading_chain;
};

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

static void kernel_table_clear(struct kernel_table *k)
{
	for (size_t i = 0; i < k->extra_set_count; i++)
		free(k->extra_sets[i]);
	free(k->extra_sets);
	free(k->set_seen);
	for (size_t i = 0; i < k->chain_count; i++) {
		for (size_t j = 0; j < k->chains[i].rule_count; j++)
			free(k->chains[i].rules[j].userdata);
		free(k->chains[i].rules);
	}
	free(k->chains);
	element_list_clear(&k->elements);
	memset(k, 0, sizeof(*k));
}

static void on_table(void *ctx, struct nftnl_table *table)
{
	struct kernel_table *k = ctx;
	const char *name = nftnl_table_get_str(table, NFTNL_TABLE_NAME);

	if (name && strcmp(name, PROXY_TABLE) == 0)
		k->exists = true;
}

static int wanted_set(const struct proxy_wanted *wanted, const char *name)
{
	for (size_t i = 0; name && i < wanted->set_count; i++)
		if (strcmp(name, wanted->sets[i].name) == 0)
			return (int)i;
	return -1;
}

static void on_set(void *ctx, struct nftnl_set *set)
{
	struct kernel_table *k = ctx;
	const char *name = nftnl_set_get_str(set, NFTNL_SET_NAME);
	int which = wanted_set(k->wanted, name);

	if (which < 0) {
		/* Anonymous sets belong to rules and go with them. */
		if (name && strncmp(name, "__", 2) != 0) {
			k->extra_sets = xrealloc(k->extra_sets,
						 (k->extra_set_count + 1) * sizeof(*k->extra_sets));
			k->extra_sets[k->extra_set_count++] = strdup(name);
		}
		return;
	}
	k->set_seen[which] = true;
	if (!proxy_set_matches(&k->wanted->sets[which], set))
		k->sets_wrong = true;
}

static struct kernel_chain *find_chain(struct kernel_table *k, const char *name)
{
	for (size_t i = 0; i < k->chain_count; i++)
		if (strcmp(k->chains[i].name, name) == 0)
			return &k->chains[i];
	return NULL;
}

static void on_chain(void *ctx, struct nftnl_chain *chain)
{
	struct kernel_table *k = ctx;
	const char *name = nftnl_chain_get_str(chain, NFTNL_CHAIN_NAME);
	struct kernel_chain *c;

	if (!name)
		return;
	k->chains = xrealloc(k->chains, (k->chain_count + 1) * sizeof(*k->chains));
	c = &k->chains[k->chain_count++];
	memset(c, 0, sizeof(*c));
	/* A name too long for ours is not one of ours: cut, it will not match. */
	strncpy(c->name, name, sizeof(c->name) - 1);
	if (nftnl_chain_is_set(chain, NFTNL_CHAIN_HOOKNUM)) {
		c->base = true;
		strncpy(c->type, nftnl_chain_get_str(chain, NFTNL_CHAIN_TYPE) ?: "",
			sizeof(c->type) - 1);
		c->hook = nftnl_chain_get_u32(chain, NFTNL_CHAIN_HOOKNUM);
		c->priority = nftnl_chain_get_s32(chain, NFTNL_CHAIN_PRIO);
	}
}

static void on_rule(void *ctx, struct nftnl_rule *rule)
{
	struct kernel_table *k = ctx;
	struct kernel_chain *c = find_chain(k, nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN) ?: "");
	uint32_t len = 0;
	const void *userdata = nftnl_rule_get_data(rule, NFTNL_RULE_USERDATA, &len);
	struct kernel_rule *r;

	if (!c)
		return;
	c->rules = xrealloc(c->rules, (c->rule_count + 1) * sizeof(*c->rules));
	r = &c->rules[c->rule_count++];
	r->len = userdata ? len : 0;
	r->userdata = NULL;
	if (r->len) {
		r->userdata = xrealloc(NULL, len);
		memcpy(r->userdata, userdata, len);
	}
}

static int on_element(struct nftnl_set_elem *elem, void *ctx)
{
	struct kernel_table *k = ctx;
	struct proxy_element e;

	/* Data that is none of ours can equal nothing wanted: the element is replaced. */
	if (!proxy_element_read(k->reading, k->reading_chain, elem, &e))
		memset(&e.data, 0xff, sizeof(e.data));
	element_list_add(&k->elements, &e);
	return 0;
}

static void on_elements(void *ctx, struct nftnl_set *set)
{
	nftnl_set_elem_foreach(set, on_element, ctx);
}

static int read_kernel(struct mnl_socket *nl, struct kernel_table *k, struct ck_error *err)
{
	int r = nft_read_tables(nl, NFPROTO_IPV4, on_table, k, err);

	if (r < 0 || !k->exists)
		return r;
	if ((r = nft_read_sets(nl, NFPROTO_IPV4, PROXY_TABLE, on_set, k, err)) < 0 ||
	    (r = nft_read_chains(nl, NFPROTO_IPV4, PROXY_TABLE, on_chain, k, err)) < 0 ||
	    (r = nft_read_rules(nl, NFPROTO_IPV4, PROXY_TABLE, on_rule, k, err)) < 0)
		return r;
	for (size_t i = 0; i < k->wanted->set_count && !k->sets_wrong; i++) {
		if (!k->set_seen[i] || i == PROXY_SET_AFFINITY)
			continue;
		k->reading = i < PROXY_FIXED_SETS ? (enum proxy_set)i : PROXY_SET_LB;
		k->reading_chain =
		    i < PROXY_FIXED_SETS ? NULL : &k->wanted->lb_chains[i - PROXY_FIXED_SETS];
		r = nft_read_elements(nl, NFPROTO_IPV4, PROXY_TABLE, k->wanted->sets[i].name,
				      on_elements, k, err);
		if (r < 0)
			return r;
	}
	element_list_sort(&k->elements);
	return 0;
}

static void table_freep(struct nftnl_table **table)
{
	if (*table)
		nftnl_table_free(*table);
}

static void rebuild(struct nft_batch *batch, const struct proxy_wanted *wanted,
		    struct proxy_stats *stats)
{
	_cleanup_(table_freep) struct nftnl_table *table = proxy_table_object();
	struct element_changes changes = {0};

	/* Made sure to exist first, so that the delete cannot fail; the kernel commits the
	 * batch as one, so packets see the old table until they see the whole new one. */
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	nft_batch_table(batch, NFT_MSG_DELTABLE, 0, table, "delete the old table");
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "create the table");
	for (size_t i = 0; i < wanted->set_count; i++) {
		struct nftnl_set *s = proxy_set_object(&wanted->sets[i]);

		nft_batch_set(batch, NFT_MSG_NEWSET, NLM_F_CREATE, s, "create a set");
		nftnl_set_free(s);
	}
	for (size_t i = 0; i < wanted->chain_count; i++)
		chain_spec_create(batch, &wanted->chains[i]);
	for (size_t i = 0; i < wanted->chain_count; i++)
		chain_spec_fill(batch, &wanted->chains[i]);
	for (size_t i = 0; i < wanted->elements->count; i++)
		element_changes_add(&changes, &wanted->elements->items[i]);
	element_changes_flush(&changes, batch);
	stats->rebuilt = true;
	stats->chains_added += wanted->chain_count;
	stats->elements_added += changes.added;
}

static bool chain_is_right(const struct kernel_chain *k, const struct chain_spec *wanted)
{
	if (k->rule_count != wanted->rule_count)
		return false;
	for (size_t i = 0; i < k->rule_count; i++)
		if (!chain_spec_rule_matches(wanted, i, k->rules[i].userdata, k->rules[i].len))
			return false;
	return true;
}

static bool base_chain_is_right(const struct kernel_chain *k, const struct chain_spec *wanted)
{
	if (k->base != (wanted->type != NULL))
		return false;
	return !k->base || (strcmp(k->type, wanted->type) == 0 && k->hook == wanted->hook &&
			    k->priority == wanted->priority);
}

/* Sets someone deleted (after the rules that used them) are made again first. */
static void repair_sets(struct nft_batch *batch, const struct kernel_table *k,
			const struct proxy_wanted *wanted)
{
	for (size_t i = 0; i < wanted->set_count; i++) {
		struct nftnl_set *s;

		if (k->set_seen[i])
			continue;
		s = proxy_set_object(&wanted->sets[i]);
		nft_batch_set(batch, NFT_MSG_NEWSET, NLM_F_CREATE, s, "create a missing set");
		nftnl_set_free(s);
	}
}

/* False when only a rebuild will do. Missing chains are all created before any rule goes in,
 * as rules jump to other chains. */
static bool repair_chains(struct nft_batch *batch, struct kernel_table *k,
			  const struct proxy_wanted *wanted, struct proxy_stats *stats)
{
	for (size_t i = 0; i < wanted->chain_count; i++) {
		if (!find_chain(k, wanted->chains[i].name)) {
			chain_spec_create(batch, &wanted->chains[i]);
			stats->chains_added++;
		}
	}
	for (size_t i = 0; i < wanted->chain_count; i++) {
		const struct chain_spec *spec = &wanted->chains[i];
		struct kernel_chain *c = find_chain(k, spec->name);

		if (!c) {
			chain_spec_fill(batch, spec);
			continue;
		}
		c->wanted = true;
		if (!base_chain_is_right(c, spec))
			return false;
		if (!chain_is_right(c, spec)) {
			chain_spec_rewrite(batch, spec);
			stats->chains_rewritten++;
		}
	}
	return true;
}

static void repair_elements(struct nft_batch *batch, const struct kernel_table *k,
			    const struct element_list *wanted, struct proxy_stats *stats)
{
	struct element_changes changes = {0};

	element_changes_diff(&changes, &k->elements, wanted);
	element_changes_flush(&changes, batch);
	stats->elements_added += changes.added;
	stats->elements_deleted += changes.deleted;
}

/* Chains and sets the table should not have, in a batch of their own: by now no element or
 * rule of the table refers to them. Rules first, as the chains may refer to each other. */
static void remove_extras(struct nft_batch *batch, const struct kernel_table *k,
			  struct proxy_stats *stats)
{
	for (size_t i = 0; i < k->chain_count; i++) {
		struct chain_spec empty = {0};

		if (k->chains[i].wanted)
			continue;
		memcpy(empty.name, k->chains[i].name, sizeof(empty.name));
		chain_spec_rewrite(batch, &empty);
	}
	for (size_t i = 0; i < k->chain_count; i++) {
		struct chain_spec empty = {0};
		struct nftnl_chain *chain;

		if (k->chains[i].wanted)
			continue;
		memcpy(empty.name, k->chains[i].name, sizeof(empty.name));
		chain = chain_spec_object(&empty);
		nft_batch_chain(batch, NFT_MSG_DELCHAIN, 0, chain, "delete a chain of no use");
		nftnl_chain_free(chain);
		stats->chains_deleted++;
	}
	for (size_t i = 0; i < k->extra_set_count; i++) {
		struct nftnl_set *set = nftnl_set_alloc();

		if (!set)
			abort();
		nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_IPV4);
		nftnl_set_set_str(set, NFTNL_SET_TABLE, PROXY_TABLE);
		nftnl_set_set_str(set, NFTNL_SET_NAME, k->extra_sets[i]);
		nft_batch_set(batch, NFT_MSG_DELSET, 0, set, "delete a set of no use");
		nftnl_set_free(set);
	}
}

static void batch_freep(struct nft_batch **batch)
{
	nft_batch_free(*batch);
}

static int commit(struct mnl_socket *nl, struct nft_batch *batch, struct proxy_stats *stats,
		  struct ck_error *err)
{
	if (!nft_batch_messages(batch))
		return 0;
	stats->messages += nft_batch_messages(batch);
	stats->bytes += nft_batch_bytes(batch);
	return nft_batch_send(batch, nl, err);
}

int proxy_reconcile_table(struct mnl_socket *nl, const struct proxy_wanted *wanted,
			  struct proxy_stats *stats, struct ck_error *err)
{
	_cleanup_(batch_freep) struct nft_batch *batch = NULL;
	_cleanup_(batch_freep) struct nft_batch *extras = NULL;
	struct kernel_table k = {.wanted = wanted};
	int r;

	/* The ruleset may change while it is read (the kernel says so): read it again. */
	for (int attempt = 0;; attempt++) {
		k.set_seen = calloc(wanted->set_count, sizeof(*k.set_seen));
		if (!k.set_seen)
			abort();
		r = read_kernel(nl, &k, err);
		if (r != -EINTR || attempt == 2)
			break;
		kernel_table_clear(&k);
		k.wanted = wanted;
	}
	if (r < 0) {
		kernel_table_clear(&k);
		return r;
	}

	batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
	if (k.exists && !k.sets_wrong)
		repair_sets(batch, &k, wanted);
	if (!k.exists || k.sets_wrong || !repair_chains(batch, &k, wanted, stats)) {
		nft_batch_free(batch);
		batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
		memset(stats, 0, sizeof(*stats));
		rebuild(batch, wanted, stats);
		kernel_table_clear(&k);
		return commit(nl, batch, stats, err);
	}
	repair_elements(batch, &k, wanted->elements, stats);
	r = commit(nl, batch, stats, err);
	if (r == 0) {
		extras = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
		remove_extras(extras, &k, stats);
		r = commit(nl, extras, stats, err);
	}
	kernel_table_clear(&k);
	return r;
}
