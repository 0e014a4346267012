/* ConfigMap and Secret changes to the pods' volumes: see volume_sources.h. */
#include "kubelet/volume_sources.h"

#include <stdlib.h>
#include <string.h>

#include "kubelet/pod_volumes.h"
#include "kubelet/pods.h"
#include "lib/log.h"

struct volume_sources {
	struct api_watch_config watch;
	struct pods *const *pods;
	struct api_watch *config_maps, *secrets;
};

struct object_change {
	const char *kind;
	const char *namespace, *name;
	const json_t *object;
};

static void tell_pod(struct pod *pod, void *ctx)
{
	const struct object_change *change = ctx;

	if (pod->volumes && strcmp(pod->spec->namespace, change->namespace) == 0)
		pod_volumes_object_changed(pod, change->kind, change->name, change->object);
}

static void tell_pods(struct pods *pods, const char *kind, const json_t *object)
{
	const json_t *metadata = json_object_get(object, "metadata");
	struct object_change change = {
	    .kind = kind,
	    .namespace = json_string_value(json_object_get(metadata, "namespace")),
	    .name = json_string_value(json_object_get(metadata, "name")),
	    .object = object,
	};

	if (change.namespace && change.name)
		pods_for_each(pods, tell_pod, &change);
}

static void on_change(struct volume_sources *sources, const char *kind,
		      const struct watch_change *change)
{
	struct pods *pods = *sources->pods;
	size_t i;
	const json_t *object;

	if (!pods)
		return;
	switch (change->kind) {
	case WATCH_SNAPSHOT:
		json_array_foreach (change->objects, i, object)
			tell_pods(pods, kind, object);
		break;
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		tell_pods(pods, kind, change->objects);
		break;
	case WATCH_DELETED:
		/* The volume keeps what it shows, as with the kubelet. */
		break;
	}
}

static void on_config_maps(void *ctx, const struct watch_change *change)
{
	on_change(ctx, "ConfigMap", change);
}

static void on_secrets(void *ctx, const struct watch_change *change)
{
	on_change(ctx, "Secret", change);
}

struct volume_sources *volume_sources_new(const struct api_watch_config *watch,
					  struct pods *const *pods)
{
	struct volume_sources *sources = calloc(1, sizeof(*sources));

	if (!sources)
		abort();
	sources->watch = *watch;
	sources->watch.ctx = sources;
	sources->pods = pods;
	return sources;
}

void volume_sources_want(struct volume_sources *sources, bool secrets)
{
	struct api_watch **running = secrets ? &sources->secrets : &sources->config_maps;
	struct api_watch_config watch = sources->watch;
	struct ck_error err = {0};

	if (*running)
		return;
	watch.resource = secrets ? "secrets" : "configmaps";
	watch.on_change = secrets ? on_secrets : on_config_maps;
	/* Without the watch the volumes still get their content at setup; only updates wait
	 * for the next pod that asks. */
	if (api_watch_start(&watch, running, &err) < 0) {
		log_warn("node %s: watch %s: %s", watch.node_name, watch.resource, err.message);
		*running = NULL;
	}
}

void volume_sources_free(struct volume_sources *sources)
{
	if (!sources)
		return;
	api_watch_stop(sources->config_maps);
	api_watch_stop(sources->secrets);
	free(sources);
}
