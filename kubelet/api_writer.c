/* The agent's writes to the API server: see api_writer.h. */
#include "kubelet/api_writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/agent_metrics.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "lib/timeutil.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 7000
#define STOP_DRAIN_SECONDS 2
/* Repeats of an event within this time count up on the first one, as `kubectl describe`
 * shows them ("x4 over 2m"). */
#define EVENT_AGGREGATION_SECONDS 600

enum write_kind { WRITE_STATUS, WRITE_EVENT, WRITE_DELETE, WRITE_CREATE };

struct write {
	enum write_kind kind;
	char *namespace, *name, *uid;
	json_t *body; /* status, the Event, or the Pod to create */
	struct write *next;
};

struct event_seen {
	char *name; /* the Event object's name */
	int count;
	time_t first; /* when the first one was written */
};

struct api_writer {
	char *node_name;
	struct agent_metrics *metrics;
	struct http_client *client;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stopping;
	struct write *queue, *tail; /* events and deletions, in order */
	struct strmap *statuses;    /* uid -> the newest pending status write */
	struct strmap *events_seen; /* aggregation key -> struct event_seen (thread only) */
	time_t events_pruned;       /* when events_seen was last rid of old entries */
	time_t stop_deadline;
};

static void write_free(struct write *w)
{
	if (!w)
		return;
	free(w->namespace);
	free(w->name);
	free(w->uid);
	json_decref(w->body);
	free(w);
}

static void write_free_value(void *value)
{
	write_free(value);
}

static void event_seen_free(void *value)
{
	struct event_seen *seen = value;

	free(seen->name);
	free(seen);
}

static struct write *new_write(enum write_kind kind, const char *namespace, const char *name,
			       const char *uid, json_t *body)
{
	struct write *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	*w = (struct write){.kind = kind,
			    .namespace = namespace ? strdup(namespace) : NULL,
			    .name = name ? strdup(name) : NULL,
			    .uid = uid ? strdup(uid) : NULL,
			    .body = body};
	return w;
}

static void enqueue(struct api_writer *writer, struct write *w)
{
	pthread_mutex_lock(&writer->lock);
	if (w->kind == WRITE_STATUS) {
		strmap_put(writer->statuses, w->uid, w); /* replaces (and frees) an older one */
	} else {
		if (writer->tail)
			writer->tail->next = w;
		else
			writer->queue = w;
		writer->tail = w;
	}
	pthread_cond_signal(&writer->changed);
	pthread_mutex_unlock(&writer->lock);
}

void api_writer_pod_status(struct api_writer *writer, const char *namespace, const char *name,
			   const char *uid, json_t *status)
{
	enqueue(writer, new_write(WRITE_STATUS, namespace, name, uid, status));
}

void api_writer_delete_pod(struct api_writer *writer, const char *namespace, const char *name,
			   const char *uid)
{
	enqueue(writer, new_write(WRITE_DELETE, namespace, name, uid, NULL));
}

void api_writer_create_pod(struct api_writer *writer, json_t *pod)
{
	const json_t *metadata = json_object_get(pod, "metadata");

	enqueue(writer,
		new_write(WRITE_CREATE, json_string_value(json_object_get(metadata, "namespace")),
			  json_string_value(json_object_get(metadata, "name")), NULL, pod));
}

void api_writer_event(struct api_writer *writer, json_t *involved, const char *type,
		      const char *reason, const char *message)
{
	json_t *event = json_pack("{s:O, s:s, s:s, s:s}", "involvedObject", involved, "type", type,
				  "reason", reason, "message", message);

	json_decref(involved);
	enqueue(writer, new_write(WRITE_EVENT, NULL, NULL, NULL, event));
}

/* --- sending ------------------------------------------------------------------------------ */

/* 0 when done (also when there is nothing left to do for it), -EAGAIN to retry later. */
static int send_request(struct api_writer *writer, const char *operation, const char *method,
			const char *path, const char *content_type, json_t *body, long *status)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct http_request request = {.method = method,
				       .path = path,
				       .content_type = content_type,
				       .body = text,
				       .body_len = text ? strlen(text) : 0,
				       .timeout_seconds = 30};
	struct http_response response;
	struct ck_error err = {0};
	int r = http_client_request(writer->client, &request, &response, &err);

	*status = response.status;
	if (r == 0 && (response.status >= 500 || response.status == 429)) {
		r = -EIO;
		ck_error_set(&err, EIO, "HTTP %ld", response.status);
	}
	if (r == 0 && response.status >= 300)
		log_warn("node %s: %s %s: HTTP %ld: %.300s", writer->node_name, method, path,
			 response.status, response.body.data ? response.body.data : "");
	if (r < 0)
		log_debug("node %s: %s %s: %s", writer->node_name, method, path, err.message);
	if (r < 0 || response.status >= 300)
		agent_metrics_api_error(writer->metrics, operation);
	http_response_free(&response);
	return r < 0 ? -EAGAIN : 0;
}

