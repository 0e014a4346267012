/* REST semantics through the registry, without HTTP: system metadata, defaults, validation,
 * conflicts, dry runs, strict decoding, graceful deletion, finalizers, allocations and the
 * watch events each write publishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/bootstrap.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "apiserver/store.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"

struct fixture {
	char dir[64];
	struct apiserver server;
	struct watcher *watcher;
};

static const struct api_resource *resource(const char *plural)
{
	return api_resource_find("", "v1", plural);
}

static void collect_event(void *ctx, const char *type, const char *object, size_t len,
			  struct buf *out)
{
	(void)ctx;
	_cleanup_json_ json_t *obj = json_loadb(object, len, 0, NULL);
	buf_printf(out, "%s %s;", type, json_path_string(obj, "metadata.name"));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ckube-test-registry-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	struct apiserver *s = &f->server;
	s->config = (struct apiserver_config){
	    .listen = "127.0.0.1:6443",
	    .service_cidr = "10.96.0.0/28",
	    .cluster_cidr = "10.244.0.0/22",
	    .node_port_range = "30000-30002",
	    .node_monitor_grace_seconds = 40,
	};
	pthread_mutex_init(&s->write_lock, NULL);
	struct ck_error err = {0};
	assert_int_equal(schema_init(&err), 0);
	assert_int_equal(apiserver_init_allocators(s, &err), 0);
	assert_int_equal(store_open(path, &s->store, &err), 0);
	s->hub = watch_hub_new(1 << 20);
	assert_int_equal(bootstrap_cluster(s, &err), 0);
	/* A watcher on pods, to see what each write publishes. */
	struct watch_request request = {
	    .resource = resource("pods"),
	    .since_revision = store_revision(s->store),
	    .format = collect_event,
	};
	f->watcher = watch_hub_subscribe(s->hub, &request);
	assert_non_null(f->watcher);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	watcher_close(f->watcher);
	watch_hub_free(f->server.hub);
	store_close(f->server.store);
	ipv4_allocator_free(&f->server.service_ips);
	ipv4_allocator_free(&f->server.pod_cidrs);
	range_allocator_free(&f->server.node_ports);
	strmap_free(f->server.namespaces);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Everything the watcher has seen so far, as "TYPE name;" entries. */
static char *drain_events(struct fixture *f)
{
	struct buf all = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = watcher_read(f->watcher, chunk, sizeof(chunk))) > 0)
		buf_append(&all, chunk, (size_t)n);
	return buf_steal(&all);
}

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, 0, &error);
	if (!value)
		fail_msg("bad test JSON: %s", error.text);
	return value;
}

static int create(struct fixture *f, const char *plural, const char *ns, const char *json,
		  struct stored_object *out, struct api_status *status)
{
	_cleanup_json_ json_t *body = parse(json);
	struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
	return registry_create(&f->server, resource(plural), ns, body, &options, out, status);
}

static const char pod_json[] = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
			       "\"web\",\"labels\":{\"app\":\"web\"}},"
			       "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"httpd\","
			       "\"ports\":[{\"containerPort\":80}]}]}}";

static void create_fills_system_fields_and_defaults(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), 0);
	json_t *pod = out.json;
	assert_int_equal(strlen(json_path_string(pod, "metadata.uid")), 36);
	assert_non_null(json_path_string(pod, "metadata.creationTimestamp"));
	assert_int_equal(atoll(json_path_string(pod, "metadata.resourceVersion")),
			 store_revision(f->server.store));
	assert_string_equal(json_path_string(pod, "metadata.namespace"), "default");
	assert_string_equal(json_path_string(pod, "spec.restartPolicy"), "Always");
	assert_string_equal(json_path_string(pod, "spec.dnsPolicy"), "ClusterFirst");
	assert_int_equal(json_integer_value(json_path(pod, "spec.terminationGracePeriodSeconds")),
			 30);
	json_t *container = json_array_get(json_path(pod, "spec.containers"), 0);
	assert_string_equal(json_string_value(json_object_get(container, "imagePullPolicy")),
			    "Always");
	json_t *port = json_array_get(json_object_get(container, "ports"), 0);
	assert_string_equal(json_string_value(json_object_get(port, "protocol")), "TCP");
	assert_string_equal(json_path_string(pod, "status.phase"), "Pending");
	assert_string_equal(json_path_string(pod, "status.qosClass"), "BestEffort");
	/* The wire order of a Kubernetes object. */
	assert_true(strncmp(out.text, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\"", 42) ==
		    0);
	stored_object_clear(&out);
	char *events = drain_events(f);
	assert_string_equal(events, "ADDED web;");
	free(events);
}

