#include "kubectl/collection.h"

#include <string.h>

#include "kubectl/api.h"
#include "kubectl/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/json_util.h"

/* A server that keeps handing out continue tokens must not keep us forever. */
#define COLLECTION_MAX_PAGES 10000

static void gather(json_t *first, const json_t *page)
{
	static const char *const keys[] = {"items", "rows"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *into = json_object_get(first, keys[i]);
		const json_t *more = json_object_get(page, keys[i]);
		if (json_is_array(into) && json_is_array(more))
			json_array_extend(into, (json_t *)more);
	}
}

int collection_list(struct kubectl *k, const char *path, const char *query, const char *accept,
		    json_t **result, struct ck_error *err)
{
	*result = NULL;
	_cleanup_json_ json_t *first = NULL;
	_cleanup_free_ char *token = NULL;
	for (int page_number = 0; page_number < COLLECTION_MAX_PAGES; page_number++) {
		_cleanup_buf_ struct buf url = {0};
		buf_printf(&url, "%s?%s%slimit=500", path, query, *query ? "&" : "");
		if (token) {
			_cleanup_free_ char *escaped = http_escape(token);
			buf_printf(&url, "&continue=%s", escaped);
		}
		struct api_request request = {.method = "GET", .path = url.data, .accept = accept};
		json_t *page = NULL;
		int ret = api_call(k, &request, &page, err);
		if (ret < 0) {
			*result = page;
			return ret;
		}
		if (!first)
			first = json_incref(page);
		else
			gather(first, page);
		const char *next = json_path_string(page, "metadata.continue");
		free(token);
		token = next && *next ? strdup(next) : NULL;
		json_decref(page);
		if (!token)
			break;
	}
	if (!json_is_object(first))
		return ck_error_set(err, EPROTO, "GET %s: the server answered without a list",
				    path);
	*result = steal_ptr(&first);
	return 0;
}

struct watch_reader {
	watch_event_fn on_event;
	void *ctx;
	json_t *error_status;
};

static int on_watch_line(void *ctx, const char *line, size_t len)
{
	struct watch_reader *reader = ctx;
	json_error_t error;
	_cleanup_json_ json_t *event = json_loadb(line, len, 0, &error);
	const char *type = json_string_value(json_object_get(event, "type"));
	const json_t *object = json_object_get(event, "object");
	if (!type || !json_is_object(object))
		return 0; /* blank keep-alive lines, or garbage: nothing to show */
	if (strcmp(type, "ERROR") == 0) {
		reader->error_status = json_incref((json_t *)object);
		return 1;
	}
	if (strcmp(type, "BOOKMARK") == 0)
		return 0;
	return reader->on_event(reader->ctx, type, object);
}

int collection_watch(struct kubectl *k, const char *path, const char *query, const char *accept,
		     const char *resource_version, watch_event_fn on_event, void *ctx,
		     json_t **status, struct ck_error *err)
{
	*status = NULL;
	_cleanup_buf_ struct buf url = {0};
	_cleanup_free_ char *rv = http_escape(resource_version ? resource_version : "");
	buf_printf(&url, "%s?%s%sresourceVersion=%s&watch=true", path, query, *query ? "&" : "",
		   rv);
	struct api_request request = {.method = "GET", .path = url.data, .accept = accept};
	struct watch_reader reader = {.on_event = on_event, .ctx = ctx};
	int ret = api_stream(k, &request, on_watch_line, &reader, status, err);
	if (ret == 0 && reader.error_status) {
		*status = reader.error_status;
		_cleanup_buf_ struct buf text = {0};
		status_format(*status, NULL, NULL, &text);
		return ck_error_set(err, KUBECTL_SERVER_ERROR, "%s", text.data);
	}
	json_decref(reader.error_status);
	return ret;
}
