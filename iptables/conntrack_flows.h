/* Stale UDP flows of Services, deleted from the kernel's connection tracking table.
 *
 * UDP has no connection to close: once conntrack has recorded a client's flow to a Service
 * address with the endpoint DNAT chose, every later datagram of that flow follows the recorded
 * translation, not the rules. When the endpoint goes away the client keeps sending into the void
 * until the entry times out, which it never does while the client keeps sending (DNS resolvers
 * that reuse one source port). The proxy deletes those entries when an endpoint leaves, so the
 * next datagram goes through the rules again. TCP needs nothing of the kind: its connections
 * end, and a new one is translated afresh. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* A UDP flow to a Service as conntrack recorded it: the original destination the client
 * addressed and the endpoint that answered (the reply's source after DNAT). */
struct udp_flow_match {
	uint32_t orig_daddr;  /* host byte order; 0 = any address (node ports are reached on every
			       * address of the node) */
	uint16_t orig_dport;  /* host byte order; always compared */
	uint32_t reply_saddr; /* host byte order; 0 = any endpoint */
};

/* Deletes, in the calling thread's network namespace, every IPv4 UDP conntrack entry that fits
 * one of `matches` (every field given equal). One dump of the table serves all matches, then
 * each entry found is deleted; *deleted counts the deletions, also when a later one failed. An
 * entry that expired between the dump and its deletion is no error. Errors name the step:
 * "conntrack: dump UDP flows: <strerror>", "conntrack: delete UDP flow <client> to
 * <address:port>: <strerror>"; -ELIBACC when libnetfilter_conntrack is missing. */
int conntrack_delete_udp_flows(const struct udp_flow_match *matches, size_t count, size_t *deleted,
			       struct ck_error *err);
