/* The watch hub: an in-memory window of recent changes, fanned out to watchers.
 *
 * Every committed write becomes one event, published in revision order. HTTP watchers read
 * events after the resourceVersion they asked for, filtered by resource, namespace and
 * selectors; in-process listeners (controllers, the scheduler) get a callback per event. The
 * window holds recent events up to a byte budget; a watch that starts before the window, or
 * falls so far behind that its next event was dropped, ends with a 410 Expired error event and
 * the client lists again, as with Kubernetes' watch cache. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "apiserver/filter.h"
#include "lib/buf.h"

struct api_resource;

enum watch_event_type { WATCH_ADDED, WATCH_MODIFIED, WATCH_DELETED };

const char *watch_event_type_name(enum watch_event_type type);

/* One change, as published by the registry after the store committed it. */
struct watch_event {
	int64_t revision;
	enum watch_event_type type;
	const struct api_resource *resource;
	char *namespace; /* "" for cluster-scoped objects */
	char *object;    /* JSON text of the new state (the last state for DELETED) */
	size_t object_len;
	struct object_attrs attrs;      /* of the new state */
	struct object_attrs prev_attrs; /* of the state before, for MODIFIED; else empty */
	json_t *parsed;                 /* the new state, for in-process listeners; borrowed */
};

struct watch_hub;

struct watch_hub *watch_hub_new(size_t window_bytes);
void watch_hub_free(struct watch_hub *hub);

/* Called with every event right after it is published, in revision order and under the
 * registry's write lock: it must only take note (queue work), never call back into the API.
 * Listeners are added at start-up, before the first publish. */
typedef void (*watch_listener_fn)(void *ctx, const struct watch_event *event);
void watch_hub_add_listener(struct watch_hub *hub, watch_listener_fn fn, void *ctx);

/* Takes ownership of the fields of `event` (strings, attrs); `parsed` stays the caller's. */
void watch_hub_publish(struct watch_hub *hub, struct watch_event *event);

/* Writes one event as the client wants to see it (a JSON watch event line, or a Table row). */
typedef void (*watch_format_fn)(void *ctx, const char *type, const char *object, size_t object_len,
				struct buf *out);

struct watcher;

struct watch_request {
	const struct api_resource *resource;
	struct list_filter filter; /* owned by the watcher from here on */
	int64_t since_revision;    /* deliver events after this one */
	int timeout_seconds;       /* 0 = until the client goes */
	bool bookmarks;            /* allowWatchBookmarks */
	watch_format_fn format;
	void (*format_free)(void *ctx);
	void *format_ctx;
	/* Output that comes before any event (the ADDED events of a watch without a
	 * resourceVersion); taken over by the watcher. */
	char *initial;
	size_t initial_len;
};

/* Starts a watcher. Returns NULL when `since_revision` is older than the window (410). */
struct watcher *watch_hub_subscribe(struct watch_hub *hub, struct watch_request *request);

/* Copies up to `max` bytes of pending output. Returns the count, 0 when nothing is ready (the
 * watcher's notify callback fires when that changes), or -1 when the watch is over. */
ssize_t watcher_read(struct watcher *watcher, char *out, size_t max);
/* Called (from any thread) whenever watcher_read may have something new. */
void watcher_set_notify(struct watcher *watcher, void (*notify)(void *ctx), void *ctx);
void watcher_close(struct watcher *watcher);

/* Ends every watch (their streams finish), before the HTTP server stops. */
void watch_hub_shutdown(struct watch_hub *hub);
/* Tells the hub the store's revision at start, before anything is published: watches from
 * that revision on are served, older ones get 410. */
void watch_hub_set_revision(struct watch_hub *hub, int64_t revision);
/* The oldest revision a watch can start from. */
int64_t watch_hub_oldest_revision(struct watch_hub *hub);
