/* registries.yaml in the k3s format: mirrors first, the registry itself last, credentials and
 * TLS settings by endpoint host, "*" for everything else, and clear errors for bad settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/registries.h"

static char *write_settings(const char *yaml)
{
	char *path = strdup("/tmp/ckube-registries-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	return path;
}

static struct registries *load(const char *yaml)
{
	char *path = write_settings(yaml);
	struct registries *registries = NULL;
	struct ck_error err = {0};
	int ret = registries_load(path, &registries, &err);
	unlink(path);
	free(path);
	if (ret != 0)
		fail_msg("load: %s", err.message);
	return registries;
}

static void load_fails(const char *yaml, const char *message)
{
	char *path = write_settings(yaml);
	struct registries *registries = NULL;
	struct ck_error err = {0};
	int ret = registries_load(path, &registries, &err);
	unlink(path);
	bool named = strstr(err.message, path) != NULL;
	free(path);
	assert_int_equal(ret, -EINVAL);
	assert_null(registries);
	if (!strstr(err.message, message) || !named)
		fail_msg("expected \"%s\" and the path in \"%s\"", message, err.message);
}

static void defaults_without_a_file(void **state)
{
	(void)state;
	struct registries *registries = NULL;
	struct ck_error err = {0};
	assert_int_equal(registries_load("/nonexistent/registries.yaml", &registries, &err), 0);
	size_t count = 0;
	const struct registry_endpoint *e = registries_endpoints(registries, "docker.io", &count);
	assert_int_equal(count, 1);
	assert_string_equal(e[0].url, "https://registry-1.docker.io");
	assert_null(e[0].username);
	assert_false(e[0].insecure_tls);
	e = registries_endpoints(registries, "127.0.0.1:5000", &count);
	assert_int_equal(count, 1);
	assert_string_equal(e[0].url, "https://127.0.0.1:5000");
	registries_free(registries);

	assert_int_equal(registries_load(NULL, &registries, &err), 0);
	e = registries_endpoints(registries, "quay.io", &count);
	assert_int_equal(count, 1);
	assert_string_equal(e[0].url, "https://quay.io");
	registries_free(registries);
}

static void mirrors_come_first_and_take_their_config(void **state)
{
	(void)state;
	struct registries *registries =
	    load("mirrors:\n"
		 "  docker.io:\n"
		 "    endpoint: [\"http://127.0.0.1:5000/\", \"https://mirror.example.com:8443\"]\n"
		 "configs:\n"
		 "  \"mirror.example.com:8443\":\n"
		 "    auth: {username: alice, password: secret}\n"
		 "    tls: {insecure_skip_verify: true, ca_file: /etc/ca.pem,\n"
		 "          cert_file: /etc/c.pem, key_file: /etc/k.pem}\n"
		 "  docker.io:\n"
		 "    auth:\n"
		 "      auth: Ym9iOnB3OmQ=\n");
	size_t count = 0;
	const struct registry_endpoint *e = registries_endpoints(registries, "docker.io", &count);
	assert_int_equal(count, 3);
	assert_string_equal(e[0].url, "http://127.0.0.1:5000");
	assert_null(e[0].username);
	assert_string_equal(e[1].url, "https://mirror.example.com:8443");
	assert_string_equal(e[1].username, "alice");
	assert_string_equal(e[1].password, "secret");
	assert_string_equal(e[1].ca_file, "/etc/ca.pem");
	assert_string_equal(e[1].cert_file, "/etc/c.pem");
	assert_string_equal(e[1].key_file, "/etc/k.pem");
	assert_true(e[1].insecure_tls);
	/* The registry's own default endpoint takes the config of its name. */
	assert_string_equal(e[2].url, "https://registry-1.docker.io");
	assert_string_equal(e[2].username, "bob");
	assert_string_equal(e[2].password, "pw:d");
	/* Asked again, the same array. */
	size_t again = 0;
	assert_ptr_equal(registries_endpoints(registries, "docker.io", &again), e);
	assert_int_equal(again, 3);
	/* Other registries are untouched by docker.io's mirrors. */
	e = registries_endpoints(registries, "ghcr.io", &count);
	assert_int_equal(count, 1);
	assert_string_equal(e[0].url, "https://ghcr.io");
	registries_free(registries);
}

static void a_mirror_naming_the_registry_is_not_repeated(void **state)
{
	(void)state;
	struct registries *registries = load("mirrors:\n"
					     "  \"registry.example.com\":\n"
					     "    endpoint:\n"
					     "      - https://registry.example.com\n"
					     "      - http://10.0.0.1:5000\n");
	size_t count = 0;
	const struct registry_endpoint *e =
	    registries_endpoints(registries, "registry.example.com", &count);
	assert_int_equal(count, 2);
	assert_string_equal(e[0].url, "https://registry.example.com");
	assert_string_equal(e[1].url, "http://10.0.0.1:5000");
	registries_free(registries);
}

