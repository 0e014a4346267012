/* Services and Endpoints read for the proxy: see service_ports.h. */
#include "iptables/service_ports.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ipv4_cidr.h"
#include "lib/json_util.h"

/* Kubernetes' default for sessionAffinityConfig.clientIP.timeoutSeconds: three hours. */
#define DEFAULT_AFFINITY_SECONDS 10800

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);

	if (!p)
		abort();
	return p;
}

static int parse_protocol(const json_t *value, uint8_t *out)
{
	const char *text = json_is_null(value) || !value ? "TCP" : json_string_value(value);

	if (text && strcmp(text, "TCP") == 0)
		*out = IPPROTO_TCP;
	else if (text && strcmp(text, "UDP") == 0)
		*out = IPPROTO_UDP;
	else if (text && strcmp(text, "SCTP") == 0)
		*out = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static int parse_port(const json_t *value, bool optional, uint16_t *out)
{
	json_int_t n;

	if (!value && optional) {
		*out = 0;
		return 0;
	}
	n = json_integer_value(value);
	if (!json_is_integer(value) || n < 1 || n > 65535)
		return -EINVAL;
	*out = (uint16_t)n;
	return 0;
}

static void copy_name(char out[SERVICE_PORT_NAME_MAX], const json_t *value)
{
	snprintf(out, SERVICE_PORT_NAME_MAX, "%s", json_string_value(value) ?: "");
}

/* "service default/web" or "endpoints default/web", for messages. */
static void object_text(const json_t *object, const char *kind, char *out, size_t size)
{
	snprintf(out, size, "%s %s/%s", kind,
		 json_path_string(object, "metadata.namespace") ?: "default",
		 json_path_string(object, "metadata.name") ?: "?");
}

static uint32_t parse_affinity(const json_t *spec)
{
	const char *affinity = json_string_value(json_object_get(spec, "sessionAffinity"));
	json_t *timeout = json_path(spec, "sessionAffinityConfig.clientIP.timeoutSeconds");
	json_int_t seconds = json_integer_value(timeout);

	if (!affinity || strcmp(affinity, "ClientIP") != 0)
		return 0;
	/* The API server keeps it within 1..86400. */
	return json_is_integer(timeout) && seconds > 0 && seconds <= 86400
		   ? (uint32_t)seconds
		   : DEFAULT_AFFINITY_SECONDS;
}

int service_spec_parse(const json_t *service, struct service_spec *out, struct ck_error *err)
{
	const json_t *spec = json_object_get(service, "spec");
	const char *cluster_ip = json_string_value(json_object_get(spec, "clusterIP"));
	const json_t *ports = json_object_get(spec, "ports");
	char what[300];
	size_t i;
	json_t *port;

	memset(out, 0, sizeof(*out));
	object_text(service, "service", what, sizeof(what));
	/* Headless ("None"), ExternalName (no address) and one not yet allocated get no rules. */
	if (!cluster_ip || !*cluster_ip || strcmp(cluster_ip, "None") == 0)
		return 0;
	if (ipv4_address_parse(cluster_ip, &out->cluster_ip, err) < 0)
		return ck_error_prefix(err, "%s: spec.clusterIP", what);
	out->affinity_seconds = parse_affinity(spec);
	out->ports = xcalloc(json_array_size(ports), sizeof(*out->ports));
	json_array_foreach (ports, i, port) {
		struct service_spec_port *p = &out->ports[i];

		copy_name(p->name, json_object_get(port, "name"));
		if (parse_protocol(json_object_get(port, "protocol"), &p->protocol) < 0 ||
		    parse_port(json_object_get(port, "port"), false, &p->port) < 0 ||
		    parse_port(json_object_get(port, "nodePort"), true, &p->node_port) < 0) {
			service_spec_clear(out);
			return ck_error_set(err, EINVAL,
					    "%s: spec.ports[%zu]: bad protocol, port or nodePort",
					    what, i);
		}
		out->port_count++;
	}
	return 0;
}

static bool address_is_local(const json_t *address, const char *node_name)
{
	const char *node = json_string_value(json_object_get(address, "nodeName"));

	return !node || !node_name || strcmp(node, node_name) == 0;
}

static int parse_subset(const json_t *subset, const char *node_name, struct endpoints_subset *out)
{
	const json_t *addresses = json_object_get(subset, "addresses");
	const json_t *ports = json_object_get(subset, "ports");
	size_t i;
	json_t *item;

	out->addresses = xcalloc(json_array_size(addresses), sizeof(*out->addresses));
	out->ports = xcalloc(json_array_size(ports), sizeof(*out->ports));
	json_array_foreach (addresses, i, item) {
		const char *ip = json_string_value(json_object_get(item, "ip"));
		struct endpoint_address *a = &out->addresses[out->address_count];

		if (!ip || ipv4_address_parse(ip, &a->address, NULL) < 0)
			return -EINVAL;
		a->local = address_is_local(item, node_name);
		out->address_count++;
	}
	json_array_foreach (ports, i, item) {
		struct endpoint_port *p = &out->ports[out->port_count];

		copy_name(p->name, json_object_get(item, "name"));
		if (parse_protocol(json_object_get(item, "protocol"), &p->protocol) < 0 ||
		    parse_port(json_object_get(item, "port"), false, &p->port) < 0)
			return -EINVAL;
		out->port_count++;
	}
	return 0;
}

int endpoints_spec_parse(const json_t *endpoints, const char *node_name, struct endpoints_spec *out,
			 struct ck_error *err)
{
	const json_t *subsets = json_object_get(endpoints, "subsets");
	char what[300];
	size_t i;
	json_t *subset;

	memset(out, 0, sizeof(*out));
	out->subsets = xcalloc(json_array_size(subsets), sizeof(*out->subsets));
	json_array_foreach (subsets, i, subset) {
		/* Counted first, so that clearing frees what a failed subset allocated. */
		out->subset_count++;
		if (parse_subset(subset, node_name, &out->subsets[i]) < 0) {
			endpoints_spec_clear(out);
			object_text(endpoints, "endpoints", what, sizeof(what));
			return ck_error_set(err, EINVAL, "%s: subsets[%zu]: bad address or port",
					    what, i);
		}
	}
	return 0;
}

void service_spec_clear(struct service_spec *spec)
{
	free(spec->ports);
	memset(spec, 0, sizeof(*spec));
}

void endpoints_spec_clear(struct endpoints_spec *spec)
{
	for (size_t i = 0; i < spec->subset_count; i++) {
		free(spec->subsets[i].addresses);
		free(spec->subsets[i].ports);
	}
	free(spec->subsets);
	memset(spec, 0, sizeof(*spec));
}

static int compare_endpoints(const void *a, const void *b)
{
	const struct proxy_endpoint *x = a, *y = b;

	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/* The port of `subset` that serves the Service port, or NULL. */
static const struct endpoint_port *subset_port(const struct endpoints_subset *subset,
					       const struct service_spec_port *port)
{
	for (size_t i = 0; i < subset->port_count; i++)
		if (subset->ports[i].protocol == port->protocol &&
		    strcmp(subset->ports[i].name, port->name) == 0)
			return &subset->ports[i];
	return NULL;
}

static void collect_endpoints(const struct endpoints_spec *endpoints,
			      const struct service_spec_port *port, struct service_port *out)
{
	size_t total = 0, kept = 0;

	for (size_t s = 0; endpoints && s < endpoints->subset_count; s++)
		total += endpoints->subsets[s].address_count;
	out->endpoints = xcalloc(total, sizeof(*out->endpoints));
	for (size_t s = 0; endpoints && s < endpoints->subset_count; s++) {
		const struct endpoints_subset *subset = &endpoints->subsets[s];
		const struct endpoint_port *served = subset_port(subset, port);

		for (size_t a = 0; served && a < subset->address_count; a++)
			out->endpoints[out->endpoint_count++] = (struct proxy_endpoint){
			    subset->addresses[a].address, served->port, subset->addresses[a].local};
	}
	qsort(out->endpoints, out->endpoint_count, sizeof(*out->endpoints), compare_endpoints);
	for (size_t i = 0; i < out->endpoint_count; i++)
		if (kept == 0 || compare_endpoints(&out->endpoints[kept - 1], &out->endpoints[i]))
			out->endpoints[kept++] = out->endpoints[i];
	out->endpoint_count = kept;
}

void service_ports_build(const struct service_spec *service, const struct endpoints_spec *endpoints,
			 struct service_port **out, size_t *count)
{
	size_t n = service->cluster_ip ? service->port_count : 0;
	struct service_port *ports = n ? xcalloc(n, sizeof(*ports)) : NULL;

	for (size_t i = 0; i < n; i++) {
		const struct service_spec_port *spec = &service->ports[i];

		ports[i] = (struct service_port){.cluster_ip = service->cluster_ip,
						 .protocol = spec->protocol,
						 .port = spec->port,
						 .node_port = spec->node_port,
						 .affinity_seconds = service->affinity_seconds};
		collect_endpoints(endpoints, spec, &ports[i]);
	}
	*out = ports;
	*count = n;
}

void service_ports_free(struct service_port *ports, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(ports[i].endpoints);
	free(ports);
}
