/* Pod objects read into struct pod_spec: Kubernetes' defaults (pkg/apis/core/v1/defaults.go),
 * the QoS class of GetPodQOS, the kubelet's hostname cut and probe port resolution, effective
 * security settings, and errors that name the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubelet/pod_spec.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* JSON written with ' for " so that the pods below stay readable. */
static json_t *json_of(const char *text)
{
	char *copy = strdup(text);
	assert_non_null(copy);
	for (char *c = copy; *c; c++) {
		if (*c == '\'')
			*c = '"';
	}
	json_error_t error;
	json_t *value = json_loads(copy, 0, &error);
	if (!value)
		fail_msg("bad test JSON (%s): %s", error.text, copy);
	free(copy);
	return value;
}

static struct pod_spec *parse_ok(const char *text)
{
	json_t *object = json_of(text);
	struct pod_spec *pod = NULL;
	struct ck_error err = {0};
	int r = pod_spec_parse(object, &pod, &err);
	if (r != 0)
		fail_msg("pod_spec_parse: %d: %s", r, err.message);
	assert_non_null(pod);
	/* The spec keeps its own reference to the object. */
	assert_ptr_equal(pod->object, object);
	json_decref(object);
	return pod;
}

static void expect_error(const char *text, const char *message)
{
	json_t *object = json_of(text);
	struct pod_spec *pod = (struct pod_spec *)1;
	struct ck_error err = {0};
	int r = pod_spec_parse(object, &pod, &err);
	if (r != -EINVAL)
		fail_msg("%s: got %d (%s), want -EINVAL", text, r, err.message);
	assert_null(pod);
	assert_string_equal(err.message, message);
	json_decref(object);
}

/* A pod of one container with `container` as the rest of its fields (after name and image). */
static struct pod_spec *parse_container(const char *container)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'c', 'image': "
		 "'busybox:1.36'%s%s}]}}",
		 *container ? ", " : "", container);
	return parse_ok(text);
}

static void expect_container_error(const char *container, const char *message)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'c', 'image': "
		 "'busybox:1.36', %s}]}}",
		 container);
	expect_error(text, message);
}

/* --- defaults ----------------------------------------------------------------------------- */

static void test_minimal_pod_defaults(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_ok("{'metadata': {'name': 'web'}, 'spec': {'containers': [{'name': 'app', "
		     "'image': 'nginx:1.25'}]}}");
	assert_string_equal(pod->name, "web");
	assert_string_equal(pod->namespace, "default");
	assert_string_equal(pod->uid, "");
	assert_null(pod->resource_version);
	assert_null(pod->node_name);
	assert_true(json_is_object(pod->labels));
	assert_int_equal(json_object_size(pod->labels), 0);
	assert_true(json_is_object(pod->annotations));
	assert_false(pod->deleting);
	assert_int_equal(pod->deletion_grace_seconds, -1);
	assert_int_equal(pod->termination_grace_seconds, 30);
	assert_int_equal(pod->restart_policy, RESTART_ALWAYS);
	assert_int_equal(pod->qos, QOS_BEST_EFFORT);
	assert_false(pod->host_network);
	assert_false(pod->host_pid);
	assert_false(pod->host_ipc);
	assert_false(pod->share_process_namespace);
	assert_true(pod->enable_service_links);
	assert_string_equal(pod->hostname, "web");
	assert_null(pod->subdomain);
	assert_null(pod->service_account);
	assert_string_equal(pod->dns_policy, "ClusterFirst");
	assert_null(pod->volumes);
	assert_null(pod->dns_config);
	assert_null(pod->host_aliases);
	assert_int_equal(pod->fs_group, -1);
	assert_int_equal(pod->supplemental_group_count, 0);
	assert_int_equal(pod->security.run_as_user, -1);
	assert_int_equal(pod->security.run_as_group, -1);
	assert_int_equal(pod->security.run_as_non_root, -1);
	assert_null(pod->security.seccomp);
	assert_int_equal(pod->init_container_count, 0);
	assert_null(pod->init_containers);
	assert_int_equal(pod->container_count, 1);

	const struct container_spec *c = &pod->containers[0];
	assert_string_equal(c->name, "app");
	assert_string_equal(c->image, "nginx:1.25");
	assert_int_equal(c->pull_policy, PULL_IF_NOT_PRESENT);
	assert_null(c->command);
	assert_null(c->args);
	assert_null(c->working_dir);
	assert_int_equal(c->env_count, 0);
	assert_int_equal(c->env_from_count, 0);
	assert_int_equal(c->port_count, 0);
	assert_int_equal(c->mount_count, 0);
	assert_int_equal(c->resources.cpu_request_milli, -1);
	assert_int_equal(c->resources.cpu_limit_milli, -1);
	assert_int_equal(c->resources.memory_request, -1);
	assert_int_equal(c->resources.memory_limit, -1);
	assert_int_equal(c->resources.ephemeral_storage_request, -1);
	assert_int_equal(c->resources.ephemeral_storage_limit, -1);
	assert_int_equal(c->security.run_as_user, -1);
	assert_int_equal(c->security.run_as_group, -1);
	assert_int_equal(c->security.run_as_non_root, -1);
	assert_int_equal(c->security.allow_privilege_escalation, -1);
	assert_false(c->security.privileged);
	assert_false(c->security.read_only_root);
	assert_null(c->security.cap_add);
	assert_null(c->security.cap_drop);
	assert_int_equal(c->liveness.kind, PROBE_NONE);
	assert_int_equal(c->readiness.kind, PROBE_NONE);
	assert_int_equal(c->startup.kind, PROBE_NONE);
	assert_int_equal(c->liveness.termination_grace_seconds, -1);
	assert_int_equal(c->pre_stop.kind, PROBE_NONE);
	assert_int_equal(c->post_start.kind, PROBE_NONE);
	assert_false(c->restart_always);
	assert_false(c->stdin_open);
	assert_false(c->tty);
	assert_string_equal(c->termination_message_path, "/dev/termination-log");
	pod_spec_free(pod);
	pod_spec_free(NULL);
}

