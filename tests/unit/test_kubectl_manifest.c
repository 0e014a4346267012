/* Reading and checking -f manifests, and the discovery they are checked against (preloaded
 * here with the server's documents, so no server is needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubectl/discovery.h"
#include "kubectl/manifest.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static const char core_v1[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
    "{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\","
    "\"shortNames\":[\"po\"]},"
    "{\"name\":\"pods/log\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\"},"
    "{\"name\":\"services\",\"singularName\":\"service\",\"namespaced\":true,\"kind\":"
    "\"Service\",\"shortNames\":[\"svc\"]},"
    "{\"name\":\"nodes\",\"singularName\":\"node\",\"namespaced\":false,\"kind\":\"Node\","
    "\"shortNames\":[\"no\"]},"
    "{\"name\":\"configmaps\",\"singularName\":\"configmap\",\"namespaced\":true,\"kind\":"
    "\"ConfigMap\",\"shortNames\":[\"cm\"]}]}";

static const char apps_v1[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
    "{\"name\":\"deployments\",\"singularName\":\"deployment\",\"namespaced\":true,\"kind\":"
    "\"Deployment\",\"shortNames\":[\"deploy\"]}]}";

static const char groups[] =
    "{\"kind\":\"APIGroupList\",\"groups\":[{\"name\":\"apps\",\"versions\":[{\"groupVersion\":"
    "\"apps/v1\",\"version\":\"v1\"}],\"preferredVersion\":{\"groupVersion\":\"apps/v1\","
    "\"version\":\"v1\"}}]}";

struct fixture {
	struct kubectl k;
	char dir[64];
};

static void remember(struct kubectl *k, const char *text)
{
	json_error_t error;
	_cleanup_json_ json_t *doc = json_loads(text, 0, &error);
	assert_non_null(doc);
	discovery_remember(k, doc);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->k = (struct kubectl){.namespace = "default", .out = stdout, .err = stderr};
	remember(&f->k, core_v1);
	remember(&f->k, apps_v1);
	remember(&f->k, groups);
	strcpy(f->dir, "/tmp/test_kubectl_manifest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	json_decref(f->k.discovery);
	_cleanup_free_ char *command = NULL;
	assert_true(asprintf(&command, "rm -rf '%s'", f->dir) > 0);
	assert_int_equal(system(command), 0);
	free(f);
	return 0;
}

static char *write_file(struct fixture *f, const char *name, const char *text)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
	return path;
}

static void read_one(struct fixture *f, const char *text, struct manifest *m)
{
	_cleanup_free_ char *path = write_file(f, "m.yaml", text);
	const char *sources[] = {path};
	struct ck_error err = {0};
	assert_int_equal(manifest_read(sources, 1, stdin, m, &err), 0);
}

/* The problems found in `text`, one per line (without kubectl's "error: "). */
static char *problems_of(struct fixture *f, const char *text)
{
	struct manifest m;
	read_one(f, text, &m);
	struct buf problems = {0};
	struct ck_error err = {0};
	assert_true(manifest_check(&f->k, &m, false, &problems, &err) >= 0);
	manifest_free(&m);
	return buf_steal(&problems);
}

static void documents_lists_and_stdin_are_read_in_order(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *path =
	    write_file(f, "pods.yaml",
		       "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n"
		       "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, "
		       "metadata: {name: b}}\n"
		       "- {apiVersion: v1, kind: Service, metadata: {name: c}}\n");
	static char stdin_text[] =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
	    "\"n1\"}}";
	FILE *in = fmemopen(stdin_text, strlen(stdin_text), "r");
	const char *sources[] = {path, "-"};
	struct manifest m;
	struct ck_error err = {0};
	assert_int_equal(manifest_read(sources, 2, in, &m, &err), 0);
	fclose(in);
	assert_int_equal(m.count, 4);
	assert_string_equal(m.objects[0].source, path);
	assert_int_equal(m.objects[0].document, 1);
	assert_int_equal(m.objects[1].document, 2);
	assert_int_equal(m.objects[2].document, 2);
	assert_string_equal(json_path_string(m.objects[2].object, "metadata.name"), "c");
	assert_string_equal(m.objects[3].source, "STDIN");

	_cleanup_buf_ struct buf problems = {0};
	assert_int_equal(manifest_check(&f->k, &m, false, &problems, &err), 0);
	assert_null(problems.data);
	assert_string_equal(m.objects[0].resource.plural, "pods");
	assert_string_equal(m.objects[0].namespace, "default");
	assert_string_equal(json_path_string(m.objects[0].object, "metadata.namespace"), "default");
	assert_string_equal(m.objects[2].resource.kind, "Service");
	assert_null(m.objects[3].namespace);
	assert_false(m.objects[3].resource.namespaced);
	manifest_free(&m);
}

