#include "kubectl/api.h"

#include <string.h>

#include "kubectl/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static void print_warnings(struct kubectl *k, const struct http_response *response)
{
	for (size_t i = 0; i < response->warning_count; i++)
		fprintf(k->err, "Warning: %s\n", response->warnings[i]);
}

static int unreachable(struct kubectl *k, const struct ck_error *cause, struct ck_error *err)
{
	if (cause->code == ECONNREFUSED)
		return ck_error_set(err, KUBECTL_UNREACHABLE,
				    "The connection to the server %s was refused - did you specify "
				    "the right host or port?",
				    http_client_host(k->http));
	return ck_error_set(err, KUBECTL_UNREACHABLE, "Unable to connect to the server: %s",
			    cause->message);
}

static int exchange(struct kubectl *k, const struct api_request *request, http_line_fn on_line,
		    void *ctx, struct http_response *response, struct ck_error *err)
{
	if (!k->http)
		return ck_error_set(err, KUBECTL_UNREACHABLE,
				    "Unable to connect to the server: no server configured");
	_cleanup_free_ char *body = request->body ? json_dump_compact(request->body) : NULL;
	struct http_request http = {
	    .method = request->method,
	    .path = request->path,
	    .accept = request->accept,
	    .content_type = request->content_type,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .on_line = on_line,
	    .ctx = ctx,
	};
	struct ck_error cause = {0};
	if (http_client_request(k->http, &http, response, &cause) < 0)
		return unreachable(k, &cause, err);
	if (!request->quiet)
		print_warnings(k, response);
	return 0;
}

static int server_error(const struct http_response *response, json_t **status, struct ck_error *err)
{
	*status = status_from_response(response->status, response->body.data, response->body.len);
	_cleanup_buf_ struct buf text = {0};
	status_format(*status, NULL, NULL, &text);
	return ck_error_set(err, KUBECTL_SERVER_ERROR, "%s", text.data);
}

static bool succeeded(const struct http_response *response)
{
	return response->status >= 200 && response->status < 300;
}

int api_call(struct kubectl *k, const struct api_request *request, json_t **reply,
	     struct ck_error *err)
{
	*reply = NULL;
	struct http_response response = {0};
	int ret = exchange(k, request, NULL, NULL, &response, err);
	if (ret == 0 && !succeeded(&response))
		ret = server_error(&response, reply, err);
	if (ret == 0 && response.body.len > 0) {
		json_error_t error;
		*reply = json_loadb(response.body.data, response.body.len, 0, &error);
		if (!*reply)
			ret = ck_error_set(err, EPROTO,
					   "%s %s: the server answered with invalid JSON: %s",
					   request->method, request->path, error.text);
	}
	http_response_free(&response);
	return ret;
}

int api_stream(struct kubectl *k, const struct api_request *request, http_line_fn on_line,
	       void *ctx, json_t **status, struct ck_error *err)
{
	*status = NULL;
	struct http_response response = {0};
	int ret = exchange(k, request, on_line, ctx, &response, err);
	if (ret == 0 && !succeeded(&response))
		ret = server_error(&response, status, err);
	http_response_free(&response);
	return ret;
}
