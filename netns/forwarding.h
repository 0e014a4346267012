/* IPv4 forwarding switched on per interface (net.ipv4.conf.<name>.forwarding), not for the
 * whole namespace: the kernel decides to forward by the interface a packet came in on, so the
 * pod network needs it on its bridge (pods to elsewhere) and on the node's uplink (other nodes
 * to pods), and on nothing else the node has. */
#pragma once

#include "lib/error.h"

int ipv4_forwarding_enable(const char *ifname, struct ck_error *err);
