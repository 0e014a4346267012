/* Image references normalized the way Docker and Kubernetes read them, and the ones they
 * refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/image_ref.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX

struct expectation {
	const char *text;
	const char *registry;
	const char *repository;
	const char *tag; /* NULL: none */
	const char *digest;
	const char *string;
};

static void check(const struct expectation *e)
{
	struct image_ref ref;
	struct ck_error err = {0};
	int ret = image_ref_parse(e->text, &ref, &err);
	if (ret != 0)
		fail_msg("%s: %s", e->text, err.message);
	assert_string_equal(ref.registry, e->registry);
	assert_string_equal(ref.repository, e->repository);
	if (e->tag)
		assert_string_equal(ref.tag, e->tag);
	else
		assert_null(ref.tag);
	if (e->digest)
		assert_string_equal(ref.digest, e->digest);
	else
		assert_null(ref.digest);
	char *text = image_ref_string(&ref);
	assert_string_equal(text, e->string);
	free(text);
	image_ref_clear(&ref);
}

static void docker_hub_names_are_completed(void **state)
{
	(void)state;
	const struct expectation cases[] = {
	    {"busybox", "docker.io", "library/busybox", "latest", NULL,
	     "docker.io/library/busybox:latest"},
	    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
	     "docker.io/library/busybox:1.36"},
	    {"library/busybox", "docker.io", "library/busybox", "latest", NULL,
	     "docker.io/library/busybox:latest"},
	    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
	     "docker.io/library/busybox:latest"},
	    {"team/app:v2", "docker.io", "team/app", "v2", NULL, "docker.io/team/app:v2"},
	    {"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
	     "docker.io/library/busybox:latest"},
	    {"Index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
	     "docker.io/library/busybox:latest"},
	    {"DOCKER.IO/team/app", "docker.io", "team/app", "latest", NULL,
	     "docker.io/team/app:latest"},
	    {"team/a.b-c__d--e_f", "docker.io", "team/a.b-c__d--e_f", "latest", NULL,
	     "docker.io/team/a.b-c__d--e_f:latest"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
}

static void other_registries_keep_their_names(void **state)
{
	(void)state;
	const struct expectation cases[] = {
	    {"localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest"},
	    {"localhost:5000/app:1", "localhost:5000", "app", "1", NULL, "localhost:5000/app:1"},
	    {"127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "latest", NULL,
	     "127.0.0.1:5000/team/app:latest"},
	    {"registry.example.com/a/b/c:t_1.2-x", "registry.example.com", "a/b/c", "t_1.2-x", NULL,
	     "registry.example.com/a/b/c:t_1.2-x"},
	    {"[::1]:5000/app", "[::1]:5000", "app", "latest", NULL, "[::1]:5000/app:latest"},
	    /* Upper case cannot be a namespace, so Docker takes it for a host. */
	    {"Registry/app", "Registry", "app", "latest", NULL, "Registry/app:latest"},
	    {"registry-1.docker.io/library/busybox", "registry-1.docker.io", "library/busybox",
	     "latest", NULL, "registry-1.docker.io/library/busybox:latest"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
}

static void digests_are_kept(void **state)
{
	(void)state;
	const struct expectation cases[] = {
	    {"busybox@" DIGEST, "docker.io", "library/busybox", NULL, DIGEST,
	     "docker.io/library/busybox@" DIGEST},
	    {"127.0.0.1:5000/app:1@" DIGEST, "127.0.0.1:5000", "app", "1", DIGEST,
	     "127.0.0.1:5000/app@" DIGEST},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
}

static void invalid_references_are_refused(void **state)
{
	(void)state;
	char long_tag[160] = "app:";
	memset(long_tag + 4, 't', 129);
	char long_name[300] = "registry.example.com/";
	memset(long_name + strlen(long_name), 'a', 250);
	char *huge = malloc(5000);
	memset(huge, 'a', 4999);
	huge[4999] = '\0';
	const char *cases[] = {
	    "",
	    "Busybox",
	    "docker.io/Busybox",
	    "team/App",
	    "busybox:",
	    ":latest",
	    "busybox:.hidden",
	    "busybox:a/b",
	    "a:b:c",
	    "busybox@sha256:0123",
	    "busybox@sha512:" DIGEST,
	    "busybox@SHA256:" HEX,
	    "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    "a//b",
	    "/busybox",
	    "busybox/",
	    "-app",
	    "app-",
	    "a___b",
	    "a..b",
	    "a.-b",
	    "busy box",
	    "busybox\n",
	    "b\xc3\xbcsybox",
	    "registry:port/app",
	    "-registry.io/app",
	    "registry..io/app",
	    "reg_istry.io/app",
	    "[zz]:5000/app",
	    "[::1]x/app",
	    HEX,
	    long_tag,
	    long_name,
	    huge,
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct image_ref ref;
		struct ck_error err = {0};
		int ret = image_ref_parse(cases[i], &ref, &err);
		if (ret != -EINVAL)
			fail_msg("\"%s\" was accepted", cases[i]);
		assert_non_null(strstr(err.message, "couldn't parse image reference"));
		assert_null(ref.registry);
	}
	free(huge);
}

static void messages_say_why(void **state)
{
	(void)state;
	struct image_ref ref;
	struct ck_error err = {0};
	assert_int_equal(image_ref_parse("web/Frontend:1", &ref, &err), -EINVAL);
	assert_string_equal(err.message, "couldn't parse image reference \"web/Frontend:1\": "
					 "invalid reference format: repository name must be "
					 "lowercase");
	assert_int_equal(image_ref_parse("a b", &ref, &err), -EINVAL);
	assert_string_equal(err.message,
			    "couldn't parse image reference \"a b\": invalid reference format");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(docker_hub_names_are_completed),
	    cmocka_unit_test(other_registries_keep_their_names),
	    cmocka_unit_test(digests_are_kept),
	    cmocka_unit_test(invalid_references_are_refused),
	    cmocka_unit_test(messages_say_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
