/* Images for a pod's containers: see pod_images.h. */
#include "kubelet/pod_images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/pod_events.h"
#include "kubelet/pod_runs.h"
#include "kubelet/pod_sync.h"
#include "lib/log.h"

static const struct agent_context *context_of(const struct pod *pod)
{
	return pods_context(pod->pods);
}

struct pull_wait {
	struct pods *pods;
	char *uid;
	bool init;
	size_t index;
	char *reference;
	int64_t started_ms;
};

static struct pod_container *find_container(struct pod *pod, bool init, size_t index)
{
	if (init)
		return index < pod->init_count ? &pod->init_containers[index] : NULL;
	return index < pod->container_count ? &pod->containers[index] : NULL;
}

static void pulled(void *ctx, struct image_record *record, bool invalid, const struct ck_error *err)
{
	struct pull_wait *wait = ctx;
	struct pod *pod = pods_find(wait->pods, wait->uid);
	struct pod_container *c = pod ? find_container(pod, wait->init, wait->index) : NULL;

	if (!c || strcmp(c->spec->image, wait->reference) != 0) {
		image_record_free(record); /* the pod or its image changed meanwhile */
	} else {
		c->pulling = false;
		free(c->image_error);
		c->image_error = NULL;
		if (record) {
			image_record_free(c->image);
			c->image = record;
			pod_event_container(
			    c, "Normal", "Pulled", "Successfully pulled image \"%s\" in %.3fs",
			    c->spec->image, (double)(loop_now_ms() - wait->started_ms) / 1000);
		} else {
			c->image_error = strdup(err->message);
			pod_container_set_waiting(c, invalid ? "InvalidImageName" : "ErrImagePull",
						  err->message);
			pod_event_container(c, "Warning", "Failed",
					    "Failed to pull image \"%s\": %s", c->spec->image,
					    err->message);
			c->restart_at_ms = loop_now_ms() + restart_backoff_step(&c->backoff, -1);
		}
		pod_sync_soon(pod);
	}
	free(wait->uid);
	free(wait->reference);
	free(wait);
}

bool pod_image_ready(struct pod_container *c)
{
	struct pod *pod = c->pod;
	struct image_store *store = image_puller_store(context_of(pod)->puller);
	struct pull_wait *wait;

	if (c->image)
		return true;
	if (c->pulling)
		return false;
	if (c->spec->pull_policy != PULL_ALWAYS &&
	    image_store_find(store, c->spec->image, &c->image, NULL) == 0) {
		pod_event_container(c, "Normal", "Pulled",
				    "Container image \"%s\" already present on machine",
				    c->spec->image);
		return true;
	}
	if (c->spec->pull_policy == PULL_NEVER) {
		char message[1024];
		snprintf(message, sizeof(message),
			 "Container image \"%s\" is not present with pull policy of Never",
			 c->spec->image);
		if (!c->state.reason || strcmp(c->state.reason, "ErrImageNeverPull") != 0)
			pod_event_container(c, "Warning", "ErrImageNeverPull", "%s", message);
		pod_container_set_waiting(c, "ErrImageNeverPull", message);
		return false;
	}
	if (c->image_error && loop_now_ms() < c->restart_at_ms) {
		pod_container_set_waiting(c, "ImagePullBackOff", c->image_error);
		pod_sync_at(pod, c->restart_at_ms);
		return false;
	}
	wait = calloc(1, sizeof(*wait));
	if (!wait)
		abort();
	*wait = (struct pull_wait){
	    .pods = pod->pods,
	    .uid = strdup(pod->uid),
	    .init = c->init,
	    .index = (size_t)(c - (c->init ? pod->init_containers : pod->containers)),
	    .reference = strdup(c->spec->image),
	    .started_ms = loop_now_ms()};
	c->pulling = true;
	pod_event_container(c, "Normal", "Pulling", "Pulling image \"%s\"", c->spec->image);
	image_puller_request(context_of(pod)->puller, c->spec->image,
			     c->spec->pull_policy == PULL_ALWAYS, pulled, wait);
	return false;
}
