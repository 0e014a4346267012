/* What every `ckube kubectl` command shares: the connection, the namespace in effect, the
 * output streams and the discovery cache; and how failures reach the user. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/error.h"
#include "lib/http_client.h"

/* Codes of failures whose message is already the complete text kubectl prints: the server
 * answered with an error Status, or could not be reached. Other failures are printed with
 * kubectl's "error: " in front. */
#define KUBECTL_SERVER_ERROR EREMOTEIO
#define KUBECTL_UNREACHABLE ENOTCONN

struct kubectl {
	struct http_client *http; /* NULL in unit tests that never talk to a server */
	const char *namespace;    /* -n, else the kubeconfig context's namespace */
	bool namespace_from_flag;
	FILE *out;
	FILE *err;
	json_t *discovery; /* groupVersion -> APIResourceList, and "" -> APIGroupList */
};

/* Prints a failure the way kubectl does (see KUBECTL_SERVER_ERROR). */
void kubectl_report(struct kubectl *k, const struct ck_error *err);

struct arg_option;
struct arg_strings;
/* Reads a verb's flags (argv[0] is the verb); on a bad flag prints kubectl's
 * "Error: unknown flag: --x" with the usage hint and returns -1. */
int kubectl_parse_flags(struct kubectl *k, int argc, const char *const *argv,
			const struct arg_option *options, struct arg_strings *rest);

/* Commands: argv[0] is the verb; each returns the process exit status. */
int kubectl_create(struct kubectl *k, int argc, const char *const *argv);
int kubectl_apply(struct kubectl *k, int argc, const char *const *argv);
int kubectl_get(struct kubectl *k, int argc, const char *const *argv);
int kubectl_describe(struct kubectl *k, int argc, const char *const *argv);
int kubectl_delete(struct kubectl *k, int argc, const char *const *argv);
int kubectl_logs(struct kubectl *k, int argc, const char *const *argv);
