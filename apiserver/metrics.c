#include "apiserver/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_respond.h"
#include "apiserver/api_rest.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/table.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/labels.h"
#include "lib/quantity.h"
#include "lib/strmap.h"
#include "lib/timeutil.h"

/* A report not renewed for this long is gone (agents report every few seconds). */
#define METRICS_TTL_SECONDS 120

struct report {
	json_t *object;  /* PodMetrics or NodeMetrics as served */
	time_t received; /* CLOCK_MONOTONIC */
};

struct metrics {
	pthread_mutex_t lock;
	struct strmap *pods;  /* "namespace/name" -> struct report */
	struct strmap *nodes; /* "name" -> struct report */
};

static void report_free(void *p)
{
	struct report *report = p;
	json_decref(report->object);
	free(report);
}

struct metrics *metrics_new(void)
{
	struct metrics *metrics = calloc(1, sizeof(*metrics));
	if (!metrics)
		return NULL;
	pthread_mutex_init(&metrics->lock, NULL);
	metrics->pods = strmap_new(report_free);
	metrics->nodes = strmap_new(report_free);
	return metrics;
}

void metrics_free(struct metrics *metrics)
{
	if (!metrics)
		return;
	strmap_free(metrics->pods);
	strmap_free(metrics->nodes);
	pthread_mutex_destroy(&metrics->lock);
	free(metrics);
}

static time_t monotonic_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

static bool is_pods(const struct api_call *call)
{
	return strcmp(call->resource->plural, "pods") == 0;
}

/* The stored object the metrics are about (a pod or node); NULL with a 404 in `status`. */
static json_t *subject(struct api_call *call, struct api_status *status)
{
	const struct api_resource *kind = api_resource_find("", "v1", call->resource->plural);
	_cleanup_free_ char *text = NULL;
	if (registry_get(call->server, kind, call->namespace, call->name, &text, status) < 0)
		return NULL;
	return json_loads(text, 0, NULL);
}

static int check_usage(const json_t *usage, const char *field, struct field_errors *errors)
{
	static const char *const resources[] = {"cpu", "memory"};
	if (!json_is_object(usage)) {
		field_error_required(errors, field, NULL);
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s.%s", field, resources[i]);
		struct quantity q;
		struct ck_error err = {0};
		json_t *value = json_object_get(usage, resources[i]);
		if (!value)
			field_error_required(errors, path, NULL);
		else if (quantity_from_json(value, &q, &err) < 0)
			field_error_invalid(errors, path, value, err.message);
	}
	return 0;
}

/* Builds what is served from a report: the reported usage with server-side metadata. */
static json_t *normalize_report(struct api_call *call, const json_t *body,
				struct field_errors *errors)
{
	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	const char *timestamp = json_string_value(json_object_get(body, "timestamp"));
	struct timespec parsed;
	if (timestamp && timeutil_parse_rfc3339(timestamp, &parsed, NULL) < 0)
		field_error_invalid(errors, "timestamp", json_object_get(body, "timestamp"),
				    "must be an RFC 3339 time");
	const char *window = json_string_value(json_object_get(body, "window"));
	int64_t nanoseconds;
	if (window && timeutil_parse_duration(window, &nanoseconds, NULL) < 0)
		field_error_invalid(errors, "window", json_object_get(body, "window"),
				    "must be a duration such as 10s");
	json_t *out = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "kind", call->resource->kind,
				"apiVersion", call->resource->api_version, "metadata", "name",
				call->name, "creationTimestamp", now, "timestamp",
				timestamp ? timestamp : now, "window", window ? window : "10s");
	if (call->namespace)
		json_object_set_new(json_object_get(out, "metadata"), "namespace",
				    json_string(call->namespace));
	if (!is_pods(call)) {
		check_usage(json_object_get(body, "usage"), "usage", errors);
		json_object_set(out, "usage", json_object_get(body, "usage"));
		return out;
	}
	json_t *containers = json_object_get(body, "containers");
	if (!json_is_array(containers))
		field_error_required(errors, "containers", NULL);
	size_t i;
	json_t *container;
	json_array_foreach (containers, i, container) {
		char field[64];
		snprintf(field, sizeof(field), "containers[%zu].name", i);
		if (!json_is_string(json_object_get(container, "name")))
			field_error_required(errors, field, NULL);
		snprintf(field, sizeof(field), "containers[%zu].usage", i);
		check_usage(json_object_get(container, "usage"), field, errors);
	}
	json_object_set(out, "containers", containers ? containers : json_array());
	return out;
}

static void key_of(const struct api_call *call, const char *namespace, const char *name, char *out,
		   size_t len)
{
	if (is_pods(call))
		snprintf(out, len, "%s/%s", namespace, name);
	else
		snprintf(out, len, "%s", name);
}

