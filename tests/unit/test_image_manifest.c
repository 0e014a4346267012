/* Manifests, indexes and configs as pulls and imports read them: media types, descriptors, the
 * linux/amd64 choice, layers and diffIDs, the record made of them, and the manifest written for
 * `docker save` images. Through a registry and through archives they are tested in
 * test_registry_client.c and test_image_import.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/image_manifest.h"

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_C "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DIGEST_D "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

static json_t *parse(const char *text)
{
	json_error_t error;
	json_t *doc = json_loads(text, 0, &error);
	if (!doc)
		fail_msg("%s: %s", text, error.text);
	return doc;
}

static void media_types(void **state)
{
	(void)state;
	json_t *doc = parse("{\"mediaType\": \"" MEDIA_TYPE_DOCKER_MANIFEST "\", \"layers\": []}");
	assert_string_equal(image_manifest_type(doc, MEDIA_TYPE_OCI_INDEX),
			    MEDIA_TYPE_DOCKER_MANIFEST);
	json_decref(doc);
	/* Without its own mediaType: the Content-Type, parameters and all. */
	doc = parse("{\"schemaVersion\": 2}");
	assert_string_equal(
	    image_manifest_type(doc, MEDIA_TYPE_DOCKER_MANIFEST_LIST "; charset=utf-8"),
	    MEDIA_TYPE_DOCKER_MANIFEST_LIST);
	assert_null(image_manifest_type(doc, "text/html"));
	assert_null(image_manifest_type(doc, NULL));
	json_decref(doc);
	/* Neither: what the document holds. */
	doc = parse("{\"manifests\": []}");
	assert_string_equal(image_manifest_type(doc, "application/json"), MEDIA_TYPE_OCI_INDEX);
	json_decref(doc);
	doc = parse("{\"layers\": []}");
	assert_string_equal(image_manifest_type(doc, NULL), MEDIA_TYPE_OCI_MANIFEST);
	json_decref(doc);
	/* A prefix of a known type is not that type. */
	doc = parse("{\"mediaType\": \"application/vnd.oci.image.index.v1\"}");
	assert_null(image_manifest_type(doc, NULL));
	json_decref(doc);

	assert_true(image_media_type_is_index(MEDIA_TYPE_DOCKER_MANIFEST_LIST));
	assert_true(image_media_type_is_index(MEDIA_TYPE_OCI_INDEX));
	assert_false(image_media_type_is_index(MEDIA_TYPE_OCI_MANIFEST));
	assert_true(image_media_type_is_manifest(MEDIA_TYPE_OCI_MANIFEST));
	assert_true(image_media_type_is_manifest(MEDIA_TYPE_DOCKER_MANIFEST));
	assert_false(image_media_type_is_manifest(MEDIA_TYPE_DOCKER_CONFIG));
}

static void descriptors_are_checked(void **state)
{
	(void)state;
	struct ck_error err = {0};
	struct image_descriptor d;
	json_t *doc = parse("{\"mediaType\": \"" LAYER_GZIP "\", \"digest\": \"" DIGEST_A
			    "\", \"size\": 12, \"platform\": {\"os\": \"linux\"}}");
	assert_int_equal(image_descriptor_read(doc, 100, "layer", &d, &err), 0);
	assert_string_equal(d.media_type, LAYER_GZIP);
	assert_string_equal(d.digest, DIGEST_A);
	assert_int_equal(d.size, 12);
	assert_non_null(d.platform);
	assert_null(d.annotations);
	assert_int_equal(image_descriptor_read(doc, 11, "layer", &d, &err), -EINVAL);
	assert_string_equal(err.message, "layer: size missing or not in 0-11");
	json_decref(doc);

	const char *bad[] = {
	    "{\"digest\": \"" DIGEST_A "\", \"size\": 1}",
	    "{\"mediaType\": \"x\", \"digest\": \"sha256:../../etc\", \"size\": 1}",
	    "{\"mediaType\": \"x\", \"digest\": \"" DIGEST_A "\"}",
	    "{\"mediaType\": \"x\", \"digest\": \"" DIGEST_A "\", \"size\": -1}",
	    "{\"mediaType\": \"x\", \"digest\": \"" DIGEST_A "\", \"size\": \"1\"}",
	    "[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = parse(bad[i]);
		assert_int_equal(image_descriptor_read(doc, 100, "config", &d, &err), -EINVAL);
		assert_memory_equal(err.message, "config: ", 8);
		json_decref(doc);
	}
}

