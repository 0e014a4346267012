/* Services: defaults (ClusterIP type, targetPort = port, TCP), validation of ports, types and
 * addresses, the immutable ClusterIP, the fields a type change leaves behind, and the columns
 * of `kubectl get services`. Addresses and node ports are allocated by admission.c. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/validation.h"

static void service_set_defaults(json_t *svc)
{
	json_t *spec = json_object_ensure(svc, "spec");
	kind_default_string(spec, "type", "ClusterIP");
	kind_default_string(spec, "sessionAffinity", "None");
	const char *type = json_string_value(json_object_get(spec, "type"));
	bool external_name = type && strcmp(type, "ExternalName") == 0;
	if (!external_name) {
		kind_default_string(spec, "internalTrafficPolicy", "Cluster");
		if (!json_object_get(spec, "ipFamilies"))
			json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
		kind_default_string(spec, "ipFamilyPolicy", "SingleStack");
	}
	if (type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")))
		kind_default_string(spec, "externalTrafficPolicy", "Cluster");
	size_t i;
	json_t *port;
	json_array_foreach (json_object_get(spec, "ports"), i, port) {
		if (!json_is_object(port))
			continue;
		kind_default_string(port, "protocol", "TCP");
		json_t *target = json_object_get(port, "targetPort");
		json_t *number = json_object_get(port, "port");
		bool unset = !target || json_is_null(target) ||
			     (json_is_integer(target) && json_integer_value(target) == 0) ||
			     (json_is_string(target) && !*json_string_value(target));
		if (unset && number)
			json_object_set(port, "targetPort", number);
	}
	if (!json_object_get(svc, "status"))
		json_object_set_new(svc, "status", json_pack("{s:{}}", "loadBalancer"));
}

static bool uses_node_ports(const json_t *svc)
{
	const char *type = json_path_string(svc, "spec.type");
	return type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
}

/* serviceapi.ExternallyAccessible: where externalTrafficPolicy means something. */
static bool externally_accessible(const json_t *svc)
{
	const char *type = json_path_string(svc, "spec.type");
	return uses_node_ports(svc) || ((!type || !strcmp(type, "ClusterIP")) &&
					json_array_size(json_path(svc, "spec.externalIPs")));
}

/* Whether every node port `svc` has was `old`'s already (sameNodePorts). */
static bool adds_no_node_port(const json_t *svc, const json_t *old)
{
	size_t i, j;
	json_t *port, *old_port;
	json_array_foreach (json_path(svc, "spec.ports"), i, port) {
		json_int_t value = json_integer_value(json_object_get(port, "nodePort"));
		bool known = value == 0;
		json_array_foreach (json_path(old, "spec.ports"), j, old_port)
			known = known ||
				json_integer_value(json_object_get(old_port, "nodePort")) == value;
		if (!known)
			return false;
	}
	return true;
}

/* A type change drops the fields the old type filled in and the new one has no use for, as
 * dropTypeDependentFields does: `kubectl patch -p '{"spec":{"type":"ClusterIP"}}'` on a
 * NodePort Service keeps its ports, node ports included, which the new type forbids. A field
 * the update changes too is the user's and left for validation to judge. */
static void drop_type_dependent_fields(json_t *svc, const json_t *old)
{
	json_t *spec = json_object_get(svc, "spec");
	if (uses_node_ports(old) && !uses_node_ports(svc) && adds_no_node_port(svc, old)) {
		size_t i;
		json_t *port;
		json_array_foreach (json_object_get(spec, "ports"), i, port)
			json_object_del(port, "nodePort");
	}
	if (externally_accessible(old) && !externally_accessible(svc) &&
	    json_equal(json_object_get(spec, "externalTrafficPolicy"),
		       json_path(old, "spec.externalTrafficPolicy")))
		json_object_del(spec, "externalTrafficPolicy");
}

static void service_prepare_update(json_t *svc, const json_t *old)
{
	kind_keep_status(svc, old);
	drop_type_dependent_fields(svc, old);
}

static void service_prepare_create(json_t *svc)
{
	json_object_set_new(svc, "status", json_pack("{s:{}}", "loadBalancer"));
}

static bool one_of(const char *value, const char *const *allowed)
{
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(value, allowed[i]) == 0)
			return true;
	return false;
}

