/* Static pods read from a manifest directory: the kubelet's names, uids and annotations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelet/static_pods.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"

static char dir[] = "/tmp/ckube-static-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fs_write_file(path, text, strlen(text), 0644, NULL), 0);
}

static void remove_file(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static const char *meta(const json_t *pod, const char *path)
{
	return json_path_string(pod, path);
}

static void names_namespace_node_and_annotations(void **state)
{
	(void)state;
	write_file("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
			       "spec:\n  containers:\n  - name: c\n    image: busybox\n");
	json_t *pods = static_pods_read(dir, "n1");
	assert_int_equal(json_array_size(pods), 1);
	const json_t *pod = json_array_get(pods, 0);
	assert_string_equal(meta(pod, "metadata.name"), "web-n1");
	assert_string_equal(meta(pod, "metadata.namespace"), "default");
	assert_string_equal(meta(pod, "spec.nodeName"), "n1");
	const char *uid = meta(pod, "metadata.uid");
	assert_int_equal(strlen(uid), 32);
	const json_t *annotations = json_path(pod, "metadata.annotations");
	assert_string_equal(
	    json_string_value(json_object_get(annotations, STATIC_POD_HASH_ANNOTATION)), uid);
	assert_string_equal(
	    json_string_value(json_object_get(annotations, "kubernetes.io/config.source")), "file");
	assert_false(static_pod_is_mirror(pod));
	json_decref(pods);
	remove_file("web.yaml");
}

/* The same file keeps its uid (an agent restart finds its pod again); another node or a
 * changed file gets another one. */
static void uid_follows_content_and_node(void **state)
{
	(void)state;
	const char *text = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},"
			   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}";
	write_file("a.json", text);
	json_t *first = static_pods_read(dir, "n1");
	json_t *again = static_pods_read(dir, "n1");
	json_t *other_node = static_pods_read(dir, "n2");
	const char *uid = meta(json_array_get(first, 0), "metadata.uid");
	assert_string_equal(meta(json_array_get(again, 0), "metadata.uid"), uid);
	assert_string_not_equal(meta(json_array_get(other_node, 0), "metadata.uid"), uid);
	write_file("a.json",
		   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},"
		   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"y\"}]}}");
	json_t *changed = static_pods_read(dir, "n1");
	assert_string_not_equal(meta(json_array_get(changed, 0), "metadata.uid"), uid);
	json_decref(first);
	json_decref(again);
	json_decref(other_node);
	json_decref(changed);
	remove_file("a.json");
}

/* Bad files and other kinds are left out; the rest still run. Hidden and other files are
 * not manifests. */
static void bad_input_spares_the_rest(void **state)
{
	(void)state;
	write_file("bad.yaml", "kind: Pod\nmetadata: [unclosed\n");
	write_file("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n");
	write_file("noname.yml", "apiVersion: v1\nkind: Pod\nmetadata: {}\n");
	write_file(".hidden.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: h\n");
	write_file("notes.txt", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n");
	write_file("two.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: one\n"
			       "  namespace: kube-system\n---\n"
			       "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\n");
	json_t *pods = static_pods_read(dir, "n1");
	assert_int_equal(json_array_size(pods), 2);
	assert_string_equal(meta(json_array_get(pods, 0), "metadata.name"), "one-n1");
	assert_string_equal(meta(json_array_get(pods, 0), "metadata.namespace"), "kube-system");
	assert_string_equal(meta(json_array_get(pods, 1), "metadata.name"), "two-n1");
	json_decref(pods);
	const char *files[] = {"bad.yaml",     "svc.yaml",  "noname.yml",
			       ".hidden.yaml", "notes.txt", "two.yaml"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		remove_file(files[i]);
}

static void missing_directory_is_no_pods(void **state)
{
	(void)state;
	json_t *pods = static_pods_read("/nonexistent/ckube/manifests", "n1");
	assert_int_equal(json_array_size(pods), 0);
	json_decref(pods);
}

static void mirror_is_told_apart(void **state)
{
	(void)state;
	json_t *mirror = json_pack("{s:{s:{s:s}}}", "metadata", "annotations",
				   STATIC_POD_MIRROR_ANNOTATION, "abc");
	json_t *plain = json_pack("{s:{s:s}}", "metadata", "name", "p");
	assert_true(static_pod_is_mirror(mirror));
	assert_false(static_pod_is_mirror(plain));
	json_decref(mirror);
	json_decref(plain);
}

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names_namespace_node_and_annotations),
	    cmocka_unit_test(uid_follows_content_and_node),
	    cmocka_unit_test(bad_input_spares_the_rest),
	    cmocka_unit_test(missing_directory_is_no_pods),
	    cmocka_unit_test(mirror_is_told_apart),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
