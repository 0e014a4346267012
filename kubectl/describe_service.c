/* kubectl describe service. */
#include <string.h>

#include "kubectl/describe.h"
#include "kubectl/describer.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* kubectl lists at most this many endpoints per port, then "+ N more...". */
#define ENDPOINTS_SHOWN 3

struct endpoint_list {
	struct buf text;
	int count;
};

static void add_endpoint(struct endpoint_list *list, const char *address, const json_t *port)
{
	if (list->count++ >= ENDPOINTS_SHOWN)
		return;
	if (list->text.len)
		buf_putc(&list->text, ',');
	bool ipv6 = strchr(address, ':') != NULL;
	if (!port)
		buf_puts(&list->text, address);
	else
		buf_printf(&list->text, "%s%s%s:%lld", ipv6 ? "[" : "", address, ipv6 ? "]" : "",
			   (long long)json_integer_value(port));
}

static bool port_selected(const json_t *port, const char *port_name)
{
	return strcmp(field_string(port, "name", ""), port_name) == 0;
}

static void add_ready_endpoint(struct endpoint_list *list, const json_t *endpoint,
			       const json_t *port)
{
	const char *address =
	    json_string_value(json_array_get(json_object_get(endpoint, "addresses"), 0));
	if (address && !json_is_false(json_path(endpoint, "conditions.ready")))
		add_endpoint(list, address, port);
}

/* The ready endpoints of the slices serving this port ("10.0.0.5:80,10.0.0.6:80"). */
static void slice_endpoints(const json_t *slices, const char *port_name, struct endpoint_list *list)
{
	size_t i, j, k;
	const json_t *slice, *port, *endpoint;
	json_array_foreach (json_object_get(slices, "items"), i, slice) {
		const json_t *ports = json_object_get(slice, "ports");
		const json_t *endpoints = json_object_get(slice, "endpoints");
		if (json_array_size(ports) == 0) {
			/* headless services may have no ports */
			json_array_foreach (endpoints, k, endpoint)
				add_ready_endpoint(list, endpoint, NULL);
		}
		json_array_foreach (ports, j, port) {
			if (!port_selected(port, port_name))
				continue;
			json_array_foreach (endpoints, k, endpoint)
				add_ready_endpoint(list, endpoint, json_object_get(port, "port"));
		}
	}
}

/* The same from a v1 Endpoints object, for servers without EndpointSlices. */
static void legacy_endpoints(const json_t *endpoints, const char *port_name,
			     struct endpoint_list *list)
{
	size_t i, j, k;
	const json_t *subset, *port, *address;
	json_array_foreach (json_object_get(endpoints, "subsets"), i, subset) {
		const json_t *ports = json_object_get(subset, "ports");
		json_array_foreach (json_object_get(subset, "addresses"), k, address) {
			const char *ip = field_string(address, "ip", "");
			if (json_array_size(ports) == 0)
				add_endpoint(list, ip, NULL);
			json_array_foreach (ports, j, port) {
				if (port_selected(port, port_name))
					add_endpoint(list, ip, json_object_get(port, "port"));
			}
		}
	}
}

static void endpoints_text(const json_t *slices, const json_t *endpoints, const char *port_name,
			   struct buf *out)
{
	bool have_slices = json_array_size(json_object_get(slices, "items")) > 0;
	bool have_subsets = json_array_size(json_object_get(endpoints, "subsets")) > 0;
	if (!have_slices && !have_subsets) {
		buf_puts(out, "<none>");
		return;
	}
	struct endpoint_list list = {0};
	if (have_slices)
		slice_endpoints(slices, port_name, &list);
	else
		legacy_endpoints(endpoints, port_name, &list);
	if (list.text.data)
		buf_puts(out, list.text.data);
	if (list.count > ENDPOINTS_SHOWN)
		buf_printf(out, " + %d more...", list.count - ENDPOINTS_SHOWN);
	buf_free(&list.text);
}

static void join_strings(const json_t *array, struct buf *out)
{
	size_t i;
	const json_t *item;
	json_array_foreach (array, i, item)
		buf_printf(out, "%s%s", i ? "," : "", json_string_value(item) ?: "");
	if (!out->len)
		buf_puts(out, "<none>");
}

