/* The container's process from its spec over the image config, by the rules of the kubelet
 * (env resolution and $(VAR) expansion: third_party/forked/golang/expansion,
 * makeEnvironmentVariables, ExpandContainerCommandAndArgs) and of containerd's CRI plugin (argv
 * from command, args, Entrypoint and Cmd; environment merge; working directory; stop signal). */
#include "runtime/process_spec.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"

static char *copy_or_abort(const char *s)
{
	char *copy = strdup(s);
	if (!copy)
		abort();
	return copy;
}

/* --- string vectors ---------------------------------------------------------------------- */

struct strv_builder {
	char **items;
	size_t len;
	size_t cap;
};

/* Takes ownership of `s`. Keeps room for the NULL that ends the finished vector. */
static void strv_push(struct strv_builder *v, char *s)
{
	if (v->len + 1 >= v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		char **grown = realloc(v->items, cap * sizeof(*grown));
		if (!grown)
			abort();
		v->items = grown;
		v->cap = cap;
	}
	v->items[v->len++] = s;
	v->items[v->len] = NULL;
}

static char **strv_finish(struct strv_builder *v)
{
	if (!v->items)
		strv_push(v, NULL); /* an empty vector is still a NULL-terminated array */
	return steal_ptr(&v->items);
}

static void strv_builder_free(struct strv_builder *v)
{
	strv_free(v->items);
	v->items = NULL;
}

size_t strv_length(char *const *strv)
{
	size_t n = 0;

	while (strv && strv[n])
		n++;
	return n;
}

void strv_free(char **strv)
{
	if (!strv)
		return;
	for (char **s = strv; *s; s++)
		free(*s);
	free(strv);
}

/* --- $(VAR) expansion -------------------------------------------------------------------- */

/* The last definition wins, as in the map the kubelet fills in order. */
static const struct env_var *env_find(const struct env_var *vars, size_t count, const char *name,
				      size_t name_len)
{
	for (size_t i = count; i-- > 0;) {
		if (strncmp(vars[i].name, name, name_len) == 0 && vars[i].name[name_len] == '\0')
			return &vars[i];
	}
	return NULL;
}

/* Appends what "$" followed by `rest` (not empty) stands for; returns how many bytes of `rest`
 * that took. */
static size_t expand_after_operator(const char *rest, size_t rest_len, const struct env_var *vars,
				    size_t var_count, struct buf *out)
{
	if (rest[0] == '$') {
		buf_putc(out, '$');
		return 1;
	}
	if (rest[0] == '(') {
		const char *close = memchr(rest + 1, ')', rest_len - 1);
		if (!close) {
			/* Only "$(" is consumed: a complete reference later on still expands. */
			buf_puts(out, "$(");
			return 1;
		}
		size_t name_len = (size_t)(close - (rest + 1));
		const struct env_var *var = env_find(vars, var_count, rest + 1, name_len);
		if (var) {
			buf_puts(out, var->value);
		} else {
			buf_puts(out, "$(");
			buf_append(out, rest + 1, name_len);
			buf_putc(out, ')');
		}
		return name_len + 2;
	}
	/* Kubernetes copies the operator and the character after it decoded as UTF-8, so an
	 * invalid byte there comes out as U+FFFD; the same here, to produce the same argv. */
	uint32_t rune;
	size_t width = utf8_decode_rune(rest, rest_len, &rune);
	buf_putc(out, '$');
	utf8_append_rune(out, rune);
	return width;
}

char *env_expand(const char *text, const struct env_var *vars, size_t var_count)
{
	struct buf out = {0};
	size_t len = strlen(text);
	size_t at = 0;
	while (at < len) {
		size_t plain = strcspn(text + at, "$");
		buf_append(&out, text + at, plain);
		at += plain;
		if (at + 1 >= len) {
			/* Either the end, or a "$" that ends the text and stays as written. */
			buf_append(&out, text + at, len - at);
			break;
		}
		at += 1 + expand_after_operator(text + at + 1, len - at - 1, vars, var_count, &out);
	}
	return buf_steal(&out);
}

/* --- environment ------------------------------------------------------------------------- */

void process_env_resolve(const struct env_var *vars, size_t count, struct env_var **out,
			 size_t *out_count)
{
	struct env_var *resolved = calloc(count ? count : 1, sizeof(*resolved));
	if (!resolved)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		/* Only what is defined so far is visible: a reference to a later variable stays
		 * as written, as in the kubelet. */
		char *value = env_expand(vars[i].value, resolved, n);
		struct env_var *earlier =
		    (struct env_var *)env_find(resolved, n, vars[i].name, strlen(vars[i].name));
		if (earlier) {
			free(earlier->value);
			earlier->value = value;
			continue;
		}
		resolved[n].name = copy_or_abort(vars[i].name);
		resolved[n].value = value;
		n++;
	}
	*out = resolved;
	*out_count = n;
}

