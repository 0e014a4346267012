/* kubectl apply -f (client-side): create what is missing, patch what changed since the last
 * apply, leave the rest alone; every write dry-run first. */
#include "kubectl/api.h"
#include "kubectl/args.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"
#include "kubectl/merge_patch.h"
#include "kubectl/status.h"
#include "kubectl/writes.h"
#include "lib/cleanup.h"

/* Decides what to send for one object; -1 after reporting a failure to read the live one. */
static int plan_object(struct kubectl *k, struct write_plan *plan, struct manifest_object *o)
{
	_cleanup_json_ json_t *applied = last_applied_object(o->object);
	_cleanup_buf_ struct buf path = {0};
	resource_path(&o->resource, o->namespace, o->name, &path);
	struct api_request request = {.method = "GET", .path = path.data};
	_cleanup_json_ json_t *live = NULL;
	struct ck_error err = {0};
	int ret = api_call(k, &request, &live, &err);
	if (ret == -KUBECTL_SERVER_ERROR && status_code(live) == 404) {
		write_plan_add(plan, o, WRITE_CREATE, steal_ptr(&applied), "created");
		return 0;
	}
	if (ret == -KUBECTL_SERVER_ERROR) {
		_cleanup_buf_ struct buf text = {0};
		status_format(live, "retrieving current configuration of", o->source, &text);
		fprintf(k->err, "%s\n", text.data);
		return -1;
	}
	if (ret < 0) {
		kubectl_report(k, &err);
		return -1;
	}
	bool had_annotation;
	json_t *patch = last_applied_patch(applied, live, &had_annotation);
	if (json_object_size(patch) == 0) {
		write_plan_add(plan, o, WRITE_NOTHING, patch, "unchanged");
		return 0;
	}
	write_plan_add(plan, o, WRITE_PATCH, patch, "configured");
	plan->writes[plan->count - 1].warn_missing_last_applied = !had_annotation;
	return 0;
}

int kubectl_apply(struct kubectl *k, int argc, const char *const *argv)
{
	struct arg_strings files = {0}, rest = {0};
	const char *validate = NULL, *dry_run = NULL;
	const struct arg_option options[] = {
	    {'f', "filename", ARG_STRINGS, &files},
	    {0, "validate", ARG_STRING, &validate},
	    {0, "dry-run", ARG_STRING, &dry_run},
	    {0},
	};
	struct write_plan plan = {.field_manager = "kubectl-client-side-apply"};
	struct manifest manifest = {0};
	struct ck_error err = {0};
	int status = 1;
	if (kubectl_parse_flags(k, argc, argv, options, &rest) < 0)
		goto out;
	if (parse_field_validation(validate, &plan.field_validation, &err) < 0 ||
	    parse_dry_run(dry_run, &plan.dry_run, &err) < 0) {
		kubectl_report(k, &err);
		goto out;
	}
	if (rest.count > 0) {
		fprintf(k->err, "error: Unexpected args: [%s]\n", rest.items[0]);
		goto out;
	}
	if (load_manifests(k, &files, false, "apply", &manifest) < 0)
		goto out;
	for (size_t i = 0; i < manifest.count; i++)
		if (plan_object(k, &plan, &manifest.objects[i]) < 0)
			goto out;
	status = write_plan_execute(k, &plan);
out:
	write_plan_free(&plan);
	manifest_free(&manifest);
	arg_strings_free(&files);
	arg_strings_free(&rest);
	return status;
}
