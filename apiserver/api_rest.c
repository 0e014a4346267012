#include "apiserver/api_rest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_respond.h"
#include "apiserver/metrics.h"
#include "apiserver/node_exec_proxy.h"
#include "apiserver/node_proxy.h"
#include "apiserver/protobuf.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "apiserver/table.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/strconv.h"
#include "lib/yaml.h"

/* --- request options ------------------------------------------------------------------------ */

static bool param_bool(const struct http_request *req, const char *key)
{
	const char *text = http_request_param(req, key);
	bool value = false;
	return text && strconv_parse_bool(text, &value, NULL) == 0 && value;
}

static int parse_write_options(const struct http_request *req, struct write_options *options,
			       struct api_status *status)
{
	memset(options, 0, sizeof(*options));
	for (size_t i = 0; i < req->param_count; i++) {
		if (strcmp(req->params[i].key, "dryRun") != 0)
			continue;
		if (strcmp(req->params[i].value, "All") != 0)
			return api_fail(status, 400, "BadRequest",
					"Invalid dry run value: %s (supported values: All)",
					req->params[i].value);
		options->dry_run = true;
	}
	const char *validation = http_request_param(req, "fieldValidation");
	if (!validation || !*validation || !strcmp(validation, "Warn"))
		options->field_validation = FIELD_VALIDATION_WARN;
	else if (!strcmp(validation, "Strict"))
		options->field_validation = FIELD_VALIDATION_STRICT;
	else if (!strcmp(validation, "Ignore"))
		options->field_validation = FIELD_VALIDATION_IGNORE;
	else
		return api_fail(
		    status, 400, "BadRequest",
		    "fieldValidation: invalid value \"%s\": must be one of Ignore, Warn, "
		    "Strict",
		    validation);
	options->field_manager = http_request_param(req, "fieldManager");
	return 0;
}

/* Reads the request body as JSON or YAML (one document). */
static int read_body(const struct http_request *req, json_t **body, struct api_status *status)
{
	enum body_format format = negotiate_body(http_request_header(req, "Content-Type"));
	if (format == BODY_UNSUPPORTED)
		return api_fail(status, 415, "UnsupportedMediaType",
				"the body of the request was in an unknown format - accepted media "
				"types include: application/json, application/yaml, "
				"application/vnd.kubernetes.protobuf");
	if (req->body_len == 0)
		return api_fail(status, 400, "BadRequest", "the request body is empty");
	if (format == BODY_PROTOBUF) {
		/* kubectl's imperative create commands send built-in kinds this way. */
		struct ck_error err = {0};
		int ret = protobuf_decode(req->body, req->body_len, body, &err);
		if (ret == -ENOMEM)
			return api_fail_internal(status, "%s", err.message);
		if (ret < 0)
			return api_fail(status, 400, "BadRequest", "%s", err.message);
		return 0;
	}
	if (format == BODY_YAML) {
		struct ck_error err = {0};
		_cleanup_json_ json_t *docs = NULL;
		if (yaml_parse_documents(req->body, req->body_len, &docs, &err) < 0)
			return api_fail(status, 400, "BadRequest",
					"error converting YAML to JSON: %s", err.message);
		if (json_array_size(docs) != 1)
			return api_fail(status, 400, "BadRequest",
					"the body must hold exactly one YAML document");
		*body = json_incref(json_array_get(docs, 0));
		return 0;
	}
	json_error_t error;
	*body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &error);
	if (!*body)
		return api_fail(status, 400, "BadRequest",
				"couldn't get version/kind; json parse error: %s", error.text);
	return 0;
}

static bool is_field_known(const struct api_resource *resource, const char *field)
{
	if (!strcmp(field, "metadata.name") || !strcmp(field, "metadata.namespace"))
		return true;
	const struct kind_strategy *strategy = resource->strategy;
	for (size_t i = 0; strategy && strategy->field_names && strategy->field_names[i]; i++)
		if (!strcmp(strategy->field_names[i], field))
			return true;
	return false;
}

