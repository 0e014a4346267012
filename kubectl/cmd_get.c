/* kubectl get: the server's Tables printed as kubectl lays them out, or the objects themselves
 * with -o yaml|json|name; -w keeps printing changes. */
#include <string.h>

#include "kubectl/api.h"
#include "kubectl/args.h"
#include "kubectl/collection.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"
#include "kubectl/output.h"
#include "kubectl/table.h"
#include "kubectl/targets.h"
#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/json_util.h"

struct get_options {
	enum output_format format;
	bool all_namespaces;
	bool watch;
	const char *label_selector;
	const char *field_selector;
};

static void selector_query(const struct get_options *o, const char *name, struct buf *query)
{
	if (o->label_selector) {
		_cleanup_free_ char *escaped = http_escape(o->label_selector);
		buf_printf(query, "labelSelector=%s", escaped);
	}
	_cleanup_buf_ struct buf fields = {0};
	if (o->field_selector)
		buf_puts(&fields, o->field_selector);
	if (name)
		buf_printf(&fields, "%smetadata.name=%s", fields.len ? "," : "", name);
	if (fields.len) {
		_cleanup_free_ char *escaped = http_escape(fields.data);
		buf_printf(query, "%sfieldSelector=%s", query->len ? "&" : "", escaped);
	}
}

static const char *namespace_for(struct kubectl *k, const struct get_options *o)
{
	return o->all_namespaces ? NULL : k->namespace;
}

/* GETs one object by name (in -n's namespace, also with -A); reports a failure. */
static int get_one(struct kubectl *k, const struct target *t, const char *name, const char *accept,
		   json_t **object)
{
	_cleanup_buf_ struct buf path = {0};
	resource_path(&t->resource, k->namespace, name, &path);
	struct api_request request = {.method = "GET", .path = path.data, .accept = accept};
	struct ck_error err = {0};
	int ret = api_call(k, &request, object, &err);
	if (ret < 0) {
		kubectl_report(k, &err);
		json_decref(*object);
		*object = NULL;
	}
	return ret;
}

static int list_target(struct kubectl *k, const struct get_options *o, const struct target *t,
		       const char *name, const char *accept, json_t **list)
{
	_cleanup_buf_ struct buf path = {0}, query = {0};
	resource_path(&t->resource, namespace_for(k, o), NULL, &path);
	selector_query(o, name, &query);
	struct ck_error err = {0};
	int ret = collection_list(k, path.data, query.data ? query.data : "", accept, list, &err);
	if (ret < 0) {
		kubectl_report(k, &err);
		json_decref(*list);
		*list = NULL;
	}
	return ret;
}

static bool with_namespace_column(const struct get_options *o, const struct target *t)
{
	return o->all_namespaces && t->resource.namespaced;
}

/* One target's table; returns 1 if any request failed. */
static int print_target_table(struct kubectl *k, const struct get_options *o,
			      const struct target *t, bool name_with_type, struct buf *out)
{
	_cleanup_buf_ struct buf type = {0};
	resource_type_name(&t->resource, &type);
	struct table_printer printer;
	table_printer_init(&printer, o->format == OUTPUT_WIDE, with_namespace_column(o, t),
			   name_with_type ? type.data : NULL);
	int failed = 0;
	if (t->names.count == 0) {
		_cleanup_json_ json_t *table = NULL;
		if (list_target(k, o, t, NULL, API_ACCEPT_TABLE, &table) < 0)
			failed = 1;
		table_printer_print(&printer, table, out);
	}
	for (size_t i = 0; i < t->names.count; i++) {
		_cleanup_json_ json_t *table = NULL;
		if (get_one(k, t, t->names.items[i], API_ACCEPT_TABLE, &table) < 0)
			failed = 1;
		table_printer_print(&printer, table, out);
	}
	table_printer_free(&printer);
	return failed;
}

static int get_tables(struct kubectl *k, const struct get_options *o, const struct targets *t)
{
	bool wrote = false, all_namespaced = !o->all_namespaces;
	int status = 0;
	for (size_t i = 0; i < t->count; i++) {
		_cleanup_buf_ struct buf out = {0};
		status |= print_target_table(k, o, &t->items[i], t->count > 1, &out);
		all_namespaced &= t->items[i].resource.namespaced;
		if (out.len == 0)
			continue;
		if (wrote)
			fputc('\n', k->out);
		fputs(out.data, k->out);
		wrote = true;
	}
	if (!wrote && status == 0) {
		if (all_namespaced)
			fprintf(k->err, "No resources found in %s namespace.\n", k->namespace);
		else
			fprintf(k->err, "No resources found\n");
	}
	return status;
}

