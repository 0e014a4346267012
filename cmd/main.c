/* ckube: one binary, several roles, chosen by the first argument. It never installs itself as
 * `kubectl`; the kubectl role is `ckube kubectl`. */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "lib/log.h"
#include "lib/version.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ckube %s (Kubernetes API %s)\n", CKUBE_VERSION, CKUBE_KUBERNETES_GIT_VERSION);
	return 0;
}

static const struct command commands[] = {
    {"server", server_main, "run the API server, controllers and this node's agent"},
    {"agent", agent_main, "run this node's agent, joined to an API server"},
    {"status", status_main, "show what this node's agent runs, from its status socket"},
    {"kubectl", kubectl_main, "talk to the API server like kubectl"},
    {"image", image_main, "pull, import, list and remove images"},
    {"run", run_main, "run one container without the API"},
    {"exec", exec_main, "run a command in a running container of this node"},
    {"wait", wait_main, "wait for a container of this node and print its exit code"},
    {"rm", rm_main, "remove what stopped containers left"},
    {"network", network_main, "wire a network namespace as a pod's, or unwire it"},
    {"proxy", proxy_main, "program this node's Service rules from a file, or delete them"},
    {"volume", volume_main, "mount a volume of this node by hand (nfs-mount)"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ckube COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	log_init_from_env();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ckube: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
