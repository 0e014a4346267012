/* ConfigMap and Secret changes to the pods' volumes: see volume_sources.h. */
#include "kubelet/volume_sources.h"

#include <string.h>

#include "kubelet/pod_volumes.h"
#include "kubelet/pods.h"

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

static void on_change(struct pods *pods, const char *kind, const struct watch_change *change)
{
	size_t i;
	const json_t *object;

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

void volume_sources_on_config_maps(void *pods, const struct watch_change *change)
{
	on_change(pods, "ConfigMap", change);
}

void volume_sources_on_secrets(void *pods, const struct watch_change *change)
{
	on_change(pods, "Secret", change);
}
