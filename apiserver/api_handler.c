#include "apiserver/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/api_respond.h"
#include "apiserver/api_rest.h"
#include "apiserver/discovery.h"
#include "apiserver/openapi.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/version.h"

#define MAX_SEGMENTS 12

/* The path split at slashes, without empty segments. */
struct path {
	char *copy;
	const char *segment[MAX_SEGMENTS];
	size_t count;
};

static bool split_path(const char *raw, struct path *path)
{
	path->copy = strdup(raw);
	path->count = 0;
	if (!path->copy)
		return false;
	for (char *save = NULL, *part = strtok_r(path->copy, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (path->count == MAX_SEGMENTS)
			return false;
		path->segment[path->count++] = part;
	}
	return true;
}

static bool constant_time_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool authorized(struct apiserver *server, const struct http_request *req)
{
	if (!server->require_token)
		return true;
	const char *header = http_request_header(req, "Authorization");
	static const char bearer[] = "Bearer ";
	if (!header || strncasecmp(header, bearer, sizeof(bearer) - 1) != 0)
		return false;
	return constant_time_equal(header + sizeof(bearer) - 1, server->token);
}

static void handle_version(struct http_response *resp)
{
	respond_json(resp, 200,
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major",
			       CKUBE_KUBERNETES_MAJOR, "minor", CKUBE_KUBERNETES_MINOR,
			       "gitVersion", CKUBE_KUBERNETES_GIT_VERSION, "gitCommit",
			       "ckube-" CKUBE_VERSION, "gitTreeState", "clean", "buildDate",
			       "1970-01-01T00:00:00Z", "goVersion", "none", "compiler", "gcc",
			       "platform", "linux/amd64"));
}

static void handle_discovery_root(struct api_call *call, bool core)
{
	const char *aggregated = negotiate_discovery(http_request_header(call->req, "Accept"));
	if (aggregated) {
		/* kubectl only takes the answer when the content type names what it asked for. */
		bool v2 = strcmp(aggregated, "v2") == 0;
		const char *content_type =
		    v2 ? "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
		       : "application/"
			 "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
		respond_json_with_type(
		    call->resp, 200, content_type,
		    discovery_aggregated(core, v2 ? "apidiscovery.k8s.io/v2"
						  : "apidiscovery.k8s.io/v2beta1"));
		return;
	}
	if (core)
		respond_json(call->resp, 200, discovery_api_versions(call->server->config.listen));
	else
		respond_json(call->resp, 200, discovery_group_list());
}

static void handle_openapi(struct api_call *call, const struct path *path)
{
	if (path->count == 2 && strcmp(path->segment[1], "v2") == 0) {
		call->resp->status = 200;
		call->resp->content_type =
		    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
		openapi_v2_protobuf(&call->resp->body);
		return;
	}
	if (path->count >= 2 && strcmp(path->segment[1], "v3") == 0) {
		if (path->count == 2) {
			respond_json(call->resp, 200, openapi_v3_root());
			return;
		}
		json_t *doc = NULL;
		if (path->count == 4 && strcmp(path->segment[2], "api") == 0)
			doc = openapi_v3_group_version("", path->segment[3]);
		else if (path->count == 5 && strcmp(path->segment[2], "apis") == 0)
			doc = openapi_v3_group_version(path->segment[3], path->segment[4]);
		if (doc) {
			respond_json(call->resp, 200, doc);
			return;
		}
	}
	respond_error(call->resp, 404, "NotFound",
		      "the server could not find the requested resource");
}

/* /api/v1/... or /apis/<g>/<v>/...: `rest` points at the segments after the version. */
static void handle_resource_path(struct api_call *call, const char *group, const char *version,
				 const char *const *rest, size_t count)
{
	if (count > 0 && strcmp(rest[0], "watch") == 0) {
		call->watch_path = true;
		rest++;
		count--;
	}
	if (count == 0) {
		json_t *doc = discovery_resource_list(group, version);
		if (doc)
			respond_json(call->resp, 200, doc);
		else
			respond_error(call->resp, 404, "NotFound",
				      "the server could not find the requested resource");
		return;
	}
	/* /namespaces/<ns>/<resource>/... addresses a namespaced resource; anything else starts
	 * with the resource (namespaces themselves included). */
	const struct api_resource *resource = NULL;
	if (count >= 3 && strcmp(rest[0], "namespaces") == 0) {
		resource = api_resource_find(group, version, rest[2]);
		if (resource && resource->namespaced) {
			call->namespace = rest[1];
			rest += 2;
			count -= 2;
		} else {
			resource = NULL;
		}
	}
	if (!resource)
		resource = api_resource_find(group, version, rest[0]);
	if (!resource || count > 3) {
		respond_error(call->resp, 404, "NotFound",
			      "the server could not find the requested resource");
		return;
	}
	call->resource = resource;
	call->name = count >= 2 ? rest[1] : NULL;
	call->subresource = count == 3 ? rest[2] : NULL;
	if (call->subresource && !api_resource_subresource(resource, call->subresource)) {
		respond_error(call->resp, 404, "NotFound",
			      "the server could not find the requested resource");
		return;
	}
	api_rest_handle(call);
}

static void route(struct api_call *call, const struct path *path)
{
	const char *first = path->count ? path->segment[0] : "";
	if (path->count == 1 &&
	    (!strcmp(first, "healthz") || !strcmp(first, "livez") || !strcmp(first, "readyz"))) {
		respond_text(call->resp, 200, "text/plain; charset=utf-8", strdup("ok"));
		return;
	}
	if (path->count == 1 && !strcmp(first, "version")) {
		handle_version(call->resp);
		return;
	}
	if (!strcmp(first, "openapi")) {
		handle_openapi(call, path);
		return;
	}
	if (!strcmp(first, "api")) {
		if (path->count == 1)
			handle_discovery_root(call, true);
		else if (!strcmp(path->segment[1], "v1"))
			handle_resource_path(call, "", "v1", path->segment + 2, path->count - 2);
		else
			respond_error(call->resp, 404, "NotFound",
				      "the server could not find the requested resource");
		return;
	}
	if (!strcmp(first, "apis")) {
		if (path->count == 1) {
			handle_discovery_root(call, false);
		} else if (path->count == 2) {
			json_t *doc = discovery_group(path->segment[1]);
			if (doc)
				respond_json(call->resp, 200, doc);
			else
				respond_error(call->resp, 404, "NotFound",
					      "the server could not find the requested resource");
		} else {
			handle_resource_path(call, path->segment[1], path->segment[2],
					     path->segment + 3, path->count - 3);
		}
		return;
	}
	respond_error(call->resp, 404, "NotFound",
		      "the server could not find the requested resource");
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct apiserver *server = ctx;
	struct api_call call = {.server = server, .req = req, .resp = resp};
	if (!authorized(server, req)) {
		respond_error(resp, 401, "Unauthorized", "Unauthorized");
		return;
	}
	struct path path;
	bool ok = split_path(req->path, &path);
	if (!ok) {
		free(path.copy);
		respond_error(resp, 404, "NotFound",
			      "the server could not find the requested resource");
		return;
	}
	route(&call, &path);
	free(path.copy);
}
