/* Looking up a pod's container and node for the node-served subresources: see
 * node_target.h. */
#include "apiserver/node_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_rest.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static bool has_container(const json_t *list, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach (list, i, c)
		if (json_is_string(json_object_get(c, "name")) &&
		    strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return true;
	return false;
}

static void append_names(struct buf *out, const json_t *list)
{
	size_t i;
	json_t *c;

	json_array_foreach (list, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		buf_printf(out, "%s%s", i ? " " : "", name ? name : "");
	}
}

int node_target_container(const struct api_call *call, const json_t *pod, const char **out,
			  struct api_status *status)
{
	const json_t *containers = json_path(pod, "spec.containers");
	const json_t *init = json_path(pod, "spec.initContainers");
	const char *wanted = *out;

	if (wanted) {
		if (!has_container(containers, wanted) && !has_container(init, wanted) &&
		    !has_container(json_path(pod, "spec.ephemeralContainers"), wanted))
			return api_fail(status, 400, "BadRequest",
					"container %s is not valid for pod %s", wanted, call->name);
		return 0;
	}
	if (json_array_size(containers) == 1) {
		*out = json_string_value(json_object_get(json_array_get(containers, 0), "name"));
		return *out ? 0
			    : api_fail_internal(status, "pod %s: a container without a name",
						call->name);
	}
	if (json_array_size(containers) == 0)
		return api_fail(status, 400, "BadRequest",
				"a container name must be specified for pod %s", call->name);
	_cleanup_buf_ struct buf message = {0};
	buf_printf(&message, "a container name must be specified for pod %s, choose one of: [",
		   call->name);
	append_names(&message, containers);
	buf_puts(&message, "]");
	if (json_array_size(init)) {
		buf_puts(&message, " or one of the init containers: [");
		append_names(&message, init);
		buf_puts(&message, "]");
	}
	return api_fail(status, 400, "BadRequest", "%s", message.data);
}

int node_target_pod(const struct api_call *call, json_t **pod, struct api_status *status)
{
	_cleanup_free_ char *text = NULL;

	*pod = NULL;
	if (registry_get(call->server, call->resource, call->namespace, call->name, &text, status) <
	    0)
		return -1;
	*pod = json_loads(text, 0, NULL);
	if (!*pod)
		return api_fail_internal(status, "pod %s/%s: stored object is not JSON",
					 call->namespace, call->name);
	return 0;
}

int node_target_endpoint(const struct api_call *call, const char *node_name, const char *what,
			 char **host, int *port_out, struct api_status *status)
{
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	_cleanup_free_ char *text = NULL;

	if (registry_get(call->server, nodes, NULL, node_name, &text, status) < 0)
		return -1;
	_cleanup_json_ json_t *node = json_loads(text, 0, NULL);
	const json_t *addresses = json_path(node, "status.addresses");
	const char *address = NULL;
	size_t i;
	json_t *entry;
	json_array_foreach (addresses, i, entry) {
		const char *type = json_string_value(json_object_get(entry, "type"));
		const char *value = json_string_value(json_object_get(entry, "address"));
		if (value && *value && (!address || (type && strcmp(type, "InternalIP") == 0)))
			address = value;
		if (value && *value && type && strcmp(type, "InternalIP") == 0)
			break;
	}
	json_int_t port =
	    json_integer_value(json_path(node, "status.daemonEndpoints.kubeletEndpoint.Port"));
	if (!address || port <= 0 || port > 65535)
		return api_fail(status, 503, "ServiceUnavailable",
				"node %s has no endpoint for %s (no address or no "
				"status.daemonEndpoints.kubeletEndpoint.Port)",
				node_name, what);
	*host = strdup(address);
	if (!*host)
		abort();
	*port_out = (int)port;
	return 0;
}
