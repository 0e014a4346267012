#include "admission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static bool is_resource(const struct api_resource *resource, const char *plural)
{
	return resource->group[0] == '\0' && strcmp(resource->plural, plural) == 0;
}

void admission_observe(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj, bool deleted)
{
	if (!is_resource(resource, "namespaces"))
		return;
	const char *name = json_path_string(obj, "metadata.name");
	if (!name)
		return;
	const char *phase = json_path_string(obj, "status.phase");
	bool terminating = json_path(obj, "metadata.deletionTimestamp") ||
			   (phase && !strcmp(phase, "Terminating"));
	if (deleted)
		strmap_remove(server->namespaces, name);
	else
		strmap_put(server->namespaces, name,
			   terminating ? NAMESPACE_TERMINATING : NAMESPACE_ACTIVE);
}

int admission_check_namespace(struct apiserver *server, const struct api_resource *resource,
			      const char *namespace, const char *name, struct api_status *status)
{
	void *state = strmap_get(server->namespaces, namespace);
	if (!state)
		return api_fail_not_found(status, api_resource_find("", "v1", "namespaces"),
					  namespace);
	if (state == NAMESPACE_TERMINATING) {
		api_fail(status, 403, "Forbidden",
			 "%s \"%s\" is forbidden: unable to create new content in namespace %s "
			 "because it is being terminated",
			 resource->plural, name ? name : "", namespace);
		api_status_set_object(status, resource, name);
		return -1;
	}
	return 0;
}

int admission_check_delete(const struct api_resource *resource, const char *name,
			   struct api_status *status)
{
	static const char *const immortal[] = {"default", "kube-system", "kube-public"};
	if (!is_resource(resource, "namespaces"))
		return 0;
	for (size_t i = 0; i < sizeof(immortal) / sizeof(immortal[0]); i++) {
		if (strcmp(name, immortal[i]) == 0) {
			api_fail(
			    status, 403, "Forbidden",
			    "namespaces \"%s\" is forbidden: this namespace may not be deleted",
			    name);
			api_status_set_object(status, resource, name);
			return -1;
		}
	}
	return 0;
}

/* --- Services: ClusterIPs and node ports --------------------------------------------------- */

static bool service_wants_cluster_ip(const json_t *svc)
{
	const char *type = json_path_string(svc, "spec.type");
	const char *ip = json_path_string(svc, "spec.clusterIP");
	if (type && strcmp(type, "ExternalName") == 0)
		return false;
	return !ip || strcmp(ip, "None") != 0;
}

static bool service_wants_node_ports(const json_t *svc)
{
	const char *type = json_path_string(svc, "spec.type");
	return type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
}

static void set_cluster_ip(json_t *svc, const char *ip)
{
	json_t *spec = json_object_ensure(svc, "spec");
	/* `ip` may point into spec.clusterIP itself: set the list first. */
	json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
	json_object_set_string(
	    spec, "clusterIP",
	    json_string_value(json_array_get(json_object_get(spec, "clusterIPs"), 0)));
}

static int invalid_field(struct api_status *status, const struct api_resource *resource,
			 const json_t *obj, const char *field, const json_t *value, const char *why)
{
	struct field_errors errors;
	field_errors_init(&errors);
	field_error_invalid(&errors, field, value, why);
	api_fail_invalid(status, resource, json_path_string(obj, "metadata.name") ?: "", &errors);
	field_errors_clear(&errors);
	return -1;
}

static void release_node_ports(struct apiserver *server, const json_t *svc)
{
	size_t i;
	json_t *port;
	json_array_foreach (json_path(svc, "spec.ports"), i, port) {
		json_t *node_port = json_object_get(port, "nodePort");
		if (json_is_integer(node_port))
			range_allocator_release(&server->node_ports,
						(uint32_t)json_integer_value(node_port));
	}
}

/* The node ports one request took, given back when the request fails after all. */
struct taken_ports {
	uint32_t *values;
	size_t count;
};

/* Takes the node ports asked for and allocates the missing ones, noting each in `taken`.
 * `keep` holds ports the object already owned (on update), which are not taken again. */
