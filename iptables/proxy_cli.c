/* `ckube proxy sync|delete`: the proxy's table programmed from a file of Services and Endpoints
 * (what `kubectl get services,endpoints -A -o json` prints), the way the agent programs it from
 * the API: for operators who want to see or repair a node's Service rules by hand, and for
 * timing the proxy alone (bench/services.sh). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "cmd/commands.h"
#include "iptables/proxy.h"
#include "lib/cleanup.h"
#include "lib/ipv4_cidr.h"
#include "lib/json_util.h"
#include "lib/nft_batch.h"

struct proxy_args {
	const char *service_cidr, *cluster_cidr, *node_name, *bridge, *changes;
	const char *file;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube proxy sync [flags] FILE\n"
	    "       ckube proxy delete\n\n"
	    "sync: makes this network namespace's table ip " PROXY_TABLE " what the Services\n"
	    "and Endpoints in FILE (a JSON list, as `kubectl get services,endpoints -A -o json`\n"
	    "prints; - for standard input) ask for, repairing what differs, as the agent does\n"
	    "when it starts; prints what it changed and how long it took.\n"
	    "delete: removes the table.\n\n"
	    "  --service-cidr CIDR   the ClusterIP range (default 10.96.0.0/12)\n"
	    "  --cluster-cidr CIDR   clients outside it are masqueraded (default 10.244.0.0/16)\n"
	    "  --node-name NAME      endpoints on this node get hairpin rules (default: all)\n"
	    "  --bridge NAME         masquerade Service traffic between pods on this bridge\n"
	    "  --changes FILE        then apply each watch event of FILE (one JSON object per\n"
	    "                        line: {\"type\": \"ADDED\", \"object\": {...}}) and commit "
	    "it\n"
	    "                        alone, printing each commit's time\n");
}

static int parse(int argc, char **argv, struct proxy_args *args)
{
	enum { OPT_SERVICE_CIDR = 256, OPT_CLUSTER_CIDR, OPT_NODE_NAME, OPT_BRIDGE, OPT_CHANGES };
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"service-cidr", required_argument, NULL, OPT_SERVICE_CIDR},
	    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
	    {"node-name", required_argument, NULL, OPT_NODE_NAME},
	    {"bridge", required_argument, NULL, OPT_BRIDGE},
	    {"changes", required_argument, NULL, OPT_CHANGES},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*args =
	    (struct proxy_args){.service_cidr = "10.96.0.0/12", .cluster_cidr = "10.244.0.0/16"};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 1;
		case OPT_SERVICE_CIDR:
			args->service_cidr = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			args->cluster_cidr = optarg;
			break;
		case OPT_NODE_NAME:
			args->node_name = optarg;
			break;
		case OPT_BRIDGE:
			args->bridge = optarg;
			break;
		case OPT_CHANGES:
			args->changes = optarg;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	args->file = argv[optind];
	return 0;
}

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static bool is_kind(const json_t *object, const char *kind)
{
	const char *have = json_string_value(json_object_get(object, "kind"));

	return have && strcmp(have, kind) == 0;
}

static void print_stats(const char *what, double ms, const struct proxy_stats *s)
{
	printf("%s: %.3f ms%s: %zu elements added, %zu deleted; chains %zu added, %zu rewritten, "
	       "%zu deleted; %zu messages, %zu bytes; %zu UDP flows deleted\n",
	       what, ms, s->rebuilt ? " (table made anew)" : "", s->elements_added,
	       s->elements_deleted, s->chains_added, s->chains_rewritten, s->chains_deleted,
	       s->messages, s->bytes, s->udp_flows_deleted);
}

static int load(struct proxy *proxy, const char *file, size_t *services, size_t *endpoints)
{
	_cleanup_json_ json_t *list = NULL;
	json_error_t jerr;
	struct ck_error err = {0};
	size_t i;
	json_t *item;

	list =
	    strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(file, 0, &jerr);
	if (!list) {
		fprintf(stderr, "ckube proxy: %s: %s (line %d)\n", file, jerr.text, jerr.line);
		return -1;
	}
	json_array_foreach (json_object_get(list, "items"), i, item) {
		int r = 0;

		if (is_kind(item, "Service")) {
			r = proxy_set_service(proxy, item, &err);
			++*services;
		} else if (is_kind(item, "Endpoints")) {
			r = proxy_set_endpoints(proxy, item, &err);
			++*endpoints;
		}
		if (r < 0)
			fprintf(stderr, "ckube proxy: %s: skipped: %s\n", file, err.message);
	}
	return 0;
}

/* One watch event: applied and committed alone, timed from the event to the kernel's answer. */
static int apply_change(struct proxy *proxy, const json_t *event, size_t number)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	const json_t *object = json_object_get(event, "object");
	const char *kind = json_string_value(json_object_get(object, "kind"));
	const char *namespace = json_path_string(object, "metadata.namespace");
	const char *name = json_path_string(object, "metadata.name");
	struct proxy_stats stats;
	struct ck_error err = {0};
	struct timespec start;
	char what[512];
	int r = 0;

	if (!type || !kind || !name) {
		fprintf(stderr, "ckube proxy: change %zu: not a watch event\n", number);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (strcmp(type, "DELETED") == 0 && is_kind(object, "Service"))
		proxy_delete_service(proxy, namespace, name);
	else if (strcmp(type, "DELETED") == 0)
		proxy_delete_endpoints(proxy, namespace, name);
	else if (is_kind(object, "Service"))
		r = proxy_set_service(proxy, object, &err);
	else
		r = proxy_set_endpoints(proxy, object, &err);
	if (r == 0)
		r = proxy_commit(proxy, &stats, &err);
	if (r < 0) {
		fprintf(stderr, "ckube proxy: change %zu: %s\n", number, err.message);
		return r;
	}
	snprintf(what, sizeof(what), "change %zu %s %s %s/%s", number, type, kind,
		 namespace ? namespace : "default", name);
	print_stats(what, elapsed_ms(&start), &stats);
	return 0;
}