/* labelSelector, fieldSelector and the namespace of the path. */
int api_parse_filter(struct api_call *call, struct list_filter *filter, struct api_status *status)
{
	memset(filter, 0, sizeof(*filter));
	struct ck_error err = {0};
	const char *labels = http_request_param(call->req, "labelSelector");
	if (labels && *labels && label_selector_parse(labels, &filter->labels, &err) < 0)
		return api_fail(status, 400, "BadRequest", "unable to parse requirement: %s",
				err.message);
	const char *fields = http_request_param(call->req, "fieldSelector");
	if (fields && *fields) {
		if (field_selector_parse(fields, &filter->fields, &err) < 0) {
			list_filter_clear(filter);
			return api_fail(status, 400, "BadRequest", "%s", err.message);
		}
		for (size_t i = 0; i < field_selector_count(filter->fields); i++) {
			const char *field = field_selector_field(filter->fields, i);
			if (!is_field_known(call->resource, field)) {
				/* The message first: `field` lives in the selector freed below. */
				api_fail(status, 400, "BadRequest", "field label not supported: %s",
					 field);
				list_filter_clear(filter);
				return -1;
			}
		}
	}
	if (call->namespace)
		filter->namespace = strdup(call->namespace);
	return 0;
}

/* --- answers ------------------------------------------------------------------------------- */

static void add_warnings(struct http_response *resp, const json_t *warnings)
{
	size_t i;
	json_t *warning;
	json_array_foreach (warnings, i, warning)
		respond_warning(resp, json_string_value(warning));
}

/* Answers with one object in the negotiated format. `text` is its JSON (ownership taken). */
static void respond_object(struct api_call *call, unsigned code, char *text, json_t *parsed)
{
	if (call->output.kind == OUTPUT_JSON) {
		respond_text(call->resp, code, CONTENT_TYPE_JSON, text);
		return;
	}
	_cleanup_json_ json_t *obj = parsed ? json_incref(parsed) : json_loads(text, 0, NULL);
	free(text);
	if (call->output.kind == OUTPUT_TABLE) {
		json_t *table = table_new(call->resource, call->output.api_version, true);
		json_object_set_new(
		    json_object_get(table, "metadata"), "resourceVersion",
		    json_string(json_path_string(obj, "metadata.resourceVersion") ?: ""));
		table_add_row(table, call->resource, obj, TABLE_INCLUDE_METADATA, time(NULL));
		respond_json(call->resp, code, table);
		return;
	}
	respond_json(call->resp, code,
		     json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
			       call->output.api_version, "metadata",
			       json_object_get(obj, "metadata")));
}

static void respond_stored(struct api_call *call, unsigned code, struct stored_object *obj)
{
	add_warnings(call->resp, obj->warnings);
	respond_object(call, code, steal_ptr(&obj->text), obj->json);
	stored_object_clear(obj);
}

static void respond_failure(struct api_call *call, struct api_status *status)
{
	respond_status(call->resp, status);
	api_status_clear(status);
}

/* --- get and list ------------------------------------------------------------------------- */

static void handle_get(struct api_call *call)
{
	struct api_status status = {0};
	char *text = NULL;
	if (registry_get(call->server, call->resource, call->namespace, call->name, &text,
			 &status) < 0)
		return respond_failure(call, &status);
	respond_object(call, 200, text, NULL);
}

struct list_output {
	struct api_call *call;
	struct buf json; /* OUTPUT_JSON: the items, comma-separated */
	json_t *items;   /* other outputs: rows or partial objects */
	json_t *table;
	enum table_include include;
	time_t now;
	size_t count;
};

static int collect_item(void *ctx, const char *text, size_t len, json_t *parsed)
{
	struct list_output *out = ctx;
	if (out->call->output.kind == OUTPUT_JSON) {
		if (out->count++)
			buf_putc(&out->json, ',');
		buf_append(&out->json, text, len);
		return 0;
	}
	_cleanup_json_ json_t *obj = parsed ? json_incref(parsed) : json_loadb(text, len, 0, NULL);
	if (!obj)
		return 0;
	out->count++;
	if (out->table)
		table_add_row(out->table, out->call->resource, obj, out->include, out->now);
	else
		json_array_append_new(out->items,
				      json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata",
						"apiVersion", out->call->output.api_version,
						"metadata", json_object_get(obj, "metadata")));
	return 0;
}

