/* Stale UDP flows of Services deleted over ctnetlink (libnetfilter_conntrack): see
 * conntrack_flows.h. */
#include "iptables/conntrack_flows.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/conntrack_dl.h"

/* What the dump callback needs, and the entries it kept: struct nf_conntrack pointers, owned. */
struct flow_search {
	const struct udp_flow_match *matches;
	size_t count;
	struct buf found;
};

static struct nf_conntrack **found_flows(const struct flow_search *search)
{
	return (struct nf_conntrack **)search->found.data;
}

static size_t flow_count(const struct flow_search *search)
{
	return search->found.len / sizeof(struct nf_conntrack *);
}

static void flow_search_free(struct flow_search *search)
{
	for (size_t i = 0; i < flow_count(search); i++)
		sym_nfct_destroy(found_flows(search)[i]);
	buf_free(&search->found);
}

static void handle_closep(struct nfct_handle **handle)
{
	if (*handle)
		sym_nfct_close(*handle);
}

static void filter_destroyp(struct nfct_filter_dump **filter)
{
	if (*filter)
		sym_nfct_filter_dump_destroy(*filter);
}

static bool flow_fits(const struct nf_conntrack *ct, const struct udp_flow_match *match)
{
	return ntohs(sym_nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)) == match->orig_dport &&
	       (!match->orig_daddr ||
		ntohl(sym_nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST)) == match->orig_daddr) &&
	       (!match->reply_saddr ||
		ntohl(sym_nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC)) == match->reply_saddr);
}

static int keep_fitting_flow(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct flow_search *search = data;

	(void)type;
	/* libnetfilter_conntrack 1.0.9 lets the kernel filter the dump by family only. */
	if (sym_nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
		return NFCT_CB_CONTINUE;
	for (size_t i = 0; i < search->count; i++) {
		if (flow_fits(ct, &search->matches[i])) {
			buf_append(&search->found, &ct, sizeof(ct));
			return NFCT_CB_STOLEN;
		}
	}
	return NFCT_CB_CONTINUE;
}

/* Deleting while the dump runs could make the kernel lose its place in the table and skip
 * entries, so the dump ends first. */
static int dump_fitting_flows(struct nfct_handle *handle, struct flow_search *search,
			      struct ck_error *err)
{
	_cleanup_(filter_destroyp) struct nfct_filter_dump *filter = sym_nfct_filter_dump_create();

	if (!filter)
		return ck_error_errno(err, ENOMEM, "conntrack: dump UDP flows");
	sym_nfct_filter_dump_set_attr_u8(filter, NFCT_FILTER_DUMP_L3NUM, AF_INET);
	sym_nfct_callback_register(handle, NFCT_T_ALL, keep_fitting_flow, search);
	if (sym_nfct_query(handle, NFCT_Q_DUMP_FILTER, filter) < 0)
		return ck_error_errno(err, errno, "conntrack: dump UDP flows");
	return 0;
}

static int delete_flow(struct nfct_handle *handle, const struct nf_conntrack *ct,
		       struct ck_error *err)
{
	struct in_addr client = {sym_nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC)};
	struct in_addr service = {sym_nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST)};
	char client_text[INET_ADDRSTRLEN], service_text[INET_ADDRSTRLEN];
	int error;

	if (sym_nfct_query(handle, NFCT_Q_DESTROY, ct) == 0)
		return 1;
	error = errno;
	if (error == ENOENT)
		return 0;
	inet_ntop(AF_INET, &client, client_text, sizeof(client_text));
	inet_ntop(AF_INET, &service, service_text, sizeof(service_text));
	return ck_error_errno(err, error, "conntrack: delete UDP flow %s:%u to %s:%u", client_text,
			      ntohs(sym_nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC)), service_text,
			      ntohs(sym_nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)));
}

int conntrack_delete_udp_flows(const struct udp_flow_match *matches, size_t count, size_t *deleted,
			       struct ck_error *err)
{
	_cleanup_(flow_search_free) struct flow_search search = {.matches = matches,
								 .count = count};
	_cleanup_(handle_closep) struct nfct_handle *handle = NULL;
	int r;

	*deleted = 0;
	if (count == 0)
		return 0;
	r = dlopen_conntrack(err);
	if (r < 0)
		return ck_error_prefix(err, "conntrack");
	/* No event groups: the handle only asks and hears the answers. */
	handle = sym_nfct_open(CONNTRACK, 0);
	if (!handle)
		return ck_error_errno(err, errno, "conntrack: open a ctnetlink socket");
	r = dump_fitting_flows(handle, &search, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < flow_count(&search); i++) {
		r = delete_flow(handle, found_flows(&search)[i], err);
		if (r < 0)
			return r;
		*deleted += (size_t)r;
	}
	return 0;
}