static void directories_give_their_manifest_files_in_name_order(void **state)
{
	struct fixture *f = *state;
	free(write_file(f, "b.yml", "{apiVersion: v1, kind: Pod, metadata: {name: second}}"));
	free(write_file(f, "a.json",
			"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
			"\"first\"}}"));
	free(write_file(f, "notes.txt", "not a manifest"));
	const char *sources[] = {f->dir};
	struct manifest m;
	struct ck_error err = {0};
	assert_int_equal(manifest_read(sources, 1, stdin, &m, &err), 0);
	assert_int_equal(m.count, 2);
	assert_string_equal(json_path_string(m.objects[0].object, "metadata.name"), "first");
	assert_string_equal(json_path_string(m.objects[1].object, "metadata.name"), "second");
	manifest_free(&m);
}

static void unreadable_sources_and_bad_yaml_name_the_file(void **state)
{
	struct fixture *f = *state;
	struct manifest m;
	struct ck_error err = {0};
	const char *missing[] = {"/nonexistent/pod.yaml"};
	assert_int_equal(manifest_read(missing, 1, stdin, &m, &err), -ENOENT);
	assert_string_equal(err.message, "the path \"/nonexistent/pod.yaml\" does not exist");

	_cleanup_free_ char *path = write_file(
	    f, "bad.yaml", "apiVersion: v1\nkind: Pod\n---\nmetadata:\n  name: x\n y: z\n");
	const char *sources[] = {path};
	assert_int_equal(manifest_read(sources, 1, stdin, &m, &err), -EINVAL);
	char expected[512];
	snprintf(expected, sizeof(expected),
		 "error parsing \"%s\": document 2, line 6: did not find expected key", path);
	assert_string_equal(err.message, expected);
	assert_int_equal(m.count, 0);
}

static void each_problem_names_file_document_and_field(void **state)
{
	struct fixture *f = *state;
	char expected[1024];
	_cleanup_free_ char *path = NULL;
	assert_true(asprintf(&path, "%s/m.yaml", f->dir) > 0);

	_cleanup_free_ char *missing = problems_of(f, "kind: Pod\nmetadata: {name: a}\n");
	snprintf(expected, sizeof(expected),
		 "error validating \"%s\": document 1: apiVersion not set\n", path);
	assert_string_equal(missing, expected);

	_cleanup_free_ char *types = problems_of(
	    f, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: 1\nkind: [Pod]\n"
	       "metadata: {name: 7}\n");
	snprintf(expected, sizeof(expected),
		 "error validating \"%s\": document 2: apiVersion must be a string\n"
		 "error validating \"%s\": document 2: kind must be a string\n"
		 "error validating \"%s\": document 2: metadata.name must be a string\n",
		 path, path, path);
	assert_string_equal(types, expected);

	_cleanup_free_ char *no_name = problems_of(f, "apiVersion: v1\nkind: Pod\n");
	snprintf(expected, sizeof(expected),
		 "error validating \"%s\": document 1: metadata.name not set\n", path);
	assert_string_equal(no_name, expected);

	_cleanup_free_ char *not_map = problems_of(f, "- a\n- b\n");
	snprintf(expected, sizeof(expected),
		 "error validating \"%s\": document 1: expected a map\n", path);
	assert_string_equal(not_map, expected);

	_cleanup_free_ char *unknown =
	    problems_of(f, "apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n");
	snprintf(expected, sizeof(expected),
		 "resource mapping not found for name: \"x\" namespace: \"\" from \"%s\": no "
		 "matches for kind \"Foo\" in version \"v1\"\n",
		 path);
	assert_string_equal(unknown, expected);
}