static json_t *list_metadata(const struct list_result *result)
{
	char revision[24];
	snprintf(revision, sizeof(revision), "%lld", (long long)result->revision);
	json_t *meta = json_pack("{s:s}", "resourceVersion", revision);
	if (result->continue_token) {
		json_object_set_new(meta, "continue", json_string(result->continue_token));
		if (result->remaining >= 0)
			json_object_set_new(meta, "remainingItemCount",
					    json_integer(result->remaining));
	}
	return meta;
}

static enum table_include parse_include(const char *text)
{
	if (text && !strcmp(text, "None"))
		return TABLE_INCLUDE_NONE;
	if (text && !strcmp(text, "Object"))
		return TABLE_INCLUDE_OBJECT;
	return TABLE_INCLUDE_METADATA;
}

static void handle_list(struct api_call *call)
{
	struct api_status status = {0};
	struct list_options options = {0};
	if (api_parse_filter(call, &options.filter, &status) < 0)
		return respond_failure(call, &status);
	const char *limit = http_request_param(call->req, "limit");
	int64_t parsed_limit = 0;
	if (limit && *limit && strconv_parse_int(limit, 0, INT64_MAX, &parsed_limit, NULL) < 0) {
		list_filter_clear(&options.filter);
		api_fail(&status, 400, "BadRequest", "limit: invalid value \"%s\"", limit);
		return respond_failure(call, &status);
	}
	options.limit = (size_t)parsed_limit;
	options.continue_token = http_request_param(call->req, "continue");

	struct list_output out = {
	    .call = call,
	    .now = time(NULL),
	    .include = parse_include(http_request_param(call->req, "includeObject"))};
	if (call->output.kind == OUTPUT_TABLE)
		out.table = table_new(call->resource, call->output.api_version, true);
	else if (call->output.kind == OUTPUT_PARTIAL_METADATA)
		out.items = json_array();
	struct list_result result = {0};
	int ret = registry_list(call->server, call->resource, &options, collect_item, &out, &result,
				&status);
	list_filter_clear(&options.filter);
	if (ret < 0) {
		buf_free(&out.json);
		json_decref(out.table);
		json_decref(out.items);
		return respond_failure(call, &status);
	}
	json_t *meta = list_metadata(&result);
	free(result.continue_token);
	if (out.table) {
		json_object_set_new(out.table, "metadata", meta);
		respond_json(call->resp, 200, out.table);
		return;
	}
	if (out.items) {
		respond_json(call->resp, 200,
			     json_pack("{s:s, s:s, s:o, s:o}", "kind", "PartialObjectMetadataList",
				       "apiVersion", call->output.api_version, "metadata", meta,
				       "items", out.items));
		return;
	}
	/* Plain JSON lists are assembled from the stored text: no object is parsed. */
	_cleanup_free_ char *meta_text = json_dump_compact(meta);
	json_decref(meta);
	struct buf *body = &call->resp->body;
	buf_reserve(body, out.json.len + 256);
	buf_printf(body, "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":%s,\"items\":[",
		   call->resource->kind, call->resource->api_version, meta_text);
	buf_append(body, out.json.data ? out.json.data : "", out.json.len);
	buf_puts(body, "]}\n");
	buf_free(&out.json);
	call->resp->status = 200;
	call->resp->content_type = CONTENT_TYPE_JSON;
}

/* --- writes -------------------------------------------------------------------------------- */

static void handle_create(struct api_call *call)
{
	struct api_status status = {0};
	struct write_options options;
	_cleanup_json_ json_t *body = NULL;
	if (parse_write_options(call->req, &options, &status) < 0 ||
	    read_body(call->req, &body, &status) < 0)
		return respond_failure(call, &status);
	struct stored_object out = {0};
	if (registry_create(call->server, call->resource, call->namespace, body, &options, &out,
			    &status) < 0) {
		stored_object_clear(&out);
		return respond_failure(call, &status);
	}
	respond_stored(call, 201, &out);
}