static void describe_ports(struct describer *d, const json_t *service, const json_t *slices,
			   const json_t *endpoints)
{
	size_t i;
	const json_t *port;
	json_array_foreach (json_path(service, "spec.ports"), i, port) {
		const char *port_name = field_string(port, "name", "");
		const char *shown_name = *port_name ? port_name : "<unset>";
		const char *protocol = field_string(port, "protocol", "");
		describer_write(d, 0, "Port:\t%s\t%lld/%s\n", shown_name,
				field_integer(port, "port"), protocol);
		_cleanup_buf_ struct buf target = {0};
		append_value(&target, json_object_get(port, "targetPort"));
		describer_write(d, 0, "TargetPort:\t%s/%s\n", target.len ? target.data : "0",
				protocol);
		if (field_integer(port, "nodePort") != 0)
			describer_write(d, 0, "NodePort:\t%s\t%lld/%s\n", shown_name,
					field_integer(port, "nodePort"), protocol);
		_cleanup_buf_ struct buf addresses = {0};
		endpoints_text(slices, endpoints, port_name, &addresses);
		describer_write(d, 0, "Endpoints:\t%s\n", addresses.data ? addresses.data : "");
	}
}

static void optional_line(struct describer *d, const json_t *spec, const char *key,
			  const char *title)
{
	const char *value = field_string(spec, key, "");
	if (*value)
		describer_write(d, 0, "%s:\t%s\n", title, value);
}

void describe_service(const json_t *service, const json_t *endpoint_slices, const json_t *endpoints,
		      const json_t *events, time_t now, struct buf *out)
{
	const json_t *spec = json_object_get(service, "spec");
	struct describer d;
	describer_init(&d, now);
	describer_write(&d, 0, "Name:\t%s\n", field_string(service, "metadata.name", ""));
	describer_write(&d, 0, "Namespace:\t%s\n", field_string(service, "metadata.namespace", ""));
	describe_labels(&d, "Labels", json_path(service, "metadata.labels"));
	describe_annotations(&d, json_path(service, "metadata.annotations"));
	_cleanup_buf_ struct buf selector = {0}, families = {0}, ips = {0};
	describe_selector(json_object_get(spec, "selector"), &selector);
	describer_write(&d, 0, "Selector:\t%s\n", selector.data);
	describer_write(&d, 0, "Type:\t%s\n", field_string(spec, "type", ""));
	optional_line(&d, spec, "ipFamilyPolicy", "IP Family Policy");
	join_strings(json_object_get(spec, "ipFamilies"), &families);
	describer_write(&d, 0, "IP Families:\t%s\n", families.data);
	describer_write(&d, 0, "IP:\t%s\n", field_string(spec, "clusterIP", ""));
	join_strings(json_object_get(spec, "clusterIPs"), &ips);
	describer_write(&d, 0, "IPs:\t%s\n", ips.data);
	if (json_array_size(json_object_get(spec, "externalIPs")) > 0) {
		_cleanup_buf_ struct buf external = {0};
		join_strings(json_object_get(spec, "externalIPs"), &external);
		describer_write(&d, 0, "External IPs:\t%s\n", external.data);
	}
	optional_line(&d, spec, "loadBalancerIP", "Desired LoadBalancer IP");
	optional_line(&d, spec, "externalName", "External Name");
	describe_ports(&d, service, endpoint_slices, endpoints);
	describer_write(&d, 0, "Session Affinity:\t%s\n",
			field_string(spec, "sessionAffinity", ""));
	optional_line(&d, spec, "externalTrafficPolicy", "External Traffic Policy");
	optional_line(&d, spec, "internalTrafficPolicy", "Internal Traffic Policy");
	if (field_integer(spec, "healthCheckNodePort") != 0)
		describer_write(&d, 0, "HealthCheck NodePort:\t%lld\n",
				field_integer(spec, "healthCheckNodePort"));
	if (json_array_size(json_object_get(spec, "loadBalancerSourceRanges")) > 0) {
		_cleanup_buf_ struct buf ranges = {0};
		join_strings(json_object_get(spec, "loadBalancerSourceRanges"), &ranges);
		describer_write(&d, 0, "LoadBalancer Source Ranges:\t%s\n", ranges.data);
	}
	describe_events(&d, events);
	describer_finish(&d, out);
}