static void test_metadata_and_spec_fields(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_ok(
	    "{'metadata': {'name': 'db-0', 'namespace': 'team', 'uid': 'u-1', "
	    "'resourceVersion': '42', 'labels': {'app': 'db'}, 'annotations': {'a': 'b'}, "
	    "'deletionTimestamp': '2024-01-01T00:00:00Z', 'deletionGracePeriodSeconds': 5}, "
	    "'spec': {'nodeName': 'n1', 'restartPolicy': 'OnFailure', "
	    "'terminationGracePeriodSeconds': 0, 'hostNetwork': true, 'hostPID': true, "
	    "'hostIPC': true, 'shareProcessNamespace': true, 'enableServiceLinks': false, "
	    "'hostname': 'db', 'subdomain': 'dbs', 'serviceAccountName': 'sa', "
	    "'dnsPolicy': 'None', 'dnsConfig': {'nameservers': ['1.1.1.1']}, "
	    "'hostAliases': [{'ip': '10.0.0.1', 'hostnames': ['x']}], "
	    "'volumes': [{'name': 'data', 'emptyDir': {}}], "
	    "'securityContext': {'fsGroup': 2000, 'supplementalGroups': [3000, 4000]}, "
	    "'containers': [{'name': 'c', 'image': 'db:1'}]}}");
	assert_string_equal(pod->namespace, "team");
	assert_string_equal(pod->uid, "u-1");
	assert_string_equal(pod->resource_version, "42");
	assert_string_equal(json_string_value(json_object_get(pod->labels, "app")), "db");
	assert_string_equal(json_string_value(json_object_get(pod->annotations, "a")), "b");
	assert_true(pod->deleting);
	assert_int_equal(pod->deletion_grace_seconds, 5);
	assert_string_equal(pod->node_name, "n1");
	assert_int_equal(pod->restart_policy, RESTART_ON_FAILURE);
	/* 0 is a grace period (kill at once), not a missing one. */
	assert_int_equal(pod->termination_grace_seconds, 0);
	assert_true(pod->host_network);
	assert_true(pod->host_pid);
	assert_true(pod->host_ipc);
	assert_true(pod->share_process_namespace);
	assert_false(pod->enable_service_links);
	assert_string_equal(pod->hostname, "db");
	assert_string_equal(pod->subdomain, "dbs");
	assert_string_equal(pod->service_account, "sa");
	assert_string_equal(pod->dns_policy, "None");
	assert_true(json_is_object(pod->dns_config));
	assert_int_equal(json_array_size(pod->host_aliases), 1);
	assert_int_equal(json_array_size(pod->volumes), 1);
	assert_int_equal(pod->fs_group, 2000);
	assert_int_equal(pod->supplemental_group_count, 2);
	assert_int_equal(pod->supplemental_groups[0], 3000);
	assert_int_equal(pod->supplemental_groups[1], 4000);
	pod_spec_free(pod);

	pod = parse_ok("{'metadata': {'name': 'p', 'namespace': ''}, 'spec': {'restartPolicy': "
		       "'Never', 'containers': [{'name': 'c', 'image': 'x:1'}]}}");
	/* An empty namespace is no namespace. */
	assert_string_equal(pod->namespace, "default");
	assert_int_equal(pod->restart_policy, RESTART_NEVER);
	pod_spec_free(pod);
}

static void test_containers_and_init_containers(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_ok("{'metadata': {'name': 'p'}, 'spec': {"
		     "'initContainers': [{'name': 'setup', 'image': 'busybox:1'}, "
		     "{'name': 'proxy', 'image': 'envoy:1', 'restartPolicy': 'Always'}], "
		     "'containers': [{'name': 'app', 'image': 'app:1', 'restartPolicy': 'Always', "
		     "'command': ['/bin/app', '--serve'], 'args': ['-v'], 'workingDir': '/srv', "
		     "'ports': [{'name': 'http', 'containerPort': 8080}, {'containerPort': 53, "
		     "'protocol': 'UDP'}], "
		     "'volumeMounts': [{'name': 'data', 'mountPath': '/data', 'subPath': 'a', "
		     "'readOnly': true}, {'name': 'logs', 'mountPath': '/logs', 'subPathExpr': "
		     "'$(POD_NAME)'}], "
		     "'lifecycle': {'preStop': {'exec': {'command': ['stop']}}, 'postStart': "
		     "{'httpGet': {'port': 80}}}, "
		     "'stdin': true, 'tty': true, 'terminationMessagePath': '/tmp/msg'}]}}");
	assert_int_equal(pod->init_container_count, 2);
	assert_string_equal(pod->init_containers[0].name, "setup");
	assert_false(pod->init_containers[0].restart_always);
	/* An init container that restarts always is a sidecar. */
	assert_true(pod->init_containers[1].restart_always);

	const struct container_spec *c = &pod->containers[0];
	/* restartPolicy means nothing on an app container. */
	assert_false(c->restart_always);
	assert_string_equal(c->command[0], "/bin/app");
	assert_string_equal(c->command[1], "--serve");
	assert_null(c->command[2]);
	assert_string_equal(c->args[0], "-v");
	assert_null(c->args[1]);
	assert_string_equal(c->working_dir, "/srv");
	assert_int_equal(c->port_count, 2);
	assert_string_equal(c->ports[0].name, "http");
	assert_int_equal(c->ports[0].container_port, 8080);
	assert_string_equal(c->ports[0].protocol, "TCP");
	assert_null(c->ports[1].name);
	assert_int_equal(c->ports[1].container_port, 53);
	assert_string_equal(c->ports[1].protocol, "UDP");
	assert_int_equal(c->mount_count, 2);
	assert_string_equal(c->mounts[0].name, "data");
	assert_string_equal(c->mounts[0].mount_path, "/data");
	assert_string_equal(c->mounts[0].sub_path, "a");
	assert_null(c->mounts[0].sub_path_expr);
	assert_true(c->mounts[0].read_only);
	assert_null(c->mounts[1].sub_path);
	assert_string_equal(c->mounts[1].sub_path_expr, "$(POD_NAME)");
	assert_false(c->mounts[1].read_only);
	assert_int_equal(c->pre_stop.kind, PROBE_EXEC);
	assert_int_equal(c->post_start.kind, PROBE_HTTP_GET);
	assert_true(c->stdin_open);
	assert_true(c->tty);
	assert_string_equal(c->termination_message_path, "/tmp/msg");
	pod_spec_free(pod);
}

