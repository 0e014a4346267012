/* Content negotiation as kubectl and the Python client ask for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "apiserver/negotiate.h"

static void tables_for_kubectl_get(void **state)
{
	(void)state;
	struct output_format out;
	assert_true(negotiate_output("application/json;as=Table;v=v1;g=meta.k8s.io,application/"
				     "json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
				     &out));
	assert_int_equal(out.kind, OUTPUT_TABLE);
	assert_string_equal(out.api_version, "meta.k8s.io/v1");
	assert_true(negotiate_output("application/json;as=Table;v=v1beta1;g=meta.k8s.io", &out));
	assert_string_equal(out.api_version, "meta.k8s.io/v1beta1");
}

static void plain_json_and_fallbacks(void **state)
{
	(void)state;
	struct output_format out;
	assert_true(negotiate_output(NULL, &out));
	assert_int_equal(out.kind, OUTPUT_JSON);
	assert_true(negotiate_output("application/vnd.kubernetes.protobuf,application/json", &out));
	assert_int_equal(out.kind, OUTPUT_JSON);
	assert_true(negotiate_output("*/*", &out));
	assert_int_equal(out.kind, OUTPUT_JSON);
	assert_true(negotiate_output(
	    "application/json;as=Unknown;v=v1;g=meta.k8s.io,application/json", &out));
	assert_int_equal(out.kind, OUTPUT_JSON);
	assert_false(negotiate_output("application/vnd.kubernetes.protobuf", &out));
	assert_false(negotiate_output("text/html", &out));
	assert_true(negotiate_output(
	    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", &out));
	assert_int_equal(out.kind, OUTPUT_PARTIAL_METADATA);
}

static void aggregated_discovery_versions(void **state)
{
	(void)state;
	const char *v132 =
	    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
	    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
	    "application/json";
	assert_string_equal(negotiate_discovery(v132), "v2");
	assert_string_equal(negotiate_discovery("application/json;g=apidiscovery.k8s.io;v=v2beta1;"
						"as=APIGroupDiscoveryList,application/json"),
			    "v2beta1");
	assert_null(negotiate_discovery("application/json, */*"));
	assert_null(negotiate_discovery(NULL));
}

static void body_formats(void **state)
{
	(void)state;
	assert_int_equal(negotiate_body(NULL), BODY_JSON);
	assert_int_equal(negotiate_body("application/json; charset=utf-8"), BODY_JSON);
	assert_int_equal(negotiate_body("application/strategic-merge-patch+json"), BODY_JSON);
	assert_int_equal(negotiate_body("application/apply-patch+yaml"), BODY_YAML);
	assert_int_equal(negotiate_body("application/vnd.kubernetes.protobuf"), BODY_PROTOBUF);
	assert_int_equal(negotiate_body("text/plain"), BODY_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tables_for_kubectl_get),
	    cmocka_unit_test(plain_json_and_fallbacks),
	    cmocka_unit_test(aggregated_discovery_versions),
	    cmocka_unit_test(body_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
