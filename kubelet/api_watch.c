/* The list and watch of one kind of object: see api_watch.h. */
#include "kubelet/api_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 7000
/* A watch that ends sooner than this with nothing in it is the server failing, not done: as
 * client-go does, it counts as an error, so that a server or proxy that closes every watch at
 * once is not asked again thousands of times a second. */
#define SHORT_WATCH_MS 1000

struct api_watch {
	struct api_watch_config config;
	char *node_name;
	char *resource;
	char *selector; /* "fieldSelector=<escaped>", or NULL */
	pthread_t thread;
	atomic_bool stopping;
	pthread_mutex_t lock; /* with `wake`: sleeps between attempts end early on stop */
	pthread_cond_t wake;
	char *resource_version; /* the last one seen; NULL: list first */
};

struct posted_change {
	struct api_watch *watch;
	struct watch_change change;
};

static void deliver(void *ctx)
{
	struct posted_change *posted = ctx;

	posted->watch->config.on_change(posted->watch->config.ctx, &posted->change);
	json_decref(posted->change.objects);
	free(posted);
}

static void drop(void *ctx)
{
	struct posted_change *posted = ctx;

	json_decref(posted->change.objects);
	free(posted);
}

static void post_change(struct api_watch *watch, enum watch_change_kind kind, json_t *objects)
{
	struct posted_change *posted = calloc(1, sizeof(*posted));

	if (!posted)
		abort();
	*posted = (struct posted_change){watch, {kind, json_incref(objects)}};
	loop_post(watch->config.loop, deliver, drop, posted);
}

static void set_resource_version(struct api_watch *watch, const char *version)
{
	free(watch->resource_version);
	watch->resource_version = version ? strdup(version) : NULL;
}

/* The whole list; 0, or -errno after logging why. */
static int list_objects(struct api_watch *watch, struct http_client *client)
{
	_cleanup_free_ char *path = NULL;
	struct http_response response;
	struct ck_error err = {0};
	struct http_request request = {
	    .method = "GET", .timeout_seconds = 60, .cancel = &watch->stopping};
	const char *version;
	json_t *list;
	int r;

	if (asprintf(&path, "/api/v1/%s%s%s", watch->resource, watch->selector ? "?" : "",
		     watch->selector ? watch->selector : "") < 0)
		abort();
	request.path = path;
	r = http_client_request(client, &request, &response, &err);
	if (r == 0 && response.status != 200)
		r = ck_error_set(&err, EIO, "list %s: HTTP %ld: %.200s", watch->resource,
				 response.status, response.body.data ? response.body.data : "");
	if (r < 0) {
		http_response_free(&response);
		if (!atomic_load(&watch->stopping))
			log_warn("node %s: list %s: %s", watch->node_name, watch->resource,
				 err.message);
		return r;
	}
	list = json_loadb(response.body.data, response.body.len, 0, NULL);
	http_response_free(&response);
	version = json_string_value(
	    json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
	/* Without a version there is nothing to watch from: list again after a pause. */
	if (!json_is_array(json_object_get(list, "items")) || !version) {
		json_decref(list);
		log_warn("node %s: list %s: not a list with a resourceVersion", watch->node_name,
			 watch->resource);
		return -EIO;
	}
	set_resource_version(watch, version);
	post_change(watch, WATCH_SNAPSHOT, json_object_get(list, "items"));
	json_decref(list);
	return 0;
}

struct watch_stream {
	struct api_watch *watch;
	bool gone;   /* 410: list again */
	bool failed; /* another ERROR: resume after a pause */
	char error[256];
	size_t events;
};

static int on_event(void *ctx, const char *line, size_t len)
{
	struct watch_stream *stream = ctx;
	struct api_watch *watch = stream->watch;
	_cleanup_json_ json_t *event = json_loadb(line, len, 0, NULL);
	const char *type = json_string_value(json_object_get(event, "type"));
	json_t *object = json_object_get(event, "object");
	const char *version = json_string_value(
	    json_object_get(json_object_get(object, "metadata"), "resourceVersion"));

	if (!type || !json_is_object(object))
		return 0;
	stream->events++;
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(object, "code"));
		const char *message = json_string_value(json_object_get(object, "message"));

		stream->gone = code == 410;
		stream->failed = !stream->gone;
		snprintf(stream->error, sizeof(stream->error), "%lld %.200s", (long long)code,
			 message ? message : "");
		return 1; /* ends this watch; the caller decides what next */
	}
	if (version)
		set_resource_version(watch, version);
	if (strcmp(type, "ADDED") == 0)
		post_change(watch, WATCH_ADDED, object);
	else if (strcmp(type, "MODIFIED") == 0)
		post_change(watch, WATCH_MODIFIED, object);
	else if (strcmp(type, "DELETED") == 0)
		post_change(watch, WATCH_DELETED, object);
	return 0; /* BOOKMARK: only its version counts */
}

