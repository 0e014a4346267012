/* kubectl describe pod|service|node: the object, what belongs to it, and its events. */
#include <string.h>
#include <time.h>

#include "kubectl/api.h"
#include "kubectl/args.h"
#include "kubectl/collection.h"
#include "kubectl/describe.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"
#include "kubectl/status.h"
#include "kubectl/targets.h"
#include "lib/cleanup.h"
#include "lib/http_client.h"
#include "lib/json_util.h"

enum described { DESCRIBED_POD, DESCRIBED_SERVICE, DESCRIBED_NODE };

struct describe_run {
	struct kubectl *k;
	const char *label_selector;
	bool all_namespaces;
	bool printed;
	int status;
};

static void report_failure(struct describe_run *run, const struct ck_error *err)
{
	kubectl_report(run->k, err);
	run->status = 1;
}

static int described_kind(const struct resource *r, enum described *kind)
{
	static const struct {
		const char *plural;
		enum described kind;
	} known[] = {
	    {"pods", DESCRIBED_POD}, {"services", DESCRIBED_SERVICE}, {"nodes", DESCRIBED_NODE}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!*r->group && strcmp(r->plural, known[i].plural) == 0)
			return *kind = known[i].kind, 0;
	return -ENOENT;
}

/* A list read in full; NULL when the server refused (`quiet_404`: silently for a 404). */
static json_t *list_or_null(struct describe_run *run, const char *path, const char *query,
			    bool quiet_404)
{
	json_t *list = NULL;
	struct ck_error err = {0};
	if (collection_list(run->k, path, query, NULL, &list, &err) == 0)
		return list;
	if (!(quiet_404 && status_code(list) == 404))
		kubectl_report(run->k, &err);
	json_decref(list);
	return NULL;
}

static void append_field(struct buf *selector, const char *field, const char *value)
{
	buf_printf(selector, "%s%s=%s", selector->len ? "," : "", field, value ? value : "");
}

/* Events about an object: kubectl asks by kind (left out for pods), name, namespace and uid. */
static json_t *events_for(struct describe_run *run, const char *kind, const json_t *object,
			  const char *uid)
{
	const char *ns = json_path_string(object, "metadata.namespace");
	_cleanup_buf_ struct buf selector = {0}, path = {0}, query = {0};
	if (kind)
		append_field(&selector, "involvedObject.kind", kind);
	append_field(&selector, "involvedObject.name", json_path_string(object, "metadata.name"));
	append_field(&selector, "involvedObject.namespace", ns);
	append_field(&selector, "involvedObject.uid", uid);
	_cleanup_free_ char *escaped = http_escape(selector.data);
	buf_printf(&query, "fieldSelector=%s", escaped);
	if (ns && *ns) {
		_cleanup_free_ char *escaped_ns = http_escape(ns);
		buf_printf(&path, "/api/v1/namespaces/%s/events", escaped_ns);
	} else {
		buf_puts(&path, "/api/v1/events");
	}
	return list_or_null(run, path.data, query.data, false);
}

static void describe_pod_object(struct describe_run *run, const json_t *pod, struct buf *out)
{
	_cleanup_json_ json_t *events =
	    events_for(run, NULL, pod, json_path_string(pod, "metadata.uid"));
	describe_pod(pod, events, time(NULL), out);
}

static void describe_service_object(struct describe_run *run, const json_t *service,
				    struct buf *out)
{
	const char *name = json_path_string(service, "metadata.name");
	const char *ns = json_path_string(service, "metadata.namespace");
	_cleanup_free_ char *escaped_ns = http_escape(ns ? ns : "");
	_cleanup_free_ char *escaped_name = http_escape(name ? name : "");
	_cleanup_buf_ struct buf path = {0}, query = {0};
	buf_printf(&path, "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", escaped_ns);
	buf_printf(&query, "labelSelector=kubernetes.io%%2Fservice-name%%3D%s", escaped_name);
	_cleanup_json_ json_t *slices = list_or_null(run, path.data, query.data, true);
	_cleanup_json_ json_t *endpoints = NULL;
	if (!slices) {
		/* A server without EndpointSlices: show the v1 Endpoints instead. */
		buf_reset(&path);
		buf_printf(&path, "/api/v1/namespaces/%s/endpoints/%s", escaped_ns, escaped_name);
		struct api_request request = {.method = "GET", .path = path.data};
		struct ck_error err = {0};
		if (api_call(run->k, &request, &endpoints, &err) < 0) {
			json_decref(endpoints);
			endpoints = NULL;
		}
	}
	_cleanup_json_ json_t *events =
	    events_for(run, "Service", service, json_path_string(service, "metadata.uid"));
	describe_service(service, slices, endpoints, events, time(NULL), out);
}