static void handle_binding(struct api_call *call)
{
	struct api_status status = {0};
	_cleanup_json_ json_t *body = NULL;
	if (read_body(call->req, &body, &status) < 0 ||
	    registry_bind_pod(call->server, call->namespace, call->name, body, &status) < 0)
		return respond_failure(call, &status);
	respond_json(call->resp, 201,
		     json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
			       "metadata", "status", "Success", "code", 201));
}

static void handle_update(struct api_call *call)
{
	struct api_status status = {0};
	struct write_options options;
	_cleanup_json_ json_t *body = NULL;
	if (parse_write_options(call->req, &options, &status) < 0 ||
	    read_body(call->req, &body, &status) < 0)
		return respond_failure(call, &status);
	struct stored_object out = {0};
	if (registry_update(call->server, call->resource, call->namespace, call->name,
			    call->subresource, body, &options, &out, &status) < 0) {
		stored_object_clear(&out);
		return respond_failure(call, &status);
	}
	respond_stored(call, out.created ? 201 : 200, &out);
}

static int patch_type_of(const char *content_type, enum patch_type *type)
{
	if (!content_type)
		return -1;
	static const struct {
		const char *name;
		enum patch_type type;
	} types[] = {
	    {"application/merge-patch+json", PATCH_MERGE},
	    {"application/json-patch+json", PATCH_JSON},
	    {"application/strategic-merge-patch+json", PATCH_STRATEGIC},
	    {"application/apply-patch+yaml", PATCH_APPLY},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strncasecmp(content_type, types[i].name, strlen(types[i].name)) == 0) {
			*type = types[i].type;
			return 0;
		}
	return -1;
}

static void handle_patch(struct api_call *call)
{
	struct api_status status = {0};
	enum patch_type type;
	if (patch_type_of(http_request_header(call->req, "Content-Type"), &type) < 0) {
		api_fail(&status, 415, "UnsupportedMediaType",
			 "the body of the request was in an unknown format - accepted media types "
			 "include: application/json-patch+json, application/merge-patch+json, "
			 "application/apply-patch+yaml, application/strategic-merge-patch+json");
		return respond_failure(call, &status);
	}
	struct write_options options;
	_cleanup_json_ json_t *body = NULL;
	if (parse_write_options(call->req, &options, &status) < 0 ||
	    read_body(call->req, &body, &status) < 0)
		return respond_failure(call, &status);
	if (type == PATCH_APPLY && !(options.field_manager && *options.field_manager)) {
		api_fail(&status, 400, "BadRequest",
			 "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
			 "is required for apply patch");
		return respond_failure(call, &status);
	}
	struct stored_object out = {0};
	if (registry_patch(call->server, call->resource, call->namespace, call->name,
			   call->subresource, type, body, &options, &out, &status) < 0) {
		stored_object_clear(&out);
		return respond_failure(call, &status);
	}
	respond_stored(call, out.created ? 201 : 200, &out);
}

/* A DeleteOptions body must have the right types and a known propagation policy. */
static int check_delete_body(json_t *body, struct api_status *status)
{
	_cleanup_json_ json_t *problems = json_array();
	const struct schema_type *type = schema_lookup("DeleteOptions");
	if (!json_is_object(body))
		return api_fail(status, 400, "BadRequest", "DeleteOptions must be a JSON object");
	if (type)
		schema_check(type, body, false, problems);
	size_t i;
	json_t *problem;
	json_array_foreach (problems, i, problem) {
		const char *reason = json_string_value(json_object_get(problem, "reason"));
		if (reason && strcmp(reason, "FieldValueUnknown") != 0)
			return api_fail(status, 400, "BadRequest", "DeleteOptions: %s",
					json_string_value(json_object_get(problem, "message")));
	}
	const char *policy = json_string_value(json_object_get(body, "propagationPolicy"));
	if (policy && strcmp(policy, "Orphan") && strcmp(policy, "Background") &&
	    strcmp(policy, "Foreground"))
		return api_fail(status, 422, "Invalid",
				"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
				"Unsupported value: \"%s\": supported values: \"Foreground\", "
				"\"Background\", \"Orphan\"",
				policy);
	return 0;
}

