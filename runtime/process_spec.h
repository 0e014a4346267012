/* A container's process as Kubernetes defines it from the container spec over the image's
 * config: the command line, the environment with $(VAR) references, the working directory and
 * the stop signal. Pure functions of their input, used by the agent and by `ckube run` before
 * anything is created. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct env_var {
	char *name;
	char *value;
};

/* "$(NAME)" becomes the value of the variable NAME when `vars` has it and stays as written
 * otherwise; "$$" becomes "$" (so "$$(NAME)" is the literal "$(NAME)"); any other "$" stays.
 * As Kubernetes' third_party/forked/golang/expansion. Caller frees. */
char *env_expand(const char *text, const struct env_var *vars, size_t var_count);

/* The container's env list as Kubernetes resolves it: each value is expanded with the
 * variables defined before it; a later definition of a name replaces the earlier one in its
 * place. `out` receives copies (free with env_vars_free). */
void process_env_resolve(const struct env_var *vars, size_t count, struct env_var **out,
			 size_t *out_count);
void env_vars_free(struct env_var *vars, size_t count);

/* The process environment: the image's Env ("NAME=value" strings, may be NULL), then the
 * resolved container variables; a container variable replaces an image variable of the same
 * name in place (the last one, when the image sets a name twice, as containerd merges).
 * A NULL-terminated array of "NAME=value"; free with strv_free. */
char **process_environment(const json_t *image_env, const struct env_var *vars, size_t count);

/* The search path containerd gives a container whose image sets none. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What containerd and runc add to a process environment that lacks them: PATH (DEFAULT_PATH)
 * and HOSTNAME (when `hostname` is given) in front, HOME (when `home` is given) at the end.
 * Replaces *env (a process_environment result). */
void process_environment_defaults(char ***env, const char *hostname, const char *home);

/* argv with Kubernetes and containerd's rules over the image's Entrypoint and Cmd:
 *   command given:    command + args (the image's Cmd is not used)
 *   only args given:  Entrypoint + args
 *   neither:          Entrypoint + Cmd
 * An Entrypoint of exactly [""] (a Dockerfile's way to clear it) counts as none, as in
 * containerd. Elements of command and args are $(VAR)-expanded with the resolved container
 * variables (not the image's Env). `image_config` may be NULL. Nothing to run fails with
 * -EINVAL "no command specified"; an Entrypoint or Cmd that is not an array of strings is
 * -EINVAL too. Free with strv_free. */
int process_argv(const json_t *image_config, const char *const *command, size_t command_count,
		 const char *const *args, size_t args_count, const struct env_var *vars,
		 size_t var_count, char ***out, struct ck_error *err);

/* workingDir, else the image's WorkingDir, else "/" (empty strings count as unset). Must be
 * absolute: -EINVAL otherwise. *out points into `working_dir` or `image_config`. */
int process_working_dir(const json_t *image_config, const char *working_dir, const char **out,
			struct ck_error *err);

/* The image's StopSignal ("SIGTERM", "TERM", "15", "SIGRTMIN+3", case-insensitive for
 * names) or SIGTERM when it has none; -EINVAL for a name or number that is no signal. */
int process_stop_signal(const json_t *image_config, int *out, struct ck_error *err);

void strv_free(char **strv);
/* The number of strings of a NULL-terminated array (0 for NULL). */
size_t strv_length(char *const *strv);
