/* Reading collections: lists in pages of 500 (following metadata.continue) and watches of
 * newline-separated {"type", "object"} events. */
#pragma once

#include <jansson.h>

#include "kubectl/kubectl.h"

/* GETs `path` ("/api/v1/namespaces/default/pods") with `query` ("labelSelector=...", may be
 * empty) page by page; the pages' items (or a Table's rows) are gathered into the first page,
 * which is returned in *result. Errors as api_call; *result holds the Status of a refusal. */
int collection_list(struct kubectl *k, const char *path, const char *query, const char *accept,
		    json_t **result, struct ck_error *err);

/* Receives each watch event; return non-zero to stop watching. */
typedef int (*watch_event_fn)(void *ctx, const char *type, const json_t *object);

/* Watches `path` from `resource_version` until the server ends the stream or `on_event` says
 * stop. An ERROR event ends the watch with -KUBECTL_SERVER_ERROR, its Status in *status. */
int collection_watch(struct kubectl *k, const char *path, const char *query, const char *accept,
		     const char *resource_version, watch_event_fn on_event, void *ctx,
		     json_t **status, struct ck_error *err);