static int get_objects(struct kubectl *k, const struct get_options *o, const struct targets *t)
{
	_cleanup_json_ json_t *items = json_array();
	int status = 0;
	bool single = t->count == 1 && t->items[0].names.count == 1;
	for (size_t i = 0; i < t->count; i++) {
		const struct target *target = &t->items[i];
		if (target->names.count == 0) {
			_cleanup_json_ json_t *list = NULL;
			if (list_target(k, o, target, NULL, NULL, &list) < 0) {
				status = 1;
				continue;
			}
			size_t j;
			json_t *item;
			json_array_foreach (json_object_get(list, "items"), j, item) {
				output_fill_item_type(item, list);
				json_array_append(items, item);
			}
		}
		for (size_t j = 0; j < target->names.count; j++) {
			json_t *object = NULL;
			if (get_one(k, target, target->names.items[j], NULL, &object) < 0)
				status = 1;
			else
				json_array_append_new(items, object);
		}
	}
	if (single && status != 0)
		return status;
	_cleanup_json_ json_t *shown =
	    single ? json_incref(json_array_get(items, 0)) : output_list(items);
	struct ck_error err = {0};
	if (output_object(k, shown, o->format, &err) < 0) {
		kubectl_report(k, &err);
		return 1;
	}
	return status;
}

struct watch_printer {
	struct kubectl *k;
	enum output_format format;
	struct table_printer *table;
	size_t printed;
};

static int print_watched(void *ctx, const char *type, const json_t *object)
{
	(void)type;
	struct watch_printer *w = ctx;
	if (w->table) {
		_cleanup_buf_ struct buf out = {0};
		table_printer_print(w->table, object, &out);
		if (out.data)
			fputs(out.data, w->k->out);
	} else {
		struct ck_error err = {0};
		if (w->format == OUTPUT_YAML && w->printed > 0)
			fputs("---\n", w->k->out);
		if (output_object(w->k, object, w->format, &err) < 0)
			kubectl_report(w->k, &err);
	}
	w->printed++;
	fflush(w->k->out);
	return 0;
}

/* Prints the current list, then every change from its resourceVersion on. */
static int list_and_watch(struct kubectl *k, const struct get_options *o,
			  const struct target *target, struct watch_printer *w)
{
	const char *name = target->names.count ? target->names.items[0] : NULL;
	const char *accept = w->table ? API_ACCEPT_TABLE : NULL;
	_cleanup_json_ json_t *list = NULL;
	if (list_target(k, o, target, name, accept, &list) < 0)
		return 1;
	if (w->table) {
		print_watched(w, "ADDED", list);
	} else {
		size_t i;
		json_t *item;
		json_array_foreach (json_object_get(list, "items"), i, item) {
			output_fill_item_type(item, list);
			print_watched(w, "ADDED", item);
		}
	}
	_cleanup_buf_ struct buf path = {0}, query = {0};
	resource_path(&target->resource, namespace_for(k, o), NULL, &path);
	selector_query(o, name, &query);
	_cleanup_json_ json_t *error_status = NULL;
	struct ck_error err = {0};
	if (collection_watch(k, path.data, query.data ? query.data : "", accept,
			     json_path_string(list, "metadata.resourceVersion"), print_watched, w,
			     &error_status, &err) < 0) {
		kubectl_report(k, &err);
		return 1;
	}
	return 0;
}

static int get_watch(struct kubectl *k, const struct get_options *o, const struct targets *t)
{
	if (t->count != 1 || t->items[0].names.count > 1) {
		fprintf(k->err, "error: you may only specify a single resource type\n");
		return 1;
	}
	bool tables = o->format == OUTPUT_TABLE || o->format == OUTPUT_WIDE;
	struct table_printer printer;
	table_printer_init(&printer, o->format == OUTPUT_WIDE,
			   with_namespace_column(o, &t->items[0]), NULL);
	struct watch_printer w = {.k = k, .format = o->format, .table = tables ? &printer : NULL};
	int status = list_and_watch(k, o, &t->items[0], &w);
	table_printer_free(&printer);
	return status;
}

int kubectl_get(struct kubectl *k, int argc, const char *const *argv)
{
	struct get_options o = {0};
	const char *output = NULL;
	struct arg_strings args = {0};
	const struct arg_option options[] = {
	    {'o', "output", ARG_STRING, &output},
	    {'A', "all-namespaces", ARG_BOOL, &o.all_namespaces},
	    {'w', "watch", ARG_BOOL, &o.watch},
	    {'l', "selector", ARG_STRING, &o.label_selector},
	    {0, "field-selector", ARG_STRING, &o.field_selector},
	    {0},
	};
	struct targets targets = {0};
	struct ck_error err = {0};
	int status = 1;
	if (kubectl_parse_flags(k, argc, argv, options, &args) < 0)
		goto out;
	if (output_format_parse(output, &o.format, &err) < 0) {
		kubectl_report(k, &err);
		goto out;
	}
	if (args.count == 0) {
		fprintf(k->err, "You must specify the type of resource to get. Use \"kubectl "
				"api-resources\" for a complete list of supported resources.\n\n"
				"error: Required resource not specified.\n");
		goto out;
	}
	if (targets_resolve(k, "get", &args, &targets, &err) < 0) {
		kubectl_report(k, &err);
		goto out;
	}
	if (o.watch)
		status = get_watch(k, &o, &targets);
	else if (o.format == OUTPUT_TABLE || o.format == OUTPUT_WIDE)
		status = get_tables(k, &o, &targets);
	else
		status = get_objects(k, &o, &targets);
out:
	targets_free(&targets);
	arg_strings_free(&args);
	return status;
}
