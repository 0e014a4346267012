/* Nodes: cluster-scoped; the kubelet writes status, users and the control plane write spec
 * (unschedulable, taints, podCIDR). Columns of `kubectl get nodes`. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/validation.h"

static void node_prepare_create(json_t *node)
{
	/* Unlike pods, a node's creator is its kubelet, which reports status from the start. */
	if (!json_is_object(json_object_get(node, "status")))
		json_object_set_new(node, "status", json_object());
}

static void node_validate(const json_t *node, struct field_errors *errors)
{
	static const char *const effects[] = {"NoExecute", "NoSchedule", "PreferNoSchedule", NULL};
	const json_t *spec = json_object_get(node, "spec");
	struct validation_messages why = {0};
	const char *cidr = json_string_value(json_object_get(spec, "podCIDR"));
	if (cidr && *cidr && !validate_cidr(cidr, &why))
		field_error_invalid_messages(errors, "spec.podCIDR", cidr, &why);
	size_t i;
	json_t *taint;
	json_array_foreach (json_object_get(spec, "taints"), i, taint) {
		char field[64];
		const char *key = json_string_value(json_object_get(taint, "key"));
		json_t *effect = json_object_get(taint, "effect");
		snprintf(field, sizeof(field), "spec.taints[%zu].key", i);
		why.count = 0;
		if (!key || !*key)
			field_error_required(errors, field, NULL);
		else if (!validate_qualified_name(key, &why))
			field_error_invalid_messages(errors, field, key, &why);
		snprintf(field, sizeof(field), "spec.taints[%zu].effect", i);
		const char *effect_text = json_string_value(effect);
		if (!effect_text)
			field_error_required(errors, field, NULL);
		else if (strcmp(effect_text, "NoExecute") && strcmp(effect_text, "NoSchedule") &&
			 strcmp(effect_text, "PreferNoSchedule"))
			field_error_not_supported(errors, field, effect, effects);
	}
}

static void node_validate_update(const json_t *node, const json_t *old, struct field_errors *errors)
{
	const char *cidr = json_path_string(node, "spec.podCIDR");
	const char *old_cidr = json_path_string(old, "spec.podCIDR");
	if (old_cidr && *old_cidr && (!cidr || strcmp(cidr, old_cidr) != 0))
		field_error_forbidden(
		    errors, "spec.podCIDRs",
		    "node updates may not change podCIDR except from \"\" to valid");
}

static const struct table_column node_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", "List of internal IPs for the node.", 1},
    {"External-IP", "string", "", "List of external IPs for the node.", 1},
    {"OS-Image", "string", "", "OS Image reported by the node from /etc/os-release.", 1},
    {"Kernel-Version", "string", "", "Kernel Version reported by the node.", 1},
    {"Container-Runtime", "string", "", "Container Runtime Version reported by the node.", 1},
};

static void node_status_text(const json_t *node, struct buf *out)
{
	/* Like kubectl: any Ready status but True is NotReady; no Ready condition is Unknown. */
	const char *ready = kind_condition_status(node, "Ready");
	if (!ready)
		buf_puts(out, "Unknown");
	else if (!strcmp(ready, "True"))
		buf_puts(out, "Ready");
	else
		buf_puts(out, "NotReady");
	if (json_is_true(json_path(node, "spec.unschedulable")))
		buf_puts(out, ",SchedulingDisabled");
}

/* Roles come from node-role.kubernetes.io/<role> labels (and the older kubernetes.io/role). */
static void node_roles(const json_t *node, struct buf *out)
{
	static const char prefix[] = "node-role.kubernetes.io/";
	const char *key;
	json_t *value;
	json_object_foreach (json_path(node, "metadata.labels"), key, value) {
		const char *role = NULL;
		if (strncmp(key, prefix, sizeof(prefix) - 1) == 0)
			role = key + sizeof(prefix) - 1;
		else if (strcmp(key, "kubernetes.io/role") == 0)
			role = json_string_value(value);
		if (role && *role)
			buf_printf(out, "%s%s", out->len ? "," : "", role);
	}
}

static const char *node_address(const json_t *node, const char *type)
{
	json_t *address = kind_find_by(json_path(node, "status.addresses"), "type", type);
	return json_string_value(json_object_get(address, "address"));
}

static void node_table_cells(const json_t *node, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(node, "metadata.name"), "");
	_cleanup_buf_ struct buf text = {0};
	node_status_text(node, &text);
	kind_cell_string(cells, text.data, "");
	buf_reset(&text);
	node_roles(node, &text);
	kind_cell_string(cells, text.data, "<none>");
	char age[32];
	kind_age(node, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
	kind_cell_string(cells, json_path_string(node, "status.nodeInfo.kubeletVersion"), "");
	kind_cell_string(cells, node_address(node, "InternalIP"), "<none>");
	kind_cell_string(cells, node_address(node, "ExternalIP"), "<none>");
	kind_cell_string(cells, json_path_string(node, "status.nodeInfo.osImage"), "<unknown>");
	kind_cell_string(cells, json_path_string(node, "status.nodeInfo.kernelVersion"),
			 "<unknown>");
	kind_cell_string(cells, json_path_string(node, "status.nodeInfo.containerRuntimeVersion"),
			 "<unknown>");
}

static const char *const node_field_names[] = {"spec.unschedulable", NULL};

static void node_selectable_fields(const json_t *node, struct buf *fields)
{
	field_set_add(fields, "spec.unschedulable",
		      json_is_true(json_path(node, "spec.unschedulable")) ? "true" : "false");
}

const struct kind_strategy node_strategy = {
    .prepare_create = node_prepare_create,
    .prepare_update = kind_keep_status,
    .prepare_status_update = kind_keep_spec,
    .validate = node_validate,
    .validate_update = node_validate_update,
    .selectable_fields = node_selectable_fields,
    .field_names = node_field_names,
    .columns = node_columns,
    .column_count = sizeof(node_columns) / sizeof(node_columns[0]),
    .table_cells = node_table_cells,
};
