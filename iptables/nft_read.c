/* Reading nf_tables state back: see nft_read.h. */
#include "iptables/nft_read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "lib/nft_batch.h"

/* What a reply message becomes: parsed into an object of the right kind and handed on. */
struct reader {
	int (*parse)(const struct nlmsghdr *nlh, struct reader *reader);
	const char *table; /* objects of other tables are skipped (NULL: none are) */
	void *fn;
	void *ctx;
	uint32_t generation;
};

static int on_message(const struct nlmsghdr *nlh, void *data)
{
	struct reader *reader = data;

	return reader->parse(nlh, reader);
}

/* Sends `request` and runs every reply through the reader until the dump ends (or, for a
 * single answer, until the reader says it has it). */
static int run(struct mnl_socket *nl, struct nlmsghdr *request, struct reader *reader,
	       const char *what, struct ck_error *err)
{
	char buf[32768]; /* as libmnl advises for dumps: pages of up to 32 KiB */
	uint32_t portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int r;

	/* Anything left from an earlier request would be taken for this one's answer. */
	while (recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	if (mnl_socket_sendto(nl, request, request->nlmsg_len) < 0)
		return ck_error_errno(err, errno, "nftables: %s: send the request", what);
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "nftables: %s: read the answer", what);
		r = mnl_cb_run(buf, (size_t)n, request->nlmsg_seq, portid, on_message, reader);
	} while (r > 0);
	if (r < 0 && errno == EINTR)
		return ck_error_set(err, EINTR,
				    "nftables: %s: the ruleset changed while it was read", what);
	if (r < 0)
		return ck_error_errno(err, errno, "nftables: %s", what);
	return 0;
}

static struct nlmsghdr *request_header(char *buf, uint16_t type, uint16_t family, bool dump)
{
	return nftnl_nlmsg_build_hdr(buf, type, family, dump ? NLM_F_DUMP : NLM_F_ACK,
				     nft_next_seq(1));
}

static int parse_generation(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_gen *gen = nftnl_gen_alloc();

	if (!gen)
		abort();
	if (nftnl_gen_nlmsg_parse(nlh, gen) == 0)
		reader->generation = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_STOP;
}

int nft_read_generation(struct mnl_socket *nl, uint32_t *generation, struct ck_error *err)
{
	char buf[256] = {0};
	struct reader reader = {.parse = parse_generation};
	struct nlmsghdr *nlh = request_header(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC, false);
	int r;

	nlh->nlmsg_flags = NLM_F_REQUEST;
	r = run(nl, nlh, &reader, "read the ruleset generation", err);
	*generation = reader.generation;
	return r;
}

static bool other_table(const struct reader *reader, const char *table)
{
	return reader->table && (!table || strcmp(table, reader->table) != 0);
}

static int parse_table(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_table *table = nftnl_table_alloc();

	if (!table)
		abort();
	if (nftnl_table_nlmsg_parse(nlh, table) == 0)
		((nft_table_fn)reader->fn)(reader->ctx, table);
	nftnl_table_free(table);
	return MNL_CB_OK;
}

static int parse_chain(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_chain *chain = nftnl_chain_alloc();

	if (!chain)
		abort();
	/* The kernel dumps every table's chains of the family. */
	if (nftnl_chain_nlmsg_parse(nlh, chain) == 0 &&
	    !other_table(reader, nftnl_chain_get_str(chain, NFTNL_CHAIN_TABLE)))
		((nft_chain_fn)reader->fn)(reader->ctx, chain);
	nftnl_chain_free(chain);
	return MNL_CB_OK;
}

static int parse_rule(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_rule *rule = nftnl_rule_alloc();

	if (!rule)
		abort();
	if (nftnl_rule_nlmsg_parse(nlh, rule) == 0 &&
	    !other_table(reader, nftnl_rule_get_str(rule, NFTNL_RULE_TABLE)))
		((nft_rule_fn)reader->fn)(reader->ctx, rule);
	nftnl_rule_free(rule);
	return MNL_CB_OK;
}

