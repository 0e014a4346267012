/* `ckube kubectl`: global flags, the kubeconfig, and the verbs. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "kubectl/args.h"
#include "kubectl/kubectl.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/kubeconfig.h"
#include "lib/version.h"

struct verb {
	const char *name;
	int (*run)(struct kubectl *k, int argc, const char *const *argv);
	const char *summary;
};

static const struct verb verbs[] = {
    {"create", kubectl_create, "Create resources from files or stdin"},
    {"apply", kubectl_apply, "Apply a configuration to resources from files or stdin"},
    {"get", kubectl_get, "Display one or many resources"},
    {"describe", kubectl_describe, "Show details of a pod, service or node"},
    {"delete", kubectl_delete, "Delete resources by file names, stdin, or names"},
    {"logs", kubectl_logs, "Print the logs for a container in a pod"},
};

struct global_flags {
	const char *kubeconfig;
	const char *namespace;
	const char *context;
	const char *server;
	const char *token;
	bool insecure;
	bool help;
};

static void usage(FILE *out)
{
	fprintf(out, "ckube kubectl talks to a Kubernetes API server like kubectl.\n\n"
		     "Usage:\n  ckube kubectl [flags] VERB [args]\n\nVerbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nFlags:\n"
		     "  --kubeconfig FILE             kubeconfig to use (else $KUBECONFIG, "
		     "~/.kube/config)\n"
		     "  --context NAME                kubeconfig context to use\n"
		     "  -n, --namespace NS            namespace for this request\n"
		     "  -s, --server URL              API server address\n"
		     "  --token TOKEN                 bearer token\n"
		     "  --insecure-skip-tls-verify    do not check the server's certificate\n");
}

void kubectl_report(struct kubectl *k, const struct ck_error *err)
{
	bool complete = err->code == KUBECTL_SERVER_ERROR || err->code == KUBECTL_UNREACHABLE;
	fprintf(k->err, "%s%s\n", complete ? "" : "error: ", err->message);
}

int kubectl_parse_flags(struct kubectl *k, int argc, const char *const *argv,
			const struct arg_option *options, struct arg_strings *rest)
{
	struct ck_error err = {0};
	if (args_parse(argc - 1, argv + 1, options, false, rest, &err) == 0)
		return 0;
	fprintf(k->err, "Error: %s\nSee 'ckube kubectl --help' for usage.\n", err.message);
	return -1;
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* The kubeconfig with the command line's overrides applied. */
static int load_config(const struct global_flags *flags, struct kubeconfig *config,
		       struct ck_error *err)
{
	_cleanup_free_ char *path = kubeconfig_path(flags->kubeconfig);
	bool have_file = path && (flags->kubeconfig || access(path, F_OK) == 0);
	if (have_file || !flags->server) {
		int ret = kubeconfig_load(path, flags->context, config, err);
		if (ret < 0)
			return ret;
	} else {
		*config = (struct kubeconfig){.namespace = strdup("default")};
	}
	if (flags->server) {
		free(config->server);
		config->server = strdup(flags->server);
	}
	if (flags->token) {
		free(config->token);
		config->token = strdup(flags->token);
	}
	config->insecure_skip_tls_verify |= flags->insecure;
	return 0;
}

static int connect_to(const struct kubeconfig *config, struct http_client **http,
		      struct ck_error *err)
{
	struct http_client_options options = {
	    .server = config->server,
	    .bearer_token = config->token,
	    .ca_pem = config->ca_pem,
	    .ca_pem_len = config->ca_pem_len,
	    .client_cert_pem = config->client_cert_pem,
	    .client_cert_pem_len = config->client_cert_pem_len,
	    .client_key_pem = config->client_key_pem,
	    .client_key_pem_len = config->client_key_pem_len,
	    .insecure_skip_tls_verify = config->insecure_skip_tls_verify,
	    .user_agent = "ckube-kubectl/" CKUBE_VERSION,
	};
	return http_client_new(&options, http, err);
}

static int run_verb(const struct verb *verb, const struct global_flags *flags,
		    const struct arg_strings *rest)
{
	struct kubectl k = {.out = stdout, .err = stderr};
	struct ck_error err = {0};
	struct kubeconfig config = {0};
	int status = 1;
	if (load_config(flags, &config, &err) < 0 || connect_to(&config, &k.http, &err) < 0) {
		kubectl_report(&k, &err);
		goto out;
	}
	k.namespace = flags->namespace ? flags->namespace : config.namespace;
	k.namespace_from_flag = flags->namespace != NULL;
	status = verb->run(&k, (int)rest->count, rest->items);
out:
	fflush(k.out);
	http_client_free(k.http);
	json_decref(k.discovery);
	kubeconfig_free(&config);
	return status;
}

int kubectl_main(int argc, char **argv)
{
	struct global_flags flags = {0};
	const struct arg_option options[] = {
	    {0, "kubeconfig", ARG_STRING, &flags.kubeconfig},
	    {'n', "namespace", ARG_STRING, &flags.namespace},
	    {0, "context", ARG_STRING, &flags.context},
	    {'s', "server", ARG_STRING, &flags.server},
	    {0, "token", ARG_STRING, &flags.token},
	    {0, "insecure-skip-tls-verify", ARG_BOOL, &flags.insecure},
	    {'h', "help", ARG_BOOL, &flags.help},
	    {0},
	};
	struct arg_strings rest = {0};
	struct ck_error err = {0};
	int status = 1;
	if (args_parse(argc - 1, (const char *const *)argv + 1, options, true, &rest, &err) < 0) {
		fprintf(stderr, "error: %s\n", err.message);
	} else if (flags.help || rest.count == 0) {
		usage(flags.help ? stdout : stderr);
		status = flags.help ? 0 : 1;
	} else if (flags.namespace && !*flags.namespace) {
		fprintf(stderr, "error: a namespace must be non-empty\n");
	} else {
		const struct verb *verb = find_verb(rest.items[0]);
		if (verb)
			status = run_verb(verb, &flags, &rest);
		else
			fprintf(stderr,
				"error: unknown command \"%s\" for \"ckube kubectl\"\n"
				"Run 'ckube kubectl --help' for usage.\n",
				rest.items[0]);
	}
	arg_strings_free(&rest);
	return status;
}
