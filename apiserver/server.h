/* The API server's shared state: storage, the watch hub, the write lock and the allocators.
 * One instance per `ckube server` process. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "apiserver/allocator.h"
#include "lib/strmap.h"

struct store;
struct watch_hub;
struct controllers;

struct apiserver_config {
	const char *listen;
	const char *data_dir;
	const char *config_dir;
	const char *service_cidr;     /* ClusterIPs, default 10.96.0.0/12 */
	const char *cluster_cidr;     /* pod CIDRs, default 10.244.0.0/16 */
	unsigned node_cidr_mask_size; /* each node's block of it; 0: /24 */
	const char *node_port_range;  /* default 30000-32767 */
	size_t max_body_bytes;
	size_t watch_window_bytes;
	unsigned http_threads;
	int node_monitor_grace_seconds; /* a node silent this long becomes Ready=Unknown */
	/* Where pods reach the API (the `kubernetes` Service's endpoint); NULL when only this
	 * machine's loopback can. */
	const char *advertise_address;
};

struct apiserver {
	struct apiserver_config config;
	struct store *store;
	struct watch_hub *hub;
	/* Serializes every write: read-modify-write sequences, revision order and publishing. */
	pthread_mutex_t write_lock;
	struct ipv4_allocator service_ips;
	struct ipv4_allocator pod_cidrs; /* one slot per /24 */
	struct range_allocator node_ports;
	/* Namespace name -> NAMESPACE_ACTIVE or NAMESPACE_TERMINATING, kept in step with every
	 * committed write so that admission need not read the store. */
	struct strmap *namespaces;
	char *token;        /* bearer token; required from non-loopback clients */
	bool require_token; /* listening beyond loopback */
	struct controllers *controllers;
	struct metrics *metrics; /* what node agents report for `kubectl top` */
	struct timespec started;
};
