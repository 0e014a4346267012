/* A container's environment as the kubelet's makeEnvironmentVariables makes it: Service
 * variables (pkg/kubelet/envvars), envFrom, env with fieldRef, resourceFieldRef,
 * configMapKeyRef and secretKeyRef, and $(VAR) expansion in the kubelet's order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubelet/container_env.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* JSON written with ' for " and ` for ' so that the objects below stay readable. */
static json_t *json_of(const char *text)
{
	char *copy = strdup(text);
	assert_non_null(copy);
	for (char *c = copy; *c; c++) {
		if (*c == '\'')
			*c = '"';
		else if (*c == '`')
			*c = '\'';
	}
	json_error_t error;
	json_t *value = json_loads(copy, 0, &error);
	if (!value)
		fail_msg("bad test JSON (%s): %s", error.text, copy);
	free(copy);
	return value;
}

static struct pod_spec *pod_of(const char *text)
{
	json_t *object = json_of(text);
	struct pod_spec *pod;
	struct ck_error err = {0};
	if (pod_spec_parse(object, &pod, &err) != 0)
		fail_msg("pod_spec_parse: %s", err.message);
	json_decref(object);
	return pod;
}

/* --- a fake API: ConfigMaps and Secrets by "Kind/name" ------------------------------------ */

struct fake_api {
	json_t *objects;  /* {"ConfigMap/cfg": {...}, "Secret/s": {...}} */
	json_t *asked;    /* "Kind/name" of each lookup, in order */
	int fail_code;    /* a lookup failure for every call when not 0 */
	const char *fail; /* its message */
};

static int fake_lookup(void *ctx, const char *kind, const char *name, json_t **object,
		       struct ck_error *err)
{
	struct fake_api *api = ctx;
	char key[256];
	snprintf(key, sizeof(key), "%s/%s", kind, name);
	json_array_append_new(api->asked, json_string(key));
	*object = NULL;
	if (api->fail_code)
		return ck_error_set(err, api->fail_code, "%s", api->fail);
	*object = json_incref(json_object_get(api->objects, key));
	return 0;
}

static void fake_api_init(struct fake_api *api, const char *objects)
{
	*api =
	    (struct fake_api){.objects = json_of(objects ? objects : "{}"), .asked = json_array()};
}

static void fake_api_clear(struct fake_api *api)
{
	json_decref(api->objects);
	json_decref(api->asked);
}

static size_t times_asked(const struct fake_api *api, const char *key)
{
	size_t n = 0, i;
	json_t *item;
	json_array_foreach (api->asked, i, item) {
		if (strcmp(json_string_value(item), key) == 0)
			n++;
	}
	return n;
}

/* --- one build ---------------------------------------------------------------------------- */

static const char *const POD_IPS[] = {"10.244.1.5", "fd00::5"};
static const char *const HOST_IPS[] = {"192.168.1.10", "fd00::10"};

struct env_test {
	struct pod_spec *pod;
	json_t *services;
	struct fake_api api;
	struct env_context ctx;
	struct env_var *vars;
	size_t count;
	struct ck_error err;
};

static void env_test_init(struct env_test *t, const char *pod, const char *services,
			  const char *objects)
{
	*t = (struct env_test){0};
	t->pod = pod_of(pod);
	t->services = services ? json_of(services) : NULL;
	fake_api_init(&t->api, objects);
	t->ctx = (struct env_context){
	    .pod = t->pod,
	    .node_name = "node-a",
	    .pod_ips = POD_IPS,
	    .pod_ip_count = LEN(POD_IPS),
	    .host_ips = HOST_IPS,
	    .host_ip_count = LEN(HOST_IPS),
	    .allocatable_cpu_milli = 4000,
	    .allocatable_memory = 8LL << 30,
	    .allocatable_ephemeral_storage = 100LL << 30,
	    .services = t->services,
	    .lookup = fake_lookup,
	    .lookup_ctx = &t->api,
	};
}

/* Builds the environment of the pod's container `index` (init containers after the app
 * containers). */
static int env_test_build(struct env_test *t, size_t index)
{
	env_vars_free(t->vars, t->count);
	t->vars = NULL;
	t->count = 0;
	const struct container_spec *c =
	    index < t->pod->container_count
		? &t->pod->containers[index]
		: &t->pod->init_containers[index - t->pod->container_count];
	return container_env_build(&t->ctx, c, &t->vars, &t->count, &t->err);
}

static void env_test_build_ok(struct env_test *t)
{
	int r = env_test_build(t, 0);
	if (r != 0)
		fail_msg("container_env_build: %d: %s", r, t->err.message);
}

static void env_test_clear(struct env_test *t)
{
	env_vars_free(t->vars, t->count);
	pod_spec_free(t->pod);
	json_decref(t->services);
	fake_api_clear(&t->api);
}