static void create_of_an_existing_name_conflicts(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), 0);
	stored_object_clear(&out);
	int64_t before = store_revision(f->server.store);
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), -1);
	assert_int_equal(status.code, 409);
	assert_string_equal(status.reason, "AlreadyExists");
	assert_string_equal(status.message, "pods \"web\" already exists");
	assert_int_equal(store_revision(f->server.store), before);
	api_status_clear(&status);
}

static void generate_name_draws_a_suffix(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	const char *body = "{\"metadata\":{\"generateName\":\"job-\"},"
			   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}";
	assert_int_equal(create(f, "pods", "default", body, &out, &status), 0);
	const char *name = json_path_string(out.json, "metadata.name");
	assert_int_equal(strlen(name), 9);
	assert_true(strncmp(name, "job-", 4) == 0);
	stored_object_clear(&out);
}

static void validation_names_every_field(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	const char *body =
	    "{\"metadata\":{\"name\":\"Bad_Name\",\"labels\":{\"a\":\"-x-\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\"},{\"name\":\"c\",\"image\":\"i\"}]}}";
	assert_int_equal(create(f, "pods", "default", body, &out, &status), -1);
	assert_int_equal(status.code, 422);
	assert_string_equal(status.reason, "Invalid");
	json_t *causes = json_object_get(status.details, "causes");
	_cleanup_json_ json_t *fields = json_array();
	size_t i;
	json_t *cause;
	json_array_foreach (causes, i, cause)
		json_array_append(fields, json_object_get(cause, "field"));
	_cleanup_free_ char *text = json_dump_compact(fields);
	assert_non_null(strstr(text, "\"metadata.name\""));
	assert_non_null(strstr(text, "\"metadata.labels\""));
	assert_non_null(strstr(text, "\"spec.containers[0].image\""));
	assert_non_null(strstr(text, "\"spec.containers[1].name\""));
	assert_non_null(strstr(status.message, "Pod \"Bad_Name\" is invalid: ["));
	api_status_clear(&status);
}

static void strict_decoding_refuses_unknown_fields(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	const char *body =
	    "{\"metadata\":{\"name\":\"p\"},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"imagee\":\"x\"}]}}";
	assert_int_equal(create(f, "pods", "default", body, &out, &status), -1);
	assert_int_equal(status.code, 400);
	assert_string_equal(status.message,
			    "strict decoding error: unknown field \"spec.containers[0].imagee\"");
	api_status_clear(&status);

	/* Without Strict the field is dropped, with a warning. */
	_cleanup_json_ json_t *lenient = parse(body);
	struct write_options options = {.field_validation = FIELD_VALIDATION_WARN};
	assert_int_equal(registry_create(&f->server, resource("pods"), "default", lenient, &options,
					 &out, &status),
			 0);
	assert_null(
	    json_object_get(json_array_get(json_path(out.json, "spec.containers"), 0), "imagee"));
	assert_int_equal(json_array_size(out.warnings), 1);
	stored_object_clear(&out);
}

static void dry_run_stores_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t before = store_revision(f->server.store);
	_cleanup_json_ json_t *body = parse(pod_json);
	struct write_options options = {.dry_run = true};
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(
	    registry_create(&f->server, resource("pods"), "default", body, &options, &out, &status),
	    0);
	assert_string_equal(json_path_string(out.json, "metadata.name"), "web");
	stored_object_clear(&out);
	assert_int_equal(store_revision(f->server.store), before);
	char *text = NULL;
	assert_int_equal(
	    registry_get(&f->server, resource("pods"), "default", "web", &text, &status), -1);
	assert_int_equal(status.code, 404);
	api_status_clear(&status);
	char *events = drain_events(f);
	assert_string_equal(events, "");
	free(events);
}

static void stale_update_conflicts_and_noop_does_not_write(void **state)
{
	struct fixture *f = *state;
	struct stored_object created = {0}, out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &created, &status), 0);
	struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
	/* The same object back: nothing changes, no new revision. */
	int64_t before = store_revision(f->server.store);
	json_t *same = json_deep_copy(created.json);
	assert_int_equal(registry_update(&f->server, resource("pods"), "default", "web", NULL, same,
					 &options, &out, &status),
			 0);
	json_decref(same);
	stored_object_clear(&out);
	assert_int_equal(store_revision(f->server.store), before);
	/* A label change is written. */
	json_t *labelled = json_deep_copy(created.json);
	json_object_set_new(json_path(labelled, "metadata.labels"), "tier", json_string("front"));
	assert_int_equal(registry_update(&f->server, resource("pods"), "default", "web", NULL,
					 labelled, &options, &out, &status),
			 0);
	json_decref(labelled);
	stored_object_clear(&out);
	/* The first version is stale now. */
	json_t *stale = json_deep_copy(created.json);
	assert_int_equal(registry_update(&f->server, resource("pods"), "default", "web", NULL,
					 stale, &options, &out, &status),
			 -1);
	json_decref(stale);
	assert_int_equal(status.code, 409);
	assert_string_equal(status.reason, "Conflict");
	api_status_clear(&status);
	stored_object_clear(&created);
}

