/* One kind of the API's objects as the server has them: a thread lists them (all of them, or
 * those a field selector picks, such as this node's pods), then watches from the list's
 * resourceVersion, resumes a broken watch from the last version it saw, lists again when the
 * server answers 410 Gone, and backs off while the server is away. What it learns is posted to
 * the agent's loop: a full snapshot after every list (so objects deleted while nobody watched
 * are noticed), single changes in between. */
#pragma once

#include <jansson.h>

#include "kubelet/loop.h"
#include "lib/error.h"
#include "lib/http_client.h"

enum watch_change_kind { WATCH_SNAPSHOT, WATCH_ADDED, WATCH_MODIFIED, WATCH_DELETED };

struct watch_change {
	enum watch_change_kind kind;
	json_t *objects; /* WATCH_SNAPSHOT: an array of objects; otherwise the one object */
};

struct api_watch_config {
	struct http_client_options api;
	const char *resource;       /* a core/v1 resource: "pods", "nodes" */
	const char *field_selector; /* "spec.nodeName=node-1"; NULL: every object */
	const char *node_name;      /* who watches, for the log */
	struct loop *loop;
	/* Runs in the loop's thread; the change (and its JSON) is freed after it returns. */
	void (*on_change)(void *ctx, const struct watch_change *change);
	void *ctx;
};

struct api_watch;

int api_watch_start(const struct api_watch_config *config, struct api_watch **out,
		    struct ck_error *err);
/* Stops the thread within about a second (a watch in progress is cancelled). */
void api_watch_stop(struct api_watch *watch);