/* The value of `name`, NULL when it is not there; each name is there once at most. */
static const char *value_of(const struct env_test *t, const char *name)
{
	const char *value = NULL;
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->vars[i].name, name) != 0)
			continue;
		if (value)
			fail_msg("%s is set twice", name);
		value = t->vars[i].value;
	}
	return value;
}

static void assert_var(const struct env_test *t, const char *name, const char *expected)
{
	const char *got = value_of(t, name);
	if (!got)
		fail_msg("%s is not set (want \"%s\")", name, expected);
	if (strcmp(got, expected) != 0)
		fail_msg("%s=\"%s\", want \"%s\"", name, got, expected);
}

static void assert_no_var(const struct env_test *t, const char *name)
{
	const char *got = value_of(t, name);
	if (got)
		fail_msg("%s=\"%s\" is set", name, got);
}

static size_t count_with_prefix(const struct env_test *t, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < t->count; i++)
		n += strncmp(t->vars[i].name, prefix, strlen(prefix)) == 0;
	return n;
}

static void expect_failure(struct env_test *t, int code, const char *message)
{
	int r = env_test_build(t, 0);
	if (r != code)
		fail_msg("got %d (%s), want %d", r, t->err.message, code);
	assert_null(t->vars);
	assert_int_equal(t->count, 0);
	assert_string_equal(t->err.message, message);
}

#define POD_IN(ns, rest)                                                                          \
	"{'metadata': {'name': 'web-0', 'namespace': '" ns "', 'uid': 'uid-123'}, 'spec': {" rest \
	"}}"
#define ONE_CONTAINER(fields) "'containers': [{'name': 'app', 'image': 'app:1'" fields "}]"

static const char SERVICES[] =
    "[{'metadata': {'name': 'kubernetes', 'namespace': 'default'}, 'spec': {'clusterIP': "
    "'10.0.0.1', 'ports': [{'name': 'https', 'port': 443, 'protocol': 'TCP'}]}}, "
    "{'metadata': {'name': 'redis-primary', 'namespace': 'team'}, 'spec': {'clusterIP': "
    "'10.0.0.11', 'ports': [{'port': 6379, 'protocol': 'TCP'}]}}, "
    "{'metadata': {'name': 'headless', 'namespace': 'team'}, 'spec': {'clusterIP': 'None', "
    "'ports': [{'port': 80}]}}, "
    "{'metadata': {'name': 'external', 'namespace': 'team'}, 'spec': {'type': "
    "'ExternalName', 'externalName': 'example.com'}}, "
    "{'metadata': {'name': 'no-ip', 'namespace': 'team'}, 'spec': {'clusterIP': '', 'ports': "
    "[{'port': 80}]}}, "
    "{'metadata': {'name': 'web', 'namespace': 'default'}, 'spec': {'clusterIP': "
    "'10.0.0.80', 'ports': [{'port': 80}]}}, "
    "{'metadata': {'name': 'elsewhere', 'namespace': 'other'}, 'spec': {'clusterIP': "
    "'10.0.0.99', 'ports': [{'port': 80}]}}]";

/* --- Service variables -------------------------------------------------------------------- */

static void test_service_vars(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")), SERVICES, NULL);
	env_test_build_ok(&t);
	assert_var(&t, "REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11");
	assert_var(&t, "REDIS_PRIMARY_SERVICE_PORT", "6379");
	assert_var(&t, "REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379");
	assert_var(&t, "REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379");
	assert_var(&t, "REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp");
	assert_var(&t, "REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379");
	assert_var(&t, "REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.0.0.11");
	assert_int_equal(count_with_prefix(&t, "REDIS_PRIMARY_"), 7);
	/* The API server's Service is there for every pod. */
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.1");
	assert_var(&t, "KUBERNETES_SERVICE_PORT", "443");
	assert_var(&t, "KUBERNETES_SERVICE_PORT_HTTPS", "443");
	assert_var(&t, "KUBERNETES_PORT", "tcp://10.0.0.1:443");
	assert_var(&t, "KUBERNETES_PORT_443_TCP", "tcp://10.0.0.1:443");
	assert_var(&t, "KUBERNETES_PORT_443_TCP_PROTO", "tcp");
	assert_var(&t, "KUBERNETES_PORT_443_TCP_PORT", "443");
	assert_var(&t, "KUBERNETES_PORT_443_TCP_ADDR", "10.0.0.1");
	assert_int_equal(count_with_prefix(&t, "KUBERNETES_"), 8);
	/* Headless Services, Services without a cluster IP and other namespaces' Services give
	 * nothing. */
	assert_int_equal(t.count, 15);
	assert_int_equal(count_with_prefix(&t, "HEADLESS_"), 0);
	assert_int_equal(count_with_prefix(&t, "WEB_"), 0);
	env_test_clear(&t);
}