static int send_status(struct api_writer *writer, struct write *w)
{
	_cleanup_free_ char *path = NULL;
	/* The uid makes the write fail (409) instead of landing on a new pod of the same name. */
	_cleanup_json_ json_t *patch =
	    json_pack("{s:{s:s}, s:O}", "metadata", "uid", w->uid, "status", w->body);
	long status;

	if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s/status", w->namespace, w->name) < 0)
		abort();
	return send_request(writer, "update_pod_status", "PATCH", path,
			    "application/merge-patch+json", patch, &status);
}

static int send_delete(struct api_writer *writer, struct write *w)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *options =
	    json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
		      "gracePeriodSeconds", 0, "preconditions", "uid", w->uid);
	long status;

	if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s", w->namespace, w->name) < 0)
		abort();
	return send_request(writer, "delete_pod", "DELETE", path, NULL, options, &status);
}

static char *event_key(json_t *event)
{
	json_t *involved = json_object_get(event, "involvedObject");
	char *key;

	if (asprintf(&key, "%s/%s/%s/%s/%s",
		     json_string_value(json_object_get(involved, "uid")) ?: "",
		     json_string_value(json_object_get(involved, "fieldPath")) ?: "",
		     json_string_value(json_object_get(event, "type")) ?: "",
		     json_string_value(json_object_get(event, "reason")) ?: "",
		     json_string_value(json_object_get(event, "message")) ?: "") < 0)
		abort();
	return key;
}

/* A repeat of a recent event: its count goes up. */
static int send_event_repeat(struct api_writer *writer, const char *namespace,
			     struct event_seen *seen, const char *now)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *patch =
	    json_pack("{s:i, s:s}", "count", seen->count + 1, "lastTimestamp", now);
	long status;
	int r;

	if (asprintf(&path, "/api/v1/namespaces/%s/events/%s", namespace, seen->name) < 0)
		abort();
	r = send_request(writer, "update_event", "PATCH", path, "application/merge-patch+json",
			 patch, &status);
	if (r == 0 && status < 300)
		seen->count++;
	return r == 0 && status == 404 ? -ENOENT : r;
}

/* Events older than the aggregation window are never counted again: they are forgotten, at
 * most once a minute, so that a long-running agent does not keep every event it ever wrote. */
static void forget_old_events(struct api_writer *writer, time_t now)
{
	struct event_seen *seen;
	const char *key;
	char **old = NULL;
	size_t count = 0;

	if (now - writer->events_pruned < 60)
		return;
	writer->events_pruned = now;
	old = calloc(strmap_size(writer->events_seen) + 1, sizeof(*old));
	if (!old)
		abort();
	STRMAP_FOREACH (writer->events_seen, it, key, seen) {
		if (now - seen->first >= EVENT_AGGREGATION_SECONDS && !(old[count++] = strdup(key)))
			abort();
	}
	/* Not while iterating: the map must not change under its iterator. */
	for (size_t i = 0; i < count; i++) {
		strmap_remove(writer->events_seen, old[i]);
		free(old[i]);
	}
	free(old);
}

static int send_event(struct api_writer *writer, struct write *w)
{
	json_t *event = w->body;
	json_t *involved = json_object_get(event, "involvedObject");
	const char *namespace = json_string_value(json_object_get(involved, "namespace"));
	_cleanup_free_ char *key = event_key(event), *path = NULL, *name = NULL;
	struct event_seen *seen;
	char now[TIMEUTIL_TEXT_SIZE];
	struct timespec ts;
	long status;
	int r;

	if (!namespace || !*namespace)
	namespace = "default"; /* the Node's events */
	clock_gettime(CLOCK_REALTIME, &ts);
	timeutil_format_rfc3339(ts.tv_sec, now);
	forget_old_events(writer, ts.tv_sec);
	seen = strmap_get(writer->events_seen, key);
	if (seen && ts.tv_sec - seen->first < EVENT_AGGREGATION_SECONDS) {
		r = send_event_repeat(writer, namespace, seen, now);
		if (r != -ENOENT)
			return r;
	}
	/* Named like the kubelet names them: the object's name and a unique hex suffix. */
	if (asprintf(&name, "%s.%lx%09lx", json_string_value(json_object_get(involved, "name")),
		     (unsigned long)ts.tv_sec, (unsigned long)ts.tv_nsec) < 0 ||
	    asprintf(&path, "/api/v1/namespaces/%s/events", namespace) < 0)
		abort();
	json_object_set_new(event, "metadata",
			    json_pack("{s:s, s:s}", "name", name, "namespace", namespace));
	json_object_set_new(
	    event, "source",
	    json_pack("{s:s, s:s}", "component", "kubelet", "host", writer->node_name));
	json_object_set_new(event, "reportingComponent", json_string("kubelet"));
	json_object_set_new(event, "reportingInstance", json_string(writer->node_name));
	json_object_set_new(event, "firstTimestamp", json_string(now));
	json_object_set_new(event, "lastTimestamp", json_string(now));
	json_object_set_new(event, "count", json_integer(1));
	r = send_request(writer, "create_event", "POST", path, NULL, event, &status);
	if (r == 0 && status < 300) {
		seen = calloc(1, sizeof(*seen));
		if (!seen)
			abort();
		*seen =
		    (struct event_seen){.name = steal_ptr(&name), .count = 1, .first = ts.tv_sec};
		strmap_put(writer->events_seen, key, seen);
	}
	return r;
}