static int apply_changes(struct proxy *proxy, const char *file)
{
	_cleanup_fclose_ FILE *f = fopen(file, "r");
	size_t number = 0;

	if (!f) {
		fprintf(stderr, "ckube proxy: %s: %s\n", file, strerror(errno));
		return -1;
	}
	for (;;) {
		json_error_t jerr;
		_cleanup_json_ json_t *event = json_loadf(f, JSON_DISABLE_EOF_CHECK, &jerr);

		if (!event) {
			if (feof(f) || jerr.position == 0)
				return 0;
			fprintf(stderr, "ckube proxy: %s: %s (line %d)\n", file, jerr.text,
				jerr.line);
			return -1;
		}
		if (apply_change(proxy, event, ++number) < 0)
			return -1;
	}
}

static int sync_table(const struct proxy_args *args)
{
	struct proxy_config config = {.node_name = args->node_name,
				      .masquerade_bridge = args->bridge};
	struct proxy *proxy;
	struct proxy_stats stats;
	struct ck_error err = {0};
	struct timespec start;
	size_t services = 0, endpoints = 0;
	char what[128];
	int r;

	if (ipv4_cidr_parse(args->service_cidr, &config.service_cidr, &err) < 0 ||
	    ipv4_cidr_parse(args->cluster_cidr, &config.cluster_cidr, &err) < 0) {
		fprintf(stderr, "ckube proxy: %s\n", err.message);
		return 2;
	}
	proxy = proxy_new(&config);
	r = load(proxy, args->file, &services, &endpoints);
	if (r == 0) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		r = proxy_reconcile(proxy, &stats, &err);
		if (r < 0) {
			fprintf(stderr, "ckube proxy: %s\n", err.message);
		} else {
			snprintf(what, sizeof(what),
				 "sync of %zu services and %zu endpoints objects", services,
				 endpoints);
			print_stats(what, elapsed_ms(&start), &stats);
		}
	}
	if (r == 0 && args->changes)
		r = apply_changes(proxy, args->changes);
	proxy_free(proxy);
	return r < 0 ? 1 : 0;
}

static void table_freep(struct nftnl_table **table)
{
	if (*table)
		nftnl_table_free(*table);
}

static int delete_table(void)
{
	_cleanup_(table_freep) struct nftnl_table *table = proxy_table_object();
	struct nft_batch *batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
	struct ck_error err = {0};
	int r;

	/* Made sure to exist first: deleting a table that is not there is no failure. */
	nft_batch_table(batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, table, "make sure the table exists");
	nft_batch_table(batch, NFT_MSG_DELTABLE, 0, table, "delete the table");
	r = nft_batch_commit(batch, &err);
	nft_batch_free(batch);
	if (r < 0)
		fprintf(stderr, "ckube proxy: %s\n", err.message);
	return r < 0 ? 1 : 0;
}

int proxy_main(int argc, char **argv)
{
	struct proxy_args args;
	int r;

	if (argc >= 2 && strcmp(argv[1], "delete") == 0 && argc == 2)
		return delete_table();
	if (argc < 2 || strcmp(argv[1], "sync") != 0) {
		usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	r = parse(argc - 1, argv + 1, &args);
	if (r != 0)
		return r > 0 ? 0 : 2;
	return sync_table(&args);
}