static void test_service_vars_named_ports_and_protocols(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")),
		      "[{'metadata': {'name': 'redis-primary', 'namespace': 'team'}, 'spec': "
		      "{'clusterIP': '10.0.0.11', 'ports': [{'name': 'redis', 'port': 6379}, "
		      "{'name': 'sentinel-port', 'port': 26379, 'protocol': 'UDP'}]}}]",
		      NULL);
	env_test_build_ok(&t);
	assert_var(&t, "REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11");
	/* The first port keeps the unnamed variable too. */
	assert_var(&t, "REDIS_PRIMARY_SERVICE_PORT", "6379");
	assert_var(&t, "REDIS_PRIMARY_SERVICE_PORT_REDIS", "6379");
	assert_var(&t, "REDIS_PRIMARY_SERVICE_PORT_SENTINEL_PORT", "26379");
	/* A port without a protocol is TCP; FOO_PORT is the first port's. */
	assert_var(&t, "REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379");
	assert_var(&t, "REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379");
	assert_var(&t, "REDIS_PRIMARY_PORT_26379_UDP", "udp://10.0.0.11:26379");
	assert_var(&t, "REDIS_PRIMARY_PORT_26379_UDP_PROTO", "udp");
	assert_var(&t, "REDIS_PRIMARY_PORT_26379_UDP_PORT", "26379");
	assert_var(&t, "REDIS_PRIMARY_PORT_26379_UDP_ADDR", "10.0.0.11");
	assert_int_equal(t.count, 13);
	env_test_clear(&t);
}

static void test_service_vars_ipv6(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")),
		      "[{'metadata': {'name': 'db', 'namespace': 'team'}, 'spec': {'clusterIP': "
		      "'fd00::11', 'ports': [{'port': 5432, 'protocol': 'SCTP'}]}}]",
		      NULL);
	env_test_build_ok(&t);
	assert_var(&t, "DB_SERVICE_HOST", "fd00::11");
	/* net.JoinHostPort puts an IPv6 address in brackets; _ADDR stays bare. */
	assert_var(&t, "DB_PORT", "sctp://[fd00::11]:5432");
	assert_var(&t, "DB_PORT_5432_SCTP", "sctp://[fd00::11]:5432");
	assert_var(&t, "DB_PORT_5432_SCTP_PROTO", "sctp");
	assert_var(&t, "DB_PORT_5432_SCTP_ADDR", "fd00::11");
	env_test_clear(&t);
}

static void test_service_links_disabled(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, POD_IN("team", "'enableServiceLinks': false, " ONE_CONTAINER("")),
		      SERVICES, NULL);
	env_test_build_ok(&t);
	/* Only the API server's Service remains. */
	assert_int_equal(count_with_prefix(&t, "REDIS_PRIMARY_"), 0);
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.1");
	assert_int_equal(t.count, 8);
	env_test_clear(&t);

	/* In the default namespace too: its other Services are left out. */
	env_test_init(&t, POD_IN("default", "'enableServiceLinks': false, " ONE_CONTAINER("")),
		      SERVICES, NULL);
	env_test_build_ok(&t);
	assert_int_equal(count_with_prefix(&t, "WEB_"), 0);
	assert_int_equal(t.count, 8);
	env_test_clear(&t);

	env_test_init(&t, POD_IN("default", ONE_CONTAINER("")), SERVICES, NULL);
	env_test_build_ok(&t);
	assert_var(&t, "WEB_SERVICE_HOST", "10.0.0.80");
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.1");
	assert_int_equal(t.count, 8 + 7);
	env_test_clear(&t);
}

/* The kubelet keys the Services by name: a `kubernetes` Service of the pod's own namespace
 * replaces the default namespace's, when links are enabled and it has a cluster IP. */
static void test_own_kubernetes_service_replaces_master(void **state)
{
	(void)state;
	static const char services[] =
	    "[{'metadata': {'name': 'kubernetes', 'namespace': 'team'}, 'spec': {'clusterIP': "
	    "'10.0.0.50', 'ports': [{'port': 8443}]}}, "
	    "{'metadata': {'name': 'kubernetes', 'namespace': 'default'}, 'spec': {'clusterIP': "
	    "'10.0.0.1', 'ports': [{'name': 'https', 'port': 443}]}}]";
	struct env_test t;
	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")), services, NULL);
	env_test_build_ok(&t);
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.50");
	assert_var(&t, "KUBERNETES_SERVICE_PORT", "8443");
	assert_no_var(&t, "KUBERNETES_SERVICE_PORT_HTTPS");
	assert_no_var(&t, "KUBERNETES_PORT_443_TCP");
	assert_int_equal(t.count, 7);
	env_test_clear(&t);

	env_test_init(&t, POD_IN("team", "'enableServiceLinks': false, " ONE_CONTAINER("")),
		      services, NULL);
	env_test_build_ok(&t);
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.1");
	assert_int_equal(t.count, 8);
	env_test_clear(&t);

	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")),
		      "[{'metadata': {'name': 'kubernetes', 'namespace': 'team'}, 'spec': "
		      "{'clusterIP': 'None', 'ports': [{'port': 8443}]}}, "
		      "{'metadata': {'name': 'kubernetes', 'namespace': 'default'}, 'spec': "
		      "{'clusterIP': '10.0.0.1', 'ports': [{'port': 443}]}}]",
		      NULL);
	env_test_build_ok(&t);
	assert_var(&t, "KUBERNETES_SERVICE_HOST", "10.0.0.1");
	env_test_clear(&t);
}

