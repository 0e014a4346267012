/* The machine's own address as Kubernetes components pick it by default: the IPv4 address of
 * the interface that holds the default route. Read from /proc and getifaddrs(); nothing is
 * sent anywhere. */
#pragma once

#include <stddef.h>

/* Writes the address to `out`; -ENOENT when there is no default route (a fresh network
 * namespace, say) or its interface has no IPv4 address. */
int host_default_ipv4(char *out, size_t len);
