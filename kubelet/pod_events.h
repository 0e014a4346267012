/* Events about pods and their containers, worded as the kubelet words them (Pulling, Pulled,
 * Created, Started, Killing, BackOff, Failed, Unhealthy...), for `kubectl describe`. Sent by
 * the API writer. Internal to kubelet/. */
#pragma once

#include "kubelet/pod.h"

void pod_event_pod(const struct pod *pod, const char *type, const char *reason, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
/* About one container: the event's fieldPath names it (spec.containers{name}). */
void pod_event_container(const struct pod_container *container, const char *type,
			 const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