/* --- image pull policy -------------------------------------------------------------------- */

static void test_pull_policy_defaults(void **state)
{
	(void)state;
	static const struct {
		const char *image;
		enum pull_policy expected;
	} cases[] = {
	    {"nginx", PULL_ALWAYS},
	    {"nginx:latest", PULL_ALWAYS},
	    {"docker.io/library/nginx:latest", PULL_ALWAYS},
	    {"nginx:1.25", PULL_IF_NOT_PRESENT},
	    {"nginx:latest-alpine", PULL_IF_NOT_PRESENT},
	    /* A registry port is no tag. */
	    {"127.0.0.1:5000/team/app", PULL_ALWAYS},
	    {"127.0.0.1:5000/team/app:v2", PULL_IF_NOT_PRESENT},
	    /* A digest alone: no tag to default to latest. */
	    {"app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	     PULL_IF_NOT_PRESENT},
	    {"app:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	     PULL_ALWAYS},
	    /* What does not parse defaults as Kubernetes does, ignoring the error. */
	    {"Not An Image", PULL_IF_NOT_PRESENT},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		char container[512];
		snprintf(container, sizeof(container), "'image': '%s'", cases[i].image);
		char text[1024];
		snprintf(text, sizeof(text),
			 "{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'c', %s}]}}",
			 container);
		struct pod_spec *pod = parse_ok(text);
		if (pod->containers[0].pull_policy != cases[i].expected)
			fail_msg("image %s: pull policy %d, want %d", cases[i].image,
				 pod->containers[0].pull_policy, cases[i].expected);
		pod_spec_free(pod);
	}
}

static void test_pull_policy_explicit(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_ok("{'metadata': {'name': 'p'}, 'spec': {'containers': ["
		     "{'name': 'a', 'image': 'x:latest', 'imagePullPolicy': 'Never'}, "
		     "{'name': 'b', 'image': 'x:1', 'imagePullPolicy': 'Always'}, "
		     "{'name': 'c', 'image': 'x', 'imagePullPolicy': 'IfNotPresent'}, "
		     "{'name': 'd', 'image': 'x', 'imagePullPolicy': ''}]}}");
	assert_int_equal(pod->containers[0].pull_policy, PULL_NEVER);
	assert_int_equal(pod->containers[1].pull_policy, PULL_ALWAYS);
	assert_int_equal(pod->containers[2].pull_policy, PULL_IF_NOT_PRESENT);
	/* Empty is unset: the default for an untagged image. */
	assert_int_equal(pod->containers[3].pull_policy, PULL_ALWAYS);
	pod_spec_free(pod);
	expect_container_error(
	    "'imagePullPolicy': 'Sometimes'",
	    "spec.containers[0].imagePullPolicy: unsupported value \"Sometimes\"");
}

/* --- hostname ----------------------------------------------------------------------------- */

static void test_hostname(void **state)
{
	(void)state;
	static const char sixty_three[] =
	    "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh";
	assert_int_equal(strlen(sixty_three), 63);
	static const struct {
		const char *name, *hostname, *expected;
	} cases[] = {
	    {"web-0", NULL, "web-0"},
	    {"web-0", "web", "web"},
	    {"web-0", "", "web-0"},
	    /* 63 characters stay whole. */
	    {sixty_three, NULL, sixty_three},
	    {"x", sixty_three, sixty_three},
	    /* A longer name is cut to 63... */
	    {"abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij", NULL,
	     "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh"},
	    /* ...and the cut loses the '-' and '.' it ends with. */
	    {"abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdef.-.-xyz", NULL,
	     "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdef"},
	    {"p", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefg-h", NULL},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		char text[1024], hostname[256] = "";
		if (cases[i].hostname)
			snprintf(hostname, sizeof(hostname), "'hostname': '%s', ",
				 cases[i].hostname);
		snprintf(text, sizeof(text),
			 "{'metadata': {'name': '%s'}, 'spec': {%s'containers': [{'name': 'c', "
			 "'image': 'x:1'}]}}",
			 cases[i].name, hostname);
		struct pod_spec *pod = parse_ok(text);
		const char *expected = cases[i].expected;
		char trimmed[64];
		if (!expected) {
			/* 63 characters that end in '-': 62 remain. */
			snprintf(trimmed, sizeof(trimmed), "%.62s", cases[i].hostname);
			expected = trimmed;
			assert_int_equal(strlen(expected), 62);
		}
		assert_string_equal(pod->hostname, expected);
		assert_true(strlen(pod->hostname) <= 63);
		pod_spec_free(pod);
	}
}

/* --- resources and QoS -------------------------------------------------------------------- */

static void test_resources_limits_default_requests(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_container("'resources': {'limits': {'cpu': '500m', 'memory': '128Mi', "
			    "'ephemeral-storage': '1Gi'}}");
	const struct resources_spec *r = &pod->containers[0].resources;
	assert_int_equal(r->cpu_limit_milli, 500);
	assert_int_equal(r->cpu_request_milli, 500);
	assert_int_equal(r->memory_limit, 128 * 1024 * 1024);
	assert_int_equal(r->memory_request, 128 * 1024 * 1024);
	assert_int_equal(r->ephemeral_storage_limit, 1024LL * 1024 * 1024);
	assert_int_equal(r->ephemeral_storage_request, 1024LL * 1024 * 1024);
	pod_spec_free(pod);

	/* A request of its own stays; a request without a limit has no limit. */
	pod = parse_container("'resources': {'requests': {'cpu': 0.25, 'memory': '64Mi'}, "
			      "'limits': {'cpu': 2}}");
	r = &pod->containers[0].resources;
	assert_int_equal(r->cpu_request_milli, 250);
	assert_int_equal(r->cpu_limit_milli, 2000);
	assert_int_equal(r->memory_request, 64 * 1024 * 1024);
	assert_int_equal(r->memory_limit, -1);
	assert_int_equal(r->ephemeral_storage_request, -1);
	assert_int_equal(r->ephemeral_storage_limit, -1);
	pod_spec_free(pod);

	pod = parse_container("'resources': {'requests': {'cpu': '1.5', 'memory': '1G'}}");
	r = &pod->containers[0].resources;
	assert_int_equal(r->cpu_request_milli, 1500);
	assert_int_equal(r->memory_request, 1000000000);
	assert_int_equal(r->cpu_limit_milli, -1);
	pod_spec_free(pod);
}

static enum qos_class qos_of(const char *spec)
{
	char text[8192];
	snprintf(text, sizeof(text), "{'metadata': {'name': 'p'}, 'spec': {%s}}", spec);
	struct pod_spec *pod = parse_ok(text);
	enum qos_class qos = pod->qos;
	/* The parsed class is the computed one when the object has no status. */
	assert_int_equal(pod_qos_class(pod), qos);
	pod_spec_free(pod);
	return qos;
}

static void test_qos_classes(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		enum qos_class expected;
	} cases[] = {
	    {"'containers': [{'name': 'a', 'image': 'x:1'}]", QOS_BEST_EFFORT},
	    /* Zero amounts are no amounts; other resources do not count. */
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'requests': {'cpu': "
	     "'0', 'memory': '0'}, 'limits': {'ephemeral-storage': '1Gi'}}}]",
	     QOS_BEST_EFFORT},
	    /* Limits alone: the requests default to them. */
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'1', 'memory': '1Gi'}}}]",
	     QOS_GUARANTEED},
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'1', 'memory': '1Gi'}, 'requests': {'cpu': '1000m', 'memory': '1024Mi'}}}, "
	     "{'name': 'b', 'image': 'x:1', 'resources': {'limits': {'cpu': '100m', "
	     "'memory': '64Mi'}}}]",
	     QOS_GUARANTEED},
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'requests': {'cpu': "
	     "'100m'}}}]",
	     QOS_BURSTABLE},
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'1', 'memory': '1Gi'}, 'requests': {'cpu': '500m'}}}]",
	     QOS_BURSTABLE},
	    /* A cpu limit without a memory limit. */
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'1'}}}]",
	     QOS_BURSTABLE},
	    /* One container without limits makes a pod of limited ones Burstable. */
	    {"'containers': [{'name': 'a', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'1', 'memory': '1Gi'}}}, {'name': 'b', 'image': 'x:1'}]",
	     QOS_BURSTABLE},
	    /* Init containers count too. */
	    {"'initContainers': [{'name': 'i', 'image': 'x:1'}], 'containers': [{'name': 'a', "
	     "'image': 'x:1', 'resources': {'limits': {'cpu': '1', 'memory': '1Gi'}}}]",
	     QOS_BURSTABLE},
	    {"'initContainers': [{'name': 'i', 'image': 'x:1', 'resources': {'requests': "
	     "{'memory': '10Mi'}}}], 'containers': [{'name': 'a', 'image': 'x:1'}]",
	     QOS_BURSTABLE},
	    {"'initContainers': [{'name': 'i', 'image': 'x:1', 'resources': {'limits': {'cpu': "
	     "'2', 'memory': '2Gi'}}}], 'containers': [{'name': 'a', 'image': 'x:1', "
	     "'resources': {'limits': {'cpu': '1', 'memory': '1Gi'}}}]",
	     QOS_GUARANTEED},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		enum qos_class got = qos_of(cases[i].spec);
		if (got != cases[i].expected)
			fail_msg("case %zu: %s, want %s", i, qos_class_name(got),
				 qos_class_name(cases[i].expected));
	}
}

