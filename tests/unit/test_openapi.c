/* OpenAPI documents: the v3 JSON kubectl 1.29+ reads and the v2 protobuf of 1.27 and 1.28. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "apiserver/openapi.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* Reads one protobuf field at *p; false at the end or on malformed input. */
static bool next_field(const uint8_t **p, const uint8_t *end, unsigned *number,
		       const uint8_t **data, size_t *len)
{
	uint64_t values[2];
	for (int v = 0; v < 2; v++) {
		uint64_t value = 0;
		for (int shift = 0;; shift += 7) {
			if (*p >= end || shift > 63)
				return false;
			uint8_t byte = *(*p)++;
			value |= (uint64_t)(byte & 0x7f) << shift;
			if (!(byte & 0x80))
				break;
		}
		values[v] = value;
		if (v == 0 && (value & 7) != 2)
			return false; /* the document only uses length-delimited fields */
	}
	*number = (unsigned)(values[0] >> 3);
	if (values[1] > (uint64_t)(end - *p))
		return false;
	*data = *p;
	*len = (size_t)values[1];
	*p += *len;
	return true;
}

/* The payload of the first field `number` inside [data, data+len), or NULL. */
static const uint8_t *child(const uint8_t *data, size_t len, unsigned number, size_t *out_len)
{
	const uint8_t *p = data, *end = data + len, *field;
	size_t field_len;
	unsigned n;
	while (next_field(&p, end, &n, &field, &field_len))
		if (n == number) {
			*out_len = field_len;
			return field;
		}
	return NULL;
}

static void v2_protobuf_has_the_gnostic_shape(void **state)
{
	(void)state;
	struct buf doc = {0};
	openapi_v2_protobuf(&doc);
	const uint8_t *data = (const uint8_t *)doc.data;
	size_t len = 0;
	const uint8_t *swagger = child(data, doc.len, 1, &len);
	assert_non_null(swagger);
	assert_memory_equal(swagger, "2.0", 3);
	size_t paths_len = 0;
	const uint8_t *paths = child(data, doc.len, 8, &paths_len);
	assert_non_null(paths);
	/* Every path item: name, then a PathItem whose patch (8) has parameters and the GVK. */
	const uint8_t *p = paths, *end = paths + paths_len, *item;
	size_t item_len = 0;
	unsigned number;
	int found_pods = 0, items = 0;
	while (next_field(&p, end, &number, &item, &item_len)) {
		assert_int_equal(number, 2);
		items++;
		size_t name_len = 0, value_len = 0, op_len = 0, ext_len = 0;
		const uint8_t *name = child(item, item_len, 1, &name_len);
		const uint8_t *value = child(item, item_len, 2, &value_len);
		assert_non_null(name);
		assert_non_null(value);
		const uint8_t *op = child(value, value_len, 8, &op_len);
		assert_non_null(op);
		assert_non_null(child(op, op_len, 8, &len)); /* parameters */
		const uint8_t *ext = child(op, op_len, 13, &ext_len);
		assert_non_null(ext);
		const uint8_t *ext_name = child(ext, ext_len, 1, &len);
		assert_int_equal(len, strlen("x-kubernetes-group-version-kind"));
		assert_memory_equal(ext_name, "x-kubernetes-group-version-kind", len);
		if (name_len == strlen("/api/v1/namespaces/{namespace}/pods/{name}") &&
		    !memcmp(name, "/api/v1/namespaces/{namespace}/pods/{name}", name_len))
			found_pods++;
	}
	assert_true(p == end);
	assert_int_equal(found_pods, 1);
	assert_true(items >= 9);
	buf_free(&doc);
}

static void v3_lists_each_group_version_and_its_patch_parameters(void **state)
{
	(void)state;
	_cleanup_json_ json_t *root = openapi_v3_root();
	const char *url = json_path_string(
	    json_object_get(json_object_get(root, "paths"), "api/v1"), "serverRelativeURL");
	assert_non_null(url);
	assert_true(strncmp(url, "/openapi/v3/api/v1?hash=", 24) == 0);
	assert_non_null(
	    json_object_get(json_object_get(root, "paths"), "apis/coordination.k8s.io/v1"));
	_cleanup_json_ json_t *core = openapi_v3_group_version("", "v1");
	json_t *pods = json_object_get(json_object_get(core, "paths"),
				       "/api/v1/namespaces/{namespace}/pods/{name}");
	assert_string_equal(json_path_string(pods, "patch.x-kubernetes-group-version-kind.kind"),
			    "Pod");
	_cleanup_free_ char *text = json_dump_compact(json_path(pods, "patch.parameters"));
	assert_non_null(strstr(text, "\"fieldValidation\""));
	json_t *nodes = json_object_get(json_object_get(core, "paths"), "/api/v1/nodes/{name}");
	assert_non_null(nodes);
	assert_null(openapi_v3_group_version("apps", "v1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(v2_protobuf_has_the_gnostic_shape),
	    cmocka_unit_test(v3_lists_each_group_version_and_its_patch_parameters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