static void the_index_gives_linux_amd64(void **state)
{
	(void)state;
	/* Only the plain linux/amd64 entry may be chosen, wherever it stands. */
	json_t *index = parse(
	    "{\"manifests\": ["
	    "{\"digest\": \"" DIGEST_A "\", \"platform\": {\"os\": \"linux\", \"architecture\": "
	    "\"arm64\", \"variant\": \"v8\"}},"
	    "{\"digest\": \"" DIGEST_B "\", \"platform\": {\"os\": \"linux\", \"architecture\": "
	    "\"amd64\", \"variant\": \"v3\"}},"
	    "{\"digest\": \"" DIGEST_A "\", \"platform\": {\"os\": \"windows\", \"architecture\": "
	    "\"amd64\"}},"
	    "{\"digest\": \"sha256:nope\", \"platform\": {\"os\": \"linux\", \"architecture\": "
	    "\"amd64\"}},"
	    "{\"digest\": \"" DIGEST_C "\", \"platform\": {\"os\": \"linux\", \"architecture\": "
	    "\"amd64\"}}]}");
	const json_t *chosen = image_index_choose(index);
	assert_string_equal(json_string_value(json_object_get(chosen, "digest")), DIGEST_C);
	/* Without it, the variant; "v1" is the plain one. */
	json_array_remove(json_object_get(index, "manifests"), 4);
	chosen = image_index_choose(index);
	assert_string_equal(json_string_value(json_object_get(chosen, "digest")), DIGEST_B);
	json_array_append_new(json_object_get(index, "manifests"),
			      parse("{\"digest\": \"" DIGEST_D "\", \"platform\": {\"os\": "
				    "\"linux\", \"architecture\": \"amd64\", \"variant\": "
				    "\"v1\"}}"));
	chosen = image_index_choose(index);
	assert_string_equal(json_string_value(json_object_get(chosen, "digest")), DIGEST_D);
	json_decref(index);

	index = parse("{\"manifests\": [{\"digest\": \"" DIGEST_A "\", \"platform\": {\"os\": "
		      "\"linux\", \"architecture\": \"arm64\"}}, {\"digest\": \"" DIGEST_B "\"}]}");
	assert_null(image_index_choose(index));
	json_decref(index);
	index = parse("{\"manifests\": 3}");
	assert_null(image_index_choose(index));
	json_decref(index);
	assert_false(image_platform_matches(NULL));
}

static const char manifest_text[] =
    "{\"schemaVersion\": 2, \"mediaType\": \"" MEDIA_TYPE_OCI_MANIFEST "\","
    " \"config\": {\"mediaType\": \"application/vnd.oci.image.config.v1+json\","
    " \"digest\": \"" DIGEST_A "\", \"size\": 100},"
    " \"layers\": [{\"mediaType\": \"" LAYER_GZIP "\", \"digest\": \"" DIGEST_B
    "\", \"size\": 1000}, {\"mediaType\": \"" LAYER_GZIP "\", \"digest\": \"" DIGEST_C
    "\", \"size\": 20}]}";

static const char config_text[] =
    "{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Cmd\": [\"sh\"]},"
    " \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"" DIGEST_C "\", \"" DIGEST_D "\"]}}";

static void manifests_are_checked(void **state)
{
	(void)state;
	struct ck_error err = {0};
	struct image_manifest manifest;
	json_t *doc = parse(manifest_text);
	assert_int_equal(image_manifest_read(doc, &manifest, &err), 0);
	assert_string_equal(manifest.config.digest, DIGEST_A);
	assert_int_equal(manifest.config.size, 100);
	assert_int_equal(manifest.layer_count, 2);
	assert_string_equal(manifest.layers[1].digest, DIGEST_C);
	assert_string_equal(manifest.layers[1].media_type, LAYER_GZIP);

	json_object_set_new(doc, "schemaVersion", json_integer(1));
	assert_int_equal(image_manifest_read(doc, &manifest, &err), -EINVAL);
	assert_string_equal(err.message, "manifest: schemaVersion is not 2");
	json_object_set_new(doc, "schemaVersion", json_integer(2));
	json_object_set_new(json_array_get(json_object_get(doc, "layers"), 1), "size",
			    json_integer(-5));
	assert_int_equal(image_manifest_read(doc, &manifest, &err), -EINVAL);
	assert_string_equal(err.message,
			    "manifest: layer 1: size missing or not in 0-1099511627776");
	json_object_set_new(json_object_get(doc, "config"), "size",
			    json_integer(IMAGE_DOCUMENT_MAX_BYTES + 1));
	assert_int_equal(image_manifest_read(doc, &manifest, &err), -EINVAL);
	assert_memory_equal(err.message, "manifest: config: size", 22);
	json_t *layers = json_array();
	for (int i = 0; i <= IMAGE_MAX_LAYERS; i++)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:i}", "mediaType", LAYER_GZIP,
							"digest", DIGEST_B, "size", 1));
	json_object_set_new(doc, "layers", layers);
	assert_int_equal(image_manifest_read(doc, &manifest, &err), -EINVAL);
	assert_string_equal(err.message, "manifest: layers missing or more than 256");
	json_decref(doc);
}

