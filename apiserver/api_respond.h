/* Writing answers: JSON documents, Status errors and stored object text. */
#pragma once

#include <jansson.h>

#include "apiserver/http.h"
#include "apiserver/status.h"

#define CONTENT_TYPE_JSON "application/json"

/* Serializes `doc` (reference stolen) as the body. */
void respond_json(struct http_response *resp, unsigned code, json_t *doc);
void respond_json_with_type(struct http_response *resp, unsigned code, const char *content_type,
			    json_t *doc);
/* Uses already-serialized JSON text as the body (not copied; ownership taken). */
void respond_text(struct http_response *resp, unsigned code, const char *content_type, char *text);
void respond_status(struct http_response *resp, const struct api_status *status);
/* A failure in one call: sets `status` and answers with it. */
void respond_error(struct http_response *resp, unsigned code, const char *reason, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
/* Adds "299 - "<text>"" to the response's Warning header. */
void respond_warning(struct http_response *resp, const char *text);
