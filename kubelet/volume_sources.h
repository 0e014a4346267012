/* ConfigMaps and Secrets as the pods' volumes show them: a watch of each kind (whole cluster,
 * as the node cannot know in advance which its pods name) feeds every change to the pods whose
 * volumes show that object, so a running container sees an update within moments of the API
 * write rather than at the kubelet's next periodic sync. Each watch starts when the first pod
 * needs it: a node whose pods have no such volume keeps neither thread nor the objects' lists.
 * Internal to kubelet/. */
#pragma once

#include <stdbool.h>

#include "kubelet/api_watch.h"

struct pods;
struct volume_sources;

/* `watch`: how to reach the API (api, node_name, loop; resource and callback are set here).
 * `pods` is read when changes come, in the loop's thread. */
struct volume_sources *volume_sources_new(const struct api_watch_config *watch,
					  struct pods *const *pods);
/* Starts the watch of Secrets (or ConfigMaps) unless it runs; loop thread. */
void volume_sources_want(struct volume_sources *sources, bool secrets);
/* Stops the watches. */
void volume_sources_free(struct volume_sources *sources);