static void test_qos_from_status_and_names(void **state)
{
	(void)state;
	/* The API server's class is the one the pod keeps, even when its resources say
	 * otherwise (it was computed from them when the pod was created). */
	struct pod_spec *pod =
	    parse_ok("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x:1'}]}, 'status': {'qosClass': 'Burstable'}}");
	assert_int_equal(pod->qos, QOS_BURSTABLE);
	assert_int_equal(pod_qos_class(pod), QOS_BEST_EFFORT);
	pod_spec_free(pod);
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x:1'}]}, 'status': {'qosClass': 'Platinum'}}",
		     "status.qosClass: unsupported value \"Platinum\"");
	assert_string_equal(qos_class_name(QOS_GUARANTEED), "Guaranteed");
	assert_string_equal(qos_class_name(QOS_BURSTABLE), "Burstable");
	assert_string_equal(qos_class_name(QOS_BEST_EFFORT), "BestEffort");
}

/* --- security ----------------------------------------------------------------------------- */

static void test_security_effective(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_ok(
	    "{'metadata': {'name': 'p'}, 'spec': {'securityContext': {'runAsUser': 1000, "
	    "'runAsGroup': 2000, 'runAsNonRoot': true, 'seccompProfile': {'type': "
	    "'RuntimeDefault'}}, 'containers': ["
	    "{'name': 'inherits', 'image': 'x:1'}, "
	    "{'name': 'own', 'image': 'x:1', 'securityContext': {'runAsUser': 0, "
	    "'runAsNonRoot': false, 'privileged': true, 'readOnlyRootFilesystem': true, "
	    "'allowPrivilegeEscalation': false, 'procMount': 'Unmasked', "
	    "'capabilities': {'add': ['NET_ADMIN'], 'drop': ['ALL']}, "
	    "'seccompProfile': {'type': 'Localhost', 'localhostProfile': 'profiles/a.json'}}}]}}");
	assert_int_equal(pod->security.run_as_user, 1000);
	assert_string_equal(pod->security.seccomp, "RuntimeDefault");

	struct security_spec s;
	container_security_effective(pod, &pod->containers[0], &s);
	assert_int_equal(s.run_as_user, 1000);
	assert_int_equal(s.run_as_group, 2000);
	assert_int_equal(s.run_as_non_root, 1);
	assert_string_equal(s.seccomp, "RuntimeDefault");
	assert_null(s.seccomp_localhost);
	assert_false(s.privileged);
	assert_int_equal(s.allow_privilege_escalation, -1);

	container_security_effective(pod, &pod->containers[1], &s);
	/* The container's own settings win, root and an explicit false included. */
	assert_int_equal(s.run_as_user, 0);
	assert_int_equal(s.run_as_group, 2000);
	assert_int_equal(s.run_as_non_root, 0);
	assert_string_equal(s.seccomp, "Localhost");
	assert_string_equal(s.seccomp_localhost, "profiles/a.json");
	assert_true(s.privileged);
	assert_true(s.read_only_root);
	assert_int_equal(s.allow_privilege_escalation, 0);
	assert_true(s.proc_unmasked);
	assert_string_equal(s.cap_add[0], "NET_ADMIN");
	assert_null(s.cap_add[1]);
	assert_string_equal(s.cap_drop[0], "ALL");
	assert_null(s.cap_drop[1]);
	pod_spec_free(pod);

	/* Neither sets anything: everything stays unset. */
	pod = parse_container("");
	container_security_effective(pod, &pod->containers[0], &s);
	assert_int_equal(s.run_as_user, -1);
	assert_int_equal(s.run_as_group, -1);
	assert_int_equal(s.run_as_non_root, -1);
	assert_null(s.seccomp);
	assert_false(s.proc_unmasked);
	pod_spec_free(pod);
}

