#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* Bytes an event costs beside its object text and attributes (structs, allocator overhead). */
#define EVENT_OVERHEAD 256
/* How much formatted output a watcher prepares per read, so one slow client cannot make a
 * reader hold many events at once. */
#define READ_BATCH 64
/* Bookmarks tell a client how far it has seen even when its own objects do not change. */
#define BOOKMARK_INTERVAL_SECONDS 60

struct hub_event {
	struct watch_event event;
	atomic_int refs;
};

struct watcher {
	struct watch_hub *hub;
	struct watch_request request;
	struct watcher *prev, *next;
	uint64_t cursor;       /* sequence number of the next event to look at */
	int64_t seen_revision; /* the newest revision this watcher has passed */
	struct buf pending;    /* formatted output not yet handed out */
	size_t pending_offset;
	struct timespec deadline; /* zero when there is no timeout */
	struct timespec next_bookmark;
	bool bookmark_due;
	bool timed_out;
	bool expired;  /* fell behind the window */
	bool finished; /* the final output is queued; end after it */
	void (*notify)(void *ctx);
	void *notify_ctx;
};

struct listener {
	watch_listener_fn fn;
	void *ctx;
};

struct watch_hub {
	pthread_mutex_t lock;
	pthread_cond_t timer_wake;
	pthread_t timer_thread;
	bool stopping;
	/* The window: a ring of events with sequence numbers first_seq .. first_seq+count-1. */
	struct hub_event **ring;
	size_t ring_cap, head, count;
	uint64_t first_seq;
	size_t bytes, window_bytes;
	int64_t oldest_revision; /* a watch may start from oldest_revision or later */
	int64_t last_revision;
	struct watcher *watchers;
	struct listener *listeners;
	size_t listener_count;
};

const char *watch_event_type_name(enum watch_event_type type)
{
	switch (type) {
	case WATCH_ADDED:
		return "ADDED";
	case WATCH_MODIFIED:
		return "MODIFIED";
	case WATCH_DELETED:
		return "DELETED";
	}
	return "ERROR";
}

static void event_unref(struct hub_event *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	free(e->event.namespace);
	free(e->event.object);
	object_attrs_clear(&e->event.attrs);
	object_attrs_clear(&e->event.prev_attrs);
	free(e);
}

static size_t event_cost(const struct hub_event *e)
{
	return e->event.object_len + EVENT_OVERHEAD + object_attrs_size(&e->event.attrs) +
	       object_attrs_size(&e->event.prev_attrs);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool is_set(const struct timespec *t)
{
	return t->tv_sec || t->tv_nsec;
}

/* Wakes the timer thread when a watcher's deadline or bookmark is due; holds hub->lock. */
static void *timer_main(void *arg)
{
	struct watch_hub *hub = arg;
	pthread_mutex_lock(&hub->lock);
	while (!hub->stopping) {
		struct timespec now, next = {0};
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct watcher *w = hub->watchers; w; w = w->next) {
			bool wake = false;
			if (is_set(&w->deadline) && !w->timed_out) {
				if (!before(&now, &w->deadline))
					w->timed_out = wake = true;
				else if (!is_set(&next) || before(&w->deadline, &next))
					next = w->deadline;
			}
			if (w->request.bookmarks && !w->timed_out) {
				if (!before(&now, &w->next_bookmark)) {
					w->bookmark_due = wake = true;
					w->next_bookmark = now;
					w->next_bookmark.tv_sec += BOOKMARK_INTERVAL_SECONDS;
				}
				if (!is_set(&next) || before(&w->next_bookmark, &next))
					next = w->next_bookmark;
			}
			if (wake && w->notify)
				w->notify(w->notify_ctx);
		}
		if (is_set(&next))
			pthread_cond_timedwait(&hub->timer_wake, &hub->lock, &next);
		else
			pthread_cond_wait(&hub->timer_wake, &hub->lock);
	}
	pthread_mutex_unlock(&hub->lock);
	return NULL;
}

struct watch_hub *watch_hub_new(size_t window_bytes)
{
	struct watch_hub *hub = calloc(1, sizeof(*hub));
	if (!hub)
		return NULL;
	pthread_mutex_init(&hub->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&hub->timer_wake, &attr);
	pthread_condattr_destroy(&attr);
	hub->window_bytes = window_bytes;
	hub->oldest_revision = -1; /* set by the first publish or watch_hub_set_revision */
	if (pthread_create(&hub->timer_thread, NULL, timer_main, hub) != 0) {
		free(hub);
		return NULL;
	}
	return hub;
}

void watch_hub_free(struct watch_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->lock);
	hub->stopping = true;
	pthread_cond_signal(&hub->timer_wake);
	pthread_mutex_unlock(&hub->lock);
	pthread_join(hub->timer_thread, NULL);
	for (size_t i = 0; i < hub->count; i++)
		event_unref(hub->ring[(hub->head + i) % hub->ring_cap]);
	free(hub->ring);
	free(hub->listeners);
	pthread_cond_destroy(&hub->timer_wake);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

