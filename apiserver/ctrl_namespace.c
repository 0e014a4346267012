/* Namespace deletion: once a namespace is marked for deletion, delete everything in it; when
 * nothing is left, remove its "kubernetes" finalizer so that it goes too. Pods bound to a node
 * leave only after their node has stopped them, so this is retried until the namespace is
 * empty. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/controllers.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"

static int collect_names(void *ctx, const char *text, size_t len, json_t *parsed)
{
	(void)parsed;
	json_t *names = ctx;
	_cleanup_json_ json_t *obj = json_loadb(text, len, 0, NULL);
	const char *name = json_path_string(obj, "metadata.name");
	if (name)
		json_array_append_new(names, json_string(name));
	return 0;
}

/* Deletes what `resource` has in `namespace`; returns how many objects are still there
 * (being deleted gracefully, or waiting for finalizers). */
static size_t delete_contents(struct controllers *c, const struct api_resource *resource,
			      const char *namespace)
{
	struct list_options options = {.filter = {.namespace = (char *)namespace}};
	struct list_result result = {0};
	struct api_status status = {0};
	_cleanup_json_ json_t *names = json_array();
	registry_list(c->server, resource, &options, collect_names, names, &result, &status);
	free(result.continue_token);
	api_status_clear(&status);
	size_t i, left = 0;
	json_t *name;
	json_array_foreach (names, i, name) {
		struct delete_options del = {.grace_period_seconds = -1};
		struct stored_object out = {0};
		bool gone = false;
		if (registry_delete(c->server, resource, namespace, json_string_value(name), &del,
				    &out, &gone, &status) == 0 &&
		    !gone)
			left++;
		stored_object_clear(&out);
		api_status_clear(&status);
	}
	return left;
}

static bool clear_finalizers(void *ctx, json_t *ns)
{
	(void)ctx;
	json_object_set_new(json_object_ensure(ns, "spec"), "finalizers", json_array());
	return true;
}

static bool mark_terminating(void *ctx, json_t *ns)
{
	(void)ctx;
	const char *phase = json_path_string(ns, "status.phase");
	if (phase && strcmp(phase, "Terminating") == 0)
		return false;
	json_object_set_new(json_object_ensure(ns, "status"), "phase", json_string("Terminating"));
	return true;
}

void namespace_controller_sync(struct controllers *c, const char *name)
{
	const struct api_resource *namespaces = api_resource_find("", "v1", "namespaces");
	struct api_status status = {0};
	if (registry_mutate(c->server, namespaces, NULL, name, "status", mark_terminating, NULL,
			    &status) == -ENOENT) {
		api_status_clear(&status);
		return;
	}
	api_status_clear(&status);
	size_t count, remaining = 0;
	const struct api_resource *resources = api_resources(&count);
	for (size_t i = 0; i < count; i++)
		if (resources[i].namespaced && !resources[i].live)
			remaining += delete_contents(c, &resources[i], name);
	if (remaining) {
		/* Look again shortly: graceful deletions are still under way. */
		pthread_mutex_lock(&c->lock);
		strmap_put(c->terminating_namespaces, name, (void *)1);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (registry_mutate(c->server, namespaces, NULL, name, "finalize", clear_finalizers, NULL,
			    &status) > 0)
		log_info("namespace %s: emptied and deleted", name);
	api_status_clear(&status);
}