/* --- probes ------------------------------------------------------------------------------- */

static void test_probe_defaults(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_container("'livenessProbe': {'httpGet': {'port': 8080}}, "
			    "'readinessProbe': {'tcpSocket': {'port': 5432}, 'timeoutSeconds': 0, "
			    "'periodSeconds': 0, 'successThreshold': 0, 'failureThreshold': 0}");
	const struct probe_spec *p = &pod->containers[0].liveness;
	assert_int_equal(p->kind, PROBE_HTTP_GET);
	assert_int_equal(p->port, 8080);
	assert_null(p->port_name);
	assert_string_equal(p->http_path, "/");
	assert_string_equal(p->http_scheme, "HTTP");
	assert_null(p->http_host);
	assert_null(p->http_headers);
	assert_int_equal(p->initial_delay_seconds, 0);
	assert_int_equal(p->timeout_seconds, 1);
	assert_int_equal(p->period_seconds, 10);
	assert_int_equal(p->success_threshold, 1);
	assert_int_equal(p->failure_threshold, 3);
	assert_int_equal(p->termination_grace_seconds, -1);

	/* Zero is defaulted as a missing value is. */
	p = &pod->containers[0].readiness;
	assert_int_equal(p->kind, PROBE_TCP_SOCKET);
	assert_int_equal(p->port, 5432);
	assert_int_equal(p->timeout_seconds, 1);
	assert_int_equal(p->period_seconds, 10);
	assert_int_equal(p->success_threshold, 1);
	assert_int_equal(p->failure_threshold, 3);
	assert_int_equal(pod->containers[0].startup.kind, PROBE_NONE);
	pod_spec_free(pod);
}

