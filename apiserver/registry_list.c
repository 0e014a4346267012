/* Lists: pages with continue tokens like Kubernetes', filters, and consistent later pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/registry_internal.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/store.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

struct list_walk {
	const struct api_resource *resource;
	const struct list_options *options;
	bool filtered;
	registry_visit_fn visit;
	void *ctx;
	size_t matched;
	char *last_key;
	int error;
};

static int list_visit(void *ctx, const char *key, const char *value, size_t len, int64_t revision)
{
	(void)revision;
	struct list_walk *walk = ctx;
	const struct list_filter *filter = &walk->options->filter;
	_cleanup_json_ json_t *obj = NULL;
	if (!list_filter_is_namespace_only(filter)) {
		obj = json_loadb(value, len, 0, NULL);
		if (!obj)
			return 0; /* unreadable rows are skipped, not fatal to the list */
		struct object_attrs attrs;
		if (object_attrs_init(&attrs, walk->resource, obj) < 0)
			return -ENOMEM;
		const char *ns = json_path_string(obj, "metadata.namespace");
		bool match = list_filter_matches(filter, ns ? ns : "", &attrs);
		object_attrs_clear(&attrs);
		if (!match)
			return 0;
	}
	int ret = walk->visit(walk->ctx, value, len, obj);
	if (ret < 0)
		return ret;
	walk->matched++;
	free(walk->last_key);
	walk->last_key = strdup(key);
	/* With a filter the store cannot count matches: stop here once the page is full. */
	if (walk->filtered && walk->options->limit && walk->matched == walk->options->limit)
		return 1;
	return 0;
}

/* Continue tokens carry the list's revision and the last key returned, base64-encoded JSON
 * like Kubernetes'. The key must lie inside the listed prefix. */
static char *encode_continue(int64_t revision, const char *key)
{
	_cleanup_json_ json_t *token = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv",
						 (json_int_t)revision, "start", key);
	_cleanup_free_ char *text = json_dump_compact(token);
	struct buf encoded = {0};
	base64_encode(text, strlen(text), &encoded);
	return buf_steal(&encoded);
}

static int decode_continue(const char *token, const char *prefix, int64_t *revision, char **start,
			   struct api_status *status)
{
	_cleanup_buf_ struct buf raw = {0};
	if (base64_decode(token, strlen(token), &raw, NULL) < 0)
		return api_fail(status, 400, "BadRequest", "continue key is not valid: %s",
				"illegal base64 data");
	_cleanup_json_ json_t *parsed = json_loadb(raw.data ? raw.data : "", raw.len, 0, NULL);
	const char *key = json_string_value(json_object_get(parsed, "start"));
	json_t *rv = json_object_get(parsed, "rv");
	if (!key || !json_is_integer(rv) || strncmp(key, prefix, strlen(prefix)) != 0)
		return api_fail(status, 400, "BadRequest", "continue key is not valid");
	*revision = json_integer_value(rv);
	*start = strdup(key);
	return 0;
}

int registry_list(struct apiserver *server, const struct api_resource *resource,
		  const struct list_options *options, registry_visit_fn visit, void *ctx,
		  struct list_result *result, struct api_status *status)
{
	_cleanup_free_ char *prefix = registry_key(resource, options->filter.namespace, NULL);
	_cleanup_free_ char *start = NULL;
	int64_t token_revision = 0;
	if (options->continue_token && *options->continue_token &&
	    decode_continue(options->continue_token, prefix, &token_revision, &start, status) < 0)
		return -1;

	/* Without selectors the store can count what is left after a page. */
	bool plain = list_filter_is_namespace_only(&options->filter);
	struct list_walk walk = {
	    .resource = resource,
	    .options = options,
	    .filtered = !plain,
	    .visit = visit,
	    .ctx = ctx,
	};
	struct store_range range = {
	    .prefix = prefix,
	    .start_after = start,
	    .limit = plain ? options->limit : 0,
	    .at_revision = token_revision,
	};
	if (options->limit && !token_revision) {
		/* A paged list begins: keep what writes replace until its last page is read. */
		WRITE_LOCKED(server);
		store_keep_history(server->store);
	}
	struct ck_error err = {0};
	bool more = false;
	int64_t remaining = -1;
	int ret = store_list(server->store, &range, list_visit, &walk, &result->revision, &more,
			     &remaining, &err);
	if (ret < 0) {
		free(walk.last_key);
		if (ret == -ESTALE)
			return api_fail(
			    status, 410, "Expired",
			    "The provided continue parameter is too old to display a "
			    "consistent list result. You can start a new list without the "
			    "continue parameter.");
		return registry_storage_failed(status, &err);
	}
	result->remaining = more ? remaining : -1;
	result->continue_token =
	    more && walk.last_key ? encode_continue(result->revision, walk.last_key) : NULL;
	free(walk.last_key);
	return 0;
}