static void test_no_services_no_env(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, POD_IN("team", ONE_CONTAINER("")), NULL, NULL);
	t.ctx.lookup = NULL;
	env_test_build_ok(&t);
	assert_int_equal(t.count, 0);
	env_test_clear(&t);
}

/* --- envFrom, env and their order --------------------------------------------------------- */

static void test_env_from_and_order(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(
			       ", 'envFrom': [{'configMapRef': {'name': 'cfg'}}, {'prefix': 'DB_', "
			       "'secretRef': {'name': 'db'}}], 'env': [{'name': 'LOG_LEVEL', "
			       "'value': 'info'}, {'name': 'URL', 'value': "
			       "'$(DB_USER):$(DB_PASSWORD)@$(REDIS_PRIMARY_SERVICE_HOST)'}, "
			       "{'name': 'REDIS_PRIMARY_SERVICE_PORT', 'value': '1234'}]")),
	    SERVICES,
	    "{'ConfigMap/cfg': {'data': {'LOG_LEVEL': 'debug', 'REF': '$(LOG_LEVEL)', "
	    "'app.port': '8080'}}, 'Secret/db': {'data': {'PASSWORD': 'czNjcmV0', 'USER': "
	    "'YWRtaW4='}}}");
	env_test_build_ok(&t);
	/* The container's variables come first, each in the place of its first definition,
	 * then the Service variables they do not replace. */
	static const struct env_var expected[] = {
	    {"LOG_LEVEL", "info"},   /* env over envFrom */
	    {"REF", "$(LOG_LEVEL)"}, /* envFrom values are never expanded */
	    {"app.port", "8080"},    /* any key, since Kubernetes 1.30 */
	    {"DB_PASSWORD", "s3cret"},
	    {"DB_USER", "admin"},
	    {"URL", "admin:s3cret@10.0.0.11"},
	    {"REDIS_PRIMARY_SERVICE_PORT", "1234"},
	};
	assert_true(t.count >= LEN(expected));
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}
	for (size_t i = LEN(expected); i < t.count; i++) {
		if (strncmp(t.vars[i].name, "KUBERNETES_", 11) != 0 &&
		    strncmp(t.vars[i].name, "REDIS_PRIMARY_", 14) != 0)
			fail_msg("unexpected %s", t.vars[i].name);
	}
	/* The replaced Service variable is there once, with the container's value. */
	assert_var(&t, "REDIS_PRIMARY_SERVICE_PORT", "1234");
	assert_var(&t, "REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11");
	assert_int_equal(t.count, LEN(expected) + 15 - 1);
	env_test_clear(&t);
}

static void test_env_from_later_source_wins(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(", 'envFrom': [{'configMapRef': {'name': 'a'}}, "
					 "{'configMapRef': {'name': 'b'}}, "
					 "{'prefix': 'X_', 'configMapRef': {'name': 'a'}}, "
					 "{'secretRef': {'name': 'gone', 'optional': true}}, "
					 "{'configMapRef': {'name': 'gone', 'optional': "
					 "true}}]")),
	    NULL,
	    "{'ConfigMap/a': {'data': {'ONE': 'a1', 'TWO': 'a2', 'NUM': 3}}, "
	    "'ConfigMap/b': {'data': {'TWO': 'b2'}}}");
	env_test_build_ok(&t);
	static const struct env_var expected[] = {
	    {"ONE", "a1"},
	    {"TWO", "b2"},
	    {"X_ONE", "a1"},
	    {"X_TWO", "a2"},
	};
	assert_int_equal(t.count, LEN(expected));
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}
	/* Each object is asked for once, found or not. */
	assert_int_equal(times_asked(&t.api, "ConfigMap/a"), 1);
	assert_int_equal(times_asked(&t.api, "ConfigMap/b"), 1);
	assert_int_equal(times_asked(&t.api, "Secret/gone"), 1);
	assert_int_equal(times_asked(&t.api, "ConfigMap/gone"), 1);
	env_test_clear(&t);
}