/* One watch until the server ends it; -ESTALE when the version is too old. */
static int watch_objects(struct api_watch *watch, struct http_client *client)
{
	_cleanup_free_ char *path = NULL, *version = NULL;
	struct watch_stream stream = {.watch = watch};
	struct http_response response;
	struct ck_error err = {0};
	struct http_request request = {
	    .method = "GET", .on_line = on_event, .ctx = &stream, .cancel = &watch->stopping};
	int64_t started = loop_now_ms();
	int r;

	version = http_escape(watch->resource_version);
	if (asprintf(&path, "/api/v1/%s?%s%swatch=1&allowWatchBookmarks=true&resourceVersion=%s",
		     watch->resource, watch->selector ? watch->selector : "",
		     watch->selector ? "&" : "", version) < 0)
		abort();
	request.path = path;
	r = http_client_request(client, &request, &response, &err);
	if (r == 0 && response.status == 410)
		stream.gone = true;
	else if (r == 0 && response.status != 200)
		r = ck_error_set(&err, EIO, "watch %s: HTTP %ld", watch->resource, response.status);
	else if (r == 0 && stream.failed)
		r = ck_error_set(&err, EIO, "ERROR %s", stream.error);
	else if (r == 0 && stream.events == 0 && loop_now_ms() - started < SHORT_WATCH_MS)
		r = ck_error_set(&err, EIO, "ended at once with nothing in it");
	http_response_free(&response);
	if (r < 0 && !atomic_load(&watch->stopping))
		log_warn("node %s: watch %s: %s", watch->node_name, watch->resource, err.message);
	if (stream.gone)
		return -ESTALE;
	return r;
}

/* Sleeps up to `ms` unless the watch is being stopped. */
static void pause_for(struct api_watch *watch, int ms)
{
	struct timespec until;

	until = timeutil_after_ms(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&watch->lock);
	while (!atomic_load(&watch->stopping) &&
	       pthread_cond_timedwait(&watch->wake, &watch->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&watch->lock);
}

static void *run(void *arg)
{
	struct api_watch *watch = arg;
	struct http_client *client = NULL;
	struct ck_error err = {0};
	int backoff = BACKOFF_FIRST_MS;

	if (http_client_new(&watch->config.api, &client, &err) < 0) {
		log_error("node %s: watch %s: %s", watch->node_name, watch->resource, err.message);
		return NULL;
	}
	while (!atomic_load(&watch->stopping)) {
		int r = 0;

		if (!watch->resource_version)
			r = list_objects(watch, client);
		if (r == 0) {
			r = watch_objects(watch, client);
			if (r == -ESTALE)
				set_resource_version(watch, NULL);
		}
		if (r == 0 || r == -ESTALE) {
			backoff = BACKOFF_FIRST_MS; /* a watch the server ended: resume at once */
			continue;
		}
		if (atomic_load(&watch->stopping))
			break;
		/* Jitter keeps many agents from returning to a restarted server in step. */
		pause_for(watch, backoff / 2 + rand() % (backoff / 2 + 1));
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	http_client_free(client);
	return NULL;
}

int api_watch_start(const struct api_watch_config *config, struct api_watch **out,
		    struct ck_error *err)
{
	struct api_watch *watch = calloc(1, sizeof(*watch));
	_cleanup_free_ char *escaped = NULL;
	int r;

	if (!watch)
		abort();
	watch->config = *config;
	watch->node_name = strdup(config->node_name);
	watch->resource = strdup(config->resource);
	if (config->field_selector) {
		escaped = http_escape(config->field_selector);
		if (asprintf(&watch->selector, "fieldSelector=%s", escaped) < 0)
			abort();
	}
	pthread_mutex_init(&watch->lock, NULL);
	pthread_cond_init(&watch->wake, NULL);
	r = pthread_create(&watch->thread, NULL, run, watch);
	if (r != 0) {
		api_watch_stop(watch);
		return ck_error_errno(err, r, "start the watch of %s", config->resource);
	}
	*out = watch;
	return 0;
}

void api_watch_stop(struct api_watch *watch)
{
	if (!watch)
		return;
	if (watch->thread) {
		atomic_store(&watch->stopping, true);
		pthread_mutex_lock(&watch->lock);
		pthread_cond_broadcast(&watch->wake);
		pthread_mutex_unlock(&watch->lock);
		pthread_join(watch->thread, NULL);
	}
	pthread_mutex_destroy(&watch->lock);
	pthread_cond_destroy(&watch->wake);
	free(watch->resource_version);
	free(watch->selector);
	free(watch->resource);
	free(watch->node_name);
	free(watch);
}
