#include "lib/hostaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"

/* The interface of the first default route in /proc/net/route. */
static int default_route_interface(char *name, size_t len)
{
	_cleanup_fclose_ FILE *routes = fopen("/proc/net/route", "re");
	if (!routes)
		return -errno;
	char line[256];
	if (!fgets(line, sizeof(line), routes)) /* the header */
		return -ENOENT;
	while (fgets(line, sizeof(line), routes)) {
		char iface[IF_NAMESIZE + 1];
		unsigned long destination, mask;
		if (sscanf(line, "%16s %lx %*x %*x %*d %*d %*d %lx", iface, &destination, &mask) ==
			3 &&
		    destination == 0 && mask == 0) {
			snprintf(name, len, "%s", iface);
			return 0;
		}
	}
	return -ENOENT;
}

int host_default_ipv4(char *out, size_t len)
{
	char iface[IF_NAMESIZE + 1];
	int ret = default_route_interface(iface, sizeof(iface));
	if (ret < 0)
		return ret;
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0)
		return -errno;
	ret = -ENOENT;
	for (struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || strcmp(a->ifa_name, iface))
			continue;
		const struct in_addr *in = &((const struct sockaddr_in *)a->ifa_addr)->sin_addr;
		if (inet_ntop(AF_INET, in, out, (socklen_t)len))
			ret = 0;
		break;
	}
	freeifaddrs(all);
	return ret;
}
