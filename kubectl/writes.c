#include "kubectl/writes.h"

#include <stdlib.h>
#include <string.h>

#include "kubectl/api.h"
#include "kubectl/discovery.h"
#include "kubectl/merge_patch.h"
#include "kubectl/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

void write_plan_add(struct write_plan *plan, struct manifest_object *object,
		    enum write_action action, json_t *body, const char *result)
{
	struct planned_write *grown = realloc(plan->writes, (plan->count + 1) * sizeof(*grown));
	if (!grown)
		abort();
	plan->writes = grown;
	plan->writes[plan->count++] = (struct planned_write){
	    .object = object, .action = action, .body = body, .result = result};
}

void write_plan_free(struct write_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++)
		json_decref(plan->writes[i].body);
	free(plan->writes);
	plan->writes = NULL;
	plan->count = 0;
}

static void write_path(const struct write_plan *plan, const struct planned_write *w, bool dry_run,
		       struct buf *path)
{
	const struct manifest_object *o = w->object;
	resource_path(&o->resource, o->namespace, w->action == WRITE_PATCH ? o->name : NULL, path);
	buf_printf(path, "?%sfieldManager=%s&fieldValidation=%s", dry_run ? "dryRun=All&" : "",
		   plan->field_manager, plan->field_validation);
}

/* Sends one write. A refusal is added to `failures`; -1 for both kinds of failure, and an
 * unreachable server is reported at once. */
static int send_write(struct kubectl *k, const struct write_plan *plan,
		      const struct planned_write *w, bool dry_run, json_t **reply,
		      struct status_list *failures)
{
	_cleanup_buf_ struct buf path = {0};
	write_path(plan, w, dry_run, &path);
	bool patch = w->action == WRITE_PATCH;
	struct api_request request = {
	    .method = patch ? "PATCH" : "POST",
	    .path = path.data,
	    .content_type = patch ? "application/merge-patch+json" : "application/json",
	    .body = w->body,
	    .quiet = dry_run && plan->dry_run != DRY_RUN_SERVER,
	};
	struct ck_error err = {0};
	int ret = api_call(k, &request, reply, &err);
	if (ret == -KUBECTL_SERVER_ERROR)
		status_list_add(failures, *reply, patch ? "patching" : "creating",
				w->object->source);
	else if (ret < 0)
		kubectl_report(k, &err);
	return ret < 0 ? -1 : 0;
}

static void print_result(struct kubectl *k, const struct write_plan *plan,
			 const struct planned_write *w, const json_t *reply)
{
	_cleanup_buf_ struct buf type = {0};
	resource_type_name(&w->object->resource, &type);
	const char *name = json_path_string(reply, "metadata.name");
	if (!name)
		name = w->object->name ? w->object->name : "";
	const char *suffix = plan->dry_run == DRY_RUN_SERVER   ? " (server dry run)"
			     : plan->dry_run == DRY_RUN_CLIENT ? " (dry run)"
							       : "";
	fprintf(k->out, "%s/%s %s%s\n", type.data, name, w->result, suffix);
}

/* The server's dry run of every write; false when any failed (reported). */
static bool dry_run_all(struct kubectl *k, const struct write_plan *plan)
{
	struct status_list failures = {0};
	bool reached = true;
	for (size_t i = 0; reached && i < plan->count; i++) {
		const struct planned_write *w = &plan->writes[i];
		if (w->action == WRITE_NOTHING)
			continue;
		_cleanup_json_ json_t *reply = NULL;
		if (send_write(k, plan, w, true, &reply, &failures) < 0)
			reached = reply != NULL;
		else if (plan->dry_run == DRY_RUN_SERVER)
			print_result(k, plan, w, reply);
	}
	bool passed = reached && status_list_count(&failures) == 0;
	status_list_print(&failures, k->err);
	return passed;
}

static void warn_missing_last_applied(struct kubectl *k, const struct planned_write *w)
{
	fprintf(
	    k->err,
	    "Warning: resource %s/%s is missing the " LAST_APPLIED_ANNOTATION
	    " annotation which is required by kubectl apply. kubectl apply should only be used on "
	    "resources created declaratively by either kubectl create --save-config or kubectl "
	    "apply. The missing annotation will be patched automatically.\n",
	    w->object->resource.plural, w->object->name);
}

int write_plan_execute(struct kubectl *k, struct write_plan *plan)
{
	if (plan->dry_run == DRY_RUN_CLIENT) {
		for (size_t i = 0; i < plan->count; i++)
			print_result(k, plan, &plan->writes[i], NULL);
		return 0;
	}
	bool passed = dry_run_all(k, plan);
	if (!passed || plan->dry_run == DRY_RUN_SERVER)
		return !passed;
	struct status_list failures = {0};
	int status = 0;
	for (size_t i = 0; i < plan->count; i++) {
		const struct planned_write *w = &plan->writes[i];
		_cleanup_json_ json_t *reply = NULL;
		if (w->warn_missing_last_applied)
			warn_missing_last_applied(k, w);
		if (w->action != WRITE_NOTHING &&
		    send_write(k, plan, w, false, &reply, &failures) < 0) {
			status = 1;
			continue;
		}
		print_result(k, plan, w, reply);
	}
	status_list_print(&failures, k->err);
	return status;
}

int parse_field_validation(const char *flag, const char **validation, struct ck_error *err)
{
	if (!flag || strcmp(flag, "true") == 0 || strcmp(flag, "strict") == 0)
		*validation = "Strict";
	else if (strcmp(flag, "warn") == 0)
		*validation = "Warn";
	else if (strcmp(flag, "false") == 0 || strcmp(flag, "ignore") == 0)
		*validation = "Ignore";
	else
		return ck_error_set(err, EINVAL,
				    "invalid - validate option \"%s\"; must be one of: strict (or "
				    "true), warn, ignore (or false)",
				    flag);
	return 0;
}

int parse_dry_run(const char *flag, enum dry_run *dry_run, struct ck_error *err)
{
	if (!flag || strcmp(flag, "none") == 0)
		*dry_run = DRY_RUN_NONE;
	else if (strcmp(flag, "server") == 0)
		*dry_run = DRY_RUN_SERVER;
	else if (strcmp(flag, "client") == 0)
		*dry_run = DRY_RUN_CLIENT;
	else
		return ck_error_set(err, EINVAL,
				    "Invalid dry-run value (%s). Must be \"none\", \"server\", or "
				    "\"client\".",
				    flag);
	return 0;
}

int load_manifests(struct kubectl *k, const struct arg_strings *files, bool allow_generate_name,
		   const char *action, struct manifest *manifest)
{
	struct ck_error err = {0};
	if (files->count == 0) {
		fprintf(k->err, "error: must specify one of -f and -k\n");
		return -1;
	}
	if (manifest_read(files->items, files->count, stdin, manifest, &err) < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	_cleanup_buf_ struct buf problems = {0};
	int count = manifest_check(k, manifest, allow_generate_name, &problems, &err);
	if (count < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	for (const char *line = problems.data; line && *line;) {
		size_t len = strcspn(line, "\n");
		fprintf(k->err, "error: %.*s\n", (int)len, line);
		line += len + (line[len] ? 1 : 0);
	}
	if (count > 0)
		return -1;
	if (manifest->count == 0) {
		fprintf(k->err, "error: no objects passed to %s\n", action);
		return -1;
	}
	return 0;
}
