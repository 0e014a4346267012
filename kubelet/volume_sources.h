/* ConfigMaps and Secrets as the pods' volumes show them: a watch of each kind (whole cluster,
 * as the node cannot know in advance which its pods name) feeds every change to the pods whose
 * volumes show that object, so a running container sees an update within moments of the API
 * write rather than at the kubelet's next periodic sync. Internal to kubelet/. */
#pragma once

#include "kubelet/api_watch.h"

/* The watches' callbacks (loop thread); ctx is the agent's `struct pods`. */
void volume_sources_on_config_maps(void *pods, const struct watch_change *change);
void volume_sources_on_secrets(void *pods, const struct watch_change *change);
