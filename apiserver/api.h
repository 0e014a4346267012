/* The HTTP API: routes requests to discovery, OpenAPI, health and the resource handlers, checks
 * the bearer token, negotiates formats and writes answers in the Kubernetes wire format. */
#pragma once

#include "apiserver/http.h"

struct apiserver;

/* The http_handler_fn of the API server; ctx is the struct apiserver. */
void api_handle(void *ctx, const struct http_request *req, struct http_response *resp);
