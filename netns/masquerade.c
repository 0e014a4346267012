/* The pod network's masquerade rule in ckube's nftables table: see masquerade.h. */
#include "netns/masquerade.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "lib/cleanup.h"

#define TABLE_TEXT "nftables table ip " POD_MASQUERADE_TABLE

/* NF_IP_PRI_NAT_SRC, the priority nft calls "srcnat": after the filter chains have had their
 * say, as every source NAT is. */
#define SRCNAT_PRIORITY 100

/* The offsets of the addresses in the IPv4 header. */
#define IPV4_SADDR_OFFSET 12
#define IPV4_DADDR_OFFSET 16

/* The longest batch here is seven messages of at most a few hundred bytes. libmnl writes the
 * message that crosses the limit before it notices, hence a buffer twice the limit. */
#define BATCH_LIMIT 4096
#define BATCH_MAX_MESSAGES 8

/* One nfnetlink batch: the begin marker (index 0), the messages that each get a reply
 * (NLM_F_ACK), then the end marker. A message's sequence number is first_seq + its index,
 * which is how a reply finds the step it answers. */
struct nft_batch {
	struct mnl_nlmsg_batch *batch;
	uint32_t first_seq;
	size_t count; /* the begin marker and the acknowledged messages */
	const char *steps[BATCH_MAX_MESSAGES];
	bool overflow;
	char buf[2 * BATCH_LIMIT];
};

struct batch_replies {
	const struct nft_batch *batch;
	size_t replies;      /* to acknowledged messages, errors included */
	size_t failed_index; /* the earliest message that failed, when failed_errno is set */
	int failed_errno;    /* positive; 0 while nothing failed */
	bool batch_refused;  /* an error for the begin marker: the kernel took none of it */
};

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

static void socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

static void batch_stopp(struct mnl_nlmsg_batch **batch)
{
	if (*batch)
		mnl_nlmsg_batch_stop(*batch);
}

static void batch_start(struct nft_batch *b)
{
	memset(b, 0, sizeof(*b));
	/* Sequence numbers only need to tell this batch's replies apart on a fresh socket; the
	 * clock makes them recognisable in a netlink trace, as nft's are. */
	b->first_seq = (uint32_t)time(NULL);
	b->batch = mnl_nlmsg_batch_start(b->buf, BATCH_LIMIT);
	if (!b->batch)
		abort();
	b->steps[0] = "run the batch";
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->batch), b->first_seq);
	b->overflow = !mnl_nlmsg_batch_next(b->batch);
	b->count = 1;
}

/* The header of the next message, which asks for a reply; NULL once the batch is full. */
static struct nlmsghdr *batch_message(struct nft_batch *b, uint16_t type, uint16_t flags,
				      const char *step)
{
	/* One slot stays free for the end marker. */
	if (b->overflow || b->count >= BATCH_MAX_MESSAGES - 1) {
		b->overflow = true;
		return NULL;
	}
	b->steps[b->count] = step;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->batch), type, NFPROTO_IPV4,
				     flags | NLM_F_ACK, b->first_seq + (uint32_t)b->count);
}

static void batch_next(struct nft_batch *b)
{
	if (!mnl_nlmsg_batch_next(b->batch))
		b->overflow = true;
	b->count++;
}

static void batch_table(struct nft_batch *b, uint16_t type, uint16_t flags,
			const struct nftnl_table *table, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, type, flags, step);

	if (!nlh)
		return;
	nftnl_table_nlmsg_build_payload(nlh, table);
	batch_next(b);
}

static void batch_chain(struct nft_batch *b, const struct nftnl_chain *chain, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, step);

	if (!nlh)
		return;
	nftnl_chain_nlmsg_build_payload(nlh, chain);
	batch_next(b);
}

static void batch_rule(struct nft_batch *b, struct nftnl_rule *rule, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, step);

	if (!nlh)
		return;
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	batch_next(b);
}

/* Every reply is an NLMSG_ERROR: error 0 acknowledges a message, anything else is the errno
 * of the message it names. The kernel goes on through the batch after a failure to report
 * them all, then takes none of it; the earliest one is the cause. */
static int on_reply(const struct nlmsghdr *nlh, void *data)
{
	struct batch_replies *r = data;
	const struct nlmsgerr *reply = mnl_nlmsg_get_payload(nlh);
	size_t index = nlh->nlmsg_seq - r->batch->first_seq;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*reply)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (index >= r->batch->count)
		return MNL_CB_OK;
	if (index == 0) {
		if (reply->error)
			r->batch_refused = true;
	} else {
		r->replies++;
	}
	if (reply->error && (!r->failed_errno || index < r->failed_index)) {
		r->failed_errno = -reply->error;
		r->failed_index = index;
	}
	return MNL_CB_OK;
}