static void test_env_from_missing(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t,
		      POD_IN("team", ONE_CONTAINER(", 'envFrom': [{'configMapRef': {'name': "
						   "'cfg'}}]")),
		      NULL, NULL);
	expect_failure(&t, -ENOENT, "configmap \"cfg\" not found");
	env_test_clear(&t);

	env_test_init(&t,
		      POD_IN("team", ONE_CONTAINER(", 'envFrom': [{'prefix': 'P_', 'secretRef': "
						   "{'name': 'db'}}]")),
		      NULL, NULL);
	expect_failure(&t, -ENOENT, "secret \"db\" not found");
	env_test_clear(&t);

	/* No lookup at all: nothing can be found. */
	env_test_init(&t,
		      POD_IN("team", ONE_CONTAINER(", 'envFrom': [{'configMapRef': {'name': "
						   "'cfg'}}]")),
		      NULL, NULL);
	t.ctx.lookup = NULL;
	expect_failure(&t, -ENOENT, "configmap \"cfg\" not found");
	env_test_clear(&t);
}

/* --- $(VAR) expansion --------------------------------------------------------------------- */

static void test_expansion(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team",
		   ONE_CONTAINER(", 'envFrom': [{'configMapRef': {'name': 'cfg'}}], 'env': ["
				 "{'name': 'A', 'value': 'a'}, "
				 "{'name': 'B', 'value': "
				 "'$(A)-$(REDIS_PRIMARY_SERVICE_HOST)-$(FROM_CM)'}, "
				 "{'name': 'ESC', 'value': '$$(A)-$$$(A)'}, "
				 "{'name': 'UNKNOWN', 'value': '$(NOPE)'}, "
				 "{'name': 'EARLY', 'value': '$(LATE)'}, "
				 "{'name': 'LATE', 'value': 'late'}, "
				 "{'name': 'FROM', 'value': '$(LATER)'}, "
				 "{'name': 'LATER', 'value': 'env'}, "
				 "{'name': 'A', 'value': '$(A)2'}, "
				 "{'name': 'AFTER', 'value': '$(A)+$(LATER)'}, "
				 "{'name': 'REDIS_PRIMARY_SERVICE_HOST', 'value': 'redis'}, "
				 "{'name': 'HOST', 'value': '$(REDIS_PRIMARY_SERVICE_HOST)'}, "
				 "{'name': 'POD', 'valueFrom': {'fieldRef': {'fieldPath': "
				 "'metadata.labels[`tier`]'}}}, "
				 "{'name': 'KEY', 'valueFrom': {'configMapKeyRef': {'name': 'cfg', "
				 "'key': 'RAW'}}}]")),
	    SERVICES,
	    "{'ConfigMap/cfg': {'data': {'FROM_CM': 'cm', 'LATER': 'from-cm', 'RAW': "
	    "'$(A)'}}}");
	json_object_set_new(t.pod->labels, "tier", json_string("$(A)"));
	env_test_build_ok(&t);
	static const struct env_var expected[] = {
	    {"FROM_CM", "cm"},
	    /* envFrom defined it before env replaced it: FROM saw the envFrom value. */
	    {"LATER", "env"},
	    {"RAW", "$(A)"},
	    /* A stays where it was first defined; its new value saw the old one. */
	    {"A", "a2"},
	    {"B", "a-10.0.0.11-cm"},
	    {"ESC", "$(A)-$a"},
	    {"UNKNOWN", "$(NOPE)"},
	    /* A later entry is not visible yet. */
	    {"EARLY", "$(LATE)"},
	    {"LATE", "late"},
	    {"FROM", "from-cm"},
	    {"AFTER", "a2+env"},
	    /* The container's own definition hides the Service variable from then on. */
	    {"REDIS_PRIMARY_SERVICE_HOST", "redis"},
	    {"HOST", "redis"},
	    /* Values from valueFrom are never expanded. */
	    {"POD", "$(A)"},
	    {"KEY", "$(A)"},
	};
	assert_int_equal(t.count, LEN(expected) + 15 - 1);
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}
	/* B saw the Service's value: the container had not defined the name yet. */
	assert_var(&t, "B", "a-10.0.0.11-cm");
	env_test_clear(&t);
}

/* --- configMapKeyRef and secretKeyRef ----------------------------------------------------- */