static int take_node_ports(struct apiserver *server, const struct api_resource *resource,
			   json_t *svc, const json_t *keep, struct taken_ports *taken,
			   struct api_status *status)
{
	size_t i;
	json_t *port;
	json_array_foreach (json_path(svc, "spec.ports"), i, port) {
		json_t *node_port = json_object_get(port, "nodePort");
		if (!json_is_integer(node_port) || json_integer_value(node_port) == 0)
			continue;
		uint32_t value = (uint32_t)json_integer_value(node_port);
		bool owned = false;
		size_t j;
		json_t *kept;
		json_array_foreach (json_path(keep, "spec.ports"), j, kept)
			owned =
			    owned || json_integer_value(json_object_get(kept, "nodePort")) == value;
		if (owned)
			continue;
		int ret = range_allocator_take(&server->node_ports, value);
		if (ret < 0) {
			char field[64];
			snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
			return invalid_field(status, resource, svc, field, node_port,
					     ret == -EEXIST
						 ? "provided port is already allocated"
						 : "provided port is not in the valid range");
		}
		taken->values[taken->count++] = value;
	}
	json_array_foreach (json_path(svc, "spec.ports"), i, port) {
		json_t *node_port = json_object_get(port, "nodePort");
		if (json_is_integer(node_port) && json_integer_value(node_port) != 0)
			continue;
		uint32_t value;
		if (range_allocator_next(&server->node_ports, &value) < 0)
			return api_fail_internal(status, "no node ports left to allocate");
		taken->values[taken->count++] = value;
		json_object_set_new(port, "nodePort", json_integer(value));
	}
	return 0;
}

/* All the node ports of `svc`, or none: a Service refused for its second port must not keep
 * its first one's. */
static int allocate_node_ports(struct apiserver *server, const struct api_resource *resource,
			       json_t *svc, const json_t *keep, struct api_status *status)
{
	size_t ports = json_array_size(json_path(svc, "spec.ports"));
	_cleanup_free_ uint32_t *values = calloc(ports ? ports : 1, sizeof(*values));
	if (!values)
		return api_fail_internal(status, "service node ports: out of memory");
	struct taken_ports taken = {values, 0};
	int ret = take_node_ports(server, resource, svc, keep, &taken, status);
	if (ret < 0) {
		while (taken.count)
			range_allocator_release(&server->node_ports, values[--taken.count]);
	}
	return ret;
}

static int allocate_service(struct apiserver *server, const struct api_resource *resource,
			    json_t *svc, struct api_status *status)
{
	if (service_wants_cluster_ip(svc)) {
		json_t *requested = json_path(svc, "spec.clusterIP");
		const char *ip = json_string_value(requested);
		if (ip && *ip) {
			int ret = ipv4_allocator_take(&server->service_ips, ip);
			if (ret < 0) {
				char why[160], range[64];
				ipv4_allocator_range(&server->service_ips, range, sizeof(range));
				if (ret == -EEXIST)
					snprintf(why, sizeof(why),
						 "provided IP is already allocated");
				else
					snprintf(
					    why, sizeof(why),
					    "provided IP is not in the valid range. The range of "
					    "valid IPs is %s",
					    range);
				return invalid_field(status, resource, svc, "spec.clusterIPs",
						     requested, why);
			}
			set_cluster_ip(svc, ip);
		} else {
			char allocated[32];
			if (ipv4_allocator_next(&server->service_ips, allocated,
						sizeof(allocated)) < 0)
				return api_fail_internal(
				    status, "failed to allocate a serviceIP: range is full");
			set_cluster_ip(svc, allocated);
		}
	}
	if (service_wants_node_ports(svc) &&
	    allocate_node_ports(server, resource, svc, NULL, status) < 0) {
		const char *ip = json_path_string(svc, "spec.clusterIP");
		if (ip)
			ipv4_allocator_release(&server->service_ips, ip);
		return -1;
	}
	return 0;
}

/* --- Nodes: pod CIDRs ---------------------------------------------------------------------- */

static int allocate_node(struct apiserver *server, const struct api_resource *resource,
			 json_t *node, struct api_status *status)
{
	json_t *spec = json_object_ensure(node, "spec");
	json_t *requested = json_object_get(spec, "podCIDR");
	const char *cidr = json_string_value(requested);
	if (cidr && *cidr) {
		int ret = ipv4_allocator_take(&server->pod_cidrs, cidr);
		/* A CIDR outside the cluster range is the operator's choice; only overlaps inside
		 * it are refused. */
		if (ret == -EEXIST)
			return invalid_field(status, resource, node, "spec.podCIDR", requested,
					     "provided CIDR is already allocated");
		return 0;
	}
	char allocated[32];
	if (ipv4_allocator_next(&server->pod_cidrs, allocated, sizeof(allocated)) < 0)
		return api_fail_internal(status, "no pod CIDR left for node %s",
					 json_path_string(node, "metadata.name") ?: "");
	json_object_set_string(spec, "podCIDR", allocated);
	json_object_set_new(spec, "podCIDRs", json_pack("[s]", allocated));
	return 0;
}