static void test_probe_explicit_values(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_container(
	    "'livenessProbe': {'exec': {'command': ['cat', '/tmp/healthy']}, "
	    "'initialDelaySeconds': 5, 'timeoutSeconds': 2, 'periodSeconds': 3, "
	    "'successThreshold': 1, 'failureThreshold': 7, 'terminationGracePeriodSeconds': 9}, "
	    "'readinessProbe': {'httpGet': {'path': '/ready', 'scheme': 'HTTPS', 'host': "
	    "'10.1.1.1', 'port': 443, 'httpHeaders': [{'name': 'X', 'value': 'y'}]}}, "
	    "'startupProbe': {'grpc': {'port': 50051, 'service': 'health'}}");
	const struct probe_spec *p = &pod->containers[0].liveness;
	assert_int_equal(p->kind, PROBE_EXEC);
	assert_string_equal(p->command[0], "cat");
	assert_string_equal(p->command[1], "/tmp/healthy");
	assert_null(p->command[2]);
	assert_int_equal(p->initial_delay_seconds, 5);
	assert_int_equal(p->timeout_seconds, 2);
	assert_int_equal(p->period_seconds, 3);
	assert_int_equal(p->success_threshold, 1);
	assert_int_equal(p->failure_threshold, 7);
	assert_int_equal(p->termination_grace_seconds, 9);

	p = &pod->containers[0].readiness;
	assert_string_equal(p->http_path, "/ready");
	assert_string_equal(p->http_scheme, "HTTPS");
	assert_string_equal(p->http_host, "10.1.1.1");
	assert_int_equal(p->port, 443);
	assert_int_equal(json_array_size(p->http_headers), 1);

	p = &pod->containers[0].startup;
	assert_int_equal(p->kind, PROBE_GRPC);
	assert_int_equal(p->port, 50051);
	assert_string_equal(p->grpc_service, "health");
	pod_spec_free(pod);
}

static void test_probe_named_ports(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_container("'ports': [{'name': 'metrics', 'containerPort': 9090}, "
			    "{'name': 'http', 'containerPort': 8080}], "
			    "'livenessProbe': {'httpGet': {'port': 'http'}}, "
			    "'readinessProbe': {'tcpSocket': {'port': 'admin'}}, "
			    "'startupProbe': {'httpGet': {'port': '9100'}}");
	const struct container_spec *c = &pod->containers[0];
	assert_int_equal(c->liveness.port, 8080);
	assert_string_equal(c->liveness.port_name, "http");
	/* No port has that name: the probe fails when run, the pod still parses. */
	assert_int_equal(c->readiness.kind, PROBE_TCP_SOCKET);
	assert_int_equal(c->readiness.port, 0);
	assert_string_equal(c->readiness.port_name, "admin");
	/* A number written as a string. */
	assert_int_equal(c->startup.port, 9100);
	assert_null(c->startup.port_name);
	pod_spec_free(pod);

	/* The ports are known whatever the order of the fields in the object. */
	pod = parse_ok("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'c', "
		       "'image': 'x:1', 'readinessProbe': {'httpGet': {'port': 'web'}}, "
		       "'ports': [{'name': 'web', 'containerPort': 3000}]}]}}");
	assert_int_equal(pod->containers[0].readiness.port, 3000);
	pod_spec_free(pod);
}

static void test_probe_errors(void **state)
{
	(void)state;
	expect_container_error("'livenessProbe': {'periodSeconds': 5}",
			       "spec.containers[0].livenessProbe: must specify a handler type");
	expect_container_error("'readinessProbe': {'httpGet': {'path': '/'}}",
			       "spec.containers[0].readinessProbe.httpGet.port: required");
	expect_container_error("'startupProbe': {'tcpSocket': {'port': true}}",
			       "spec.containers[0].startupProbe.tcpSocket.port: not a number or a "
			       "port name");
	expect_container_error("'livenessProbe': {'exec': {'command': ['ok']}, "
			       "'timeoutSeconds': '5'}",
			       "spec.containers[0].livenessProbe.timeoutSeconds: not a number");
	expect_container_error("'livenessProbe': {'exec': {'command': ['ok', 1]}}",
			       "spec.containers[0].livenessProbe.exec.command[1]: not a string");
}

/* --- env and envFrom ---------------------------------------------------------------------- */

static void test_env_entries(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_container(
	    "'env': ["
	    "{'name': 'PLAIN', 'value': 'v $(X)'}, "
	    "{'name': 'EMPTY'}, "
	    "{'name': 'BOTH', 'value': 'wins', 'valueFrom': {'fieldRef': {'fieldPath': "
	    "'metadata.name'}}}, "
	    "{'name': 'POD', 'value': '', 'valueFrom': {'fieldRef': {'fieldPath': "
	    "'metadata.name'}}}, "
	    "{'name': 'MEM', 'valueFrom': {'resourceFieldRef': {'containerName': 'side', "
	    "'resource': 'limits.memory', 'divisor': '1Mi'}}}, "
	    "{'name': 'CPU', 'valueFrom': {'resourceFieldRef': {'resource': 'requests.cpu'}}}, "
	    "{'name': 'CM', 'valueFrom': {'configMapKeyRef': {'name': 'cfg', 'key': 'k', "
	    "'optional': true}}}, "
	    "{'name': 'SEC', 'valueFrom': {'secretKeyRef': {'name': 's', 'key': 'pw'}}}]");
	const struct container_spec *c = &pod->containers[0];
	assert_int_equal(c->env_count, 8);
	const struct env_spec *e = c->env;
	assert_string_equal(e[0].name, "PLAIN");
	assert_int_equal(e[0].source, ENV_VALUE);
	/* Kept as written: expansion is the environment's business. */
	assert_string_equal(e[0].value, "v $(X)");
	assert_int_equal(e[1].source, ENV_VALUE);
	assert_string_equal(e[1].value, "");
	/* A value that is not empty wins over valueFrom; an empty one does not. */
	assert_int_equal(e[2].source, ENV_VALUE);
	assert_string_equal(e[2].value, "wins");
	assert_int_equal(e[3].source, ENV_FIELD_REF);
	assert_string_equal(e[3].field, "metadata.name");
	assert_int_equal(e[4].source, ENV_RESOURCE_FIELD_REF);
	assert_string_equal(e[4].field, "limits.memory");
	assert_string_equal(e[4].container, "side");
	assert_int_equal(e[4].divisor.value, 1024 * 1024);
	assert_int_equal(e[5].source, ENV_RESOURCE_FIELD_REF);
	assert_null(e[5].container);
	assert_int_equal(e[5].divisor.milli, 0);
	assert_int_equal(e[5].divisor.value, 0);
	assert_int_equal(e[6].source, ENV_CONFIG_MAP_KEY);
	assert_string_equal(e[6].object, "cfg");
	assert_string_equal(e[6].key, "k");
	assert_true(e[6].optional);
	assert_int_equal(e[7].source, ENV_SECRET_KEY);
	assert_string_equal(e[7].object, "s");
	assert_string_equal(e[7].key, "pw");
	assert_false(e[7].optional);
	pod_spec_free(pod);
}