static void validate_service_ports(const json_t *ports, struct field_errors *errors)
{
	static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
	_cleanup_json_ json_t *names = json_object();
	_cleanup_json_ json_t *seen = json_object();
	bool several = json_array_size(ports) > 1;
	size_t i;
	json_t *port;
	json_array_foreach (ports, i, port) {
		char field[96];
		struct validation_messages why = {0};
		json_t *name_value = json_object_get(port, "name");
		const char *name = json_string_value(name_value);
		snprintf(field, sizeof(field), "spec.ports[%zu].name", i);
		if ((!name || !*name) && several) {
			field_error_required(errors, field, NULL);
		} else if (name && *name) {
			if (!validate_dns1123_label(name, &why))
				field_error_invalid_messages(errors, field, name, &why);
			else if (json_object_get(names, name))
				field_error_duplicate(errors, field, name_value);
			json_object_set_new(names, name, json_true());
		}
		json_t *number = json_object_get(port, "port");
		snprintf(field, sizeof(field), "spec.ports[%zu].port", i);
		why.count = 0;
		if (!number)
			field_error_required(errors, field, NULL);
		else if (!validate_port_number(json_integer_value(number), &why))
			field_error_invalid(errors, field, number, why.text[0]);
		json_t *protocol = json_object_get(port, "protocol");
		if (json_is_string(protocol) && !one_of(json_string_value(protocol), protocols)) {
			snprintf(field, sizeof(field), "spec.ports[%zu].protocol", i);
			field_error_not_supported(errors, field, protocol, protocols);
		}
		json_t *target = json_object_get(port, "targetPort");
		snprintf(field, sizeof(field), "spec.ports[%zu].targetPort", i);
		why.count = 0;
		if (json_is_integer(target) &&
		    !validate_port_number(json_integer_value(target), &why))
			field_error_invalid(errors, field, target, why.text[0]);
		else if (json_is_string(target) &&
			 !validate_port_name(json_string_value(target), &why))
			field_error_invalid_messages(errors, field, json_string_value(target),
						     &why);
		if (number) {
			char key[64];
			snprintf(key, sizeof(key), "%lld/%s", (long long)json_integer_value(number),
				 json_is_string(protocol) ? json_string_value(protocol) : "TCP");
			if (json_object_get(seen, key)) {
				snprintf(field, sizeof(field), "spec.ports[%zu]", i);
				field_error_duplicate(errors, field, port);
			}
			json_object_set_new(seen, key, json_true());
		}
	}
}

/* A ClusterIP Service is reached on no node port, so it may not hold one. */
static void forbid_node_ports(const json_t *ports, struct field_errors *errors)
{
	size_t i;
	json_t *port;
	json_array_foreach (ports, i, port) {
		if (json_integer_value(json_object_get(port, "nodePort"))) {
			char field[64];
			snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
			field_error_forbidden(errors, field,
					      "may not be used when `type` is 'ClusterIP'");
		}
	}
}

static void service_validate(const json_t *svc, struct field_errors *errors)
{
	static const char *const types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
					    NULL};
	static const char *const affinities[] = {"ClientIP", "None", NULL};
	const json_t *spec = json_object_get(svc, "spec");
	json_t *type_value = json_object_get(spec, "type");
	const char *type = json_string_value(type_value);
	if (type && !one_of(type, types))
		field_error_not_supported(errors, "spec.type", type_value, types);
	json_t *affinity = json_object_get(spec, "sessionAffinity");
	if (json_is_string(affinity) && !one_of(json_string_value(affinity), affinities))
		field_error_not_supported(errors, "spec.sessionAffinity", affinity, affinities);

	const char *cluster_ip = json_string_value(json_object_get(spec, "clusterIP"));
	bool external_name = type && strcmp(type, "ExternalName") == 0;
	bool headless = cluster_ip && strcmp(cluster_ip, "None") == 0;
	struct validation_messages why = {0};
	if (external_name) {
		const char *name = json_string_value(json_object_get(spec, "externalName"));
		if (!name || !*name)
			field_error_required(errors, "spec.externalName", NULL);
		else if (!validate_dns1123_subdomain(name, &why))
			field_error_invalid_messages(errors, "spec.externalName", name, &why);
	} else if (json_array_size(json_object_get(spec, "ports")) == 0 && !headless) {
		field_error_required(errors, "spec.ports", NULL);
	}
	if (cluster_ip && *cluster_ip && !headless && !validate_ip_address(cluster_ip, &why))
		field_error_invalid_messages(errors, "spec.clusterIPs[0]", cluster_ip, &why);
	if (headless && type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")))
		field_error_invalid_string(errors, "spec.clusterIPs[0]", "None",
					   "may not be set to 'None' for LoadBalancer or NodePort "
					   "services");
	validate_service_ports(json_object_get(spec, "ports"), errors);
	if (type && strcmp(type, "ClusterIP") == 0)
		forbid_node_ports(json_object_get(spec, "ports"), errors);
	const char *key;
	json_t *value;
	json_object_foreach (json_object_get(spec, "selector"), key, value) {
		why.count = 0;
		if (!validate_qualified_name(key, &why))
			field_error_invalid_messages(errors, "spec.selector", key, &why);
		why.count = 0;
		if (!json_is_string(value))
			field_error_invalid(errors, "spec.selector", value, "must be a string");
		else if (!validate_label_value(json_string_value(value), &why))
			field_error_invalid_messages(errors, "spec.selector",
						     json_string_value(value), &why);
	}
}