static void wildcards_apply_where_nothing_specific_does(void **state)
{
	(void)state;
	struct registries *registries = load("mirrors:\n"
					     "  \"*\":\n"
					     "    endpoint: [\"http://127.0.0.1:5001\"]\n"
					     "  quay.io:\n"
					     "    endpoint: [\"http://127.0.0.1:5002\"]\n"
					     "configs:\n"
					     "  \"*\":\n"
					     "    tls: {insecure_skip_verify: true}\n"
					     "  \"https://127.0.0.1:5002\":\n"
					     "    auth: {username: q, password: r}\n");
	size_t count = 0;
	const struct registry_endpoint *e = registries_endpoints(registries, "docker.io", &count);
	assert_int_equal(count, 2);
	assert_string_equal(e[0].url, "http://127.0.0.1:5001");
	assert_true(e[0].insecure_tls);
	assert_true(e[1].insecure_tls);
	e = registries_endpoints(registries, "quay.io", &count);
	assert_int_equal(count, 2);
	assert_string_equal(e[0].url, "http://127.0.0.1:5002");
	/* A config written as a URL matches by host; a specific config replaces the wildcard. */
	assert_string_equal(e[0].username, "q");
	assert_false(e[0].insecure_tls);
	registries_free(registries);
}

static void empty_and_rewriting_files_load(void **state)
{
	(void)state;
	struct registries *registries = load("");
	size_t count = 0;
	assert_non_null(registries_endpoints(registries, "docker.io", &count));
	assert_int_equal(count, 1);
	registries_free(registries);
	/* Rewrites are not supported: ignored with a warning, the endpoints still apply. */
	registries = load("mirrors:\n"
			  "  docker.io:\n"
			  "    endpoint: [\"http://127.0.0.1:5000\"]\n"
			  "    rewrite: {\"^rancher/(.*)\": \"mirror/$1\"}\n"
			  "configs: {}\n");
	registries_endpoints(registries, "docker.io", &count);
	assert_int_equal(count, 2);
	registries_free(registries);
}

static void bad_settings_are_refused(void **state)
{
	(void)state;
	load_fails("- a\n- b\n", "must be a mapping");
	load_fails("mirrors: [a]\n", "mirrors: must be a mapping");
	load_fails("mirrors:\n  docker.io: x\n", "mirrors.docker.io: must be a mapping");
	load_fails("mirrors:\n  docker.io:\n    endpoint: http://a\n",
		   "mirrors.docker.io.endpoint: must be a list");
	load_fails("mirrors:\n  docker.io:\n    endpoint: [\"ftp://a\"]\n",
		   "mirrors.docker.io.endpoint[0]: not an http:// or https:// URL");
	load_fails("mirrors:\n  docker.io:\n    endpoint: [\"http://u:p@a\"]\n",
		   "mirrors.docker.io.endpoint[0]");
	load_fails("mirrors:\n  docker.io:\n    endpoint: [\"https://\"]\n",
		   "mirrors.docker.io.endpoint[0]");
	load_fails("mirrors:\n  docker.io:\n    endpoint: [7]\n", "mirrors.docker.io.endpoint[0]");
	load_fails("configs:\n  a: {auth: x}\n", "configs.a.auth: must be a mapping");
	load_fails("configs:\n  a: {auth: {username: [1]}}\n",
		   "configs.a.auth.username: must be a string");
	load_fails("configs:\n  a: {auth: {auth: \"!!\"}}\n", "configs.a.auth.auth");
	load_fails("configs:\n  a: {auth: {auth: bm9jb2xvbg==}}\n", "not base64 of");
	load_fails("configs:\n  a: {tls: {insecure_skip_verify: \"yes\"}}\n",
		   "configs.a.tls.insecure_skip_verify: must be a boolean");
	load_fails("configs:\n  a: {tls: {cert_file: /c}}\n", "cert_file and key_file go together");
	load_fails("a: [\n", "line");
	load_fails("a: 1\n---\nb: 2\n", "more than one document");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_without_a_file),
	    cmocka_unit_test(mirrors_come_first_and_take_their_config),
	    cmocka_unit_test(a_mirror_naming_the_registry_is_not_repeated),
	    cmocka_unit_test(wildcards_apply_where_nothing_specific_does),
	    cmocka_unit_test(empty_and_rewriting_files_load),
	    cmocka_unit_test(bad_settings_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