static void namespace_flag_must_agree_with_the_object(void **state)
{
	struct fixture *f = *state;
	f->k.namespace = "prod";
	f->k.namespace_from_flag = true;
	_cleanup_free_ char *conflict =
	    problems_of(f, "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: dev}\n");
	assert_string_equal(conflict, "the namespace from the provided object \"dev\" does not "
				      "match the namespace \"prod\". You must pass "
				      "'--namespace=dev' to perform this operation.\n");

	struct manifest m;
	read_one(f, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n", &m);
	_cleanup_buf_ struct buf problems = {0};
	struct ck_error err = {0};
	assert_int_equal(manifest_check(&f->k, &m, false, &problems, &err), 0);
	assert_string_equal(m.objects[0].namespace, "prod");
	assert_string_equal(m.objects[0].resource.group, "apps");
	manifest_free(&m);
}

static void generate_name_is_enough_for_create(void **state)
{
	struct fixture *f = *state;
	struct manifest m;
	read_one(f, "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\n", &m);
	_cleanup_buf_ struct buf problems = {0};
	struct ck_error err = {0};
	assert_int_equal(manifest_check(&f->k, &m, true, &problems, &err), 0);
	assert_null(m.objects[0].name);
	manifest_free(&m);
}

static void unknown_group_versions_need_the_server(void **state)
{
	struct fixture *f = *state;
	struct manifest m;
	read_one(f, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n", &m);
	_cleanup_buf_ struct buf problems = {0};
	struct ck_error err = {0};
	assert_int_equal(manifest_check(&f->k, &m, false, &problems, &err), -KUBECTL_UNREACHABLE);
	manifest_free(&m);

	/* an apiVersion no API could have never reaches a request */
	read_one(f, "apiVersion: ../../x\nkind: Job\nmetadata: {name: j}\n", &m);
	assert_int_equal(manifest_check(&f->k, &m, false, &problems, &err), 1);
	manifest_free(&m);
}

static void names_resolve_like_kubectl(void **state)
{
	struct fixture *f = *state;
	static const char *const pods[] = {"pods", "pod", "po", "Pod", "PODS"};
	struct resource r;
	struct ck_error err = {0};
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		assert_int_equal(discovery_by_name(&f->k, pods[i], &r, &err), 0);
		assert_string_equal(r.plural, "pods");
	}
	assert_int_equal(discovery_by_name(&f->k, "deploy", &r, &err), 0);
	assert_string_equal(r.group, "apps");
	assert_int_equal(discovery_by_name(&f->k, "deployments.apps", &r, &err), 0);
	assert_string_equal(r.kind, "Deployment");
	assert_int_equal(discovery_by_name(&f->k, "log", &r, &err), -ENOENT);
	assert_int_equal(discovery_by_name(&f->k, "pods.apps", &r, &err), -ENOENT);
	assert_string_equal(err.message, "the server doesn't have a resource type \"pods.apps\"");

	_cleanup_buf_ struct buf path = {0}, type = {0};
	resource_path(&r, "a b", "web/1", &path);
	assert_string_equal(path.data, "/apis/apps/v1/namespaces/a%20b/deployments/web%2F1");
	resource_type_name(&r, &type);
	assert_string_equal(type.data, "deployment.apps");

	assert_int_equal(discovery_by_name(&f->k, "no", &r, &err), 0);
	buf_reset(&path);
	resource_path(&r, "default", "node-1", &path);
	assert_string_equal(path.data, "/api/v1/nodes/node-1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(documents_lists_and_stdin_are_read_in_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(directories_give_their_manifest_files_in_name_order,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(unreadable_sources_and_bad_yaml_name_the_file, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(each_problem_names_file_document_and_field, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(namespace_flag_must_agree_with_the_object, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(generate_name_is_enough_for_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_group_versions_need_the_server, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(names_resolve_like_kubectl, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