static void service_validate_update(const json_t *svc, const json_t *old,
				    struct field_errors *errors)
{
	const char *ip = json_path_string(svc, "spec.clusterIP");
	const char *old_ip = json_path_string(old, "spec.clusterIP");
	const char *type = json_path_string(svc, "spec.type");
	bool to_external_name = type && strcmp(type, "ExternalName") == 0;
	if (old_ip && *old_ip && !to_external_name && (!ip || strcmp(ip, old_ip) != 0))
		field_error_invalid(errors, "spec.clusterIPs[0]", json_path(svc, "spec.clusterIP"),
				    "may not change once set");
}

static const struct table_column service_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Type", "string", "", "The type of the service.", 0},
    {"Cluster-IP", "string", "", "The cluster IP of the service.", 0},
    {"External-IP", "string", "", "The external IP of the service.", 0},
    {"Port(s)", "string", "", "The ports exposed by the service.", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
    {"Selector", "string", "", "The label selector of the service.", 1},
};

static void external_ips(const json_t *svc, struct buf *out)
{
	const char *type = json_path_string(svc, "spec.type");
	size_t i;
	json_t *item;
	json_array_foreach (json_path(svc, "spec.externalIPs"), i, item)
		buf_printf(out, "%s%s", out->len ? "," : "", json_string_value(item));
	if (type && strcmp(type, "LoadBalancer") == 0) {
		json_array_foreach (json_path(svc, "status.loadBalancer.ingress"), i, item) {
			const char *ip = json_string_value(json_object_get(item, "ip"));
			const char *host = json_string_value(json_object_get(item, "hostname"));
			buf_printf(out, "%s%s", out->len ? "," : "", ip ? ip : host ? host : "");
		}
		if (!out->len)
			buf_puts(out, "<pending>");
	} else if (type && strcmp(type, "ExternalName") == 0) {
		const char *name = json_path_string(svc, "spec.externalName");
		if (!out->len && name)
			buf_puts(out, name);
	}
	if (!out->len)
		buf_puts(out, "<none>");
}

static void service_table_cells(const json_t *svc, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(svc, "metadata.name"), "");
	kind_cell_string(cells, json_path_string(svc, "spec.type"), "");
	kind_cell_string(cells, json_path_string(svc, "spec.clusterIP"), "<none>");
	_cleanup_buf_ struct buf text = {0};
	external_ips(svc, &text);
	kind_cell_string(cells, text.data, "<none>");
	buf_reset(&text);
	size_t i;
	json_t *port;
	json_array_foreach (json_path(svc, "spec.ports"), i, port) {
		const char *protocol = json_string_value(json_object_get(port, "protocol"));
		json_t *node_port = json_object_get(port, "nodePort");
		buf_printf(&text, "%s%lld", i ? "," : "",
			   (long long)json_integer_value(json_object_get(port, "port")));
		if (json_integer_value(node_port))
			buf_printf(&text, ":%lld", (long long)json_integer_value(node_port));
		buf_printf(&text, "/%s", protocol ? protocol : "TCP");
	}
	kind_cell_string(cells, text.data, "<none>");
	char age[32];
	kind_age(svc, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
	buf_reset(&text);
	const char *key;
	json_t *value;
	json_object_foreach (json_path(svc, "spec.selector"), key, value)
		buf_printf(&text, "%s%s=%s", text.len ? "," : "", key, json_string_value(value));
	kind_cell_string(cells, text.data, "<none>");
}

static const char *const service_field_names[] = {"spec.clusterIP", "spec.type", NULL};

static void service_selectable_fields(const json_t *svc, struct buf *fields)
{
	for (size_t i = 0; service_field_names[i]; i++) {
		const char *value = json_path_string(svc, service_field_names[i]);
		field_set_add(fields, service_field_names[i], value);
	}
}

const struct kind_strategy service_strategy = {
    .set_defaults = service_set_defaults,
    .prepare_create = service_prepare_create,
    .prepare_update = service_prepare_update,
    .prepare_status_update = kind_keep_spec,
    .validate = service_validate,
    .validate_update = service_validate_update,
    .selectable_fields = service_selectable_fields,
    .field_names = service_field_names,
    .columns = service_columns,
    .column_count = sizeof(service_columns) / sizeof(service_columns[0]),
    .table_cells = service_table_cells,
};
