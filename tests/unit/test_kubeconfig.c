#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/cleanup.h"
#include "lib/kubeconfig.h"

static const char two_contexts[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: admin@ckube\n"
    "clusters:\n"
    "- name: ckube\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: http://10.0.0.1:8080\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    token: s3cr3t\n"
    "contexts:\n"
    "- name: admin@ckube\n"
    "  context:\n"
    "    cluster: ckube\n"
    "    user: admin\n"
    "- name: lab\n"
    "  context:\n"
    "    cluster: lab\n"
    "    user: nobody\n"
    "    namespace: team-a\n";

static int parse(const char *text, const char *context, struct kubeconfig *config,
		 struct ck_error *err)
{
	return kubeconfig_parse(text, strlen(text), "/etc/ckube/admin.kubeconfig", context, config,
				err);
}

static void current_context_gives_server_token_and_ca(void **state)
{
	(void)state;
	struct kubeconfig config;
	struct ck_error err = {0};
	assert_int_equal(parse(two_contexts, NULL, &config, &err), 0);
	assert_string_equal(config.context, "admin@ckube");
	assert_string_equal(config.server, "https://127.0.0.1:6443");
	assert_string_equal(config.namespace, "default");
	assert_string_equal(config.token, "s3cr3t");
	assert_string_equal(config.path, "/etc/ckube/admin.kubeconfig");
	assert_int_equal(config.ca_pem_len, strlen("-----BEGIN CERTIFICATE-----\n"));
	assert_memory_equal(config.ca_pem, "-----BEGIN CERTIFICATE-----\n", config.ca_pem_len);
	assert_false(config.insecure_skip_tls_verify);
	assert_null(config.client_cert_pem);
	kubeconfig_free(&config);
}

static void named_context_gives_its_namespace(void **state)
{
	(void)state;
	struct kubeconfig config;
	struct ck_error err = {0};
	assert_int_equal(parse(two_contexts, "lab", &config, &err), 0);
	assert_string_equal(config.server, "http://10.0.0.1:8080");
	assert_string_equal(config.namespace, "team-a");
	assert_true(config.insecure_skip_tls_verify);
	/* The user "nobody" is not defined: no credentials, which is not an error. */
	assert_null(config.token);
	kubeconfig_free(&config);
}

static void expect_error(const char *text, const char *context, int code, const char *message)
{
	struct kubeconfig config;
	struct ck_error err = {0};
	assert_int_equal(parse(text, context, &config, &err), -code);
	assert_string_equal(err.message, message);
	assert_null(config.server);
}

static void errors_name_the_file_and_the_missing_piece(void **state)
{
	(void)state;
	expect_error(two_contexts, "prod", ENOENT,
		     "kubeconfig /etc/ckube/admin.kubeconfig: context \"prod\" does not exist");
	expect_error("contexts: []\n", NULL, EINVAL,
		     "kubeconfig /etc/ckube/admin.kubeconfig: no current-context is set");
	expect_error("- a\n", NULL, EINVAL, "kubeconfig /etc/ckube/admin.kubeconfig: not a map");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: gone}\n", NULL,
		     ENOENT,
		     "kubeconfig /etc/ckube/admin.kubeconfig: context \"x\": cluster \"gone\" does "
		     "not exist");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		     "clusters:\n- name: c\n  cluster: {}\n",
		     NULL, EINVAL,
		     "kubeconfig /etc/ckube/admin.kubeconfig: cluster \"c\" has no server");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		     "clusters:\n- name: c\n  cluster: {server: 'https://a', "
		     "certificate-authority-data: '@@@'}\n",
		     NULL, EINVAL,
		     "kubeconfig /etc/ckube/admin.kubeconfig: certificate-authority-data: illegal "
		     "base64 data at input byte 0");
	expect_error("a: [\n", NULL, EINVAL,
		     "kubeconfig /etc/ckube/admin.kubeconfig: document 1, line 2: did not find "
		     "expected node content");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void referenced_files_are_read_relative_to_the_kubeconfig(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_kubeconfig.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], ca[256], token[256];
	snprintf(path, sizeof(path), "%s/config", dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(token, sizeof(token), "%s/token", dir);
	write_text(ca, "PEM DATA\n");
	write_text(token, "from-file\n\n");
	write_text(path, "current-context: c\n"
			 "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
			 "clusters: [{name: c, cluster: {server: 'https://h:1', "
			 "certificate-authority: ca.crt}}]\n"
			 "users: [{name: u, user: {tokenFile: token}}]\n");

	struct kubeconfig config;
	struct ck_error err = {0};
	assert_int_equal(kubeconfig_load(path, NULL, &config, &err), 0);
	assert_string_equal(config.ca_pem, "PEM DATA\n");
	assert_string_equal(config.token, "from-file");
	kubeconfig_free(&config);

	unlink(token);
	assert_int_equal(kubeconfig_load(path, NULL, &config, &err), -ENOENT);
	char expected[1024];
	snprintf(expected, sizeof(expected),
		 "kubeconfig %s: tokenFile: open %s: No such file or directory", path, token);
	assert_string_equal(err.message, expected);

	unlink(ca);
	unlink(path);
	assert_int_equal(kubeconfig_load(path, NULL, &config, &err), -ENOENT);
	snprintf(expected, sizeof(expected), "load kubeconfig: open %s: No such file or directory",
		 path);
	assert_string_equal(err.message, expected);
	rmdir(dir);
}

static void load_without_a_path_explains_where_kubectl_looks(void **state)
{
	(void)state;
	struct kubeconfig config;
	struct ck_error err = {0};
	assert_int_equal(kubeconfig_load(NULL, NULL, &config, &err), -ENOENT);
	assert_string_equal(err.message, "no kubeconfig: pass --kubeconfig, set KUBECONFIG or "
					 "create ~/.kube/config");
}

static void path_prefers_flag_then_environment_then_home(void **state)
{
	(void)state;
	setenv("HOME", "/home/op", 1);
	setenv("KUBECONFIG", "::/first:/second", 1);
	_cleanup_free_ char *from_flag = kubeconfig_path("/flag/config");
	_cleanup_free_ char *from_env = kubeconfig_path(NULL);
	assert_string_equal(from_flag, "/flag/config");
	assert_string_equal(from_env, "/first");

	unsetenv("KUBECONFIG");
	_cleanup_free_ char *from_home = kubeconfig_path("");
	assert_string_equal(from_home, "/home/op/.kube/config");

	unsetenv("HOME");
	assert_null(kubeconfig_path(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(current_context_gives_server_token_and_ca),
	    cmocka_unit_test(named_context_gives_its_namespace),
	    cmocka_unit_test(errors_name_the_file_and_the_missing_piece),
	    cmocka_unit_test(referenced_files_are_read_relative_to_the_kubeconfig),
	    cmocka_unit_test(load_without_a_path_explains_where_kubectl_looks),
	    cmocka_unit_test(path_prefers_flag_then_environment_then_home),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