void env_vars_free(struct env_var *vars, size_t count)
{
	if (!vars)
		return;
	for (size_t i = 0; i < count; i++) {
		free(vars[i].name);
		free(vars[i].value);
	}
	free(vars);
}

/* The index of the entry that sets `name` ("NAME=..." or a bare "NAME"), the last one when the
 * image sets it twice, as containerd's merge finds it; -1 when none does. */
static ssize_t env_entry_index(const struct strv_builder *env, const char *name)
{
	size_t name_len = strlen(name);
	for (size_t i = env->len; i-- > 0;) {
		const char *entry = env->items[i];
		if (strncmp(entry, name, name_len) == 0 &&
		    (entry[name_len] == '=' || entry[name_len] == '\0'))
			return (ssize_t)i;
	}
	return -1;
}

static bool environment_has(char *const *env, const char *name)
{
	size_t len = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return true;
	return false;
}

char **process_environment(const json_t *image_env, const struct env_var *vars, size_t count)
{
	struct strv_builder env = {0};
	size_t i;
	json_t *item;
	/* json_array_foreach does not take a const array; nothing here changes it. */
	json_array_foreach ((json_t *)image_env, i, item) {
		/* The image config was parsed as JSON already; an entry that is not a string
		 * cannot be an environment variable, so it has no effect. */
		if (json_is_string(item))
			strv_push(&env, copy_or_abort(json_string_value(item)));
	}
	for (size_t v = 0; v < count; v++) {
		struct buf entry = {0};
		buf_printf(&entry, "%s=%s", vars[v].name, vars[v].value);
		ssize_t at = env_entry_index(&env, vars[v].name);
		if (at < 0) {
			strv_push(&env, buf_steal(&entry));
		} else {
			free(env.items[at]);
			env.items[at] = buf_steal(&entry);
		}
	}
	return strv_finish(&env);
}

void process_environment_defaults(char ***env, const char *hostname, const char *home)
{
	struct strv_builder merged = {0};
	char **old = *env;

	if (!environment_has(old, "PATH"))
		strv_push(&merged, copy_or_abort("PATH=" DEFAULT_PATH));
	if (hostname && !environment_has(old, "HOSTNAME")) {
		struct buf entry = {0};
		buf_printf(&entry, "HOSTNAME=%s", hostname);
		strv_push(&merged, buf_steal(&entry));
	}
	for (size_t i = 0; old && old[i]; i++)
		strv_push(&merged, old[i]);
	if (home && !environment_has(old, "HOME")) {
		struct buf entry = {0};
		buf_printf(&entry, "HOME=%s", home);
		strv_push(&merged, buf_steal(&entry));
	}
	free(old);
	*env = strv_finish(&merged);
}

/* --- argv -------------------------------------------------------------------------------- */

/* config[key] as a JSON array of strings; NULL when missing or null. */
static int image_string_array(const json_t *config, const char *key, const json_t **out,
			      struct ck_error *err)
{
	const json_t *array = json_object_get(config, key);
	*out = NULL;
	if (!array || json_is_null(array))
		return 0;
	if (!json_is_array(array))
		return ck_error_set(err, EINVAL, "image config: %s is not an array of strings",
				    key);
	for (size_t i = 0; i < json_array_size(array); i++) {
		if (!json_is_string(json_array_get(array, i)))
			return ck_error_set(err, EINVAL, "image config: %s[%zu] is not a string",
					    key, i);
	}
	*out = array;
	return 0;
}

/* `ENTRYPOINT [""]` is how a Dockerfile clears the base image's entrypoint; containerd reads it
 * as no entrypoint rather than as an empty program name. */
static bool entrypoint_cleared(const json_t *entrypoint)
{
	return json_array_size(entrypoint) == 1 &&
	       strcmp(json_string_value(json_array_get(entrypoint, 0)), "") == 0;
}

static int push_image_strings(struct strv_builder *argv, const json_t *config, const char *key,
			      struct ck_error *err)
{
	const json_t *array;
	int r = image_string_array(config, key, &array, err);
	if (r < 0)
		return r;
	if (strcmp(key, "Entrypoint") == 0 && entrypoint_cleared(array))
		return 0;
	for (size_t i = 0; i < json_array_size(array); i++)
		strv_push(argv, copy_or_abort(json_string_value(json_array_get(array, i))));
	return 0;
}

static void push_expanded(struct strv_builder *argv, const char *const *words, size_t count,
			  const struct env_var *vars, size_t var_count)
{
	for (size_t i = 0; i < count; i++)
		strv_push(argv, env_expand(words[i], vars, var_count));
}