static void test_env_from_entries(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_container(
	    "'envFrom': [{'configMapRef': {'name': 'cfg'}}, {'prefix': 'DB_', 'secretRef': "
	    "{'name': 'db', 'optional': true}}, {'prefix': '', 'configMapRef': {'name': 'x', "
	    "'optional': false}}]");
	const struct container_spec *c = &pod->containers[0];
	assert_int_equal(c->env_from_count, 3);
	assert_null(c->env_from[0].prefix);
	assert_false(c->env_from[0].secret);
	assert_string_equal(c->env_from[0].name, "cfg");
	assert_false(c->env_from[0].optional);
	assert_string_equal(c->env_from[1].prefix, "DB_");
	assert_true(c->env_from[1].secret);
	assert_string_equal(c->env_from[1].name, "db");
	assert_true(c->env_from[1].optional);
	assert_null(c->env_from[2].prefix);
	assert_false(c->env_from[2].optional);
	pod_spec_free(pod);
}

static void test_env_errors(void **state)
{
	(void)state;
	expect_container_error("'env': [{'value': 'x'}]",
			       "spec.containers[0].env[0].name: required");
	expect_container_error("'env': [{'name': 'A', 'value': 'a'}, {'name': 'B', 'valueFrom': "
			       "{}}]",
			       "spec.containers[0].env[1].valueFrom: must specify one of: "
			       "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
			       "`secretKeyRef`");
	expect_container_error("'env': [{'name': 'A', 'valueFrom': {'configMapKeyRef': {'name': "
			       "'cfg'}}}]",
			       "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: required");
	expect_container_error("'env': [{'name': 'A', 'valueFrom': {'secretKeyRef': {'key': "
			       "'k'}}}]",
			       "spec.containers[0].env[0].valueFrom.secretKeyRef.name: required");
	expect_container_error("'env': [{'name': 'A', 'valueFrom': {'fieldRef': {}}}]",
			       "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: required");
	expect_container_error("'env': [{'name': 'A', 'valueFrom': {'resourceFieldRef': "
			       "{'resource': 'limits.cpu', 'divisor': 'lots'}}}]",
			       "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: "
			       "quantities must match the regular expression "
			       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
	expect_container_error("'env': [{'name': 'A', 'value': 7}]",
			       "spec.containers[0].env[0].value: not a string");
	expect_container_error("'env': ['A=1']", "spec.containers[0].env[0]: not an object");
	expect_container_error("'env': {'A': '1'}", "spec.containers[0].env: not an array");
	expect_container_error("'envFrom': [{'prefix': 'P_'}]",
			       "spec.containers[0].envFrom[0]: must specify one of: "
			       "`configMapRef` or `secretRef`");
	expect_container_error("'envFrom': [{'secretRef': {'optional': true}}]",
			       "spec.containers[0].envFrom[0].secretRef.name: required");
}

/* --- errors ------------------------------------------------------------------------------- */

static void test_errors_name_the_field(void **state)
{
	(void)state;
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x:1'}, {'name': 'b', 'image': 'x:1', 'ports': "
		     "[{'containerPort': '80'}]}]}}",
		     "spec.containers[1].ports[0].containerPort: not a number");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x:1', 'ports': [{'name': 'http'}]}]}}",
		     "spec.containers[0].ports[0].containerPort: required");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x:1', 'ports': [{'containerPort': 4294967376}]}]}}",
		     "spec.containers[0].ports[0].containerPort: out of range");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {}}", "spec.containers: required");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': []}}",
		     "spec.containers: required");
	expect_error("{'metadata': {'name': 'p'}}", "spec.containers: required");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': {}}}",
		     "spec.containers: not an array");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': ['nginx']}}",
		     "spec.containers[0]: not an object");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a'}]}}",
		     "spec.containers[0].image: required");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'image': 'x:1'}]}}",
		     "spec.containers[0].name: required");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'initContainers': [{'name': 'i', "
		     "'image': ''}], 'containers': [{'name': 'a', 'image': 'x:1'}]}}",
		     "spec.initContainers[0].image: required");
	expect_error("{'metadata': {}, 'spec': {'containers': [{'name': 'a', 'image': 'x'}]}}",
		     "metadata.name: required");
	expect_error("{'metadata': [], 'spec': {'containers': [{'name': 'a', 'image': 'x'}]}}",
		     "metadata: not an object");
	expect_error("{'metadata': {'name': 'p', 'labels': []}, 'spec': {'containers': "
		     "[{'name': 'a', 'image': 'x'}]}}",
		     "metadata.labels: not an object");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'hostNetwork': 'yes', 'containers': "
		     "[{'name': 'a', 'image': 'x'}]}}",
		     "spec.hostNetwork: not a boolean");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'restartPolicy': 'Sometimes', "
		     "'containers': [{'name': 'a', 'image': 'x'}]}}",
		     "spec.restartPolicy: unsupported value \"Sometimes\"");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'securityContext': "
		     "{'supplementalGroups': [1, 'two']}, 'containers': [{'name': 'a', 'image': "
		     "'x'}]}}",
		     "spec.securityContext.supplementalGroups[1]: not a number");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'securityContext': {'runAsUser': 'root'}}]}}",
		     "spec.containers[0].securityContext.runAsUser: not a number");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'securityContext': {'capabilities': {'add': [1]}}}]}}",
		     "spec.containers[0].securityContext.capabilities.add[0]: not a string");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'command': ['sh', 2]}]}}",
		     "spec.containers[0].command[1]: not a string");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'resources': {'limits': {'cpu': 'two'}}}]}}",
		     "spec.containers[0].resources.limits.cpu: quantities must match the regular "
		     "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'volumeMounts': [{'name': 'd'}]}]}}",
		     "spec.containers[0].volumeMounts[0].mountPath: required");
	/* The first failure is the one reported. */
	expect_error("{'metadata': {'name': 'p'}, 'spec': {'containers': [{'name': 'a', "
		     "'image': 'x', 'stdin': 1, 'tty': 2}]}}",
		     "spec.containers[0].stdin: not a boolean");

	struct pod_spec *pod = (struct pod_spec *)1;
	struct ck_error err = {0};
	json_t *array = json_array();
	assert_int_equal(pod_spec_parse(array, &pod, &err), -EINVAL);
	assert_null(pod);
	assert_string_equal(err.message, "pod: not an object");
	json_decref(array);
}

