/* Events written by the control plane, with Kubernetes' aggregation of repeats (one Event
 * whose count grows), and their expiry after an hour, as the API server's event TTL does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/controllers.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define EVENT_TTL_SECONDS 3600

struct bump {
	const char *now;
	const char *message;
};

static bool bump_count(void *ctx, json_t *ev)
{
	struct bump *bump = ctx;
	json_int_t count = json_integer_value(json_object_get(ev, "count"));
	json_object_set_new(ev, "count", json_integer(count + 1));
	json_object_set_new(ev, "lastTimestamp", json_string(bump->now));
	json_object_set_new(ev, "message", json_string(bump->message));
	return true;
}

void controllers_record_event(struct controllers *c, const char *kind, const char *api_version,
			      const char *namespace, const char *name, const char *uid,
			      const char *type, const char *reason, const char *message,
			      const char *component)
{
	const struct api_resource *events = api_resource_find("", "v1", "events");
	const char *event_ns = namespace && *namespace ? namespace : "default";
	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	_cleanup_free_ char *dedup = NULL;
	if (asprintf(&dedup, "%s/%s/%s/%s", uid ? uid : "", reason, type, component) < 0)
		return;

	struct api_status status = {0};
	const char *existing = strmap_get(c->recent_events, dedup);
	if (existing) {
		struct bump bump = {now, message};
		if (registry_mutate(c->server, events, event_ns, existing, NULL, bump_count, &bump,
				    &status) >= 0) {
			api_status_clear(&status);
			return;
		}
		api_status_clear(&status);
		strmap_remove(c->recent_events, dedup);
	}
	/* Named like Kubernetes' events: the object's name and a unique hexadecimal suffix. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char event_name[300];
	snprintf(event_name, sizeof(event_name), "%s.%llx", name,
		 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
	_cleanup_json_ json_t *ev = json_pack(
	    "{s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, "
	    "s:s, s:s}",
	    "metadata", "name", event_name, "namespace", event_ns, "involvedObject", "kind", kind,
	    "apiVersion", api_version, "namespace", namespace ? namespace : "", "name", name, "uid",
	    uid ? uid : "", "reason", reason, "message", message, "type", type, "source",
	    "component", component, "firstTimestamp", now, "lastTimestamp", now, "count", 1,
	    "reportingComponent", component, "reportingInstance", component);
	if (!namespace || !*namespace)
		json_object_del(json_object_get(ev, "involvedObject"), "namespace");
	struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
	struct stored_object out = {0};
	if (registry_create(c->server, events, event_ns, ev, &options, &out, &status) == 0) {
		char *copy = strdup(event_name);
		if (copy)
			strmap_put(c->recent_events, dedup, copy);
	} else {
		log_warn("record event %s for %s %s: %s", reason, kind, name, status.message);
	}
	stored_object_clear(&out);
	api_status_clear(&status);
}

struct expiry {
	time_t cutoff;
	json_t *expired; /* [[namespace, name]] */
};

static int collect_expired(void *ctx, const char *text, size_t len, json_t *parsed)
{
	(void)parsed;
	struct expiry *expiry = ctx;
	_cleanup_json_ json_t *ev = json_loadb(text, len, 0, NULL);
	const char *last = json_string_value(json_object_get(ev, "lastTimestamp"));
	if (!last)
		last = json_path_string(ev, "metadata.creationTimestamp");
	struct timespec when;
	if (last && timeutil_parse_rfc3339(last, &when, NULL) == 0 && when.tv_sec < expiry->cutoff)
		json_array_append_new(expiry->expired,
				      json_pack("[s,s]", json_path_string(ev, "metadata.namespace"),
						json_path_string(ev, "metadata.name")));
	return 0;
}

void event_expiry_run(struct controllers *c)
{
	const struct api_resource *events = api_resource_find("", "v1", "events");
	struct expiry expiry = {.cutoff = time(NULL) - EVENT_TTL_SECONDS, .expired = json_array()};
	struct list_options options = {0};
	struct list_result result = {0};
	struct api_status status = {0};
	registry_list(c->server, events, &options, collect_expired, &expiry, &result, &status);
	free(result.continue_token);
	api_status_clear(&status);
	size_t i;
	json_t *item;
	json_array_foreach (expiry.expired, i, item) {
		struct delete_options del = {.grace_period_seconds = 0};
		struct stored_object out = {0};
		bool gone;
		registry_delete(c->server, events, json_string_value(json_array_get(item, 0)),
				json_string_value(json_array_get(item, 1)), &del, &out, &gone,
				&status);
		stored_object_clear(&out);
		api_status_clear(&status);
	}
	json_decref(expiry.expired);
	/* The dedup memory only needs to outlive the events it points at. */
	if (strmap_size(c->recent_events) > 4096) {
		strmap_free(c->recent_events);
		c->recent_events = strmap_new(free);
	}
}
