/* kubectl delete: by type and name or -f; prints `pod "web" deleted` and, like kubectl, waits
 * until the objects are really gone (pods on a node linger while they shut down). */
#include <string.h>
#include <time.h>

#include "kubectl/api.h"
#include "kubectl/args.h"
#include "kubectl/collection.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"
#include "kubectl/status.h"
#include "kubectl/targets.h"
#include "kubectl/writes.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

struct deletion {
	struct resource resource;
	const char *namespace; /* NULL for cluster-scoped */
	const char *name;
	const char *source; /* the manifest, for messages; NULL when named on the command line */
	bool deleted;
	char *uid; /* of the object the server deleted, when it said */
};

struct delete_options {
	bool wait;
	bool ignore_not_found;
	long grace_period;
};

static void print_deleted(struct kubectl *k, const struct deletion *d, long grace_period)
{
	_cleanup_buf_ struct buf type = {0};
	resource_type_name(&d->resource, &type);
	fprintf(k->out, "%s \"%s\" %s\n", type.data, d->name,
		grace_period == 0 ? "force deleted" : "deleted");
}

/* 0 when deleted (or absent and that is fine), -1 when not: a refusal goes to `failures`, an
 * unreachable server is reported at once. */
static int delete_one(struct kubectl *k, const struct delete_options *o, struct deletion *d,
		      struct status_list *failures)
{
	_cleanup_buf_ struct buf path = {0};
	resource_path(&d->resource, d->namespace, d->name, &path);
	_cleanup_json_ json_t *body = json_pack("{s:s}", "propagationPolicy", "Background");
	if (o->grace_period >= 0)
		json_object_set_new(body, "gracePeriodSeconds", json_integer(o->grace_period));
	struct api_request request = {.method = "DELETE", .path = path.data, .body = body};
	_cleanup_json_ json_t *reply = NULL;
	struct ck_error err = {0};
	int ret = api_call(k, &request, &reply, &err);
	if (ret == -KUBECTL_SERVER_ERROR && status_code(reply) == 404 && o->ignore_not_found)
		return 0;
	if (ret == -KUBECTL_SERVER_ERROR) {
		status_list_add(failures, reply, "deleting", d->source);
		return -1;
	}
	if (ret < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	/* The answer is the object (still terminating) or a Status naming what was deleted. */
	const char *uid = json_path_string(reply, "metadata.uid");
	if (!uid)
		uid = json_path_string(reply, "details.uid");
	d->uid = uid ? strdup(uid) : NULL;
	d->deleted = true;
	print_deleted(k, d, o->grace_period);
	return 0;
}

static int stop_when_deleted(void *ctx, const char *type, const json_t *object)
{
	const struct deletion *d = ctx;
	const char *uid = json_path_string(object, "metadata.uid");
	return strcmp(type, "DELETED") == 0 && (!d->uid || !uid || strcmp(uid, d->uid) == 0);
}

/* Whether the object is gone: not found, or replaced by a new one of the same name. On "no" it
 * gives the resourceVersion to watch from. */
static int check_gone(struct kubectl *k, const struct deletion *d, bool *gone, char **version)
{
	_cleanup_buf_ struct buf path = {0};
	resource_path(&d->resource, d->namespace, d->name, &path);
	struct api_request request = {.method = "GET", .path = path.data};
	_cleanup_json_ json_t *object = NULL;
	struct ck_error err = {0};
	int ret = api_call(k, &request, &object, &err);
	if (ret == -KUBECTL_SERVER_ERROR && status_code(object) == 404) {
		*gone = true;
		return 0;
	}
	if (ret < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	const char *uid = json_path_string(object, "metadata.uid");
	*gone = d->uid && uid && strcmp(uid, d->uid) != 0;
	const char *rv = json_path_string(object, "metadata.resourceVersion");
	*version = strdup(rv ? rv : "");
	return 0;
}

static int wait_until_gone(struct kubectl *k, const struct deletion *d)
{
	_cleanup_buf_ struct buf path = {0}, query = {0};
	resource_path(&d->resource, d->namespace, NULL, &path);
	_cleanup_free_ char *selector = NULL;
	if (asprintf(&selector, "metadata.name=%s", d->name) < 0)
		return -1;
	_cleanup_free_ char *escaped = http_escape(selector);
	buf_printf(&query, "fieldSelector=%s", escaped);
	for (;;) {
		bool gone = false;
		_cleanup_free_ char *version = NULL;
		if (check_gone(k, d, &gone, &version) < 0)
			return -1;
		if (gone)
			return 0;
		_cleanup_json_ json_t *status = NULL;
		struct ck_error err = {0};
		int ret = collection_watch(k, path.data, query.data, NULL, version,
					   stop_when_deleted, (void *)d, &status, &err);
		if (ret < 0 && status_code(status) != 410) {
			kubectl_report(k, &err);
			return -1;
		}
		/* The server ended the watch: look again, without hammering it. */
		nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
	}
}

static void add_deletion(struct deletion **list, size_t *count, struct deletion d)
{
	struct deletion *grown = realloc(*list, (*count + 1) * sizeof(*grown));
	if (!grown)
		abort();
	*list = grown;
	(*list)[(*count)++] = d;
}

/* What to delete: the manifests' objects, or the types and names on the command line. */
static int collect(struct kubectl *k, const struct arg_strings *files,
		   const struct arg_strings *args, struct manifest *manifest,
		   struct targets *targets, struct deletion **list, size_t *count)
{
	struct ck_error err = {0};
	if (files->count > 0) {
		if (args->count > 0) {
			fprintf(k->err, "error: Unexpected args: [%s]\n", args->items[0]);
			return -1;
		}
		if (load_manifests(k, files, false, "delete", manifest) < 0)
			return -1;
		for (size_t i = 0; i < manifest->count; i++) {
			const struct manifest_object *o = &manifest->objects[i];
			add_deletion(
			    list, count,
			    (struct deletion){o->resource, o->namespace, o->name, o->source});
		}
		return 0;
	}
	if (args->count == 0) {
		fprintf(k->err, "error: You must provide one or more resources by argument or "
				"filename.\nExample resource specifications include:\n   '-f "
				"rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   "
				"'<resource>'\n");
		return -1;
	}
	if (targets_resolve(k, "delete", args, targets, &err) < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	for (size_t i = 0; i < targets->count; i++) {
		const struct target *t = &targets->items[i];
		if (t->names.count == 0) {
			fprintf(k->err, "error: resource(s) were provided, but no name was "
					"specified\n");
			return -1;
		}
		for (size_t j = 0; j < t->names.count; j++)
			add_deletion(list, count,
				     (struct deletion){t->resource,
						       t->resource.namespaced ? k->namespace : NULL,
						       t->names.items[j], NULL});
	}
	return 0;
}

int kubectl_delete(struct kubectl *k, int argc, const char *const *argv)
{
	struct delete_options o = {.wait = true, .grace_period = -1};
	struct arg_strings files = {0}, args = {0};
	bool now = false, force = false;
	const struct arg_option options[] = {
	    {'f', "filename", ARG_STRINGS, &files},
	    {0, "wait", ARG_BOOL, &o.wait},
	    {0, "ignore-not-found", ARG_BOOL, &o.ignore_not_found},
	    {0, "grace-period", ARG_LONG, &o.grace_period},
	    {0, "now", ARG_BOOL, &now},
	    {0, "force", ARG_BOOL, &force},
	    {0},
	};
	struct manifest manifest = {0};
	struct targets targets = {0};
	struct deletion *list = NULL;
	size_t count = 0;
	int status = 1;
	if (kubectl_parse_flags(k, argc, argv, options, &args) < 0)
		goto out;
	if (now)
		o.grace_period = 1;
	if (force && o.grace_period < 0)
		o.grace_period = 0;
	if (o.grace_period == 0)
		fprintf(k->err,
			"Warning: Immediate deletion does not wait for confirmation that the "
			"running resource has been terminated. The resource may continue to "
			"run on the cluster indefinitely.\n");
	if (collect(k, &files, &args, &manifest, &targets, &list, &count) < 0)
		goto out;
	status = 0;
	struct status_list failures = {0};
	for (size_t i = 0; i < count; i++)
		if (delete_one(k, &o, &list[i], &failures) < 0)
			status = 1;
	status_list_print(&failures, k->err);
	for (size_t i = 0; o.wait && i < count; i++)
		if (list[i].deleted && wait_until_gone(k, &list[i]) < 0)
			status = 1;
out:
	for (size_t i = 0; i < count; i++)
		free(list[i].uid);
	free(list);
	targets_free(&targets);
	manifest_free(&manifest);
	arg_strings_free(&files);
	arg_strings_free(&args);
	return status;
}
