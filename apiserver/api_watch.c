/* GET ...?watch=true: a stream of newline-separated watch events, as JSON objects or as
 * one-row Tables for `kubectl get -w`, kept open until the timeout or the client goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_respond.h"
#include "apiserver/api_rest.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/table.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/strconv.h"

struct event_format {
	const struct api_resource *resource;
	enum output_kind kind;
	char api_version[32];
	bool columns_sent; /* Tables carry column definitions in the first event only */
};

static void format_event(void *ctx, const char *type, const char *object, size_t len,
			 struct buf *out)
{
	struct event_format *format = ctx;
	if (format->kind == OUTPUT_JSON || !strcmp(type, "BOOKMARK")) {
		buf_printf(out, "{\"type\":\"%s\",\"object\":", type);
		buf_append(out, object, len);
		buf_puts(out, "}\n");
		return;
	}
	_cleanup_json_ json_t *obj = json_loadb(object, len, 0, NULL);
	if (!obj)
		return;
	json_t *wrapped;
	if (format->kind == OUTPUT_TABLE) {
		wrapped = table_new(format->resource, format->api_version, !format->columns_sent);
		format->columns_sent = true;
		json_object_set_new(
		    json_object_get(wrapped, "metadata"), "resourceVersion",
		    json_string(json_path_string(obj, "metadata.resourceVersion") ?: ""));
		table_add_row(wrapped, format->resource, obj, TABLE_INCLUDE_METADATA, time(NULL));
	} else {
		wrapped =
		    json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
			      format->api_version, "metadata", json_object_get(obj, "metadata"));
	}
	_cleanup_free_ char *text = json_dump_compact(wrapped);
	json_decref(wrapped);
	buf_printf(out, "{\"type\":\"%s\",\"object\":%s}\n", type, text);
}

/* The current state as ADDED events, for watches that start without a resourceVersion. */
struct initial_events {
	struct event_format *format;
	struct buf out;
};

static int add_initial_event(void *ctx, const char *text, size_t len, json_t *parsed)
{
	(void)parsed;
	struct initial_events *initial = ctx;
	format_event(initial->format, "ADDED", text, len, &initial->out);
	return 0;
}

static ssize_t stream_read(void *state, char *out, size_t max)
{
	return watcher_read(state, out, max);
}

static void stream_set_notify(void *state, void (*notify)(void *ctx), void *ctx)
{
	watcher_set_notify(state, notify, ctx);
}

static void stream_release(void *state)
{
	watcher_close(state);
}

static const struct http_stream_ops watch_stream_ops = {
    .read = stream_read,
    .set_notify = stream_set_notify,
    .release = stream_release,
};

static const char *watch_content_type(const struct event_format *format)
{
	if (format->kind == OUTPUT_TABLE)
		return strcmp(format->api_version, "meta.k8s.io/v1beta1") == 0
			   ? "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
			   : "application/json;as=Table;v=v1;g=meta.k8s.io";
	return CONTENT_TYPE_JSON;
}

void api_watch(struct api_call *call)
{
	struct api_status status = {0};
	struct watch_request request = {.resource = call->resource};
	if (api_parse_filter(call, &request.filter, &status) < 0) {
		respond_status(call->resp, &status);
		api_status_clear(&status);
		return;
	}
	const char *timeout = http_request_param(call->req, "timeoutSeconds");
	int64_t seconds = 0;
	if (timeout && *timeout)
		strconv_parse_int(timeout, 0, INT32_MAX, &seconds, NULL);
	request.timeout_seconds = (int)seconds;
	bool value = false;
	const char *bookmarks = http_request_param(call->req, "allowWatchBookmarks");
	request.bookmarks = bookmarks && strconv_parse_bool(bookmarks, &value, NULL) == 0 && value;
	const char *initial_param = http_request_param(call->req, "sendInitialEvents");
	bool send_initial =
	    initial_param && strconv_parse_bool(initial_param, &value, NULL) == 0 && value;

	struct event_format *format = calloc(1, sizeof(*format));
	if (!format)
		abort();
	format->resource = call->resource;
	format->kind = call->output.kind;
	snprintf(format->api_version, sizeof(format->api_version), "%s", call->output.api_version);
	request.format = format_event;
	request.format_ctx = format;
	request.format_free = free;

	const char *version = http_request_param(call->req, "resourceVersion");
	if (!version || !*version || !strcmp(version, "0") || send_initial) {
		struct initial_events initial = {.format = format};
		struct list_options options = {.filter = request.filter};
		struct list_result result = {0};
		if (registry_list(call->server, call->resource, &options, add_initial_event,
				  &initial, &result, &status) < 0) {
			buf_free(&initial.out);
			list_filter_clear(&request.filter);
			free(format);
			respond_status(call->resp, &status);
			api_status_clear(&status);
			return;
		}
		if (send_initial) {
			/* Tells watch-list clients that the initial state is complete. */
			buf_printf(
			    &initial.out,
			    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":"
			    "\"%s\",\"metadata\":{\"resourceVersion\":\"%lld\",\"annotations\":"
			    "{\"k8s.io/initial-events-end\":\"true\"}}}}\n",
			    call->resource->kind, call->resource->api_version,
			    (long long)result.revision);
		}
		request.since_revision = result.revision;
		request.initial_len = initial.out.len;
		request.initial = initial.out.len ? buf_steal(&initial.out) : NULL;
		buf_free(&initial.out);
	} else if (strconv_parse_int(version, 0, INT64_MAX, &request.since_revision, NULL) < 0) {
		list_filter_clear(&request.filter);
		free(format);
		respond_error(call->resp, 400, "BadRequest", "invalid resource version: %s",
			      version);
		return;
	}

	int64_t since = request.since_revision;
	struct watcher *watcher = watch_hub_subscribe(call->server->hub, &request);
	if (!watcher) {
		list_filter_clear(&request.filter);
		free(request.initial);
		free(format);
		respond_error(call->resp, 410, "Expired", "too old resource version: %lld (%lld)",
			      (long long)since,
			      (long long)watch_hub_oldest_revision(call->server->hub));
		return;
	}
	call->resp->status = 200;
	call->resp->content_type = watch_content_type(format);
	call->resp->stream_ops = &watch_stream_ops;
	call->resp->stream_state = watcher;
}
