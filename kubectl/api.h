/* Requests to the API server as kubectl makes them: JSON in and out, the server's warnings on
 * stderr, error answers turned into Status objects and kubectl's messages. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kubectl/kubectl.h"
#include "lib/http_client.h"

#define API_ACCEPT_TABLE "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

struct api_request {
	const char *method;
	const char *path;         /* escaped, with the query */
	const char *accept;       /* NULL: application/json */
	const char *content_type; /* NULL: application/json */
	const json_t *body;       /* sent compact; NULL: no body */
	bool quiet;               /* keep the server's warnings to ourselves (dry runs) */
};

/* Returns 0 and the decoded 2xx body in *reply (an empty body gives NULL).
 * Returns -KUBECTL_SERVER_ERROR for an error answer, with its Status in *reply and kubectl's
 * message in err; -KUBECTL_UNREACHABLE when the server cannot be reached; other negative
 * values for answers that are not JSON. */
int api_call(struct kubectl *k, const struct api_request *request, json_t **reply,
	     struct ck_error *err);

/* Like api_call, but a 2xx body goes line by line to `on_line` as it arrives (watches, log
 * follow). On an error answer *status gets the Status. */
int api_stream(struct kubectl *k, const struct api_request *request, http_line_fn on_line,
	       void *ctx, json_t **status, struct ck_error *err);