/* 409 AlreadyExists is done too: the pod watch shows what is there. */
static int send_create(struct api_writer *writer, struct write *w)
{
	_cleanup_free_ char *path = NULL;
	long status;

	if (asprintf(&path, "/api/v1/namespaces/%s/pods", w->namespace) < 0)
		abort();
	return send_request(writer, "create_mirror_pod", "POST", path, NULL, w->body, &status);
}

static int send_write(struct api_writer *writer, struct write *w)
{
	switch (w->kind) {
	case WRITE_STATUS:
		return send_status(writer, w);
	case WRITE_DELETE:
		return send_delete(writer, w);
	case WRITE_EVENT:
		return send_event(writer, w);
	case WRITE_CREATE:
		return send_create(writer, w);
	}
	return 0;
}

/* The next write, under the lock: queued events and deletions first, then statuses. */
static struct write *take_next(struct api_writer *writer)
{
	struct write *w = writer->queue;
	struct strmap_iter iter = {0};
	const char *uid;
	void *value;

	if (w) {
		writer->queue = w->next;
		if (!writer->queue)
			writer->tail = NULL;
		w->next = NULL;
		return w;
	}
	if (!strmap_next(writer->statuses, &iter, &uid, &value))
		return NULL;
	return strmap_take(writer->statuses, ((struct write *)value)->uid);
}

/* Puts a write back after a failure, unless something newer replaced it meanwhile. */
static void give_back(struct api_writer *writer, struct write *w)
{
	if (w->kind == WRITE_STATUS) {
		if (!strmap_get(writer->statuses, w->uid)) {
			strmap_put(writer->statuses, w->uid, w);
			return;
		}
		write_free(w);
		return;
	}
	w->next = writer->queue;
	writer->queue = w;
	if (!writer->tail)
		writer->tail = w;
}

static void wait_for(struct api_writer *writer, int ms)
{
	struct timespec until;

	until = timeutil_after_ms(CLOCK_REALTIME, ms);
	pthread_cond_timedwait(&writer->changed, &writer->lock, &until);
}

static void *run(void *arg)
{
	struct api_writer *writer = arg;
	int backoff = BACKOFF_FIRST_MS;

	pthread_mutex_lock(&writer->lock);
	for (;;) {
		struct write *w = take_next(writer);

		if (!w) {
			if (writer->stopping)
				break;
			pthread_cond_wait(&writer->changed, &writer->lock);
			continue;
		}
		if (writer->stopping && time(NULL) > writer->stop_deadline) {
			write_free(w);
			continue;
		}
		pthread_mutex_unlock(&writer->lock);
		int r = send_write(writer, w);
		pthread_mutex_lock(&writer->lock);
		if (r == 0) {
			write_free(w);
			backoff = BACKOFF_FIRST_MS;
			continue;
		}
		give_back(writer, w);
		wait_for(writer, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	pthread_mutex_unlock(&writer->lock);
	return NULL;
}

int api_writer_start(const struct http_client_options *api, const char *node_name,
		     struct agent_metrics *metrics, struct api_writer **out, struct ck_error *err)
{
	struct api_writer *writer = calloc(1, sizeof(*writer));
	int r;

	if (!writer)
		abort();
	writer->node_name = strdup(node_name);
	writer->metrics = metrics;
	writer->statuses = strmap_new(write_free_value);
	writer->events_seen = strmap_new(event_seen_free);
	pthread_mutex_init(&writer->lock, NULL);
	pthread_cond_init(&writer->changed, NULL);
	r = http_client_new(api, &writer->client, err);
	if (r == 0) {
		r = -pthread_create(&writer->thread, NULL, run, writer);
		if (r < 0)
			ck_error_errno(err, -r, "start the API writer");
	}
	if (r < 0) {
		api_writer_stop(writer);
		return r;
	}
	*out = writer;
	return 0;
}

void api_writer_stop(struct api_writer *writer)
{
	if (!writer)
		return;
	if (writer->thread) {
		pthread_mutex_lock(&writer->lock);
		writer->stopping = true;
		writer->stop_deadline = time(NULL) + STOP_DRAIN_SECONDS;
		pthread_cond_signal(&writer->changed);
		pthread_mutex_unlock(&writer->lock);
		pthread_join(writer->thread, NULL);
	}
	while (writer->queue) {
		struct write *next = writer->queue->next;
		write_free(writer->queue);
		writer->queue = next;
	}
	strmap_free(writer->statuses);
	strmap_free(writer->events_seen);
	http_client_free(writer->client);
	pthread_mutex_destroy(&writer->lock);
	pthread_cond_destroy(&writer->changed);
	free(writer->node_name);
	free(writer);
}
