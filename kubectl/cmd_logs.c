/* kubectl logs: the pod's log endpoint, printed as it arrives (-f keeps following). */
#include <string.h>

#include "kubectl/api.h"
#include "kubectl/args.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"
#include "kubectl/status.h"
#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/json_util.h"

#define DEFAULT_CONTAINER_ANNOTATION "kubectl.kubernetes.io/default-container"

struct logs_options {
	const char *container;
	bool follow;
	bool timestamps;
	bool previous;
	long tail;
};

/* The container kubectl picks when none is named: the pod's default-container annotation, else
 * the first one, saying so when there was a choice. */
static const char *default_container(struct kubectl *k, const json_t *pod)
{
	const char *annotated = json_string_value(
	    json_object_get(json_path(pod, "metadata.annotations"), DEFAULT_CONTAINER_ANNOTATION));
	if (annotated && *annotated)
		return annotated;
	const json_t *containers = json_path(pod, "spec.containers");
	const json_t *init = json_path(pod, "spec.initContainers");
	const char *first =
	    json_string_value(json_object_get(json_array_get(containers, 0), "name"));
	if (!first || json_array_size(containers) + json_array_size(init) < 2)
		return first;
	_cleanup_buf_ struct buf names = {0};
	size_t i;
	const json_t *c;
	json_array_foreach (containers, i, c)
		buf_printf(&names, "%s%s", names.len ? ", " : "",
			   json_string_value(json_object_get(c, "name")) ?: "");
	json_array_foreach (init, i, c)
		buf_printf(&names, ", %s (init)",
			   json_string_value(json_object_get(c, "name")) ?: "");
	fprintf(k->err, "Defaulted container \"%s\" out of: %s\n", first, names.data);
	return first;
}

static bool has_container(const json_t *pod, const char *name)
{
	static const char *const lists[] = {"spec.containers", "spec.initContainers",
					    "spec.ephemeralContainers"};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		size_t i;
		const json_t *c;
		json_array_foreach (json_path(pod, lists[l]), i, c) {
			const char *c_name = json_string_value(json_object_get(c, "name"));
			if (c_name && strcmp(c_name, name) == 0)
				return true;
		}
	}
	return false;
}

static int write_line(void *ctx, const char *line, size_t len)
{
	FILE *out = ctx;
	fwrite(line, 1, len, out);
	fflush(out);
	return ferror(out) ? 1 : 0;
}

static void pod_path(struct kubectl *k, const char *pod, struct buf *path)
{
	_cleanup_free_ char *escaped_pod = http_escape(pod);
	_cleanup_free_ char *escaped_ns = http_escape(k->namespace);
	buf_printf(path, "/api/v1/namespaces/%s/pods/%s", escaped_ns, escaped_pod);
}

static int stream_log(struct kubectl *k, const char *pod, const char *container,
		      const struct logs_options *o)
{
	_cleanup_free_ char *escaped_container = http_escape(container);
	_cleanup_buf_ struct buf path = {0};
	pod_path(k, pod, &path);
	buf_printf(&path, "/log?container=%s", escaped_container);
	if (o->follow)
		buf_puts(&path, "&follow=true");
	if (o->previous)
		buf_puts(&path, "&previous=true");
	if (o->tail >= 0)
		buf_printf(&path, "&tailLines=%ld", o->tail);
	if (o->timestamps)
		buf_puts(&path, "&timestamps=true");
	struct api_request request = {
	    .method = "GET", .path = path.data, .accept = "application/json, */*"};
	_cleanup_json_ json_t *status = NULL;
	struct ck_error err = {0};
	if (api_stream(k, &request, write_line, k->out, &status, &err) < 0) {
		kubectl_report(k, &err);
		return 1;
	}
	return 0;
}

static int print_logs(struct kubectl *k, const char *pod, const struct logs_options *o)
{
	_cleanup_buf_ struct buf path = {0};
	pod_path(k, pod, &path);
	struct api_request request = {.method = "GET", .path = path.data};
	_cleanup_json_ json_t *object = NULL;
	struct ck_error err = {0};
	int ret = api_call(k, &request, &object, &err);
	if (ret == -KUBECTL_SERVER_ERROR && status_code(object) == 404) {
		/* kubectl words a missing pod differently here */
		fprintf(k->err, "error: error from server (NotFound): %s in namespace \"%s\"\n",
			json_string_value(json_object_get(object, "message")) ?: "", k->namespace);
		return 1;
	}
	if (ret < 0) {
		kubectl_report(k, &err);
		return 1;
	}
	if (o->container && !has_container(object, o->container)) {
		fprintf(k->err, "error: container %s is not valid for pod %s\n", o->container, pod);
		return 1;
	}
	const char *container = o->container ? o->container : default_container(k, object);
	if (!container) {
		fprintf(k->err, "error: pod %s has no containers\n", pod);
		return 1;
	}
	return stream_log(k, pod, container, o);
}

int kubectl_logs(struct kubectl *k, int argc, const char *const *argv)
{
	struct logs_options o = {.tail = -1};
	struct arg_strings args = {0};
	const struct arg_option options[] = {
	    {'c', "container", ARG_STRING, &o.container},
	    {'f', "follow", ARG_BOOL, &o.follow},
	    {0, "timestamps", ARG_BOOL, &o.timestamps},
	    {'p', "previous", ARG_BOOL, &o.previous},
	    {0, "tail", ARG_LONG, &o.tail},
	    {0},
	};
	int status = 1;
	if (kubectl_parse_flags(k, argc, argv, options, &args) < 0) {
		status = 1;
	} else if (args.count == 0 || args.count > 2) {
		fprintf(k->err,
			"error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
			"POD or TYPE/NAME is a required argument for the logs command\n");
	} else {
		const char *pod = args.items[0];
		if (strncmp(pod, "pod/", 4) == 0 || strncmp(pod, "pods/", 5) == 0)
			pod = strchr(pod, '/') + 1;
		if (args.count == 2)
			o.container = args.items[1];
		status = print_logs(k, pod, &o);
	}
	arg_strings_free(&args);
	return status;
}