int process_argv(const json_t *image_config, const char *const *command, size_t command_count,
		 const char *const *args, size_t args_count, const struct env_var *vars,
		 size_t var_count, char ***out, struct ck_error *err)
{
	_cleanup_(strv_builder_free) struct strv_builder argv = {0};
	if (command_count > 0) {
		push_expanded(&argv, command, command_count, vars, var_count);
	} else {
		int r = push_image_strings(&argv, image_config, "Entrypoint", err);
		if (r < 0)
			return r;
	}
	if (args_count > 0) {
		push_expanded(&argv, args, args_count, vars, var_count);
	} else if (command_count == 0) {
		int r = push_image_strings(&argv, image_config, "Cmd", err);
		if (r < 0)
			return r;
	}
	if (argv.len == 0)
		return ck_error_set(err, EINVAL, "no command specified");
	*out = strv_finish(&argv);
	return 0;
}

/* --- working directory and stop signal --------------------------------------------------- */

/* config[key] as a string; NULL when missing or null. */
static int image_string(const json_t *config, const char *key, const char **out,
			struct ck_error *err)
{
	const json_t *value = json_object_get(config, key);
	*out = NULL;
	if (!value || json_is_null(value))
		return 0;
	if (!json_is_string(value))
		return ck_error_set(err, EINVAL, "image config: %s is not a string", key);
	*out = json_string_value(value);
	return 0;
}

int process_working_dir(const json_t *image_config, const char *working_dir, const char **out,
			struct ck_error *err)
{
	const char *dir = working_dir;
	const char *source = "workingDir";
	if (!dir || !*dir) {
		int r = image_string(image_config, "WorkingDir", &dir, err);
		if (r < 0)
			return r;
		source = "image config: WorkingDir";
	}
	if (!dir || !*dir) {
		*out = "/";
		return 0;
	}
	/* The runtime chdirs there inside the new root; a relative path would depend on where
	 * the runtime happened to be. */
	if (dir[0] != '/')
		return ck_error_set(err, EINVAL, "%s \"%s\": not an absolute path", source, dir);
	*out = dir;
	return 0;
}

/* Real-time signals as containerd and Docker number them (Go's signal tables): SIGRTMIN is 34,
 * glibc's value, its threading library keeping the kernel's 32 and 33. Fixed here so that an
 * image's "SIGRTMIN+3" means the same signal whatever libc the node has. */
#define RT_SIGNAL_MIN 34
#define RT_SIGNAL_MAX 64

static const struct {
	const char *name;
	int number;
} signal_names[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},       {"CHLD", SIGCHLD},
    {"CLD", SIGCHLD},  {"CONT", SIGCONT}, {"FPE", SIGFPE},       {"HUP", SIGHUP},
    {"ILL", SIGILL},   {"INT", SIGINT},   {"IO", SIGIO},         {"IOT", SIGABRT},
    {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGIO},       {"PROF", SIGPROF},
    {"PWR", SIGPWR},   {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},     {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

/* "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n" (upper case, without "SIG"); 0 when not one. */
static int rt_signal_number(const char *name)
{
	int base, direction;
	if (strncmp(name, "RTMIN", 5) == 0) {
		base = RT_SIGNAL_MIN;
		direction = 1;
	} else if (strncmp(name, "RTMAX", 5) == 0) {
		base = RT_SIGNAL_MAX;
		direction = -1;
	} else {
		return 0;
	}
	const char *offset = name + 5;
	if (*offset == '\0')
		return base;
	if (*offset != (direction > 0 ? '+' : '-') || !isdigit((unsigned char)offset[1]))
		return 0;
	int64_t n;
	if (strconv_parse_int(offset + 1, 0, RT_SIGNAL_MAX - RT_SIGNAL_MIN, &n, NULL) < 0)
		return 0;
	return base + direction * (int)n;
}

/* A signal name in any case, with or without "SIG"; 0 when there is no such signal. */
static int signal_by_name(const char *text)
{
	char upper[16];
	size_t len = strlen(text);
	if (len >= sizeof(upper))
		return 0;
	for (size_t i = 0; i <= len; i++)
		upper[i] = (char)toupper((unsigned char)text[i]);
	const char *name = strncmp(upper, "SIG", 3) == 0 ? upper + 3 : upper;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (strcmp(signal_names[i].name, name) == 0)
			return signal_names[i].number;
	}
	return rt_signal_number(name);
}

int process_stop_signal(const json_t *image_config, int *out, struct ck_error *err)
{
	const char *text;
	int r = image_string(image_config, "StopSignal", &text, err);
	if (r < 0)
		return r;
	if (!text || !*text) {
		*out = SIGTERM;
		return 0;
	}
	int64_t number;
	int found;
	/* A number is taken as a number, as containerd's ParseSignal does, and must be one. */
	if (strconv_parse_int(text, INT64_MIN, INT64_MAX, &number, NULL) == 0)
		found = number >= 1 && number <= RT_SIGNAL_MAX ? (int)number : 0;
	else
		found = signal_by_name(text);
	if (found == 0)
		return ck_error_set(err, EINVAL, "image config: StopSignal \"%s\": no such signal",
				    text);
	*out = found;
	return 0;
}
