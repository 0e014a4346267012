/* Client-side apply: the last-applied annotation and the three-way merge patch, on the objects
 * of the recorded kubectl 1.32 apply transcripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "kubectl/merge_patch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static json_t *load(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, 0, &error);
	if (!value)
		fail_msg("bad JSON in test: %s at %d", error.text, error.position);
	return value;
}

static void assert_json(const json_t *actual, const char *expected_text)
{
	_cleanup_json_ json_t *expected = load(expected_text);
	if (!json_equal(actual, expected)) {
		_cleanup_free_ char *text = json_dump_compact(actual);
		fail_msg("got %s\nwant %s", text, expected_text);
	}
}

/* The manifest of v132_apply_new, as the user wrote it (namespace filled in by kubectl). */
static const char applied_manifest[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"nginx\",\"namespace\":"
    "\"default\",\"labels\":{\"app\":\"nginx\",\"tier\":\"web\"}},\"spec\":{\"containers\":[{"
    "\"name\":\"nginx\",\"image\":\"nginx:1.26\",\"ports\":[{\"containerPort\":80}]}]}}";

#define LIVE_SPEC                                                                             \
	"\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{" \
	"\"containerPort\":80,\"protocol\":\"TCP\"}],\"imagePullPolicy\":\"IfNotPresent\","   \
	"\"resources\":{}}],\"restartPolicy\":\"Always\",\"nodeName\":\"node-1\"},"           \
	"\"status\":{\"phase\":\"Running\"}"

static void annotation_holds_the_applied_object_like_kubectl_writes_it(void **state)
{
	(void)state;
	_cleanup_json_ json_t *manifest = load(applied_manifest);
	_cleanup_json_ json_t *applied = last_applied_object(manifest);
	const char *annotation = json_string_value(
	    json_object_get(json_path(applied, "metadata.annotations"), LAST_APPLIED_ANNOTATION));
	/* byte for byte what kubectl 1.32 stored for this manifest */
	assert_string_equal(
	    annotation,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{},\"labels\":{"
	    "\"app\":\"nginx\",\"tier\":\"web\"},\"name\":\"nginx\",\"namespace\":\"default\"},"
	    "\"spec\":{\"containers\":[{\"image\":\"nginx:1.26\",\"name\":\"nginx\",\"ports\":[{"
	    "\"containerPort\":80}]}]}}\n");
	/* the manifest itself is left alone */
	assert_null(json_path(manifest, "metadata.annotations"));
}

static void user_annotations_stay_and_a_stale_copy_is_replaced(void **state)
{
	(void)state;
	_cleanup_json_ json_t *manifest =
	    load("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"annotations\":{\"team\":"
		 "\"a\",\"" LAST_APPLIED_ANNOTATION "\":\"old\"}}}");
	_cleanup_json_ json_t *applied = last_applied_object(manifest);
	const json_t *annotations = json_path(applied, "metadata.annotations");
	assert_string_equal(json_string_value(json_object_get(annotations, "team")), "a");
	assert_string_equal(
	    json_string_value(json_object_get(annotations, LAST_APPLIED_ANNOTATION)),
	    "{\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"team\":\"a\"},\"name\":\"c\"}"
	    "}"
	    "\n");
}

/* v132_apply_new: the pod was made by `create`, so there is no annotation yet. */
static void first_apply_over_a_created_object(void **state)
{
	(void)state;
	_cleanup_json_ json_t *manifest = load(applied_manifest);
	_cleanup_json_ json_t *applied = last_applied_object(manifest);
	_cleanup_json_ json_t *live = load("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
					   "\"name\":\"nginx\",\"namespace\":\"default\",\"uid\":"
					   "\"u1\",\"labels\":{\"app\":\"nginx\"}}," LIVE_SPEC "}");
	bool had_annotation = true;
	_cleanup_json_ json_t *patch = last_applied_patch(applied, live, &had_annotation);
	assert_false(had_annotation);
	const char *annotation = json_string_value(
	    json_object_get(json_path(applied, "metadata.annotations"), LAST_APPLIED_ANNOTATION));
	_cleanup_json_ json_t *want = json_pack(
	    "{s:{s:{s:s}, s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:i}]}]}}", "metadata", "annotations",
	    LAST_APPLIED_ANNOTATION, annotation, "labels", "tier", "web", "spec", "containers",
	    "image", "nginx:1.26", "name", "nginx", "ports", "containerPort", 80);
	assert_true(json_equal(patch, want));
}

/* v132_apply_unchanged: applying the same manifest again sends nothing, although the server
 * added defaults inside the container list. */
static void same_manifest_again_needs_no_patch(void **state)
{
	(void)state;
	_cleanup_json_ json_t *manifest = load(applied_manifest);
	_cleanup_json_ json_t *applied = last_applied_object(manifest);
	_cleanup_json_ json_t *live = json_deep_copy(applied);
	json_t *container = json_array_get(json_path(live, "spec.containers"), 0);
	json_object_set_new(container, "imagePullPolicy", json_string("IfNotPresent"));
	json_object_set_new(json_array_get(json_object_get(container, "ports"), 0), "protocol",
			    json_string("TCP"));
	json_object_set_new(json_object_get(live, "spec"), "nodeName", json_string("node-1"));
	json_object_set_new(json_object_get(live, "metadata"), "resourceVersion",
			    json_string("182"));
	bool had_annotation = false;
	_cleanup_json_ json_t *patch = last_applied_patch(applied, live, &had_annotation);
	assert_true(had_annotation);
	assert_int_equal(json_object_size(patch), 0);
}

/* v132_apply_changed: a label dropped from the manifest is deleted; a changed list is sent
 * whole (JSON merge patch replaces lists). */
static void removed_fields_become_null_and_changed_lists_are_replaced(void **state)
{
	(void)state;
	_cleanup_json_ json_t *first = load(applied_manifest);
	_cleanup_json_ json_t *live = last_applied_object(first);
	_cleanup_json_ json_t *second = load(
	    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"nginx\","
	    "\"namespace\":\"default\",\"labels\":{\"app\":\"nginx\"}},\"spec\":{\"containers\":[{"
	    "\"name\":\"nginx\",\"image\":\"nginx:1.26\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]"
	    "},"
	    "{\"name\":\"sidecar\",\"image\":\"busybox\"}]}}");
	_cleanup_json_ json_t *applied = last_applied_object(second);
	bool had_annotation;
	_cleanup_json_ json_t *patch = last_applied_patch(applied, live, &had_annotation);
	assert_true(json_is_null(json_path(patch, "metadata.labels.tier")));
	assert_null(json_path(patch, "metadata.labels.app"));
	assert_true(
	    json_equal(json_path(patch, "spec.containers"), json_path(second, "spec.containers")));
	assert_non_null(
	    json_object_get(json_path(patch, "metadata.annotations"), LAST_APPLIED_ANNOTATION));
}

static void three_way_rules(void **state)
{
	(void)state;
	/* nested deletion; fields only the server set stay; equal numbers of both kinds */
	_cleanup_json_ json_t *original = load("{\"a\":{\"b\":1,\"c\":2},\"n\":1,\"gone\":true}");
	_cleanup_json_ json_t *modified = load("{\"a\":{\"b\":1},\"n\":1.0,\"new\":\"x\"}");
	_cleanup_json_ json_t *current =
	    load("{\"a\":{\"b\":1,\"c\":2,\"d\":3},\"n\":1,\"gone\":true,\"status\":{}}");
	_cleanup_json_ json_t *patch = three_way_merge_patch(original, modified, current);
	assert_json(patch, "{\"a\":{\"c\":null},\"gone\":null,\"new\":\"x\"}");

	/* deleting what the server no longer has is not a change */
	_cleanup_json_ json_t *current2 = load("{\"a\":{\"b\":1},\"n\":1,\"new\":\"x\"}");
	_cleanup_json_ json_t *nothing = three_way_merge_patch(original, modified, current2);
	assert_json(nothing, "{}");

	/* a list the user shortened is sent although the live one still contains it */
	_cleanup_json_ json_t *o = load("{\"l\":[{\"p\":1,\"q\":2}]}");
	_cleanup_json_ json_t *m = load("{\"l\":[{\"p\":1}]}");
	_cleanup_json_ json_t *c = load("{\"l\":[{\"p\":1,\"q\":2,\"r\":3}]}");
	_cleanup_json_ json_t *list_patch = three_way_merge_patch(o, m, c);
	assert_json(list_patch, "{\"l\":[{\"p\":1}]}");

	/* never applied before: a live list that only adds defaults counts as applied */
	_cleanup_json_ json_t *fresh = three_way_merge_patch(NULL, m, c);
	assert_json(fresh, "{}");

	/* a scalar replaced by a map, and null in the manifest deleting a live field */
	_cleanup_json_ json_t *m2 = load("{\"x\":{\"y\":1},\"z\":null}");
	_cleanup_json_ json_t *c2 = load("{\"x\":\"s\",\"z\":5}");
	_cleanup_json_ json_t *p2 = three_way_merge_patch(NULL, m2, c2);
	assert_json(p2, "{\"x\":{\"y\":1},\"z\":null}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(annotation_holds_the_applied_object_like_kubectl_writes_it),
	    cmocka_unit_test(user_annotations_stay_and_a_stale_copy_is_replaced),
	    cmocka_unit_test(first_apply_over_a_created_object),
	    cmocka_unit_test(same_manifest_again_needs_no_patch),
	    cmocka_unit_test(removed_fields_become_null_and_changed_lists_are_replaced),
	    cmocka_unit_test(three_way_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