/* DeleteOptions come as a body, as query parameters, or both. */
static int parse_delete_options(const struct http_request *req, json_t **body_out,
				struct delete_options *options, struct api_status *status)
{
	options->grace_period_seconds = -1;
	json_t *body = NULL;
	if (req->body_len) {
		if (read_body(req, &body, status) < 0)
			return -1;
		*body_out = body;
		if (check_delete_body(body, status) < 0)
			return -1;
		json_t *grace = json_object_get(body, "gracePeriodSeconds");
		if (json_is_integer(grace))
			options->grace_period_seconds = json_integer_value(grace);
		options->precondition_uid = json_path_string(body, "preconditions.uid");
		options->precondition_resource_version =
		    json_path_string(body, "preconditions.resourceVersion");
		options->propagation_policy =
		    json_string_value(json_object_get(body, "propagationPolicy"));
		json_t *dry_run = json_object_get(body, "dryRun");
		size_t i;
		json_t *item;
		json_array_foreach (dry_run, i, item)
			options->dry_run =
			    options->dry_run || !strcmp(json_string_value(item) ?: "", "All");
	}
	const char *grace = http_request_param(req, "gracePeriodSeconds");
	int64_t value;
	if (grace && *grace) {
		if (strconv_parse_int(grace, INT64_MIN, INT64_MAX, &value, NULL) < 0)
			return api_fail(status, 400, "BadRequest",
					"gracePeriodSeconds: invalid value");
		options->grace_period_seconds = value;
	}
	if (options->grace_period_seconds < -1)
		options->grace_period_seconds = 0;
	struct write_options write;
	if (parse_write_options(req, &write, status) < 0)
		return -1;
	options->dry_run = options->dry_run || write.dry_run;
	return 0;
}

static void handle_delete(struct api_call *call)
{
	struct api_status status = {0};
	struct delete_options options = {0};
	_cleanup_json_ json_t *body = NULL;
	if (parse_delete_options(call->req, &body, &options, &status) < 0)
		return respond_failure(call, &status);
	struct stored_object out = {0};
	bool gone = false;
	if (registry_delete(call->server, call->resource, call->namespace, call->name, &options,
			    &out, &gone, &status) < 0) {
		stored_object_clear(&out);
		return respond_failure(call, &status);
	}
	/* 200 also for a deletion that is still under way (graceful or waiting on finalizers),
	 * as Kubernetes answers unless the client asked for orphan handling. */
	if (call->resource->return_deleted_object || !gone) {
		respond_stored(call, 200, &out);
		return;
	}
	json_t *details = json_pack("{s:s, s:s, s:s, s:s}", "name", call->name, "group",
				    call->resource->group, "kind", call->resource->plural, "uid",
				    json_path_string(out.json, "metadata.uid") ?: "");
	stored_object_clear(&out);
	respond_json(call->resp, 200,
		     json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion", "v1",
			       "metadata", "status", "Success", "details", details));
}

static int collect_name(void *ctx, const char *text, size_t len, json_t *parsed)
{
	json_t *names = ctx;
	_cleanup_json_ json_t *obj = parsed ? json_incref(parsed) : json_loadb(text, len, 0, NULL);
	const char *name = json_path_string(obj, "metadata.name");
	const char *ns = json_path_string(obj, "metadata.namespace");
	if (name)
		json_array_append_new(names, json_pack("[s,s]", ns ? ns : "", name));
	return 0;
}

