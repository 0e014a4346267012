/* The pods of this node, as the sync loop holds them: what the API wants (from the pod watch)
 * against what runs (containers, sandboxes), compared and acted on level-triggered, one pod at
 * a time, in the loop's thread. Internal to kubelet/. */
#pragma once

#include <jansson.h>

#include "cgroup/cgroup.h"
#include "kubelet/agent.h"
#include "kubelet/agent_settings.h"
#include "kubelet/api_writer.h"
#include "kubelet/image_puller.h"
#include "kubelet/loop.h"
#include "kubelet/api_watch.h"
#include "runtime/cri_log.h"

/* What the pods share, owned by the agent. */
struct agent_context {
	const struct agent_config *config;
	struct loop *loop;
	struct api_writer *writer;
	struct cgroup_root *cgroup;
	struct image_puller *puller;
	struct log_pump *logs;
	struct http_client *api; /* for the loop's own reads (services, config maps); loop only */
	struct agent_metrics *metrics;         /* thread-safe */
	struct node_network *network;          /* loop only */
	const struct agent_settings *settings; /* <config-dir>/agent.yaml */
	const char *pods_dir;                  /* <data-dir>/pods: pod volumes */
	struct volume_sources *volume_sources; /* loop only */
};

struct pods;

/* Adopts what a previous agent left running (containers, sandboxes), then waits for the
 * first snapshot of the API's pods before it removes anything. */
int pods_new(const struct agent_context *context, struct pods **out, struct ck_error *err);
/* Frees the loop's view; containers keep running. */
void pods_free(struct pods *pods);

/* The pod watch's callback (loop thread). */
void pods_on_change(void *pods, const struct watch_change *change);
/* The node network's callback (loop thread): it became ready, or its bridge was made again. */
void pods_network_changed(void *pods);
/* The static pod source's callback (loop thread): every static pod there is now. */
void pods_static_changed(void *pods, const json_t *list);

struct pod;
/* Calls `fn` on every pod, in no particular order; `fn` must not add or remove pods. */
void pods_for_each(struct pods *pods, void (*fn)(struct pod *pod, void *ctx), void *ctx);
/* Every pod as the status socket shows it (the JSON array described in status_socket.h); loop
 * thread. */
json_t *pods_snapshot(struct pods *pods);