int admission_allocate(struct apiserver *server, const struct api_resource *resource, json_t *obj,
		       struct api_status *status)
{
	if (is_resource(resource, "services"))
		return allocate_service(server, resource, obj, status);
	if (is_resource(resource, "nodes"))
		return allocate_node(server, resource, obj, status);
	return 0;
}

int admission_allocate_update(struct apiserver *server, const struct api_resource *resource,
			      json_t *obj, const json_t *old, struct api_status *status)
{
	if (is_resource(resource, "services")) {
		/* A PUT that leaves the allocated address out keeps it (Kubernetes does the same).
		 */
		json_t *spec = json_object_ensure(obj, "spec");
		const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
		const char *old_ip = json_path_string(old, "spec.clusterIP");
		if ((!ip || !*ip) && old_ip && service_wants_cluster_ip(old)) {
			json_object_set(spec, "clusterIP", json_path(old, "spec.clusterIP"));
			json_object_set(spec, "clusterIPs", json_path(old, "spec.clusterIPs"));
		}
		if (service_wants_node_ports(obj)) {
			size_t i;
			json_t *port;
			json_array_foreach (json_object_get(spec, "ports"), i, port) {
				json_t *old_port = json_array_get(json_path(old, "spec.ports"), i);
				if (!json_object_get(port, "nodePort") &&
				    json_is_integer(json_object_get(old_port, "nodePort")))
					json_object_set(port, "nodePort",
							json_object_get(old_port, "nodePort"));
			}
			return allocate_node_ports(server, resource, obj, old, status);
		}
	}
	if (is_resource(resource, "nodes")) {
		json_t *spec = json_object_ensure(obj, "spec");
		if (!json_object_get(spec, "podCIDR") && json_path(old, "spec.podCIDR")) {
			json_object_set(spec, "podCIDR", json_path(old, "spec.podCIDR"));
			json_object_set(spec, "podCIDRs", json_path(old, "spec.podCIDRs"));
		}
	}
	return 0;
}

void admission_release(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj)
{
	if (is_resource(resource, "services")) {
		const char *ip = json_path_string(obj, "spec.clusterIP");
		if (ip && strcmp(ip, "None") != 0)
			ipv4_allocator_release(&server->service_ips, ip);
		release_node_ports(server, obj);
	} else if (is_resource(resource, "nodes")) {
		const char *cidr = json_path_string(obj, "spec.podCIDR");
		if (cidr)
			ipv4_allocator_release(&server->pod_cidrs, cidr);
	}
}

void admission_release_update(struct apiserver *server, const struct api_resource *resource,
			      const json_t *obj, const json_t *old)
{
	if (!is_resource(resource, "services"))
		return;
	/* Node ports the update dropped (e.g. NodePort changed to ClusterIP) go back. */
	size_t i;
	json_t *port;
	json_array_foreach (json_path(old, "spec.ports"), i, port) {
		json_t *value = json_object_get(port, "nodePort");
		if (!json_is_integer(value))
			continue;
		bool still = false;
		size_t j;
		json_t *kept;
		json_array_foreach (json_path(obj, "spec.ports"), j, kept)
			still = still || json_equal(json_object_get(kept, "nodePort"), value);
		if (!still || !service_wants_node_ports(obj))
			range_allocator_release(&server->node_ports,
						(uint32_t)json_integer_value(value));
	}
}

void admission_restore(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj)
{
	admission_observe(server, resource, obj, false);
	if (is_resource(resource, "services")) {
		const char *ip = json_path_string(obj, "spec.clusterIP");
		if (ip && strcmp(ip, "None") != 0)
			ipv4_allocator_take(&server->service_ips, ip);
		size_t i;
		json_t *port;
		json_array_foreach (json_path(obj, "spec.ports"), i, port) {
			json_t *node_port = json_object_get(port, "nodePort");
			if (json_is_integer(node_port))
				range_allocator_take(&server->node_ports,
						     (uint32_t)json_integer_value(node_port));
		}
	} else if (is_resource(resource, "nodes")) {
		const char *cidr = json_path_string(obj, "spec.podCIDR");
		if (cidr)
			ipv4_allocator_take(&server->pod_cidrs, cidr);
	}
}