static void test_key_refs(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(
			       ", 'env': ["
			       "{'name': 'A', 'value': '1'}, "
			       "{'name': 'CM', 'valueFrom': {'configMapKeyRef': {'name': 'cfg', "
			       "'key': 'k'}}}, "
			       "{'name': 'EMPTY', 'valueFrom': {'configMapKeyRef': {'name': "
			       "'cfg', 'key': 'empty'}}}, "
			       "{'name': 'PW', 'valueFrom': {'secretKeyRef': {'name': 's', 'key': "
			       "'pw'}}}, "
			       "{'name': 'NO_KEY', 'valueFrom': {'configMapKeyRef': {'name': "
			       "'cfg', 'key': 'none', 'optional': true}}}, "
			       "{'name': 'NO_MAP', 'valueFrom': {'configMapKeyRef': {'name': "
			       "'gone', 'key': 'k', 'optional': true}}}, "
			       "{'name': 'NO_MAP2', 'valueFrom': {'configMapKeyRef': {'name': "
			       "'gone', 'key': 'j', 'optional': true}}}, "
			       "{'name': 'NO_SECRET', 'valueFrom': {'secretKeyRef': {'name': "
			       "'gone', 'key': 'k', 'optional': true}}}, "
			       "{'name': 'NO_SECRET_KEY', 'valueFrom': {'secretKeyRef': {'name': "
			       "'s', 'key': 'none', 'optional': true}}}, "
			       "{'name': 'SAME_NAME', 'valueFrom': {'secretKeyRef': {'name': "
			       "'cfg', 'key': 'k', 'optional': true}}}]")),
	    NULL,
	    "{'ConfigMap/cfg': {'data': {'k': 'v', 'empty': ''}}, "
	    "'Secret/s': {'data': {'pw': 'cEBzcyAkKEEp'}}}");
	env_test_build_ok(&t);
	static const struct env_var expected[] = {
	    {"A", "1"},
	    {"CM", "v"},
	    {"EMPTY", ""},
	    /* Decoded, and not expanded. */
	    {"PW", "p@ss $(A)"},
	};
	/* Optional references to missing objects or keys leave the entries out. */
	assert_int_equal(t.count, LEN(expected));
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}
	assert_int_equal(times_asked(&t.api, "ConfigMap/cfg"), 1);
	assert_int_equal(times_asked(&t.api, "Secret/s"), 1);
	assert_int_equal(times_asked(&t.api, "ConfigMap/gone"), 1);
	assert_int_equal(times_asked(&t.api, "Secret/gone"), 1);
	/* A Secret and a ConfigMap may share a name: they are different objects. */
	assert_int_equal(times_asked(&t.api, "Secret/cfg"), 1);
	env_test_clear(&t);
}

static void expect_env_failure(const char *env, const char *objects, int code, const char *message)
{
	char pod[4096];
	snprintf(pod, sizeof(pod), POD_IN("team", ONE_CONTAINER(", 'env': [%s]")), env);
	struct env_test t;
	env_test_init(&t, pod, SERVICES, objects);
	expect_failure(&t, code, message);
	env_test_clear(&t);
}

static void test_key_ref_errors(void **state)
{
	(void)state;
	static const char objects[] = "{'ConfigMap/cfg': {'data': {'k': 'v'}}, 'Secret/s': "
				      "{'data': {'pw': 'czNjcmV0', 'nul': 'YQBi', 'bad': 'c!'}}}";
	expect_env_failure("{'name': 'X', 'valueFrom': {'configMapKeyRef': {'name': 'nope', "
			   "'key': 'k'}}}",
			   objects, -ENOENT, "configmap \"nope\" not found");
	expect_env_failure("{'name': 'X', 'valueFrom': {'configMapKeyRef': {'name': 'cfg', "
			   "'key': 'other'}}}",
			   objects, -ENOENT, "couldn't find key other in ConfigMap team/cfg");
	expect_env_failure("{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 'nope', 'key': "
			   "'pw'}}}",
			   objects, -ENOENT, "secret \"nope\" not found");
	expect_env_failure("{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 's', 'key': "
			   "'user'}}}",
			   objects, -ENOENT, "couldn't find key user in Secret team/s");
	/* A value the environment cannot hold whole is refused rather than cut short. */
	expect_env_failure("{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 's', 'key': "
			   "'nul'}}}",
			   objects, -EINVAL,
			   "secret team/s key nul: the value contains a NUL byte");
	expect_env_failure("{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 's', 'key': "
			   "'bad'}}}",
			   objects, -EINVAL,
			   "secret team/s key bad: illegal base64 data at input byte 1");
	/* A ConfigMap does not stand in for a Secret of the same name. */
	expect_env_failure("{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 'cfg', 'key': "
			   "'k'}}}",
			   objects, -ENOENT, "secret \"cfg\" not found");
}

static void test_lookup_failure_is_the_error(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(", 'env': [{'name': 'X', 'valueFrom': "
					 "{'configMapKeyRef': {'name': 'cfg', 'key': 'k', "
					 "'optional': true}}}]")),
	    NULL, "{}");
	t.api.fail_code = EIO;
	t.api.fail = "get configmap team/cfg: connection refused";
	/* Optional covers a missing object, not one that could not be fetched. */
	expect_failure(&t, -EIO, "get configmap team/cfg: connection refused");
	env_test_clear(&t);
}

/* --- fieldRef ----------------------------------------------------------------------------- */

