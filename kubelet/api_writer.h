/* What the agent tells the API server about its pods, sent by a thread of its own so the sync
 * loop never waits for the network: pod statuses (only the newest status of a pod is kept while
 * older ones wait, so a busy or absent server costs nothing but the last word), Events, and the
 * final deletion of pods whose containers are gone. Failed writes are retried with back-off;
 * a pod that no longer exists (404) or has another uid (409) drops its pending status. */
#pragma once

#include <jansson.h>

#include "lib/error.h"
#include "lib/http_client.h"

struct api_writer;

struct agent_metrics;

/* Failed writes are counted in `metrics` (ckube_api_errors_total), which must outlive the
 * writer. */
int api_writer_start(const struct http_client_options *api, const char *node_name,
		     struct agent_metrics *metrics, struct api_writer **out, struct ck_error *err);
/* Sends what is pending (for up to a couple of seconds), then stops. */
void api_writer_stop(struct api_writer *writer);

/* The whole status of pod namespace/name with that uid (the writer takes the reference). */
void api_writer_pod_status(struct api_writer *writer, const char *namespace, const char *name,
			   const char *uid, json_t *status);
/* An Event about the object `involved` (a Pod or the Node, as an ObjectReference). `type` is
 * "Normal" or "Warning". */
void api_writer_event(struct api_writer *writer, json_t *involved, const char *type,
		      const char *reason, const char *message);
/* Creates the Pod (the writer takes the reference): a static pod's mirror. */
void api_writer_create_pod(struct api_writer *writer, json_t *pod);
/* Deletes the pod for good (grace 0, uid precondition): its containers are gone. */
void api_writer_delete_pod(struct api_writer *writer, const char *namespace, const char *name,
			   const char *uid);
