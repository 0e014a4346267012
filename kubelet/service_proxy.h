/* The agent's Service proxy (kube-proxy's job): a thread of its own with its own loop, fed by
 * the list and watch of every Service and every Endpoints object, that keeps the node's
 * `table ip ckube-proxy` (iptables/proxy.h) what they ask for:
 *   - nothing is written before both lists arrived (a half-known cluster would lose rules);
 *     the first write reconciles with what the kernel has (an earlier agent's table stays
 *     untouched where it is right);
 *   - changes are committed as they come, the ones that arrive together in one batch;
 *   - every few seconds it asks the kernel whether anyone else changed the ruleset (one small
 *     netlink request) and, if so, repairs the table; a failed commit is retried with
 *     back-off, reconciling;
 *   - load-balancing chains no Service uses any more are deleted after a while. */
#pragma once

#include <jansson.h>

#include "lib/error.h"
#include "lib/http_client.h"

struct service_proxy_config {
	struct http_client_options api;
	const char *node_name;
	const char *cluster_cidr; /* clients outside it are masqueraded; NULL: every client */
	const char *service_cidr; /* its unallocated addresses are dropped */
	const char *bridge;       /* the pods' bridge (masqueraded when netfilter misses it) */
};

struct service_proxy;

int service_proxy_start(const struct service_proxy_config *config, struct service_proxy **out,
			struct ck_error *err);
void service_proxy_stop(struct service_proxy *proxy);

/* What the proxy has and did last, for the status socket (any thread): a new reference. */
json_t *service_proxy_status(struct service_proxy *proxy);