static void test_field_refs(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(
	    &t,
	    "{'metadata': {'name': 'web-0', 'namespace': 'team', 'uid': 'uid-123', 'labels': "
	    "{'app': 'web'}, 'annotations': {'example.com/owner': 'ops'}}, 'spec': {'nodeName': "
	    "'node-7', 'serviceAccountName': 'builder', " ONE_CONTAINER(
		", 'env': ["
		"{'name': 'POD_NAME', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.name'}}}, "
		"{'name': 'POD_NS', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'metadata.namespace'}}}, "
		"{'name': 'POD_UID', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.uid'}}}, "
		"{'name': 'APP', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'metadata.labels[`app`]'}}}, "
		"{'name': 'NO_LABEL', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'metadata.labels[`nope`]'}}}, "
		"{'name': 'OWNER', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'metadata.annotations[`example.com/owner`]'}}}, "
		"{'name': 'NODE', 'valueFrom': {'fieldRef': {'fieldPath': 'spec.nodeName'}}}, "
		"{'name': 'SA', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'spec.serviceAccountName'}}}, "
		"{'name': 'POD_IP', 'valueFrom': {'fieldRef': {'fieldPath': 'status.podIP'}}}, "
		"{'name': 'POD_IPS', 'valueFrom': {'fieldRef': {'fieldPath': 'status.podIPs'}}}, "
		"{'name': 'HOST_IP', 'valueFrom': {'fieldRef': {'fieldPath': 'status.hostIP'}}}, "
		"{'name': 'HOST_IPS', 'valueFrom': {'fieldRef': {'fieldPath': "
		"'status.hostIPs'}}}]") "}}",
	    NULL, NULL);
	env_test_build_ok(&t);
	static const struct env_var expected[] = {
	    {"POD_NAME", "web-0"},
	    {"POD_NS", "team"},
	    {"POD_UID", "uid-123"},
	    {"APP", "web"},
	    {"NO_LABEL", ""},
	    {"OWNER", "ops"},
	    {"NODE", "node-7"},
	    {"SA", "builder"},
	    {"POD_IP", "10.244.1.5"},
	    {"POD_IPS", "10.244.1.5,fd00::5"},
	    {"HOST_IP", "192.168.1.10"},
	    {"HOST_IPS", "192.168.1.10,fd00::10"},
	};
	assert_int_equal(t.count, LEN(expected));
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}
	env_test_clear(&t);

	/* A static pod before it has a node name or an address. */
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(", 'env': [{'name': 'NODE', 'valueFrom': {'fieldRef': "
					 "{'fieldPath': 'spec.nodeName'}}}, {'name': 'IP', "
					 "'valueFrom': {'fieldRef': {'fieldPath': "
					 "'status.podIP'}}}, {'name': 'IPS', 'valueFrom': "
					 "{'fieldRef': {'fieldPath': 'status.podIPs'}}}, {'name': "
					 "'SA', 'valueFrom': {'fieldRef': {'fieldPath': "
					 "'spec.serviceAccountName'}}}]")),
	    NULL, NULL);
	t.ctx.pod_ip_count = 0;
	env_test_build_ok(&t);
	assert_var(&t, "NODE", "node-a");
	assert_var(&t, "IP", "");
	assert_var(&t, "IPS", "");
	assert_var(&t, "SA", "");
	env_test_clear(&t);
}

static void test_field_ref_errors(void **state)
{
	(void)state;
	expect_env_failure("{'name': 'X', 'valueFrom': {'fieldRef': {'fieldPath': "
			   "'spec.schedulerName'}}}",
			   NULL, -EINVAL, "unsupported fieldPath: spec.schedulerName");
	expect_env_failure("{'name': 'X', 'valueFrom': {'fieldRef': {'fieldPath': "
			   "'status.phase'}}}",
			   NULL, -EINVAL, "unsupported fieldPath: status.phase");

	struct env_test t;
	env_test_init(
	    &t,
	    POD_IN("team", ONE_CONTAINER(", 'env': [{'name': 'X', 'valueFrom': "
					 "{'fieldRef': {'fieldPath': 'status.hostIP'}}}]")),
	    NULL, NULL);
	t.ctx.host_ip_count = 0;
	expect_failure(&t, -EINVAL, "host IP unknown; known addresses: []");
	env_test_clear(&t);
}

/* --- resourceFieldRef --------------------------------------------------------------------- */

