/* The resource endpoints: the verbs on /api/v1/... and /apis/<group>/<version>/... once the
 * path has been taken apart. */
#pragma once

#include <stdbool.h>

#include "apiserver/http.h"
#include "apiserver/negotiate.h"

struct apiserver;
struct api_resource;

struct api_call {
	struct apiserver *server;
	const struct http_request *req;
	struct http_response *resp;
	const struct api_resource *resource;
	const char *namespace;   /* NULL for cluster-scoped resources and across namespaces */
	const char *name;        /* NULL on the collection */
	const char *subresource; /* NULL on the object itself */
	bool watch_path;         /* the legacy /watch/ path prefix */
	struct output_format output;
};

void api_rest_handle(struct api_call *call);

struct list_filter;
struct api_status;
/* The filter of a list or watch: labelSelector, fieldSelector and the path's namespace. */
int api_parse_filter(struct api_call *call, struct list_filter *filter, struct api_status *status);

/* Watch requests (api_watch.c). */
void api_watch(struct api_call *call);
