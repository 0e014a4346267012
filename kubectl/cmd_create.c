/* kubectl create -f: POST every object, after every one passed a server-side dry run. */
#include "kubectl/args.h"
#include "kubectl/kubectl.h"
#include "kubectl/merge_patch.h"
#include "kubectl/writes.h"

int kubectl_create(struct kubectl *k, int argc, const char *const *argv)
{
	struct arg_strings files = {0}, rest = {0};
	const char *validate = NULL, *dry_run = NULL;
	bool save_config = false;
	const struct arg_option options[] = {
	    {'f', "filename", ARG_STRINGS, &files},
	    {0, "validate", ARG_STRING, &validate},
	    {0, "dry-run", ARG_STRING, &dry_run},
	    {0, "save-config", ARG_BOOL, &save_config},
	    {0},
	};
	struct write_plan plan = {.field_manager = "kubectl-create"};
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
	if (load_manifests(k, &files, true, "create", &manifest) < 0)
		goto out;
	for (size_t i = 0; i < manifest.count; i++) {
		struct manifest_object *o = &manifest.objects[i];
		json_t *body =
		    save_config ? last_applied_object(o->object) : json_incref(o->object);
		write_plan_add(&plan, o, WRITE_CREATE, body, "created");
	}
	status = write_plan_execute(k, &plan);
out:
	write_plan_free(&plan);
	manifest_free(&manifest);
	arg_strings_free(&files);
	arg_strings_free(&rest);
	return status;
}
