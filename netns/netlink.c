/* Route netlink sockets and libnl errors: see netlink.h. */
#include "netns/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <netlink/errno.h>
#include <netlink/socket.h>

#include "lib/cleanup.h"

static int connect_here(struct nl_sock **out, struct ck_error *err)
{
	struct nl_sock *sock = nl_socket_alloc();
	int r;

	if (!sock)
		abort();
	r = nl_connect(sock, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sock);
		return netlink_error(err, r, "open a route netlink socket");
	}
	*out = sock;
	return 0;
}

int route_socket_open(int netns_fd, struct nl_sock **out, struct ck_error *err)
{
	_cleanup_close_ int own = -1;
	int r;

	if (netns_fd < 0)
		return connect_here(out, err);
	own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return ck_error_errno(err, errno, "open this thread's network namespace");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return ck_error_errno(err, errno, "enter the network namespace");
	r = connect_here(out, err);
	/* Staying in the pod's namespace would move every later socket of this thread there. */
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	return r;
}

int netlink_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_INTR:
		return EINTR;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
	case NLE_MISSING_ATTR:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	case NLE_BUSY:
		return EBUSY;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_PERM:
		return EPERM;
	case NLE_NODEV:
		return ENODEV;
	default:
		return EIO;
	}
}

int netlink_error(struct ck_error *err, int nlerr, const char *fmt, ...)
{
	char step[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(step, sizeof(step), fmt, ap);
	va_end(ap);
	return ck_error_set(err, netlink_errno(nlerr), "%s: %s", step, nl_geterror(nlerr));
}
