/* Namespaces: created Active with the "kubernetes" finalizer; a delete only marks them, and the
 * namespace controller empties them and removes the finalizer, after which they go. */
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kinds.h"
#include "lib/json_util.h"

static void namespace_set_defaults(json_t *ns)
{
	json_t *spec = json_object_ensure(ns, "spec");
	if (!json_object_get(spec, "finalizers"))
		json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
	json_t *status = json_object_ensure(ns, "status");
	bool deleting = json_path(ns, "metadata.deletionTimestamp") != NULL;
	json_object_set_new(status, "phase", json_string(deleting ? "Terminating" : "Active"));
}

static void namespace_prepare_create(json_t *ns)
{
	json_object_set_new(ns, "status", json_object());
}

static void namespace_prepare_update(json_t *ns, const json_t *old)
{
	/* Finalizers change only through the finalize subresource (the controller). */
	kind_keep_spec(ns, old);
	kind_keep_status(ns, old);
}

static bool namespace_has_finalizers(const json_t *ns)
{
	return json_array_size(json_path(ns, "spec.finalizers")) > 0;
}

static const struct table_column namespace_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Status", "string", "", "The status of the namespace", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static void namespace_table_cells(const json_t *ns, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(ns, "metadata.name"), "");
	kind_cell_string(cells, json_path_string(ns, "status.phase"), "");
	char age[32];
	kind_age(ns, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

static const char *const namespace_field_names[] = {"status.phase", NULL};

static void namespace_selectable_fields(const json_t *ns, struct buf *fields)
{
	const char *phase = json_path_string(ns, "status.phase");
	field_set_add(fields, "status.phase", phase ? phase : "");
}

const struct kind_strategy namespace_strategy = {
    .set_defaults = namespace_set_defaults,
    .prepare_create = namespace_prepare_create,
    .prepare_update = namespace_prepare_update,
    .prepare_status_update = kind_keep_spec,
    .selectable_fields = namespace_selectable_fields,
    .field_names = namespace_field_names,
    .columns = namespace_columns,
    .column_count = sizeof(namespace_columns) / sizeof(namespace_columns[0]),
    .table_cells = namespace_table_cells,
    .has_kind_finalizers = namespace_has_finalizers,
};
