/* Events about pods and containers: see pod_events.h. */
#include "kubelet/pod_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kubelet/api_writer.h"
#include "kubelet/pod_sync.h"

static json_t *pod_reference(const struct pod *pod)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "Pod", "apiVersion", "v1",
			 "namespace", pod->spec->namespace, "name", pod->spec->name, "uid",
			 pod->uid);
}

static void send(const struct pod *pod, json_t *reference, const char *type, const char *reason,
		 const char *fmt, va_list ap)
{
	char message[1024];

	vsnprintf(message, sizeof(message), fmt, ap);
	api_writer_event(pods_context(pod->pods)->writer, reference, type, reason, message);
}

void pod_event_pod(const struct pod *pod, const char *type, const char *reason, const char *fmt,
		   ...)
{
	va_list ap;

	va_start(ap, fmt);
	send(pod, pod_reference(pod), type, reason, fmt, ap);
	va_end(ap);
}

void pod_event_container(const struct pod_container *container, const char *type,
			 const char *reason, const char *fmt, ...)
{
	json_t *reference = pod_reference(container->pod);
	char field[512];
	va_list ap;

	snprintf(field, sizeof(field), "spec.%s{%s}",
		 container->init ? "initContainers" : "containers", container->spec->name);
	json_object_set_new(reference, "fieldPath", json_string(field));
	va_start(ap, fmt);
	send(container->pod, reference, type, reason, fmt, ap);
	va_end(ap);
}