/* Sends the batch and reads the kernel's verdict. */
static int batch_run(struct nft_batch *b, struct ck_error *err)
{
	_cleanup_(socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_(batch_stopp) struct mnl_nlmsg_batch *batch = b->batch;
	mnl_cb_t control[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_reply};
	struct batch_replies replies = {.batch = b};
	size_t expected = b->count - 1;
	char buf[8192];
	ssize_t n;

	if (!b->overflow) {
		nftnl_batch_end(mnl_nlmsg_batch_current(batch), b->first_seq + (uint32_t)b->count);
		b->overflow = !mnl_nlmsg_batch_next(batch);
	}
	if (b->overflow)
		return ck_error_set(err, EMSGSIZE, TABLE_TEXT ": build the batch: too long");

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return ck_error_errno(err, errno, TABLE_TEXT ": open a netfilter netlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return ck_error_errno(err, errno, TABLE_TEXT ": bind the netlink socket");
	n = mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
	if (n < 0)
		return ck_error_errno(err, errno, TABLE_TEXT ": send the batch");
	if ((size_t)n != mnl_nlmsg_batch_size(batch))
		return ck_error_set(err, EIO, TABLE_TEXT ": send the batch: short write");

	/* The kernel handles a netlink message inside sendmsg(), so every reply is queued by now:
	 * reading without waiting cannot miss one, and cannot hang when the kernel refused the
	 * batch with a single error. */
	while (!replies.batch_refused && replies.replies < expected) {
		n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return ck_error_errno(err, errno, TABLE_TEXT ": read the kernel's replies");
		if (mnl_cb_run2(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, &replies,
				control, NLMSG_MIN_TYPE) < 0)
			return ck_error_errno(err, errno, TABLE_TEXT ": read the kernel's replies");
	}
	if (replies.failed_errno)
		return ck_error_errno(err, replies.failed_errno, TABLE_TEXT ": %s",
				      b->steps[replies.failed_index]);
	if (replies.replies < expected)
		return ck_error_set(err, EIO,
				    TABLE_TEXT ": run the batch: %zu of %zu messages unanswered",
				    expected - replies.replies, expected);
	return 0;
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

static struct nftnl_expr *expr_new(const char *name)
{
	struct nftnl_expr *expr = nftnl_expr_alloc(name);

	if (!expr)
		abort();
	return expr;
}

/* The IPv4 address at `offset` in the network header, compared with `cidr` by `op`: loaded
 * into register 1, cut to the prefix, compared with the network. nft shows this sequence as
 * "ip saddr 10.244.1.0/24". */
static void add_address_match(struct nftnl_rule *rule, uint32_t offset,
			      const struct ipv4_cidr *cidr, enum nft_cmp_ops op)
{
	uint32_t mask = htobe32(ipv4_cidr_mask(cidr));
	uint32_t network = htobe32(cidr->network);
	uint32_t zero = 0;
	struct nftnl_expr *expr;

	expr = expr_new("payload");
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_LEN, sizeof(uint32_t));
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_rule_add_expr(rule, expr);

	/* A /32 compares the whole address; a mask of all ones would only cost a step. */
	if (cidr->prefix < 32) {
		expr = expr_new("bitwise");
		nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
		nftnl_expr_set(expr, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(expr, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
		nftnl_rule_add_expr(rule, expr);
	}

	expr = expr_new("cmp");
	nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(expr, NFTNL_EXPR_CMP_DATA, &network, sizeof(network));
	nftnl_rule_add_expr(rule, expr);
}

static struct nftnl_rule *rule_new(const struct ipv4_cidr *pod_cidr,
				   const struct ipv4_cidr *cluster_cidr)
{
	struct nftnl_rule *rule = nftnl_rule_alloc();

	if (!rule)
		abort();
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
	nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, POD_MASQUERADE_TABLE);
	nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, POD_MASQUERADE_CHAIN);
	add_address_match(rule, IPV4_SADDR_OFFSET, pod_cidr, NFT_CMP_EQ);
	add_address_match(rule, IPV4_DADDR_OFFSET, cluster_cidr, NFT_CMP_NEQ);
	nftnl_rule_add_expr(rule, expr_new("masq"));
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
	struct nft_batch batch;
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
	batch_start(&batch);
	batch_table(&batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	batch_table(&batch, NFT_MSG_DELTABLE, 0, table, "delete the old table");
	batch_table(&batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "create the table");
	batch_chain(&batch, chain, "add chain " POD_MASQUERADE_CHAIN);
	batch_rule(&batch, rule, "add the masquerade rule");
	return batch_run(&batch, err);
}

int pod_masquerade_remove(struct ck_error *err)
{
	_cleanup_(table_freep) struct nftnl_table *table = table_new();
	struct nft_batch batch;

	/* Creating it first makes the delete succeed whether or not the table was there, in the
	 * same atomic batch, so "absent" needs no error code of its own. */
	batch_start(&batch);
	batch_table(&batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	batch_table(&batch, NFT_MSG_DELTABLE, 0, table, "delete the table");
	return batch_run(&batch, err);
}
