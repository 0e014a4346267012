/* The container process from spec and image config: $(VAR) expansion as Kubernetes' expansion
 * package, env resolution as the kubelet, argv, environment, working directory and stop signal
 * as containerd. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/process_spec.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static json_t *config_of(const char *text)
{
	json_error_t error;
	json_t *config = json_loads(text, 0, &error);
	assert_non_null(config);
	return config;
}

static void assert_strv(char **strv, const char *const *expected, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		assert_non_null(strv[i]);
		assert_string_equal(strv[i], expected[i]);
	}
	assert_null(strv[count]);
}

/* --- env_expand -------------------------------------------------------------------------- */

/* The context of Kubernetes' expansion tests. */
static const struct env_var expansion_vars[] = {
    {"VAR_A", "A"}, {"VAR_B", "B"}, {"VAR_C", "C"}, {"VAR_REF", "$(VAR_A)"}, {"VAR_EMPTY", ""},
};

static void test_expand_kubernetes_cases(void **state)
{
	(void)state;
	static const struct {
		const char *input;
		const char *expected;
	} cases[] = {
	    {"$(VAR_A)", "A"},
	    {"$(VAR_A)-$(VAR_A)", "A-A"},
	    {"$(VAR_A)-1", "A-1"},
	    {"___$(VAR_B)___", "___B___"},
	    {"___$(VAR_C)", "___C"},
	    {"$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
	    {"$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
	    {"$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
	    {"f000-$$VAR_A", "f000-$VAR_A"},
	    {"foo\\$(VAR_C)bar", "foo\\Cbar"},
	    {"foo\\\\$(VAR_C)bar", "foo\\\\Cbar"},
	    {"foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"},
	    {"$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
	    {"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
	    {"$(VAR_REF)", "$(VAR_A)"},
	    {"%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
	    {"foo$(VAR_EMPTY)bar", "foobar"},
	    {"foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
	    {"f00__(VAR_A)__", "f00__(VAR_A)__"},
	    {"$?_boo_$!", "$?_boo_$!"},
	    {"$VAR_A", "$VAR_A"},
	    {"$(VAR_DNE)", "$(VAR_DNE)"},
	    {"$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
	    {"$$$$$$(VAR_A)", "$$$(VAR_A)"},
	    {"$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
	    {"$$$$$$$(VAR_A)", "$$$A"},
	    {"$VAR_A)", "$VAR_A)"},
	    {"${VAR_A}", "${VAR_A}"},
	    {"$(VAR_B)_______$(A", "B_______$(A"},
	    {"$(VAR_C)_______$(", "C_______$("},
	    {"$(VAR_A)foobarzab$", "Afoobarzab$"},
	    {"foo-\\$(VAR_A", "foo-\\$(VAR_A"},
	    {"--$($($($($--", "--$($($($($--"},
	    {"$($($($($--foo$(", "$($($($($--foo$("},
	    {"foo0--$($($($(", "foo0--$($($($("},
	    {"$(foo$$var)", "$(foo$$var)"},
	    {"\n", "\n"},
	    /* The brief's own list. */
	    {"", ""},
	    {"$", "$"},
	    {"$$", "$"},
	    {"$$$$", "$$"},
	    {"$(VAR", "$(VAR"},
	    {"$()", "$()"},
	    {"$(VAR_A)$(VAR_B)", "AB"},
	    {"$($(VAR_A)", "$($(VAR_A)"}, /* the first ")" closes the reference */
	    {"$(UNDEFINED)", "$(UNDEFINED)"},
	    /* The character after a lone "$" is copied as UTF-8; an invalid byte becomes U+FFFD
	     * as in Go. */
	    {"$\xc3\xa9t\xc3\xa9", "$\xc3\xa9t\xc3\xa9"},
	    {"$\xff", "$\xef\xbf\xbd"},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		char *got = env_expand(cases[i].input, expansion_vars, LEN(expansion_vars));
		if (strcmp(got, cases[i].expected) != 0)
			fail_msg("expand \"%s\": got \"%s\", want \"%s\"", cases[i].input, got,
				 cases[i].expected);
		free(got);
	}
}

static void test_expand_empty_name_defined(void **state)
{
	(void)state;
	const struct env_var vars[] = {{"", "empty-name"}, {"X", "1"}, {"X", "2"}};
	char *got = env_expand("$()/$(X)", vars, LEN(vars));
	/* A later definition wins, as in the map the kubelet fills in order. */
	assert_string_equal(got, "empty-name/2");
	free(got);
	got = env_expand("$(X)", NULL, 0);
	assert_string_equal(got, "$(X)");
	free(got);
}

/* --- process_env_resolve ----------------------------------------------------------------- */

static void test_env_resolve_order_and_references(void **state)
{
	(void)state;
	const struct env_var vars[] = {
	    {"FOO", "bar"},     {"ZOO", "$(FOO)-1"}, {"BLU", "$(ZOO)-2"},     {"EARLY", "$(LATER)"},
	    {"LATER", "later"}, {"ESC", "$$(FOO)"},  {"FOO", "$(FOO)-again"}, {"AFTER", "$(FOO)"},
	};
	struct env_var *out;
	size_t count;
	process_env_resolve(vars, LEN(vars), &out, &count);
	static const struct env_var expected[] = {
	    {"FOO", "bar-again"}, /* redefined in place, seeing its earlier value */
	    {"ZOO", "bar-1"},       {"BLU", "bar-1-2"},
	    {"EARLY", "$(LATER)"}, /* a later variable is not visible yet */
	    {"LATER", "later"},     {"ESC", "$(FOO)"},
	    {"AFTER", "bar-again"},
	};
	assert_int_equal(count, LEN(expected));
	for (size_t i = 0; i < count; i++) {
		assert_string_equal(out[i].name, expected[i].name);
		assert_string_equal(out[i].value, expected[i].value);
	}
	env_vars_free(out, count);
}

static void test_env_resolve_empty(void **state)
{
	(void)state;
	struct env_var *out;
	size_t count = 99;
	process_env_resolve(NULL, 0, &out, &count);
	assert_int_equal(count, 0);
	env_vars_free(out, count);
	env_vars_free(NULL, 0);
}

/* --- process_environment ----------------------------------------------------------------- */

static void test_environment_merges_in_place(void **state)
{
	(void)state;
	json_t *image_env = config_of("[\"PATH=/usr/bin:/bin\", \"LANG=C\", \"HOME=/root\", 7, "
				      "\"LANG=C.UTF-8\", \"BARE\"]");
	const struct env_var vars[] = {
	    {"HOME", "/home/app"}, {"NEW", "x=y"}, {"LANG", "de_DE"},
	    {"BARE", "set"},       {"EMPTY", ""},
	};
	char **env = process_environment(image_env, vars, LEN(vars));
	/* The last LANG of the image is the one replaced, as containerd's merge does; the
	 * non-string entry has no effect. */
	static const char *const expected[] = {
	    "PATH=/usr/bin:/bin", "LANG=C",  "HOME=/home/app", "LANG=de_DE",
	    "BARE=set",           "NEW=x=y", "EMPTY=",
	};
	assert_strv(env, expected, LEN(expected));
	strv_free(env);
	json_decref(image_env);
}

static void test_environment_without_image_env(void **state)
{
	(void)state;
	char **env = process_environment(NULL, NULL, 0);
	assert_non_null(env);
	assert_null(env[0]);
	strv_free(env);
	const struct env_var vars[] = {{"A", "1"}};
	env = process_environment(NULL, vars, 1);
	static const char *const expected[] = {"A=1"};
	assert_strv(env, expected, 1);
	strv_free(env);
	strv_free(NULL);
}

/* --- process_argv ------------------------------------------------------------------------ */

static const char *const image_with_both =
    "{\"Entrypoint\": [\"/entry\", \"$(HOME)\"], \"Cmd\": [\"cmd-arg\", \"$(NAME)\"]}";
static const struct env_var argv_vars[] = {{"NAME", "world"}, {"HOME", "/home/app"}};

static void check_argv(const char *config_text, const char *const *command, size_t command_count,
		       const char *const *args, size_t args_count, const char *const *expected,
		       size_t expected_count)
{
	json_t *config = config_text ? config_of(config_text) : NULL;
	char **argv = NULL;
	struct ck_error err = {0};
	assert_int_equal(process_argv(config, command, command_count, args, args_count, argv_vars,
				      LEN(argv_vars), &argv, &err),
			 0);
	assert_strv(argv, expected, expected_count);
	strv_free(argv);
	json_decref(config);
}

static void test_argv_command_and_args(void **state)
{
	(void)state;
	const char *command[] = {"/bin/echo", "hello $(NAME)"};
	const char *args[] = {"$(HOME)", "$$(HOME)", "$(MISSING)"};
	const char *expected[] = {"/bin/echo", "hello world", "/home/app", "$(HOME)", "$(MISSING)"};
	check_argv(image_with_both, command, 2, args, 3, expected, LEN(expected));
}

static void test_argv_command_only_drops_cmd(void **state)
{
	(void)state;
	const char *command[] = {"/bin/sh", "-c", "echo $(NAME)"};
	const char *expected[] = {"/bin/sh", "-c", "echo world"};
	check_argv(image_with_both, command, 3, NULL, 0, expected, LEN(expected));
}

static void test_argv_args_only_uses_entrypoint(void **state)
{
	(void)state;
	const char *args[] = {"--name=$(NAME)"};
	/* The image's own words are never expanded. */
	const char *expected[] = {"/entry", "$(HOME)", "--name=world"};
	check_argv(image_with_both, NULL, 0, args, 1, expected, LEN(expected));
}

static void test_argv_neither_uses_entrypoint_and_cmd(void **state)
{
	(void)state;
	const char *expected[] = {"/entry", "$(HOME)", "cmd-arg", "$(NAME)"};
	check_argv(image_with_both, NULL, 0, NULL, 0, expected, LEN(expected));
	const char *cmd_only[] = {"/bin/sh"};
	check_argv("{\"Entrypoint\": null, \"Cmd\": [\"/bin/sh\"]}", NULL, 0, NULL, 0, cmd_only, 1);
	/* ENTRYPOINT [""] clears the entrypoint rather than running "". */
	check_argv("{\"Entrypoint\": [\"\"], \"Cmd\": [\"/bin/sh\"]}", NULL, 0, NULL, 0, cmd_only,
		   1);
	const char *args[] = {"/bin/true"};
	check_argv("{\"Entrypoint\": [\"\"]}", NULL, 0, args, 1, args, 1);
	const char *entry_only[] = {"/entry"};
	check_argv("{\"Entrypoint\": [\"/entry\"]}", NULL, 0, NULL, 0, entry_only, 1);
}

static void test_argv_nothing_to_run(void **state)
{
	(void)state;
	static const char *const configs[] = {"{}", "{\"Entrypoint\": null, \"Cmd\": null}",
					      "{\"Entrypoint\": [], \"Cmd\": []}",
					      "{\"Entrypoint\": [\"\"]}"};
	for (size_t i = 0; i < LEN(configs); i++) {
		json_t *config = config_of(configs[i]);
		char **argv = NULL;
		struct ck_error err = {0};
		assert_int_equal(process_argv(config, NULL, 0, NULL, 0, NULL, 0, &argv, &err),
				 -EINVAL);
		assert_string_equal(err.message, "no command specified");
		assert_null(argv);
		json_decref(config);
	}
	char **argv = NULL;
	struct ck_error err = {0};
	assert_int_equal(process_argv(NULL, NULL, 0, NULL, 0, NULL, 0, &argv, &err), -EINVAL);
	assert_string_equal(err.message, "no command specified");
}

static void test_argv_bad_image_config(void **state)
{
	(void)state;
	static const struct {
		const char *config;
		const char *message;
	} cases[] = {
	    {"{\"Entrypoint\": \"/bin/sh\"}",
	     "image config: Entrypoint is not an array of strings"},
	    {"{\"Cmd\": [\"a\", 1]}", "image config: Cmd[1] is not a string"},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		json_t *config = config_of(cases[i].config);
		char **argv = NULL;
		struct ck_error err = {0};
		assert_int_equal(process_argv(config, NULL, 0, NULL, 0, NULL, 0, &argv, &err),
				 -EINVAL);
		assert_string_equal(err.message, cases[i].message);
		json_decref(config);
	}
	/* A bad Cmd does not matter when the spec replaces it. */
	const char *command[] = {"/bin/true"};
	check_argv("{\"Cmd\": 5}", command, 1, NULL, 0, command, 1);
}

/* --- process_working_dir ----------------------------------------------------------------- */

static void test_working_dir(void **state)
{
	(void)state;
	json_t *with = config_of("{\"WorkingDir\": \"/srv/app\"}");
	json_t *without = config_of("{\"WorkingDir\": \"\"}");
	json_t *relative = config_of("{\"WorkingDir\": \"srv\"}");
	json_t *wrong = config_of("{\"WorkingDir\": 3}");
	const char *dir = NULL;
	struct ck_error err = {0};

	assert_int_equal(process_working_dir(with, "/data", &dir, &err), 0);
	assert_string_equal(dir, "/data");
	assert_int_equal(process_working_dir(with, NULL, &dir, &err), 0);
	assert_string_equal(dir, "/srv/app");
	assert_int_equal(process_working_dir(with, "", &dir, &err), 0);
	assert_string_equal(dir, "/srv/app");
	assert_int_equal(process_working_dir(without, NULL, &dir, &err), 0);
	assert_string_equal(dir, "/");
	assert_int_equal(process_working_dir(NULL, NULL, &dir, &err), 0);
	assert_string_equal(dir, "/");
	assert_int_equal(process_working_dir(relative, "/ok", &dir, &err), 0);
	assert_string_equal(dir, "/ok");

	assert_int_equal(process_working_dir(NULL, "data", &dir, &err), -EINVAL);
	assert_string_equal(err.message, "workingDir \"data\": not an absolute path");
	assert_int_equal(process_working_dir(relative, NULL, &dir, &err), -EINVAL);
	assert_string_equal(err.message, "image config: WorkingDir \"srv\": not an absolute path");
	assert_int_equal(process_working_dir(wrong, NULL, &dir, &err), -EINVAL);
	assert_string_equal(err.message, "image config: WorkingDir is not a string");

	json_decref(with);
	json_decref(without);
	json_decref(relative);
	json_decref(wrong);
}

/* --- process_stop_signal ----------------------------------------------------------------- */

static int stop_signal_of(const char *config_text, struct ck_error *err)
{
	json_t *config = config_of(config_text);
	int signal_number = -1;
	int r = process_stop_signal(config, &signal_number, err);
	json_decref(config);
	return r < 0 ? r : signal_number;
}

static void test_stop_signal_names_and_numbers(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int number;
	} cases[] = {
	    {"SIGTERM", SIGTERM},   {"TERM", SIGTERM},    {"term", SIGTERM},
	    {"SigTerm", SIGTERM},   {"15", SIGTERM},      {"+15", SIGTERM},
	    {"SIGKILL", SIGKILL},   {"9", SIGKILL},       {"SIGQUIT", SIGQUIT},
	    {"sigint", SIGINT},     {"SIGUSR1", SIGUSR1}, {"USR2", SIGUSR2},
	    {"SIGWINCH", SIGWINCH}, {"SIGPWR", SIGPWR},   {"SIGIOT", SIGABRT},
	    {"SIGCLD", SIGCHLD},    {"SIGPOLL", SIGIO},   {"SIGSTKFLT", SIGSTKFLT},
	    {"SIGRTMIN", 34},       {"SIGRTMIN+3", 37},   {"rtmin+3", 37},
	    {"SIGRTMIN+30", 64},    {"SIGRTMAX", 64},     {"SIGRTMAX-1", 63},
	    {"SIGRTMAX-30", 34},    {"64", 64},           {"1", 1},
	};
	for (size_t i = 0; i < LEN(cases); i++) {
		char config[128];
		snprintf(config, sizeof(config), "{\"StopSignal\": \"%s\"}", cases[i].text);
		struct ck_error err = {0};
		int got = stop_signal_of(config, &err);
		if (got != cases[i].number)
			fail_msg("StopSignal %s: got %d (%s), want %d", cases[i].text, got,
				 err.message, cases[i].number);
	}
}

static void test_stop_signal_default(void **state)
{
	(void)state;
	struct ck_error err = {0};
	assert_int_equal(stop_signal_of("{}", &err), SIGTERM);
	assert_int_equal(stop_signal_of("{\"StopSignal\": null}", &err), SIGTERM);
	assert_int_equal(stop_signal_of("{\"StopSignal\": \"\"}", &err), SIGTERM);
	int number = -1;
	assert_int_equal(process_stop_signal(NULL, &number, &err), 0);
	assert_int_equal(number, SIGTERM);
}

static void test_stop_signal_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "0",           "65",
	    "-1",          "99999999999999999999",
	    "SIGFOO",      "SIG",
	    "SIGSIGTERM",  "TERM ",
	    " 15",         "SIGRTMIN+31",
	    "SIGRTMIN-1",  "SIGRTMAX+1",
	    "SIGRTMAX-31", "SIGRTMIN+",
	    "SIGRTMIN+x",  "SIGRTMIN++1",
	    "SIGUNUSED",   "SIGTERMINATEVERYLONGNAME",
	};
	for (size_t i = 0; i < LEN(bad); i++) {
		char config[128];
		snprintf(config, sizeof(config), "{\"StopSignal\": \"%s\"}", bad[i]);
		struct ck_error err = {0};
		int got = stop_signal_of(config, &err);
		if (got != -EINVAL)
			fail_msg("StopSignal \"%s\": got %d, want -EINVAL", bad[i], got);
	}
	struct ck_error err = {0};
	assert_int_equal(stop_signal_of("{\"StopSignal\": \"SIGFOO\"}", &err), -EINVAL);
	assert_string_equal(err.message, "image config: StopSignal \"SIGFOO\": no such signal");
	assert_int_equal(stop_signal_of("{\"StopSignal\": 15}", &err), -EINVAL);
	assert_string_equal(err.message, "image config: StopSignal is not a string");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expand_kubernetes_cases),
	    cmocka_unit_test(test_expand_empty_name_defined),
	    cmocka_unit_test(test_env_resolve_order_and_references),
	    cmocka_unit_test(test_env_resolve_empty),
	    cmocka_unit_test(test_environment_merges_in_place),
	    cmocka_unit_test(test_environment_without_image_env),
	    cmocka_unit_test(test_argv_command_and_args),
	    cmocka_unit_test(test_argv_command_only_drops_cmd),
	    cmocka_unit_test(test_argv_args_only_uses_entrypoint),
	    cmocka_unit_test(test_argv_neither_uses_entrypoint_and_cmd),
	    cmocka_unit_test(test_argv_nothing_to_run),
	    cmocka_unit_test(test_argv_bad_image_config),
	    cmocka_unit_test(test_working_dir),
	    cmocka_unit_test(test_stop_signal_names_and_numbers),
	    cmocka_unit_test(test_stop_signal_default),
	    cmocka_unit_test(test_stop_signal_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
