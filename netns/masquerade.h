/* The pod network's way out: traffic from the node's pods to addresses outside the cluster CIDR
 * leaves with the node's address (masquerade). The rule lives in ckube's own nftables table,
 * `table ip ckube-network`, so no one else's rules are read or touched (libnftnl + libmnl):
 *
 *   table ip ckube-network {
 *           chain postrouting {
 *                   type nat hook postrouting priority srcnat; policy accept;
 *                   ip saddr <pod CIDR> ip daddr != <cluster CIDR> masquerade
 *           }
 *   }
 *
 * Both functions work in the calling thread's network namespace. Kernel errors come back as
 * "nftables table ip ckube-network: <step>: <strerror>". */
#pragma once

#include "lib/error.h"
#include "lib/ipv4_cidr.h"

#define POD_MASQUERADE_TABLE "ckube-network"
#define POD_MASQUERADE_CHAIN "postrouting"

/* Puts the table above in place, or replaces whatever the table held with it, in one netlink
 * batch (make sure the table exists, delete it, create it, its chain and its rule) that the
 * kernel commits atomically: before the commit the old content applies, after it exactly the
 * one chain and rule; there is no moment without a rule. -EINVAL for a CIDR with host bits
 * set or a prefix over 32, and the ruleset is then left alone. */
int pod_masquerade_apply(const struct ipv4_cidr *pod_cidr, const struct ipv4_cidr *cluster_cidr,
			 struct ck_error *err);

/* Deletes the table and everything in it; 0 also when it is absent. */
int pod_masquerade_remove(struct ck_error *err);
