#include "apiserver/bootstrap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/admission.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"

int apiserver_init_allocators(struct apiserver *server, struct ck_error *err)
{
	const struct apiserver_config *config = &server->config;
	unsigned first, last;
	char tail;
	if (sscanf(config->node_port_range, "%u-%u%c", &first, &last, &tail) != 2 || first == 0 ||
	    last > 65535 || first > last)
		return ck_error_set(err, EINVAL, "--service-node-port-range %s: want FIRST-LAST",
				    config->node_port_range);
	if (ipv4_allocator_init(&server->service_ips, config->service_cidr, 32, err) < 0)
		return ck_error_prefix(err, "--service-cidr");
	const unsigned node_block = config->node_cidr_mask_size ? config->node_cidr_mask_size : 24;
	if (node_block > 30)
		return ck_error_set(err, EINVAL,
				    "--node-cidr-mask-size %u: a node's block needs at least a "
				    "network, a gateway, a pod and a broadcast address (/30)",
				    node_block);
	if (ipv4_allocator_init(&server->pod_cidrs, config->cluster_cidr, node_block, err) < 0)
		return ck_error_prefix(err, "--cluster-cidr with --node-cidr-mask-size %u",
				       node_block);
	if (range_allocator_init(&server->node_ports, first, last - first + 1) < 0)
		return ck_error_set(err, ENOMEM, "node port range: out of memory");
	server->namespaces = strmap_new(NULL);
	return 0;
}

struct restore_ctx {
	struct apiserver *server;
	const struct api_resource *resource;
};

static int restore_one(void *ctx, const char *text, size_t len, json_t *parsed)
{
	(void)parsed;
	struct restore_ctx *restore = ctx;
	_cleanup_json_ json_t *obj = json_loadb(text, len, 0, NULL);
	if (obj)
		admission_restore(restore->server, restore->resource, obj);
	return 0;
}

int bootstrap_restore_state(struct apiserver *server, struct ck_error *err)
{
	static const char *const holders[] = {"namespaces", "services", "nodes"};
	for (size_t i = 0; i < 3; i++) {
		struct restore_ctx ctx = {server, api_resource_find("", "v1", holders[i])};
		struct list_options options = {0};
		struct list_result result = {0};
		struct api_status status = {0};
		int ret = registry_list(server, ctx.resource, &options, restore_one, &ctx, &result,
					&status);
		free(result.continue_token);
		if (ret < 0) {
			ck_error_set(err, EIO, "restore allocations of %s: %s", holders[i],
				     status.message);
			api_status_clear(&status);
			return -EIO;
		}
	}
	return 0;
}

/* Creates `obj` unless it exists. */
static int ensure(struct apiserver *server, const char *plural, const char *namespace, json_t *obj,
		  struct ck_error *err)
{
	const struct api_resource *resource = api_resource_find("", "v1", plural);
	struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
	struct stored_object out = {0};
	struct api_status status = {0};
	int ret = registry_create(server, resource, namespace, obj, &options, &out, &status);
	if (ret == 0)
		log_info("bootstrap: created %s %s%s%s", plural, namespace ? namespace : "",
			 namespace ? "/" : "", json_path_string(out.json, "metadata.name") ?: "");
	stored_object_clear(&out);
	json_decref(obj);
	if (ret < 0 && status.code != 409) {
		ck_error_set(err, EIO, "create %s: %s", plural, status.message);
		api_status_clear(&status);
		return -EIO;
	}
	api_status_clear(&status);
	return 0;
}

/* The `kubernetes` Service has no selector: the API server keeps its endpoints itself,
 * pointing at the address pods can reach it on. */
static int ensure_api_endpoints(struct apiserver *server, int port, struct ck_error *err)
{
	const char *address = server->config.advertise_address;
	if (!address)
		return 0;
	const struct api_resource *endpoints = api_resource_find("", "v1", "endpoints");
	_cleanup_json_ json_t *body =
	    json_pack("{s:{s:s, s:s}, s:[{s:[{s:s}], s:[{s:s, s:i, s:s}]}]}", "metadata", "name",
		      "kubernetes", "namespace", "default", "subsets", "addresses", "ip", address,
		      "ports", "name", "https", "port", port, "protocol", "TCP");
	struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
	struct stored_object out = {0};
	struct api_status status = {0};
	int ret = registry_update(server, endpoints, "default", "kubernetes", NULL, body, &options,
				  &out, &status);
	stored_object_clear(&out);
	if (ret < 0) {
		ck_error_set(err, EIO, "endpoints default/kubernetes: %s", status.message);
		api_status_clear(&status);
		return -EIO;
	}
	return 0;
}

int bootstrap_cluster(struct apiserver *server, struct ck_error *err)
{
	static const char *const namespaces[] = {"default", "kube-system", "kube-public",
						 "kube-node-lease"};
	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
		if (ensure(server, "namespaces", NULL,
			   json_pack("{s:{s:s}}", "metadata", "name", namespaces[i]), err) < 0)
			return -EIO;
	/* The first address of the service range belongs to the API itself, as in Kubernetes. */
	char first_ip[32];
	ipv4_allocator_first(&server->service_ips, first_ip, sizeof(first_ip));
	const char *listen = server->config.listen;
	const char *colon = strrchr(listen, ':');
	int port = colon ? atoi(colon + 1) : 6443;
	if (ensure_api_endpoints(server, port, err) < 0)
		return -EIO;
	return ensure(server, "services", "default",
		      json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:s, s:s, s:[{s:s, s:s, s:i, s:i}]}}",
				"metadata", "name", "kubernetes", "labels", "component",
				"apiserver", "provider", "kubernetes", "spec", "type", "ClusterIP",
				"clusterIP", first_ip, "ports", "name", "https", "protocol", "TCP",
				"port", 443, "targetPort", port),
		      err);
}