static void configs_are_checked(void **state)
{
	(void)state;
	struct ck_error err = {0};
	struct image_config config;
	assert_int_equal(
	    image_config_read(config_text, strlen(config_text), DIGEST_A, 2, &config, &err), 0);
	assert_string_equal(json_string_value(json_array_get(config.diff_ids, 1)), DIGEST_D);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(config.run, "Cmd"), 0)), "sh");
	image_config_clear(&config);
	assert_null(config.doc);

	struct {
		const char *text;
		size_t layers;
		int code;
		const char *message;
	} bad[] = {
	    {config_text, 3, -EINVAL,
	     "config " DIGEST_A ": rootfs.diff_ids does not match the 3 layers"},
	    {"{\"architecture\": \"arm64\", \"os\": \"linux\"}", 0, -ENOEXEC,
	     "config " DIGEST_A ": the image is for linux/arm64, not linux/amd64"},
	    {"{\"os\": \"windows\", \"rootfs\": {\"diff_ids\": []}}", 0, -ENOEXEC,
	     "config " DIGEST_A ": the image is for windows/amd64, not linux/amd64"},
	    {"{\"rootfs\": {\"diff_ids\": [\"sha256:abc\"]}}", 1, -EINVAL,
	     "config " DIGEST_A ": diff_ids[0] is not a sha256 digest"},
	    /* Two values for one key: which would a reader take? Neither. */
	    {"{\"rootfs\": {\"diff_ids\": []}, \"rootfs\": {\"diff_ids\": []}}", 0, -EINVAL, NULL},
	    {"[1]", 0, -EINVAL, "config " DIGEST_A ": not a JSON object (wrong type)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(image_config_read(bad[i].text, strlen(bad[i].text), DIGEST_A,
						   bad[i].layers, &config, &err),
				 bad[i].code);
		if (bad[i].message)
			assert_string_equal(err.message, bad[i].message);
		assert_null(config.doc);
	}
	/* Platform and run config may be left out. */
	const char *bare = "{\"rootfs\": {\"diff_ids\": []}}";
	assert_int_equal(image_config_read(bare, strlen(bare), DIGEST_A, 0, &config, &err), 0);
	assert_null(config.run);
	image_config_clear(&config);
}

static void records_are_built_from_both(void **state)
{
	(void)state;
	struct ck_error err = {0};
	struct image_manifest manifest;
	struct image_config config;
	json_t *doc = parse(manifest_text);
	assert_int_equal(image_manifest_read(doc, &manifest, &err), 0);
	assert_int_equal(
	    image_config_read(config_text, strlen(config_text), DIGEST_A, 2, &config, &err), 0);
	struct image_record *record = NULL;
	assert_int_equal(image_record_build(&manifest, DIGEST_D, &config, &record, &err), 0);
	image_config_clear(&config);
	assert_string_equal(record->id, DIGEST_A);
	assert_string_equal(record->manifest_digest, DIGEST_D);
	assert_int_equal(record->name_count, 0);
	assert_int_equal(record->layer_count, 2);
	assert_string_equal(record->layers[0].digest, DIGEST_B);
	assert_string_equal(record->layers[0].diff_id, DIGEST_C);
	assert_string_equal(record->layers[1].media_type, LAYER_GZIP);
	assert_int_equal(record->layers[1].size, 20);
	assert_int_equal(record->size, 1120);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(record->config, "Cmd"), 0)), "sh");
	image_record_free(record);

	/* A config read for another number of layers does not fit. */
	const char *bare = "{\"rootfs\": {\"diff_ids\": []}}";
	assert_int_equal(image_config_read(bare, strlen(bare), DIGEST_A, 0, &config, &err), 0);
	assert_int_equal(image_record_build(&manifest, DIGEST_D, &config, &record, &err), -EINVAL);
	image_config_clear(&config);
	json_decref(doc);
}

static void docker_save_images_get_a_manifest(void **state)
{
	(void)state;
	struct image_manifest manifest = {
	    .config = {.media_type = MEDIA_TYPE_DOCKER_CONFIG, .digest = DIGEST_A, .size = 7},
	    .layers = {{.media_type = MEDIA_TYPE_DOCKER_LAYER, .digest = DIGEST_B, .size = 9}},
	    .layer_count = 1,
	};
	char *text = image_manifest_write(&manifest);
	assert_string_equal(text, "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST
				  "\",\"config\":{\"mediaType\":\"" MEDIA_TYPE_DOCKER_CONFIG
				  "\",\"size\":7,\"digest\":\"" DIGEST_A
				  "\"},\"layers\":[{\"mediaType\":\"" MEDIA_TYPE_DOCKER_LAYER
				  "\",\"size\":9,\"digest\":\"" DIGEST_B "\"}]}");
	/* What is written reads back as the same manifest. */
	json_t *doc = parse(text);
	struct image_manifest again;
	assert_int_equal(image_manifest_read(doc, &again, NULL), 0);
	assert_string_equal(again.layers[0].digest, DIGEST_B);
	assert_string_equal(image_manifest_type(doc, NULL), MEDIA_TYPE_DOCKER_MANIFEST);
	json_decref(doc);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(media_types),
	    cmocka_unit_test(descriptors_are_checked),
	    cmocka_unit_test(the_index_gives_linux_amd64),
	    cmocka_unit_test(manifests_are_checked),
	    cmocka_unit_test(configs_are_checked),
	    cmocka_unit_test(records_are_built_from_both),
	    cmocka_unit_test(docker_save_images_get_a_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
