/* The watch hub: replay from a revision, selector transitions, the window and 410, timeouts,
 * and the notify callback that wakes parked HTTP connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/resources.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/labels.h"

static const struct api_resource *pods(void)
{
	return api_resource_find("", "v1", "pods");
}

static void publish(struct watch_hub *hub, int64_t revision, enum watch_event_type type,
		    const char *name, const char *labels, const char *prev_labels)
{
	char text[256];
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"labels\":%s}}", name,
		 labels);
	_cleanup_json_ json_t *obj = json_loads(text, 0, NULL);
	struct watch_event event = {
	    .revision = revision,
	    .type = type,
	    .resource = pods(),
	    .namespace = strdup("default"),
	    .object = strdup(text),
	    .object_len = strlen(text),
	    .parsed = obj,
	};
	object_attrs_init(&event.attrs, pods(), obj);
	if (prev_labels) {
		snprintf(text, sizeof(text),
			 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"labels\":%s}}",
			 name, prev_labels);
		_cleanup_json_ json_t *prev = json_loads(text, 0, NULL);
		object_attrs_init(&event.prev_attrs, pods(), prev);
	}
	watch_hub_publish(hub, &event);
}

static void format_line(void *ctx, const char *type, const char *object, size_t len,
			struct buf *out)
{
	(void)ctx;
	_cleanup_json_ json_t *obj = json_loadb(object, len, 0, NULL);
	buf_printf(out, "%s %s;", type, json_path_string(obj, "metadata.name") ?: "-");
}

static struct watcher *subscribe(struct watch_hub *hub, int64_t since, const char *selector,
				 int timeout)
{
	struct watch_request request = {
	    .resource = pods(),
	    .since_revision = since,
	    .timeout_seconds = timeout,
	    .format = format_line,
	};
	if (selector)
		assert_int_equal(label_selector_parse(selector, &request.filter.labels, NULL), 0);
	struct watcher *w = watch_hub_subscribe(hub, &request);
	if (!w)
		list_filter_clear(&request.filter);
	return w;
}

static char *read_all(struct watcher *w, bool *ended)
{
	struct buf all = {0};
	char chunk[256];
	ssize_t n;
	while ((n = watcher_read(w, chunk, sizeof(chunk))) > 0)
		buf_append(&all, chunk, (size_t)n);
	if (ended)
		*ended = n < 0;
	return buf_steal(&all);
}

static void replays_after_the_requested_revision(void **state)
{
	(void)state;
	struct watch_hub *hub = watch_hub_new(1 << 20);
	watch_hub_set_revision(hub, 10);
	publish(hub, 11, WATCH_ADDED, "a", "{}", NULL);
	publish(hub, 12, WATCH_ADDED, "b", "{}", NULL);
	publish(hub, 13, WATCH_DELETED, "a", "{}", NULL);
	struct watcher *w = subscribe(hub, 11, NULL, 0);
	char *seen = read_all(w, NULL);
	assert_string_equal(seen, "ADDED b;DELETED a;");
	free(seen);
	publish(hub, 14, WATCH_MODIFIED, "b", "{}", "{}");
	seen = read_all(w, NULL);
	assert_string_equal(seen, "MODIFIED b;");
	free(seen);
	watcher_close(w);
	watch_hub_free(hub);
}

static void selectors_turn_modifications_into_adds_and_deletes(void **state)
{
	(void)state;
	struct watch_hub *hub = watch_hub_new(1 << 20);
	watch_hub_set_revision(hub, 0);
	struct watcher *w = subscribe(hub, 0, "app=web", 0);
	publish(hub, 1, WATCH_ADDED, "a", "{\"app\":\"db\"}", NULL);
	publish(hub, 2, WATCH_MODIFIED, "a", "{\"app\":\"web\"}", "{\"app\":\"db\"}");
	publish(hub, 3, WATCH_MODIFIED, "a", "{\"app\":\"web\",\"x\":\"1\"}", "{\"app\":\"web\"}");
	publish(hub, 4, WATCH_MODIFIED, "a", "{\"app\":\"db\"}", "{\"app\":\"web\",\"x\":\"1\"}");
	publish(hub, 5, WATCH_DELETED, "a", "{\"app\":\"db\"}", NULL);
	char *seen = read_all(w, NULL);
	assert_string_equal(seen, "ADDED a;MODIFIED a;DELETED a;");
	free(seen);
	watcher_close(w);
	watch_hub_free(hub);
}

static void revisions_older_than_the_window_expire(void **state)
{
	(void)state;
	/* A tiny window: each event costs more than a few hundred bytes. */
	struct watch_hub *hub = watch_hub_new(1000);
	watch_hub_set_revision(hub, 100);
	for (int i = 1; i <= 10; i++)
		publish(hub, 100 + i, WATCH_ADDED, "p", "{}", NULL);
	assert_true(watch_hub_oldest_revision(hub) > 100);
	assert_null(subscribe(hub, 100, NULL, 0));
	struct watcher *w = subscribe(hub, watch_hub_oldest_revision(hub), NULL, 0);
	assert_non_null(w);
	watcher_close(w);
	watch_hub_free(hub);
}

static void a_watcher_that_falls_behind_gets_410_and_ends(void **state)
{
	(void)state;
	struct watch_hub *hub = watch_hub_new(1000);
	watch_hub_set_revision(hub, 0);
	struct watcher *w = subscribe(hub, 0, NULL, 0);
	for (int i = 1; i <= 20; i++)
		publish(hub, i, WATCH_ADDED, "p", "{}", NULL);
	bool ended = false;
	char *seen = read_all(w, &ended);
	assert_non_null(strstr(seen, "\"code\":410"));
	assert_true(ended);
	free(seen);
	watcher_close(w);
	watch_hub_free(hub);
}

static int notified;
static void count_notify(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&notified, 1, __ATOMIC_SEQ_CST);
}

static void notify_fires_for_matching_events_only(void **state)
{
	(void)state;
	struct watch_hub *hub = watch_hub_new(1 << 20);
	watch_hub_set_revision(hub, 0);
	struct watcher *w = subscribe(hub, 0, "app=web", 0);
	notified = 0;
	watcher_set_notify(w, count_notify, NULL);
	publish(hub, 1, WATCH_ADDED, "a", "{\"app\":\"db\"}", NULL);
	assert_int_equal(notified, 0);
	publish(hub, 2, WATCH_ADDED, "b", "{\"app\":\"web\"}", NULL);
	assert_int_equal(notified, 1);
	watcher_close(w);
	watch_hub_free(hub);
}

static void timeouts_end_the_stream(void **state)
{
	(void)state;
	struct watch_hub *hub = watch_hub_new(1 << 20);
	watch_hub_set_revision(hub, 0);
	struct watcher *w = subscribe(hub, 0, NULL, 1);
	notified = 0;
	watcher_set_notify(w, count_notify, NULL);
	bool ended = true;
	free(read_all(w, &ended));
	assert_false(ended);
	for (int i = 0; i < 300 && !__atomic_load_n(&notified, __ATOMIC_SEQ_CST); i++)
		usleep(10 * 1000);
	assert_true(notified > 0);
	free(read_all(w, &ended));
	assert_true(ended);
	watcher_close(w);
	watch_hub_free(hub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(replays_after_the_requested_revision),
	    cmocka_unit_test(selectors_turn_modifications_into_adds_and_deletes),
	    cmocka_unit_test(revisions_older_than_the_window_expire),
	    cmocka_unit_test(a_watcher_that_falls_behind_gets_410_and_ends),
	    cmocka_unit_test(notify_fires_for_matching_events_only),
	    cmocka_unit_test(timeouts_end_the_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