static void describe_node_object(struct describe_run *run, const json_t *node, struct buf *out)
{
	const char *name = json_path_string(node, "metadata.name");
	_cleanup_free_ char *escaped = http_escape(name ? name : "");
	_cleanup_buf_ struct buf selector = {0}, query = {0}, lease_path = {0};
	buf_printf(&selector, "spec.nodeName=%s,status.phase!=Succeeded,status.phase!=Failed",
		   name ? name : "");
	_cleanup_free_ char *escaped_selector = http_escape(selector.data);
	buf_printf(&query, "fieldSelector=%s", escaped_selector);
	_cleanup_json_ json_t *pods = list_or_null(run, "/api/v1/pods", query.data, false);

	buf_printf(&lease_path, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s",
		   escaped);
	struct api_request request = {.method = "GET", .path = lease_path.data};
	_cleanup_json_ json_t *lease = NULL;
	struct ck_error lease_err = {0};
	const char *lease_error = NULL;
	if (api_call(run->k, &request, &lease, &lease_err) < 0) {
		lease_error = json_string_value(json_object_get(lease, "message"));
		if (!lease_error)
			lease_error = lease_err.message;
	}
	/* The node's events name it by uid (controllers) or by name (the kubelet). */
	_cleanup_json_ json_t *events =
	    events_for(run, "Node", node, json_path_string(node, "metadata.uid"));
	_cleanup_json_ json_t *by_name = events_for(run, "Node", node, name);
	if (events && by_name)
		json_array_extend(json_object_get(events, "items"),
				  json_object_get(by_name, "items"));
	describe_node(node, pods, lease_error ? NULL : lease, lease_error, events, time(NULL), out);
}

static void print_description(struct describe_run *run, enum described kind, const json_t *object)
{
	_cleanup_buf_ struct buf out = {0};
	if (kind == DESCRIBED_POD)
		describe_pod_object(run, object, &out);
	else if (kind == DESCRIBED_SERVICE)
		describe_service_object(run, object, &out);
	else
		describe_node_object(run, object, &out);
	fprintf(run->k->out, "%s%s", run->printed ? "\n\n" : "", out.data ? out.data : "");
	run->printed = true;
}

static json_t *list_of(struct describe_run *run, const struct resource *r)
{
	_cleanup_buf_ struct buf path = {0}, query = {0};
	resource_path(r, run->all_namespaces ? NULL : run->k->namespace, NULL, &path);
	if (run->label_selector) {
		_cleanup_free_ char *escaped = http_escape(run->label_selector);
		buf_printf(&query, "labelSelector=%s", escaped);
	}
	return list_or_null(run, path.data, query.data ? query.data : "", false);
}

/* kubectl describes every object whose name starts with a name that does not exist. */
static void describe_by_prefix(struct describe_run *run, const struct target *t,
			       enum described kind, const char *prefix, const struct ck_error *err)
{
	_cleanup_json_ json_t *list = list_of(run, &t->resource);
	bool found = false;
	size_t i;
	const json_t *item;
	json_array_foreach (json_object_get(list, "items"), i, item) {
		const char *name = json_path_string(item, "metadata.name");
		if (name && strncmp(name, prefix, strlen(prefix)) == 0) {
			print_description(run, kind, item);
			found = true;
		}
	}
	if (!found)
		report_failure(run, err);
}

static void describe_target(struct describe_run *run, const struct target *t)
{
	enum described kind;
	if (described_kind(&t->resource, &kind) < 0) {
		fprintf(run->k->err,
			"error: ckube kubectl describes pods, services and nodes, not %s\n",
			t->resource.plural);
		run->status = 1;
		return;
	}
	if (t->names.count == 0) {
		_cleanup_json_ json_t *list = list_of(run, &t->resource);
		size_t i;
		const json_t *item;
		json_array_foreach (json_object_get(list, "items"), i, item)
			print_description(run, kind, item);
		if (!list)
			run->status = 1;
		return;
	}
	for (size_t i = 0; i < t->names.count; i++) {
		_cleanup_buf_ struct buf path = {0};
		resource_path(&t->resource, run->k->namespace, t->names.items[i], &path);
		struct api_request request = {.method = "GET", .path = path.data};
		_cleanup_json_ json_t *object = NULL;
		struct ck_error err = {0};
		int ret = api_call(run->k, &request, &object, &err);
		if (ret == 0)
			print_description(run, kind, object);
		else if (ret == -KUBECTL_SERVER_ERROR && status_code(object) == 404)
			describe_by_prefix(run, t, kind, t->names.items[i], &err);
		else
			report_failure(run, &err);
	}
}

int kubectl_describe(struct kubectl *k, int argc, const char *const *argv)
{
	struct describe_run run = {.k = k};
	struct arg_strings args = {0};
	const struct arg_option options[] = {
	    {'l', "selector", ARG_STRING, &run.label_selector},
	    {'A', "all-namespaces", ARG_BOOL, &run.all_namespaces},
	    {0},
	};
	struct targets targets = {0};
	struct ck_error err = {0};
	if (kubectl_parse_flags(k, argc, argv, options, &args) < 0) {
		run.status = 1;
	} else if (targets_resolve(k, "describe", &args, &targets, &err) < 0) {
		kubectl_report(k, &err);
		run.status = 1;
	} else if (targets.count == 0) {
		fprintf(k->err, "You must specify the type of resource to describe. Use \"kubectl "
				"api-resources\" for a complete list of supported resources.\n");
		run.status = 1;
	}
	for (size_t i = 0; i < targets.count; i++)
		describe_target(&run, &targets.items[i]);
	if (!run.printed && run.status == 0) {
		if (run.all_namespaces)
			fprintf(k->err, "No resources found\n");
		else
			fprintf(k->err, "No resources found in %s namespace.\n", k->namespace);
	}
	targets_free(&targets);
	arg_strings_free(&args);
	return run.status;
}
