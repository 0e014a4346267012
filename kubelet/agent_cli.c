/* `ckube agent`: this node's agent alone, joined to an API server elsewhere. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "kubelet/agent.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/strconv.h"

enum {
	OPT_SERVER = 256,
	OPT_TOKEN_FILE,
	OPT_CA_FILE,
	OPT_NODE_NAME,
	OPT_NODE_IP,
	OPT_LOG_DIR,
	OPT_STATUS_SOCKET,
	OPT_NODE_PORT,
	OPT_MANIFESTS_DIR,
	OPT_BRIDGE,
	OPT_CLUSTER_CIDR,
	OPT_SERVICE_CIDR,
	OPT_MTU,
	OPT_DIR_BASE, /* the runtime_dirs options follow */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ckube agent --server URL [--token-file FILE] [--ca-file FILE]\n"
		"                   [--node-name NAME] [--node-ip IP] [--data-dir DIR]\n"
		"                   [--run-dir DIR] [--log-dir DIR] [--config-dir DIR]\n"
		"                   [--cgroup-root PATH] [--status-socket PATH]\n"
		"                   [--node-port PORT] [--manifests-dir DIR]\n"
		"                   [--bridge NAME] [--cluster-cidr CIDR] [--mtu N]\n"
		"                   [--service-cidr CIDR]\n\n"
		"Runs this node's agent against the API server at URL until SIGINT or SIGTERM.\n"
		"Containers keep running when it stops; the next start adopts them.\n"
		"  --token-file FILE   the server's join token (<data-dir>/token on the server);\n"
		"                      needed unless the server is on this machine's loopback\n"
		"  --ca-file FILE      the cluster CA for an https URL (<data-dir>/tls/ca.crt on\n"
		"                      the server)\n"
		"  --status-socket PATH  where `ckube status` asks the agent (default\n"
		"                      <run-dir>/ckube.sock)\n"
		"  --node-port PORT    where the API server reads this node's logs, on the node\n"
		"                      IP (default 10250)\n"
		"  --manifests-dir DIR static pods: the Pods of the files there run on this node,\n"
		"                      with or without the API server (default\n"
		"                      <config-dir>/manifests)\n"
		"  --bridge NAME       the pods' bridge (default ckube0)\n"
		"  --cluster-cidr CIDR every node's pods (the server's --cluster-cidr, default\n"
		"                      10.244.0.0/16): pod traffic to anywhere else is\n"
		"                      masqueraded behind the node's address\n"
		"  --mtu N             the pods' interfaces (default: the node IP's interface)\n"
		"  --service-cidr CIDR the ClusterIP range (the server's --service-cidr, default\n"
		"                      10.96.0.0/12): routed to the bridge, its unallocated\n"
		"                      addresses dropped by the Service proxy\n");
}

static char *read_trimmed(const char *path, struct ck_error *err)
{
	char *text;
	size_t len;

	if (fs_read_file(path, &text, &len, err) < 0)
		return NULL;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	return text;
}

static int wait_for_signal(void)
{
	sigset_t set;
	int signal_number = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &signal_number);
	return signal_number;
}

int agent_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"ca-file", required_argument, NULL, OPT_CA_FILE},
	    {"node-name", required_argument, NULL, OPT_NODE_NAME},
	    {"node-ip", required_argument, NULL, OPT_NODE_IP},
	    {"log-dir", required_argument, NULL, OPT_LOG_DIR},
	    {"node-port", required_argument, NULL, OPT_NODE_PORT},
	    {"status-socket", required_argument, NULL, OPT_STATUS_SOCKET},
	    {"manifests-dir", required_argument, NULL, OPT_MANIFESTS_DIR},
	    {"bridge", required_argument, NULL, OPT_BRIDGE},
	    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
	    {"service-cidr", required_argument, NULL, OPT_SERVICE_CIDR},
	    {"mtu", required_argument, NULL, OPT_MTU},
	    {"help", no_argument, NULL, 'h'},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	struct agent_config config = {.network.cluster_cidr = "10.244.0.0/16",
				      .network.service_cidr = "10.96.0.0/12"};
	const char *token_file = NULL, *ca_file = NULL;
	_cleanup_free_ char *token = NULL, *ca = NULL;
	struct ck_error err = {0};
	struct agent *agent;
	sigset_t stop;
	int c;

	runtime_dirs_default(&config.dirs);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			config.api.server = optarg;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_CA_FILE:
			ca_file = optarg;
			break;
		case OPT_NODE_NAME:
			config.node_name = optarg;
			break;
		case OPT_NODE_IP:
			config.node_ip = optarg;
			break;
		case OPT_LOG_DIR:
			config.log_dir = optarg;
			break;
		case OPT_STATUS_SOCKET:
			config.status_socket = optarg;
			break;
		case OPT_MANIFESTS_DIR:
			config.manifests_dir = optarg;
			break;
		case OPT_BRIDGE:
			config.network.bridge = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			config.network.cluster_cidr = optarg;
			break;
		case OPT_SERVICE_CIDR:
			config.network.service_cidr = optarg;
			break;
		case OPT_MTU: {
			int64_t mtu;
			if (strconv_parse_int(optarg, 68, 65535, &mtu, NULL) < 0) {
				fprintf(stderr, "ckube agent: --mtu %s: want 68 to 65535\n",
					optarg);
				return 2;
			}
			config.network.mtu = (int)mtu;
			break;
		}
		case OPT_NODE_PORT: {
			int64_t port;
			if (strconv_parse_int(optarg, 1, 65535, &port, NULL) < 0) {
				fprintf(stderr, "ckube agent: --node-port %s: want 1 to 65535\n",
					optarg);
				return 2;
			}
			config.node_port = (int)port;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (runtime_dirs_option(&config.dirs, c - OPT_DIR_BASE, optarg))
				break;
			usage(stderr);
			return 2;
		}
	}
	if (!config.api.server || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (token_file && !(token = read_trimmed(token_file, &err))) {
		fprintf(stderr, "ckube agent: %s\n", err.message);
		return 1;
	}
	if (ca_file && fs_read_file(ca_file, &ca, &config.api.ca_pem_len, &err) < 0) {
		fprintf(stderr, "ckube agent: %s\n", err.message);
		return 1;
	}
	config.api.bearer_token = token;
	config.api.ca_pem = ca;
	config.api.user_agent = "ckube-agent";
	/* Blocked before any thread starts, so every thread leaves them to sigwait. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Each of the agent's dozen threads would otherwise get a malloc arena of its own that
	 * keeps its freed memory: two arenas hold what they need for a fraction of the memory
	 * (the agent allocates little, and rarely from two threads at once). */
	mallopt(M_ARENA_MAX, 2);
	if (agent_start(&config, &agent, &err) < 0) {
		fprintf(stderr, "ckube agent: %s\n", err.message);
		return 1;
	}
	log_info("received %s, stopping the agent (containers keep running)",
		 strsignal(wait_for_signal()));
	agent_stop(agent);
	return 0;
}