static void pod_spec_is_immutable_but_for_the_image(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), 0);
	stored_object_clear(&out);
	struct write_options options = {0};
	_cleanup_json_ json_t *image =
	    parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"httpd:2\"}]}}");
	assert_int_equal(registry_patch(&f->server, resource("pods"), "default", "web", NULL,
					PATCH_STRATEGIC, image, &options, &out, &status),
			 0);
	json_t *container = json_array_get(json_path(out.json, "spec.containers"), 0);
	assert_string_equal(json_string_value(json_object_get(container, "image")), "httpd:2");
	/* Merged by name: the port is still there. */
	assert_int_equal(json_array_size(json_object_get(container, "ports")), 1);
	stored_object_clear(&out);
	_cleanup_json_ json_t *restart = parse("{\"spec\":{\"restartPolicy\":\"Never\"}}");
	assert_int_equal(registry_patch(&f->server, resource("pods"), "default", "web", NULL,
					PATCH_MERGE, restart, &options, &out, &status),
			 -1);
	assert_int_equal(status.code, 422);
	assert_non_null(strstr(status.message, "pod updates may not change fields"));
	api_status_clear(&status);
}

static void status_update_keeps_spec(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), 0);
	stored_object_clear(&out);
	_cleanup_json_ json_t *patch =
	    parse("{\"spec\":{\"nodeName\":\"sneaky\"},"
		  "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.0.5\"}}");
	struct write_options options = {0};
	assert_int_equal(registry_patch(&f->server, resource("pods"), "default", "web", "status",
					PATCH_MERGE, patch, &options, &out, &status),
			 0);
	assert_string_equal(json_path_string(out.json, "status.phase"), "Running");
	assert_null(json_path(out.json, "spec.nodeName"));
	stored_object_clear(&out);
}

static void bound_pods_are_deleted_gracefully(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "default", pod_json, &out, &status), 0);
	stored_object_clear(&out);
	_cleanup_json_ json_t *binding = parse("{\"target\":{\"kind\":\"Node\",\"name\":\"n1\"}}");
	assert_int_equal(registry_bind_pod(&f->server, "default", "web", binding, &status), 0);
	assert_int_equal(registry_bind_pod(&f->server, "default", "web", binding, &status), -1);
	assert_int_equal(status.code, 409);
	api_status_clear(&status);

	struct delete_options options = {.grace_period_seconds = -1};
	bool gone = true;
	assert_int_equal(registry_delete(&f->server, resource("pods"), "default", "web", &options,
					 &out, &gone, &status),
			 0);
	assert_false(gone);
	assert_non_null(json_path(out.json, "metadata.deletionTimestamp"));
	assert_int_equal(
	    json_integer_value(json_path(out.json, "metadata.deletionGracePeriodSeconds")), 30);
	stored_object_clear(&out);
	options.grace_period_seconds = 0;
	assert_int_equal(registry_delete(&f->server, resource("pods"), "default", "web", &options,
					 &out, &gone, &status),
			 0);
	assert_true(gone);
	stored_object_clear(&out);
	char *events = drain_events(f);
	assert_string_equal(events, "ADDED web;MODIFIED web;MODIFIED web;DELETED web;");
	free(events);
}

static void finalizers_hold_an_object_until_removed(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(
	    create(f, "configmaps", "default",
		   "{\"metadata\":{\"name\":\"cm\",\"finalizers\":[\"example.com/hold\"]}}", &out,
		   &status),
	    0);
	stored_object_clear(&out);
	struct delete_options options = {.grace_period_seconds = -1};
	bool gone = true;
	assert_int_equal(registry_delete(&f->server, resource("configmaps"), "default", "cm",
					 &options, &out, &gone, &status),
			 0);
	assert_false(gone);
	stored_object_clear(&out);
	_cleanup_json_ json_t *release = parse("{\"metadata\":{\"finalizers\":null}}");
	struct write_options write = {0};
	assert_int_equal(registry_patch(&f->server, resource("configmaps"), "default", "cm", NULL,
					PATCH_MERGE, release, &write, &out, &status),
			 0);
	stored_object_clear(&out);
	char *text = NULL;
	assert_int_equal(
	    registry_get(&f->server, resource("configmaps"), "default", "cm", &text, &status), -1);
	assert_int_equal(status.code, 404);
	api_status_clear(&status);
}