/* Nulls read as missing fields, as Kubernetes decodes them. */
static void test_nulls_are_unset(void **state)
{
	(void)state;
	struct pod_spec *pod =
	    parse_ok("{'metadata': {'name': 'p', 'namespace': null, 'labels': null}, "
		     "'spec': {'nodeName': null, 'hostname': null, 'securityContext': null, "
		     "'initContainers': null, 'containers': [{'name': 'a', 'image': 'x:1', "
		     "'env': null, 'ports': null, 'livenessProbe': null}]}, 'status': null}");
	assert_string_equal(pod->namespace, "default");
	assert_true(json_is_object(pod->labels));
	assert_null(pod->node_name);
	assert_string_equal(pod->hostname, "p");
	assert_int_equal(pod->init_container_count, 0);
	assert_int_equal(pod->containers[0].env_count, 0);
	assert_int_equal(pod->containers[0].liveness.kind, PROBE_NONE);
	pod_spec_free(pod);
}

/* Lifecycle hooks read like probe handlers, plus sleep, which probes cannot have. */
static void test_lifecycle_hooks(void **state)
{
	(void)state;
	struct pod_spec *pod = parse_container(
	    "'ports': [{'name': 'web', 'containerPort': 8080}], 'lifecycle': {'preStop': "
	    "{'sleep': {'seconds': 5}}, 'postStart': {'httpGet': {'path': '/up', 'port': 'web'}}}");
	const struct container_spec *c = &pod->containers[0];
	assert_int_equal(c->pre_stop.kind, PROBE_SLEEP);
	assert_int_equal(c->pre_stop.sleep_seconds, 5);
	assert_int_equal(c->post_start.kind, PROBE_HTTP_GET);
	assert_string_equal(c->post_start.http_path, "/up");
	assert_int_equal(c->post_start.port, 8080);
	pod_spec_free(pod);
	expect_container_error("'lifecycle': {'preStop': {'sleep': {}}}",
			       "spec.containers[0].lifecycle.preStop.sleep.seconds: required");
	expect_container_error("'livenessProbe': {'sleep': {'seconds': 1}}",
			       "spec.containers[0].livenessProbe: must specify a handler type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_pod_defaults),
	    cmocka_unit_test(test_lifecycle_hooks),
	    cmocka_unit_test(test_metadata_and_spec_fields),
	    cmocka_unit_test(test_containers_and_init_containers),
	    cmocka_unit_test(test_pull_policy_defaults),
	    cmocka_unit_test(test_pull_policy_explicit),
	    cmocka_unit_test(test_hostname),
	    cmocka_unit_test(test_resources_limits_default_requests),
	    cmocka_unit_test(test_qos_classes),
	    cmocka_unit_test(test_qos_from_status_and_names),
	    cmocka_unit_test(test_security_effective),
	    cmocka_unit_test(test_probe_defaults),
	    cmocka_unit_test(test_probe_explicit_values),
	    cmocka_unit_test(test_probe_named_ports),
	    cmocka_unit_test(test_probe_errors),
	    cmocka_unit_test(test_env_entries),
	    cmocka_unit_test(test_env_from_entries),
	    cmocka_unit_test(test_env_errors),
	    cmocka_unit_test(test_errors_name_the_field),
	    cmocka_unit_test(test_nulls_are_unset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