static const char RESOURCE_POD[] = POD_IN(
    "team", "'initContainers': [{'name': 'setup', 'image': 'x:1', 'env': ["
	    "{'name': 'OWN_MEM', 'valueFrom': {'resourceFieldRef': {'resource': 'limits.memory', "
	    "'divisor': '1Gi'}}}]}], "
	    "'containers': [{'name': 'app', 'image': 'app:1', 'resources': {'requests': {'cpu': "
	    "'250m', 'memory': '104857601'}, 'limits': {'cpu': '500m', 'memory': '200Mi'}}, "
	    "'env': ["
	    "{'name': 'CPU_LIMIT', 'valueFrom': {'resourceFieldRef': {'resource': 'limits.cpu'}}}, "
	    "{'name': 'CPU_LIMIT_M', 'valueFrom': {'resourceFieldRef': {'resource': 'limits.cpu', "
	    "'divisor': '1m'}}}, "
	    "{'name': 'CPU_REQ', 'valueFrom': {'resourceFieldRef': {'resource': 'requests.cpu', "
	    "'divisor': '1m'}}}, "
	    "{'name': 'MEM_REQ_MI', 'valueFrom': {'resourceFieldRef': {'resource': "
	    "'requests.memory', 'divisor': '1Mi'}}}, "
	    "{'name': 'MEM_LIMIT', 'valueFrom': {'resourceFieldRef': {'resource': "
	    "'limits.memory'}}}, "
	    "{'name': 'EPH_LIMIT', 'valueFrom': {'resourceFieldRef': {'resource': "
	    "'limits.ephemeral-storage', 'divisor': '1Gi'}}}, "
	    "{'name': 'EPH_REQ', 'valueFrom': {'resourceFieldRef': {'resource': "
	    "'requests.ephemeral-storage'}}}, "
	    "{'name': 'SIDE_CPU', 'valueFrom': {'resourceFieldRef': {'containerName': 'side', "
	    "'resource': 'limits.cpu', 'divisor': '1m'}}}, "
	    "{'name': 'SIDE_MEM_REQ', 'valueFrom': {'resourceFieldRef': {'containerName': 'side', "
	    "'resource': 'requests.memory'}}}, "
	    "{'name': 'INIT_MEM', 'valueFrom': {'resourceFieldRef': {'containerName': 'setup', "
	    "'resource': 'limits.memory'}}}]}, "
	    "{'name': 'side', 'image': 'side:1'}]");

static void test_resource_field_refs(void **state)
{
	(void)state;
	struct env_test t;
	env_test_init(&t, RESOURCE_POD, NULL, NULL);
	env_test_build_ok(&t);
	static const struct env_var expected[] = {
	    /* Divided by 1 core, rounded up. */
	    {"CPU_LIMIT", "1"},
	    {"CPU_LIMIT_M", "500"},
	    {"CPU_REQ", "250"},
	    /* 100Mi and one byte, in Mi, rounded up. */
	    {"MEM_REQ_MI", "101"},
	    {"MEM_LIMIT", "209715200"},
	    /* No limit: the node's allocatable. */
	    {"EPH_LIMIT", "100"},
	    /* No request: 0. */
	    {"EPH_REQ", "0"},
	    /* Another app container's limits are defaulted alike... */
	    {"SIDE_CPU", "4000"},
	    {"SIDE_MEM_REQ", "0"},
	    /* ...an init container's, named, are not (as the kubelet finds it in the pod as
	     * written). */
	    {"INIT_MEM", "0"},
	};
	assert_int_equal(t.count, LEN(expected));
	for (size_t i = 0; i < LEN(expected); i++) {
		assert_string_equal(t.vars[i].name, expected[i].name);
		assert_string_equal(t.vars[i].value, expected[i].value);
	}

	/* The container's own limits are defaulted, an init container's included. */
	assert_int_equal(env_test_build(&t, 2), 0);
	assert_int_equal(t.count, 1);
	assert_string_equal(t.vars[0].name, "OWN_MEM");
	assert_string_equal(t.vars[0].value, "8");

	/* An allocatable that is not known leaves a missing limit at 0. */
	t.ctx.allocatable_cpu_milli = -1;
	t.ctx.allocatable_ephemeral_storage = -1;
	env_test_build_ok(&t);
	assert_var(&t, "SIDE_CPU", "0");
	assert_var(&t, "EPH_LIMIT", "0");
	assert_var(&t, "CPU_LIMIT_M", "500");
	env_test_clear(&t);
}

static void test_resource_field_ref_errors(void **state)
{
	(void)state;
	expect_env_failure("{'name': 'X', 'valueFrom': {'resourceFieldRef': {'containerName': "
			   "'nope', 'resource': 'limits.cpu'}}}",
			   NULL, -EINVAL, "container nope not found");
	expect_env_failure("{'name': 'X', 'valueFrom': {'resourceFieldRef': {'resource': "
			   "'limits.nvidia.com/gpu'}}}",
			   NULL, -EINVAL, "unsupported container resource : limits.nvidia.com/gpu");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_vars),
	    cmocka_unit_test(test_service_vars_named_ports_and_protocols),
	    cmocka_unit_test(test_service_vars_ipv6),
	    cmocka_unit_test(test_service_links_disabled),
	    cmocka_unit_test(test_own_kubernetes_service_replaces_master),
	    cmocka_unit_test(test_no_services_no_env),
	    cmocka_unit_test(test_env_from_and_order),
	    cmocka_unit_test(test_env_from_later_source_wins),
	    cmocka_unit_test(test_env_from_missing),
	    cmocka_unit_test(test_expansion),
	    cmocka_unit_test(test_key_refs),
	    cmocka_unit_test(test_key_ref_errors),
	    cmocka_unit_test(test_lookup_failure_is_the_error),
	    cmocka_unit_test(test_field_refs),
	    cmocka_unit_test(test_field_ref_errors),
	    cmocka_unit_test(test_resource_field_refs),
	    cmocka_unit_test(test_resource_field_ref_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
