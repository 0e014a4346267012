/* The node's uplink: see uplink.h. */
#include "netns/uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"

static int interface_mtu(const char *name, int *mtu, struct ck_error *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq request = {0};

	if (fd < 0)
		return ck_error_errno(err, errno, "socket");
	snprintf(request.ifr_name, sizeof(request.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFMTU, &request) < 0)
		return ck_error_errno(err, errno, "MTU of %s", name);
	*mtu = request.ifr_mtu;
	return 0;
}

int uplink_find(const char *node_ip, struct uplink *out, struct ck_error *err)
{
	struct ifaddrs *all = NULL;
	struct in_addr wanted;
	int r = -ENOENT;

	if (inet_pton(AF_INET, node_ip, &wanted) != 1)
		return ck_error_set(err, EINVAL, "node IP %s is not an IPv4 address", node_ip);
	if (getifaddrs(&all) < 0)
		return ck_error_errno(err, errno, "list the node's addresses");
	for (struct ifaddrs *a = all; a; a = a->ifa_next) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a->ifa_addr;
		if (!in || in->sin_family != AF_INET || in->sin_addr.s_addr != wanted.s_addr)
			continue;
		snprintf(out->name, sizeof(out->name), "%s", a->ifa_name);
		r = interface_mtu(out->name, &out->mtu, err);
		break;
	}
	freeifaddrs(all);
	if (r == -ENOENT)
		return ck_error_set(err, ENOENT, "no interface has the node IP %s", node_ip);
	return r;
}