void watch_hub_shutdown(struct watch_hub *hub)
{
	pthread_mutex_lock(&hub->lock);
	for (struct watcher *w = hub->watchers; w; w = w->next) {
		w->timed_out = true;
		if (w->notify)
			w->notify(w->notify_ctx);
	}
	pthread_mutex_unlock(&hub->lock);
}

void watch_hub_add_listener(struct watch_hub *hub, watch_listener_fn fn, void *ctx)
{
	pthread_mutex_lock(&hub->lock);
	struct listener *grown =
	    realloc(hub->listeners, (hub->listener_count + 1) * sizeof(*hub->listeners));
	if (!grown)
		abort();
	hub->listeners = grown;
	hub->listeners[hub->listener_count++] = (struct listener){fn, ctx};
	pthread_mutex_unlock(&hub->lock);
}

void watch_hub_set_revision(struct watch_hub *hub, int64_t revision)
{
	pthread_mutex_lock(&hub->lock);
	hub->last_revision = revision;
	if (hub->count == 0)
		hub->oldest_revision = revision;
	pthread_mutex_unlock(&hub->lock);
}

int64_t watch_hub_oldest_revision(struct watch_hub *hub)
{
	pthread_mutex_lock(&hub->lock);
	int64_t oldest = hub->oldest_revision;
	pthread_mutex_unlock(&hub->lock);
	return oldest;
}

/* Whether `w` sees `e`, and as which event type: a MODIFIED object that enters the filter is
 * ADDED for this watcher, one that leaves it is DELETED. */
static bool event_for_watcher(const struct watcher *w, const struct watch_event *e,
			      enum watch_event_type *type)
{
	if (e->resource != w->request.resource || e->revision <= w->request.since_revision)
		return false;
	const struct list_filter *f = &w->request.filter;
	bool now_in = list_filter_matches(f, e->namespace, &e->attrs);
	if (e->type != WATCH_MODIFIED) {
		*type = e->type;
		return now_in;
	}
	bool was_in = list_filter_matches(f, e->namespace, &e->prev_attrs);
	if (now_in && was_in)
		*type = WATCH_MODIFIED;
	else if (now_in)
		*type = WATCH_ADDED;
	else if (was_in)
		*type = WATCH_DELETED;
	else
		return false;
	return true;
}

static void evict_old_events(struct watch_hub *hub)
{
	/* Keep at least one event so a watch from the newest revision always works. */
	while (hub->count > 1 && hub->bytes > hub->window_bytes) {
		struct hub_event *oldest = hub->ring[hub->head];
		hub->bytes -= event_cost(oldest);
		hub->oldest_revision = oldest->event.revision;
		hub->head = (hub->head + 1) % hub->ring_cap;
		hub->count--;
		hub->first_seq++;
		event_unref(oldest);
	}
}

static void ring_push(struct watch_hub *hub, struct hub_event *e)
{
	if (hub->count == hub->ring_cap) {
		size_t cap = hub->ring_cap ? hub->ring_cap * 2 : 1024;
		struct hub_event **ring = malloc(cap * sizeof(*ring));
		if (!ring)
			abort();
		for (size_t i = 0; i < hub->count; i++)
			ring[i] = hub->ring[(hub->head + i) % hub->ring_cap];
		free(hub->ring);
		hub->ring = ring;
		hub->ring_cap = cap;
		hub->head = 0;
	}
	hub->ring[(hub->head + hub->count) % hub->ring_cap] = e;
	hub->count++;
	hub->bytes += event_cost(e);
}

void watch_hub_publish(struct watch_hub *hub, struct watch_event *event)
{
	struct hub_event *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->event = *event;
	e->event.parsed = NULL;
	atomic_init(&e->refs, 1);

	/* Listeners run first and outside the hub lock: they may read the hub. */
	for (size_t i = 0; i < hub->listener_count; i++)
		hub->listeners[i].fn(hub->listeners[i].ctx, event);
	memset(event, 0, sizeof(*event));

	pthread_mutex_lock(&hub->lock);
	if (hub->oldest_revision < 0)
		hub->oldest_revision = e->event.revision - 1;
	hub->last_revision = e->event.revision;
	ring_push(hub, e);
	evict_old_events(hub);
	for (struct watcher *w = hub->watchers; w; w = w->next) {
		enum watch_event_type type;
		if (w->notify && event_for_watcher(w, &e->event, &type))
			w->notify(w->notify_ctx);
	}
	pthread_mutex_unlock(&hub->lock);
}