static void cluster_ips_are_unique_and_released(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	/* 10.96.0.0/28: .1 is the kubernetes Service, .0 and .15 are never handed out. */
	char seen[16][32];
	int count = 0;
	for (;; count++) {
		char body[160];
		snprintf(body, sizeof(body),
			 "{\"metadata\":{\"name\":\"s%d\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
			 count);
		if (create(f, "services", "default", body, &out, &status) < 0)
			break;
		snprintf(seen[count], sizeof(seen[count]), "%s",
			 json_path_string(out.json, "spec.clusterIP"));
		stored_object_clear(&out);
		for (int j = 0; j < count; j++)
			assert_string_not_equal(seen[j], seen[count]);
	}
	assert_int_equal(count, 13);
	assert_int_equal(status.code, 500);
	api_status_clear(&status);
	struct delete_options options = {.grace_period_seconds = -1};
	bool gone;
	assert_int_equal(registry_delete(&f->server, resource("services"), "default", "s3",
					 &options, &out, &gone, &status),
			 0);
	stored_object_clear(&out);
	assert_int_equal(
	    create(f, "services", "default",
		   "{\"metadata\":{\"name\":\"again\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &out,
		   &status),
	    0);
	assert_string_equal(json_path_string(out.json, "spec.clusterIP"), seen[3]);
	stored_object_clear(&out);
}

static void service_defaults_and_requested_ip(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(
	    create(f, "services", "default",
		   "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"clusterIP\":\"10.96.0.9\","
		   "\"ports\":[{\"port\":8080}]}}",
		   &out, &status),
	    0);
	json_t *svc = out.json;
	assert_string_equal(json_path_string(svc, "spec.type"), "ClusterIP");
	assert_string_equal(json_path_string(svc, "spec.sessionAffinity"), "None");
	assert_string_equal(json_path_string(svc, "spec.clusterIP"), "10.96.0.9");
	json_t *port = json_array_get(json_path(svc, "spec.ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(port, "targetPort")), 8080);
	assert_string_equal(json_string_value(json_object_get(port, "protocol")), "TCP");
	stored_object_clear(&out);
	assert_int_equal(
	    create(f, "services", "default",
		   "{\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"10.96.0.9\","
		   "\"ports\":[{\"port\":80}]}}",
		   &out, &status),
	    -1);
	assert_int_equal(status.code, 422);
	assert_non_null(strstr(status.message, "provided IP is already allocated"));
	api_status_clear(&status);
}

static void nodes_get_distinct_pod_cidrs(void **state)
{
	struct fixture *f = *state;
	struct stored_object a = {0}, b = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "nodes", NULL, "{\"metadata\":{\"name\":\"n1\"}}", &a, &status),
			 0);
	assert_int_equal(create(f, "nodes", NULL, "{\"metadata\":{\"name\":\"n2\"}}", &b, &status),
			 0);
	assert_string_equal(json_path_string(a.json, "spec.podCIDR"), "10.244.0.0/24");
	assert_string_equal(json_path_string(b.json, "spec.podCIDR"), "10.244.1.0/24");
	stored_object_clear(&a);
	stored_object_clear(&b);
}

static void objects_need_an_existing_namespace(void **state)
{
	struct fixture *f = *state;
	struct stored_object out = {0};
	struct api_status status = {0};
	assert_int_equal(create(f, "pods", "nope", pod_json, &out, &status), -1);
	assert_int_equal(status.code, 404);
	assert_string_equal(status.message, "namespaces \"nope\" not found");
	api_status_clear(&status);
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(create_fills_system_fields_and_defaults),
	    T(create_of_an_existing_name_conflicts),
	    T(generate_name_draws_a_suffix),
	    T(validation_names_every_field),
	    T(strict_decoding_refuses_unknown_fields),
	    T(dry_run_stores_nothing),
	    T(stale_update_conflicts_and_noop_does_not_write),
	    T(pod_spec_is_immutable_but_for_the_image),
	    T(status_update_keeps_spec),
	    T(bound_pods_are_deleted_gracefully),
	    T(finalizers_hold_an_object_until_removed),
	    T(cluster_ips_are_unique_and_released),
	    T(service_defaults_and_requested_ip),
	    T(nodes_get_distinct_pod_cidrs),
	    T(objects_need_an_existing_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
