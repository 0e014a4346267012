/* The node's uplink: the interface that holds the node's address. Pods' interfaces take its
 * MTU (a larger one would be fragmented or dropped on the way to other nodes), and it forwards
 * the traffic other nodes send to this node's pods. */
#pragma once

#include <net/if.h>

#include "lib/error.h"

struct uplink {
	char name[IF_NAMESIZE];
	int mtu;
};

/* The interface with address `node_ip` in the caller's namespace. -ENOENT when none has it. */
int uplink_find(const char *node_ip, struct uplink *out, struct ck_error *err);