struct watcher *watch_hub_subscribe(struct watch_hub *hub, struct watch_request *request)
{
	struct watcher *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_mutex_lock(&hub->lock);
	if (request->since_revision < hub->oldest_revision) {
		pthread_mutex_unlock(&hub->lock);
		free(w);
		return NULL;
	}
	w->hub = hub;
	w->request = *request;
	memset(request, 0, sizeof(*request));
	w->seen_revision = w->request.since_revision;
	/* Start at the first event after since_revision; events are in revision order. */
	w->cursor = hub->first_seq;
	while (
	    w->cursor < hub->first_seq + hub->count &&
	    hub->ring[(hub->head + (w->cursor - hub->first_seq)) % hub->ring_cap]->event.revision <=
		w->request.since_revision)
		w->cursor++;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (w->request.timeout_seconds > 0) {
		w->deadline = now;
		w->deadline.tv_sec += w->request.timeout_seconds;
	}
	w->next_bookmark = now;
	w->next_bookmark.tv_sec += BOOKMARK_INTERVAL_SECONDS;
	w->next = hub->watchers;
	if (w->next)
		w->next->prev = w;
	hub->watchers = w;
	pthread_cond_signal(&hub->timer_wake);
	pthread_mutex_unlock(&hub->lock);
	return w;
}

void watcher_set_notify(struct watcher *w, void (*notify)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&w->hub->lock);
	w->notify = notify;
	w->notify_ctx = ctx;
	pthread_mutex_unlock(&w->hub->lock);
}

static void format_bookmark(struct watcher *w, int64_t revision)
{
	char object[256];
	snprintf(
	    object, sizeof(object),
	    "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%lld\"}}",
	    w->request.resource->kind, api_resource_api_version(w->request.resource),
	    (long long)revision);
	w->request.format(w->request.format_ctx, "BOOKMARK", object, strlen(object), &w->pending);
}

static void format_expired(struct watcher *w)
{
	/* Not formatted as a Table row: clients treat ERROR objects as Status in every mode. */
	buf_puts(&w->pending,
		 "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
		 "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version\","
		 "\"reason\":\"Expired\",\"code\":410}}\n");
}

/* Moves the next batch of matching events into w->pending. Called without the hub lock. */
static void fill_pending(struct watcher *w)
{
	struct watch_hub *hub = w->hub;
	struct hub_event *batch[READ_BATCH];
	enum watch_event_type types[READ_BATCH];
	size_t n = 0;
	bool bookmark = false;
	int64_t bookmark_revision = 0;

	pthread_mutex_lock(&hub->lock);
	if (w->cursor < hub->first_seq) {
		w->expired = true;
	} else {
		while (n < READ_BATCH && w->cursor < hub->first_seq + hub->count) {
			struct hub_event *e =
			    hub->ring[(hub->head + (w->cursor - hub->first_seq)) % hub->ring_cap];
			w->cursor++;
			if (e->event.revision > w->seen_revision)
				w->seen_revision = e->event.revision;
			if (event_for_watcher(w, &e->event, &types[n])) {
				atomic_fetch_add(&e->refs, 1);
				batch[n++] = e;
			}
		}
		if (w->bookmark_due && n == 0) {
			bookmark = true;
			bookmark_revision = w->seen_revision;
			w->bookmark_due = false;
		}
	}
	bool caught_up = w->cursor >= hub->first_seq + hub->count;
	bool ending = w->expired || (w->timed_out && caught_up && n == 0);
	pthread_mutex_unlock(&hub->lock);

	for (size_t i = 0; i < n; i++) {
		const struct watch_event *e = &batch[i]->event;
		w->request.format(w->request.format_ctx, watch_event_type_name(types[i]), e->object,
				  e->object_len, &w->pending);
		event_unref(batch[i]);
	}
	if (bookmark)
		format_bookmark(w, bookmark_revision);
	if (w->expired)
		format_expired(w);
	if (ending)
		w->finished = true;
}

ssize_t watcher_read(struct watcher *w, char *out, size_t max)
{
	if (w->pending_offset == w->pending.len) {
		buf_reset(&w->pending);
		w->pending_offset = 0;
		if (w->request.initial) {
			buf_append(&w->pending, w->request.initial, w->request.initial_len);
			free(w->request.initial);
			w->request.initial = NULL;
		} else if (!w->finished) {
			fill_pending(w);
		}
	}
	size_t available = w->pending.len - w->pending_offset;
	if (available == 0)
		return w->finished ? -1 : 0;
	size_t n = available < max ? available : max;
	memcpy(out, w->pending.data + w->pending_offset, n);
	w->pending_offset += n;
	return (ssize_t)n;
}

void watcher_close(struct watcher *w)
{
	if (!w)
		return;
	struct watch_hub *hub = w->hub;
	pthread_mutex_lock(&hub->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		hub->watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&hub->lock);
	list_filter_clear(&w->request.filter);
	if (w->request.format_free)
		w->request.format_free(w->request.format_ctx);
	free(w->request.initial);
	buf_free(&w->pending);
	free(w);
}
