/* `kubectl describe` for pods, services and nodes, formatted from the objects the server
 * returned. `now` anchors every age, so the output is reproducible in tests. */
#pragma once

#include <jansson.h>
#include <time.h>

#include "lib/buf.h"

/* `events` is an EventList, or NULL to leave the Events section out. */
void describe_pod(const json_t *pod, const json_t *events, time_t now, struct buf *out);

/* `endpoint_slices` is an EndpointSliceList for the service (NULL when the server has none);
 * `endpoints` the v1 Endpoints object used instead when there are no slices (may be NULL). */
void describe_service(const json_t *service, const json_t *endpoint_slices, const json_t *endpoints,
		      const json_t *events, time_t now, struct buf *out);

/* `pods` is the PodList of the node's non-terminated pods; `lease` its Lease, or else
 * `lease_error` says why there is none. */
void describe_node(const json_t *node, const json_t *pods, const json_t *lease,
		   const char *lease_error, const json_t *events, time_t now, struct buf *out);