static void handle_report(struct api_call *call)
{
	struct api_status status = {0};
	_cleanup_json_ json_t *body = json_loadb(call->req->body, call->req->body_len, 0, NULL);
	if (!json_is_object(body)) {
		respond_error(call->resp, 400, "BadRequest", "the body must be a %s object",
			      call->resource->kind);
		return;
	}
	_cleanup_json_ json_t *about = subject(call, &status);
	if (!about) {
		respond_status(call->resp, &status);
		api_status_clear(&status);
		return;
	}
	struct field_errors errors;
	field_errors_init(&errors);
	_cleanup_json_ json_t *report = normalize_report(call, body, &errors);
	if (field_errors_count(&errors)) {
		api_fail_invalid(&status, call->resource, call->name, &errors);
		field_errors_clear(&errors);
		respond_status(call->resp, &status);
		api_status_clear(&status);
		return;
	}
	field_errors_clear(&errors);
	char key[512];
	key_of(call, call->namespace, call->name, key, sizeof(key));
	struct report *entry = calloc(1, sizeof(*entry));
	if (!entry)
		abort();
	entry->object = json_incref(report);
	entry->received = monotonic_now();
	struct metrics *metrics = call->server->metrics;
	pthread_mutex_lock(&metrics->lock);
	strmap_put(is_pods(call) ? metrics->pods : metrics->nodes, key, entry);
	pthread_mutex_unlock(&metrics->lock);
	respond_json(call->resp, 200, json_incref(report));
}

/* Copies of the fresh reports in `table` for `namespace` (NULL: all) and `name` (NULL: all);
 * stale reports are dropped on the way. */
static json_t *fresh_reports(struct metrics *metrics, struct strmap *table, const char *namespace,
			     const char *name)
{
	json_t *items = json_array();
	time_t now = monotonic_now();
	_cleanup_json_ json_t *stale = json_array();
	pthread_mutex_lock(&metrics->lock);
	const char *key;
	struct report *report;
	STRMAP_FOREACH (table, iter, key, report) {
		if (now - report->received > METRICS_TTL_SECONDS) {
			json_array_append_new(stale, json_string(key));
			continue;
		}
		const char *ns = json_path_string(report->object, "metadata.namespace");
		const char *n = json_path_string(report->object, "metadata.name");
		if ((namespace && (!ns || strcmp(ns, namespace))) || (name && strcmp(n, name)))
			continue;
		json_array_append_new(items, json_deep_copy(report->object));
	}
	size_t i;
	json_t *gone;
	json_array_foreach (stale, i, gone)
		strmap_remove(table, json_string_value(gone));
	pthread_mutex_unlock(&metrics->lock);
	return items;
}

/* Pod metrics selected by labels need the pods' labels, which the reports do not carry. */
static bool labels_match(struct api_call *call, const struct label_selector *selector,
			 const json_t *report)
{
	if (!selector)
		return true;
	const struct api_resource *kind = api_resource_find("", "v1", call->resource->plural);
	_cleanup_free_ char *text = NULL;
	struct api_status status = {0};
	if (registry_get(call->server, kind, json_path_string(report, "metadata.namespace"),
			 json_path_string(report, "metadata.name"), &text, &status) < 0) {
		api_status_clear(&status);
		return false;
	}
	_cleanup_json_ json_t *obj = json_loads(text, 0, NULL);
	return label_selector_matches(selector, json_path(obj, "metadata.labels"));
}

static void handle_read(struct api_call *call)
{
	struct metrics *metrics = call->server->metrics;
	struct strmap *reports = is_pods(call) ? metrics->pods : metrics->nodes;
	_cleanup_json_ json_t *items = fresh_reports(metrics, reports, call->namespace, call->name);
	if (call->name) {
		if (json_array_size(items) == 0) {
			struct api_status status = {0};
			api_fail_not_found(&status, call->resource, call->name);
			snprintf(status.message, sizeof(status.message), "%s.%s \"%s\" not found",
				 call->resource->singular, call->resource->group, call->name);
			respond_status(call->resp, &status);
			api_status_clear(&status);
			return;
		}
		respond_json(call->resp, 200, json_incref(json_array_get(items, 0)));
		return;
	}
	struct label_selector *selector = NULL;
	struct ck_error err = {0};
	const char *labels = http_request_param(call->req, "labelSelector");
	if (labels && *labels && label_selector_parse(labels, &selector, &err) < 0) {
		respond_error(call->resp, 400, "BadRequest", "unable to parse requirement: %s",
			      err.message);
		return;
	}
	json_t *selected = json_array();
	size_t i;
	json_t *item;
	json_array_foreach (items, i, item)
		if (labels_match(call, selector, item))
			json_array_append(selected, item);
	label_selector_free(selector);
	if (call->output.kind == OUTPUT_TABLE) {
		json_t *table = table_new(call->resource, call->output.api_version, true);
		json_array_foreach (selected, i, item)
			table_add_row(table, call->resource, item, TABLE_INCLUDE_METADATA,
				      time(NULL));
		json_decref(selected);
		respond_json(call->resp, 200, table);
		return;
	}
	char list_kind[64];
	snprintf(list_kind, sizeof(list_kind), "%sList", call->resource->kind);
	respond_json(call->resp, 200,
		     json_pack("{s:s, s:s, s:{}, s:o}", "kind", list_kind, "apiVersion",
			       call->resource->api_version, "metadata", "items", selected));
}

void metrics_handle(struct api_call *call)
{
	const char *method = call->req->method;
	if (call->subresource) {
		respond_error(call->resp, 404, "NotFound",
			      "the server could not find the requested resource");
	} else if (strcmp(method, "GET") == 0) {
		handle_read(call);
	} else if (strcmp(method, "PUT") == 0 && call->name) {
		handle_report(call);
	} else {
		respond_error(call->resp, 405, "MethodNotAllowed",
			      "the server does not allow this method on the requested resource");
	}
}
