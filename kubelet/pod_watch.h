/* This node's pods as the API server has them: a thread lists the pods bound to the node
 * (spec.nodeName), then watches from the list's resourceVersion, resumes a broken watch from the
 * last version it saw, lists again when the server answers 410 Gone, and backs off while the
 * server is away. What it learns is posted to the agent's loop: a full snapshot after every
 * list (so pods deleted while nobody watched are noticed), single changes in between. */
#pragma once

#include <jansson.h>

#include "kubelet/loop.h"
#include "lib/error.h"
#include "lib/http_client.h"

enum pod_change_kind { POD_SNAPSHOT, POD_ADDED, POD_MODIFIED, POD_DELETED };

struct pod_change {
	enum pod_change_kind kind;
	json_t *pods; /* POD_SNAPSHOT: an array of Pods; otherwise the one Pod */
};

struct pod_watch_config {
	struct http_client_options api;
	const char *node_name;
	struct loop *loop;
	/* Runs in the loop's thread; the change (and its JSON) is freed after it returns. */
	void (*on_change)(void *ctx, const struct pod_change *change);
	void *ctx;
};

struct pod_watch;

int pod_watch_start(const struct pod_watch_config *config, struct pod_watch **out,
		    struct ck_error *err);
/* Stops the thread within about a second (a watch in progress is cancelled). */
void pod_watch_stop(struct pod_watch *watch);
