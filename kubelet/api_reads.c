/* Synchronous reads from the API server for container starts: see api_reads.h. */
#include "kubelet/api_reads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

/* Long enough for a busy server on the same network, short enough that a server that is away
 * holds the loop no longer than a probe period. */
#define API_READ_TIMEOUT_SECONDS 3

/* GET of one object at `path`: as api_read_config_object says. */
static int read_object(struct http_client *api, const char *path, json_t **out,
		       struct ck_error *err)
{
	struct http_request request = {
	    .method = "GET", .path = path, .timeout_seconds = API_READ_TIMEOUT_SECONDS};
	struct http_response response = {0};
	int r = http_client_request(api, &request, &response, err);

	*out = NULL;
	if (r < 0) {
		http_response_free(&response);
		return r;
	}
	json_t *body =
	    json_loadb(response.body.data ? response.body.data : "", response.body.len, 0, NULL);
	if (response.status == 404) {
		json_decref(body);
		http_response_free(&response);
		return 0;
	}
	if (response.status != 200 || !json_is_object(body)) {
		const char *message = json_string_value(json_object_get(body, "message"));
		ck_error_set(err, EIO, "GET %s: %ld %s", path, response.status,
			     message ? message : "unexpected answer");
		json_decref(body);
		http_response_free(&response);
		return -EIO;
	}
	http_response_free(&response);
	*out = body;
	return 0;
}

static int append_items(struct http_client *api, const char *path, json_t *services,
			struct ck_error *err)
{
	_cleanup_json_ json_t *list = NULL;
	int r = read_object(api, path, &list, err);

	if (r < 0)
		return r;
	json_array_extend(services, json_object_get(list, "items"));
	return 0;
}

int api_read_services(struct http_client *api, const char *namespace, json_t **out,
		      struct ck_error *err)
{
	_cleanup_json_ json_t *services = json_array();
	_cleanup_free_ char *escaped = http_escape(namespace);
	char path[512];
	int r;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services", escaped);
	r = append_items(api, path, services, err);
	if (r == 0 && strcmp(namespace, "default") != 0) {
		_cleanup_json_ json_t *kubernetes = NULL;
		r = read_object(api, "/api/v1/namespaces/default/services/kubernetes", &kubernetes,
				err);
		if (r == 0 && kubernetes)
			json_array_append(services, kubernetes);
	}
	if (r < 0)
		return r;
	*out = steal_ptr(&services);
	return 0;
}

int api_read_config_object(struct http_client *api, const char *namespace, bool secret,
			   const char *name, json_t **out, struct ck_error *err)
{
	_cleanup_free_ char *escaped_ns = http_escape(namespace);
	_cleanup_free_ char *escaped_name = http_escape(name);
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "/api/v1/namespaces/%s/%s/%s", escaped_ns,
		     secret ? "secrets" : "configmaps", escaped_name) < 0)
		abort();
	return read_object(api, path, out, err);
}
