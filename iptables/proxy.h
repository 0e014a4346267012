/* The Service proxy: Services and Endpoints in, the kernel's `table ip ckube-proxy` out (see
 * proxy_table.h for its layout). Changes are collected as the API reports them and sent by
 * proxy_commit() as one netlink batch that holds only the elements of the Services that
 * changed: the table is never read back for a commit. The proxy's memory of what it sent is
 * the truth it repairs the kernel to: when a commit fails, or someone else changed the ruleset
 * (proxy_kernel_changed), proxy_reconcile() reads the table and sends the difference.
 *
 * Not thread-safe: one thread owns a proxy. Everything happens in that thread's network
 * namespace. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "iptables/proxy_reconcile.h"
#include "iptables/proxy_table.h"
#include "lib/error.h"

struct proxy;

/* Copies the configuration. */
struct proxy *proxy_new(const struct proxy_config *config);
void proxy_free(struct proxy *proxy);

/* A Service or an Endpoints object as the API has it, added or changed. A bad one is refused
 * with the reason and changes nothing. */
int proxy_set_service(struct proxy *proxy, const json_t *service, struct ck_error *err);
int proxy_set_endpoints(struct proxy *proxy, const json_t *endpoints, struct ck_error *err);
void proxy_delete_service(struct proxy *proxy, const char *namespace, const char *name);
void proxy_delete_endpoints(struct proxy *proxy, const char *namespace, const char *name);
/* A full list (after a list or a re-list): objects of that kind it lacks are deleted. Bad
 * objects are skipped; the first one's error is returned after the others were taken. */
int proxy_replace_services(struct proxy *proxy, const json_t *services, struct ck_error *err);
int proxy_replace_endpoints(struct proxy *proxy, const json_t *endpoints, struct ck_error *err);

/* Sends the changes in one batch, then deletes the UDP conntrack entries of endpoints that
 * went away (a failure there is logged, not returned). When the table is not known to be
 * right (the first time, after a failure), reconciles instead. */
int proxy_commit(struct proxy *proxy, struct proxy_stats *stats, struct ck_error *err);
/* Takes the changes, then makes the kernel's table the wanted one, whatever it holds. */
int proxy_reconcile(struct proxy *proxy, struct proxy_stats *stats, struct ck_error *err);
/* True when someone else committed to the ruleset since the proxy's last commit. */
int proxy_kernel_changed(struct proxy *proxy, bool *changed, struct ck_error *err);
/* Load-balancing chains no Service port has used for `idle_ms` are deleted (one batch); returns
 * how many. A chain is kept that long because kernels before 6.2 may still count a map element
 * deleted in the same batch as a reference to it. */
int proxy_collect_chains(struct proxy *proxy, int64_t now_ms, int64_t idle_ms,
			 struct ck_error *err);

/* What the proxy has, for the status socket: Services, ports, endpoints, chains in use. */
json_t *proxy_describe(const struct proxy *proxy);
