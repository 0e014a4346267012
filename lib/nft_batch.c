/* One nf_tables transaction over netlink: see nft_batch.h. */
#include "lib/nft_batch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "lib/cleanup.h"

/* The room one message may take: an element message stops below 64 KiB (the length of its
 * element list is a 16-bit netlink attribute), after the element that crossed the line. */
#define MESSAGE_ROOM (72 * 1024)
/* What one acknowledgement takes in the receive buffer (NETLINK_CAP_ACK keeps the request
 * out of it), with the socket buffer's own overhead. */
#define ACK_ROOM 256

struct nft_batch {
	uint16_t family;
	char *subject;
	char *buf;
	size_t used, capacity;
	uint32_t first_seq;
	/* One per message, the begin marker first: what it does, for errors. */
	char **steps;
	size_t count, steps_capacity;
};

struct batch_replies {
	const struct nft_batch *batch;
	size_t replies;      /* to messages other than the markers, errors included */
	size_t failed_index; /* the earliest message that failed, when failed_errno is set */
	int failed_errno;    /* positive; 0 while nothing failed */
	bool batch_refused;  /* an error for the begin marker: the kernel took none of it */
};

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		abort();
	return copy;
}

/* The next message's place, with room for the longest one. */
static void *batch_room(struct nft_batch *b)
{
	if (b->capacity - b->used < MESSAGE_ROOM) {
		size_t capacity = b->capacity ? b->capacity : MESSAGE_ROOM;

		while (capacity - b->used < MESSAGE_ROOM)
			capacity *= 2;
		b->buf = xrealloc(b->buf, capacity);
		/* libnftnl leaves some bytes of its attributes unwritten: zeros, not old heap
		 * contents, go to the kernel. */
		memset(b->buf + b->capacity, 0, capacity - b->capacity);
		b->capacity = capacity;
	}
	return b->buf + b->used;
}

static void batch_note(struct nft_batch *b, const struct nlmsghdr *nlh, const char *step)
{
	if (b->count == b->steps_capacity) {
		b->steps_capacity = b->steps_capacity ? 2 * b->steps_capacity : 16;
		b->steps = xrealloc(b->steps, b->steps_capacity * sizeof(*b->steps));
	}
	b->steps[b->count++] = xstrdup(step);
	b->used += NLMSG_ALIGN(nlh->nlmsg_len);
}

static uint32_t next_seq;

uint32_t nft_next_seq(uint32_t count)
{
	uint32_t first;

	/* The clock makes the numbers recognisable in a netlink trace, as nft's are. */
	if (!__atomic_load_n(&next_seq, __ATOMIC_RELAXED))
		__atomic_compare_exchange_n(&next_seq, &(uint32_t){0}, (uint32_t)time(NULL), false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	first = __atomic_fetch_add(&next_seq, count, __ATOMIC_RELAXED);
	return first;
}

struct mnl_socket *nft_socket_open(struct ck_error *err)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);

	if (!nl) {
		ck_error_errno(err, errno, "nftables: open a netfilter netlink socket");
		return NULL;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ck_error_errno(err, errno, "nftables: bind the netlink socket");
		mnl_socket_close(nl);
		return NULL;
	}
	return nl;
}

void nft_socket_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}

struct nft_batch *nft_batch_new(uint16_t family, const char *subject)
{
	struct nft_batch *b = calloc(1, sizeof(*b));

	if (!b)
		abort();
	b->family = family;
	b->subject = xstrdup(subject);
	/* Messages are numbered from 0 here and renumbered when sent (nft_batch_send). */
	batch_note(b, nftnl_batch_begin(batch_room(b), b->first_seq), "run the batch");
	return b;
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->count; i++)
		free(b->steps[i]);
	free(b->steps);
	free(b->buf);
	free(b->subject);
	free(b);
}

/* The header of the next message, which asks for a reply. */
static struct nlmsghdr *batch_message(struct nft_batch *b, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(batch_room(b), type, b->family, flags | NLM_F_ACK,
				     (uint32_t)b->count);
}

void nft_batch_table(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_table *table, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, type, flags);

	nftnl_table_nlmsg_build_payload(nlh, table);
	batch_note(b, nlh, step);
}

void nft_batch_chain(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_chain *chain, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, type, flags);

	nftnl_chain_nlmsg_build_payload(nlh, chain);
	batch_note(b, nlh, step);
}

void nft_batch_rule(struct nft_batch *b, uint16_t type, uint16_t flags,
		    const struct nftnl_rule *rule, const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, type, flags);

	nftnl_rule_nlmsg_build_payload(nlh, (struct nftnl_rule *)rule);
	batch_note(b, nlh, step);
}

