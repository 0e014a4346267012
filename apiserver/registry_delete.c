/* Deletes: preconditions, graceful deletion, finalizers, protected objects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/registry_internal.h"
#include "apiserver/admission.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/timeutil.h"

static int check_delete_preconditions(const struct api_resource *resource, const json_t *old,
				      const struct delete_options *options,
				      struct api_status *status)
{
	const char *name = json_path_string(old, "metadata.name");
	const char *uid = json_path_string(old, "metadata.uid");
	const char *version = json_path_string(old, "metadata.resourceVersion");
	char why[256];
	if (options->precondition_uid && uid && strcmp(options->precondition_uid, uid) != 0) {
		snprintf(why, sizeof(why),
			 "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 options->precondition_uid, uid);
		return api_fail_conflict(status, resource, name, why);
	}
	if (options->precondition_resource_version && version &&
	    strcmp(options->precondition_resource_version, version) != 0) {
		snprintf(why, sizeof(why),
			 "Precondition failed: ResourceVersion in precondition: %s, "
			 "ResourceVersion in object meta: %s",
			 options->precondition_resource_version, version);
		return api_fail_conflict(status, resource, name, why);
	}
	return 0;
}

/* Marks `old` as terminating: deletionTimestamp now + grace, or sooner when a shorter grace
 * period comes after a longer one. */
static bool mark_terminating(json_t *old, long long grace)
{
	json_t *meta = json_object_ensure(old, "metadata");
	json_t *current_grace = json_object_get(meta, "deletionGracePeriodSeconds");
	if (json_object_get(meta, "deletionTimestamp") &&
	    (!json_is_integer(current_grace) || json_integer_value(current_grace) <= grace))
		return false;
	char when[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL) + grace, when);
	json_object_set_string(meta, "deletionTimestamp", when);
	json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
	return true;
}

int registry_delete(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const struct delete_options *options,
		    struct stored_object *out, bool *gone, struct api_status *status)
{
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	WRITE_LOCKED(server);
	_cleanup_json_ json_t *old = NULL;
	int ret = registry_read_stored(server, key, &old, status);
	if (ret == -ENOENT)
		return api_fail_not_found(status, resource, name);
	if (ret < 0 || check_delete_preconditions(resource, old, options, status) < 0 ||
	    admission_check_delete(resource, name, status) < 0)
		return -1;
	*gone = false;

	const struct kind_strategy *strategy = resource->strategy;
	long long grace = strategy && strategy->deletion_grace
			      ? strategy->deletion_grace(old, options->grace_period_seconds)
			      : 0;
	if (grace > 0 || registry_has_finalizers(resource, old)) {
		/* Graceful: the object stays, marked, until its node or its finalizers let go. */
		_cleanup_json_ json_t *marked = json_deep_copy(old);
		if (!mark_terminating(marked, grace > 0 ? grace : 0) || options->dry_run) {
			json_t *shown = options->dry_run ? marked : old;
			out->json = json_incref(shown);
			out->text = json_dump_compact(shown);
			return 0;
		}
		json_t *stored = json_incref(marked);
		ret = registry_commit_write(server, resource, key, &stored, old, out, status);
		json_decref(stored);
		return ret;
	}
	if (options->dry_run) {
		out->json = json_incref(old);
		out->text = json_dump_compact(old);
		*gone = true;
		return 0;
	}
	ret = registry_commit_delete(server, resource, key, old, out, status);
	*gone = ret == 0;
	return ret;
}