static int parse_set(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		abort();
	if (nftnl_set_nlmsg_parse(nlh, set) == 0 &&
	    !other_table(reader, nftnl_set_get_str(set, NFTNL_SET_TABLE)))
		((nft_set_fn)reader->fn)(reader->ctx, set);
	nftnl_set_free(set);
	return MNL_CB_OK;
}

static int parse_elements(const struct nlmsghdr *nlh, struct reader *reader)
{
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		abort();
	if (nftnl_set_elems_nlmsg_parse(nlh, set) == 0)
		((nft_set_fn)reader->fn)(reader->ctx, set);
	nftnl_set_free(set);
	return MNL_CB_OK;
}

int nft_read_tables(struct mnl_socket *nl, uint16_t family, nft_table_fn fn, void *ctx,
		    struct ck_error *err)
{
	char buf[256] = {0};
	struct reader reader = {.parse = parse_table, .fn = (void *)fn, .ctx = ctx};

	return run(nl, request_header(buf, NFT_MSG_GETTABLE, family, true), &reader,
		   "list the tables", err);
}

int nft_read_chains(struct mnl_socket *nl, uint16_t family, const char *table, nft_chain_fn fn,
		    void *ctx, struct ck_error *err)
{
	char buf[256] = {0};
	struct reader reader = {.parse = parse_chain, .table = table, .fn = (void *)fn, .ctx = ctx};

	return run(nl, request_header(buf, NFT_MSG_GETCHAIN, family, true), &reader,
		   "list the chains", err);
}

int nft_read_rules(struct mnl_socket *nl, uint16_t family, const char *table, nft_rule_fn fn,
		   void *ctx, struct ck_error *err)
{
	char buf[512] = {0}; /* libnftnl leaves padding unwritten */
	struct reader reader = {.parse = parse_rule, .table = table, .fn = (void *)fn, .ctx = ctx};
	struct nlmsghdr *nlh = request_header(buf, NFT_MSG_GETRULE, family, true);
	struct nftnl_rule *filter = nftnl_rule_alloc();

	if (!filter)
		abort();
	/* The kernel dumps only this table's rules when the request names it. */
	nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, table);
	nftnl_rule_nlmsg_build_payload(nlh, filter);
	nftnl_rule_free(filter);
	return run(nl, nlh, &reader, "list the rules", err);
}

int nft_read_sets(struct mnl_socket *nl, uint16_t family, const char *table, nft_set_fn fn,
		  void *ctx, struct ck_error *err)
{
	char buf[512] = {0}; /* libnftnl leaves padding unwritten */
	struct reader reader = {.parse = parse_set, .table = table, .fn = (void *)fn, .ctx = ctx};
	struct nlmsghdr *nlh = request_header(buf, NFT_MSG_GETSET, family, true);
	struct nftnl_set *filter = nftnl_set_alloc();

	if (!filter)
		abort();
	nftnl_set_set_str(filter, NFTNL_SET_TABLE, table);
	nftnl_set_nlmsg_build_payload(nlh, filter);
	nftnl_set_free(filter);
	return run(nl, nlh, &reader, "list the sets", err);
}

int nft_read_elements(struct mnl_socket *nl, uint16_t family, const char *table, const char *set,
		      nft_set_fn fn, void *ctx, struct ck_error *err)
{
	char buf[512] = {0}; /* libnftnl leaves padding unwritten */
	struct reader reader = {.parse = parse_elements, .fn = (void *)fn, .ctx = ctx};
	struct nlmsghdr *nlh = request_header(buf, NFT_MSG_GETSETELEM, family, true);
	struct nftnl_set *which = nftnl_set_alloc();

	if (!which)
		abort();
	nftnl_set_set_str(which, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(which, NFTNL_SET_NAME, set);
	nftnl_set_elems_nlmsg_build_payload(nlh, which);
	nftnl_set_free(which);
	return run(nl, nlh, &reader, "list the elements", err);
}