void nft_batch_set(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_set *set,
		   const char *step)
{
	struct nlmsghdr *nlh = batch_message(b, type, flags);

	nftnl_set_nlmsg_build_payload(nlh, (struct nftnl_set *)set);
	batch_note(b, nlh, step);
}

static void iter_destroyp(struct nftnl_set_elems_iter **iter)
{
	if (*iter)
		nftnl_set_elems_iter_destroy(*iter);
}

void nft_batch_elements(struct nft_batch *b, uint16_t type, uint16_t flags,
			const struct nftnl_set *set, const char *step)
{
	_cleanup_(iter_destroyp) struct nftnl_set_elems_iter *iter = NULL;
	int more;

	iter = nftnl_set_elems_iter_create(set);
	if (!iter)
		abort();
	if (!nftnl_set_elems_iter_cur(iter))
		return;
	do {
		struct nlmsghdr *nlh = batch_message(b, type, flags);

		/* The table and set names, then as many elements as fit below 64 KiB. */
		more = nftnl_set_elems_nlmsg_build_payload_iter(nlh, iter);
		batch_note(b, nlh, step);
	} while (more > 0);
}

size_t nft_batch_messages(const struct nft_batch *b)
{
	return b->count - 1;
}

size_t nft_batch_bytes(const struct nft_batch *b)
{
	return b->used;
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

/* Socket buffers sized for this batch: the kernel takes the whole batch in one message, and
 * queues every acknowledgement before sendmsg() returns. Root may go past the system's
 * limits (the FORCE options); anyone else gets what the limits allow, which does for small
 * batches. */
static void size_buffers(struct mnl_socket *nl, size_t send_bytes, size_t replies)
{
	int fd = mnl_socket_get_fd(nl);
	int send = send_bytes > INT32_MAX / 2 ? INT32_MAX / 2 : (int)send_bytes;
	int receive = (int)(replies * ACK_ROOM) + 64 * 1024;
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &send, sizeof(send)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send, sizeof(send));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive, sizeof(receive)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive, sizeof(receive));
	/* A failed element message would otherwise come back whole with its error. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
}

/* Numbers the messages from `first`, as replies will name them. */
static void batch_number(struct nft_batch *b, uint32_t first)
{
	size_t offset = 0;

	b->first_seq = first;
	for (uint32_t i = 0; offset < b->used; i++) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(b->buf + offset);

		nlh->nlmsg_seq = first + i;
		offset += NLMSG_ALIGN(nlh->nlmsg_len);
	}
}

/* Replies to an earlier request that its reader did not wait for (a batch refused at once). */
static void drain(struct mnl_socket *nl)
{
	char buf[4096];

	while (recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int nft_batch_send(struct nft_batch *b, struct mnl_socket *nl, struct ck_error *err)
{
	mnl_cb_t control[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_reply};
	struct batch_replies replies = {.batch = b};
	size_t expected = nft_batch_messages(b);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *end;
	ssize_t n;

	end = nftnl_batch_end(batch_room(b), (uint32_t)b->count);
	b->used += NLMSG_ALIGN(end->nlmsg_len);
	batch_number(b, nft_next_seq((uint32_t)b->count + 1));
	drain(nl);
	size_buffers(nl, b->used, b->count);
	n = mnl_socket_sendto(nl, b->buf, b->used);
	if (n < 0)
		return ck_error_errno(err, errno, "%s: send the batch (%zu bytes)", b->subject,
				      b->used);
	if ((size_t)n != b->used)
		return ck_error_set(err, EIO, "%s: send the batch: short write", b->subject);

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
			return ck_error_errno(err, errno, "%s: read the kernel's replies",
					      b->subject);
		if (mnl_cb_run2(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, &replies,
				control, NLMSG_MIN_TYPE) < 0)
			return ck_error_errno(err, errno, "%s: read the kernel's replies",
					      b->subject);
	}
	if (replies.failed_errno)
		return ck_error_errno(err, replies.failed_errno, "%s: %s", b->subject,
				      b->steps[replies.failed_index]);
	if (replies.replies < expected)
		return ck_error_set(err, EIO, "%s: run the batch: %zu of %zu messages unanswered",
				    b->subject, expected - replies.replies, expected);
	return 0;
}

int nft_batch_commit(struct nft_batch *b, struct ck_error *err)
{
	struct mnl_socket *nl = nft_socket_open(err);
	int r;

	if (!nl)
		return ck_error_prefix(err, "%s", b->subject);
	r = nft_batch_send(b, nl, err);
	nft_socket_close(nl);
	return r;
}