static void handle_delete_collection(struct api_call *call)
{
	struct api_status status = {0};
	struct delete_options options = {0};
	struct list_options list = {0};
	_cleanup_json_ json_t *body = NULL;
	if (parse_delete_options(call->req, &body, &options, &status) < 0 ||
	    api_parse_filter(call, &list.filter, &status) < 0)
		return respond_failure(call, &status);
	_cleanup_json_ json_t *names = json_array();
	struct list_result result = {0};
	int ret = registry_list(call->server, call->resource, &list, collect_name, names, &result,
				&status);
	list_filter_clear(&list.filter);
	free(result.continue_token);
	if (ret < 0)
		return respond_failure(call, &status);

	_cleanup_buf_ struct buf items = {0};
	size_t i;
	json_t *entry;
	json_array_foreach (names, i, entry) {
		const char *ns = json_string_value(json_array_get(entry, 0));
		struct stored_object out = {0};
		struct api_status one = {0};
		bool gone;
		if (registry_delete(call->server, call->resource,
				    call->resource->namespaced ? ns : NULL,
				    json_string_value(json_array_get(entry, 1)), &options, &out,
				    &gone, &one) == 0) {
			buf_printf(&items, "%s%s", items.len ? "," : "", out.text);
		}
		stored_object_clear(&out);
		api_status_clear(&one);
	}
	struct buf *resp_body = &call->resp->body;
	buf_printf(resp_body,
		   "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":"
		   "\"%lld\"},\"items\":[%s]}\n",
		   call->resource->kind, call->resource->api_version, (long long)result.revision,
		   items.data ? items.data : "");
	call->resp->status = 200;
	call->resp->content_type = CONTENT_TYPE_JSON;
}

/* portforward, served by the pod's node once its agent has it (log, exec and attach are
 * proxied already: node_proxy.c, node_exec_proxy.c). */
static void handle_node_proxied(struct api_call *call)
{
	struct api_status status = {0};
	_cleanup_free_ char *text = NULL;
	if (registry_get(call->server, call->resource, call->namespace, call->name, &text,
			 &status) < 0)
		return respond_failure(call, &status);
	_cleanup_json_ json_t *pod = json_loads(text, 0, NULL);
	const char *node = json_path_string(pod, "spec.nodeName");
	if (!node || !*node) {
		api_fail(&status, 400, "BadRequest", "pod %s does not have a host assigned",
			 call->name);
		return respond_failure(call, &status);
	}
	api_fail(&status, 503, "ServiceUnavailable",
		 "%s of pod %s/%s: node %s has no agent serving it", call->subresource,
		 call->namespace, call->name, node);
	respond_failure(call, &status);
}

/* --- dispatch ------------------------------------------------------------------------------ */

static bool method_is(const struct api_call *call, const char *method)
{
	return strcmp(call->req->method, method) == 0;
}

void api_rest_handle(struct api_call *call)
{
	/* Logs are text, whatever the client accepts for objects (kube-apiserver serves them to
	 * "Accept: text/plain" too). */
	if (call->subresource && !strcmp(call->subresource, "log")) {
		node_proxy_pod_log(call);
		return;
	}
	/* Streams, not objects: kube-apiserver ignores Accept on them too. */
	if (call->subresource &&
	    (!strcmp(call->subresource, "exec") || !strcmp(call->subresource, "attach"))) {
		node_exec_proxy(call);
		return;
	}
	if (!negotiate_output(http_request_header(call->req, "Accept"), &call->output)) {
		respond_error(call->resp, 406, "NotAcceptable",
			      "only the following media types are accepted: application/json, "
			      "application/json;as=Table;v=v1;g=meta.k8s.io");
		return;
	}
	if (call->resource->live) {
		metrics_handle(call);
		return;
	}
	bool collection = call->name == NULL;
	bool watch = call->watch_path || param_bool(call->req, "watch");
	const char *sub = call->subresource;

	if (sub && !strcmp(sub, "portforward")) {
		handle_node_proxied(call);
		return;
	}
	if (sub && !strcmp(sub, "binding")) {
		if (method_is(call, "POST"))
			handle_binding(call);
		else
			respond_error(
			    call->resp, 405, "MethodNotAllowed",
			    "the server does not allow this method on the requested resource");
		return;
	}
	if (method_is(call, "GET")) {
		if (watch)
			api_watch(call);
		else if (collection)
			handle_list(call);
		else
			handle_get(call);
	} else if (method_is(call, "POST") && collection && !sub) {
		handle_create(call);
	} else if (method_is(call, "PUT") && !collection) {
		handle_update(call);
	} else if (method_is(call, "PATCH") && !collection) {
		handle_patch(call);
	} else if (method_is(call, "DELETE") && !collection && !sub) {
		handle_delete(call);
	} else if (method_is(call, "DELETE") && collection) {
		handle_delete_collection(call);
	} else {
		respond_error(call->resp, 405, "MethodNotAllowed",
			      "the server does not allow this method on the requested resource");
	}
}
