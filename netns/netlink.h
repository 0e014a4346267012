/* Route netlink sockets (libnl-route-3) for the pod network, and libnl's errors turned into
 * the project's: a negative errno value with libnl's text in the message. */
#pragma once

#include <netlink/netlink.h>

#include "lib/error.h"

/* A NETLINK_ROUTE socket bound to the network namespace `netns_fd` (-1: the caller's). A socket
 * stays in the namespace it was made in, so one made for a pod works on the pod's links from
 * the node without a process in the pod. Only the calling thread switches namespace, and back
 * before returning. */
int route_socket_open(int netns_fd, struct nl_sock **out, struct ck_error *err);

static inline void route_socket_freep(struct nl_sock **sock)
{
	if (*sock)
		nl_socket_free(*sock);
}
#define _cleanup_route_socket_ __attribute__((cleanup(route_socket_freep)))

/* The errno value closest to libnl's error `nlerr` (negative or positive). */
int netlink_errno(int nlerr);
/* Fills `err` with "<step>: <libnl's text>" and returns the negative errno value. */
int netlink_error(struct ck_error *err, int nlerr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
