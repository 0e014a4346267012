/* `ckube server`: the API server on embedded SQLite, with its controllers and scheduler, in one
 * process. Prints where the admin kubeconfig and the join token are, then serves until SIGINT
 * or SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apiserver/access.h"
#include "apiserver/api.h"
#include "apiserver/bootstrap.h"
#include "apiserver/controllers.h"
#include "apiserver/metrics.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "apiserver/server_roles.h"
#include "apiserver/store.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/hostaddr.h"
#include "lib/log.h"
#include "lib/strconv.h"
#include "lib/version.h"

struct server_flags {
	struct apiserver_config config;
	const char *run_dir;
	const char *log_dir;
	const char *datastore;
	const char *node_name;
	const char *node_ip;
	const char *cgroup_root;
	int node_port;
	bool no_agent;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube server [flags]\n"
	    "  --listen ADDR:PORT        API address (default 127.0.0.1:6443); beyond loopback\n"
	    "                            every request needs the bearer token\n"
	    "  --data-dir DIR            database, token (default /var/lib/ckube)\n"
	    "  --run-dir DIR             runtime state (default /run/ckube)\n"
	    "  --log-dir DIR             pod logs (default /var/log/pods)\n"
	    "  --config-dir DIR          admin.kubeconfig, manifests (default /etc/ckube)\n"
	    "  --datastore URL           sqlite (default)\n"
	    "  --service-cidr CIDR       ClusterIP range (default 10.96.0.0/12)\n"
	    "  --cluster-cidr CIDR       pod range (default 10.244.0.0/16)\n"
	    "  --node-cidr-mask-size N   each node's block of it (default 24)\n"
	    "  --service-node-port-range A-B   (default 30000-32767)\n"
	    "  --node-monitor-grace-period SECONDS   (default 40)\n"
	    "  --node-name NAME --node-ip IP   this node (default: hostname, default route's "
	    "address)\n"
	    "  --cgroup-root PATH        the agent's cgroups (default ckube)\n"
	    "  --node-port PORT          the agent's endpoint for logs, on the node IP (default "
	    "10250)\n"
	    "  --no-agent                the API server alone, without this node's agent\n");
}

enum {
	OPT_LISTEN = 256,
	OPT_DATA_DIR,
	OPT_RUN_DIR,
	OPT_LOG_DIR,
	OPT_CONFIG_DIR,
	OPT_DATASTORE,
	OPT_SERVICE_CIDR,
	OPT_CLUSTER_CIDR,
	OPT_NODE_CIDR_MASK_SIZE,
	OPT_NODE_PORTS,
	OPT_NODE_GRACE,
	OPT_NODE_NAME,
	OPT_NODE_IP,
	OPT_NO_AGENT,
	OPT_CGROUP_ROOT,
	OPT_NODE_PORT,
	OPT_HELP,
};

static int parse_flags(int argc, char **argv, struct server_flags *flags)
{
	static const struct option options[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
	    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
	    {"log-dir", required_argument, NULL, OPT_LOG_DIR},
	    {"config-dir", required_argument, NULL, OPT_CONFIG_DIR},
	    {"datastore", required_argument, NULL, OPT_DATASTORE},
	    {"service-cidr", required_argument, NULL, OPT_SERVICE_CIDR},
	    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
	    {"node-cidr-mask-size", required_argument, NULL, OPT_NODE_CIDR_MASK_SIZE},
	    {"service-node-port-range", required_argument, NULL, OPT_NODE_PORTS},
	    {"node-monitor-grace-period", required_argument, NULL, OPT_NODE_GRACE},
	    {"node-name", required_argument, NULL, OPT_NODE_NAME},
	    {"node-ip", required_argument, NULL, OPT_NODE_IP},
	    {"no-agent", no_argument, NULL, OPT_NO_AGENT},
	    {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
	    {"node-port", required_argument, NULL, OPT_NODE_PORT},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	*flags = (struct server_flags){
	    .config =
		{
		    .listen = "127.0.0.1:6443",
		    .data_dir = "/var/lib/ckube",
		    .config_dir = "/etc/ckube",
		    .service_cidr = "10.96.0.0/12",
		    .cluster_cidr = "10.244.0.0/16",
		    .node_cidr_mask_size = 24,
		    .node_port_range = "30000-32767",
		    .max_body_bytes = 3 * 1024 * 1024,
		    .watch_window_bytes = 8 * 1024 * 1024,
		    .http_threads = 4,
		    .node_monitor_grace_seconds = 40,
		},
	    .run_dir = "/run/ckube",
	    .log_dir = "/var/log/pods",
	    .cgroup_root = "ckube",
	    .datastore = "sqlite",
	};
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN:
			flags->config.listen = optarg;
			break;
		case OPT_DATA_DIR:
			flags->config.data_dir = optarg;
			break;
		case OPT_RUN_DIR:
			flags->run_dir = optarg;
			break;
		case OPT_LOG_DIR:
			flags->log_dir = optarg;
			break;
		case OPT_CONFIG_DIR:
			flags->config.config_dir = optarg;
			break;
		case OPT_DATASTORE:
			flags->datastore = optarg;
			break;
		case OPT_SERVICE_CIDR:
			flags->config.service_cidr = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			flags->config.cluster_cidr = optarg;
			break;
		case OPT_NODE_CIDR_MASK_SIZE: {
			int64_t size;
			if (strconv_parse_int(optarg, 1, 30, &size, NULL) < 0) {
				fprintf(stderr,
					"ckube server: --node-cidr-mask-size %s: want 1 to 30\n",
					optarg);
				return -EINVAL;
			}
			flags->config.node_cidr_mask_size = (unsigned)size;
			break;
		}
		case OPT_NODE_PORTS:
			flags->config.node_port_range = optarg;
			break;
		case OPT_NODE_GRACE:
			flags->config.node_monitor_grace_seconds = atoi(optarg);
			break;
		case OPT_NODE_NAME:
			flags->node_name = optarg;
			break;
		case OPT_NODE_IP:
			flags->node_ip = optarg;
			break;
		case OPT_CGROUP_ROOT:
			flags->cgroup_root = optarg;
			break;
		case OPT_NODE_PORT: {
			int64_t port;
			if (strconv_parse_int(optarg, 1, 65535, &port, NULL) < 0) {
				fprintf(stderr, "ckube server: --node-port %s: want 1 to 65535\n",
					optarg);
				return -EINVAL;
			}
			flags->node_port = (int)port;
			break;
		}
		case OPT_NO_AGENT:
			flags->no_agent = true;
			break;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ckube server: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (strcmp(flags->datastore, "sqlite") != 0) {
		fprintf(stderr,
			"ckube server: --datastore %s: only sqlite is available in this build\n",
			flags->datastore);
		return -EINVAL;
	}
	if (flags->config.node_monitor_grace_seconds <= 0) {
		fprintf(stderr, "ckube server: --node-monitor-grace-period must be positive\n");
		return -EINVAL;
	}
	return 0;
}

static int open_state(struct apiserver *server, const struct server_flags *flags,
		      struct ck_error *err)
{
	_cleanup_free_ char *db = NULL;
	if (asprintf(&db, "%s/state.db", flags->config.data_dir) < 0)
		return ck_error_set(err, ENOMEM, "database path: out of memory");
	int ret = store_open(db, &server->store, err);
	if (ret < 0)
		return ret;
	server->hub = watch_hub_new(flags->config.watch_window_bytes);
	if (!server->hub)
		return ck_error_set(err, ENOMEM, "watch hub: out of memory");
	watch_hub_set_revision(server->hub, store_revision(server->store));
	return 0;
}

static void close_state(struct apiserver *server)
{
	watch_hub_free(server->hub);
	store_close(server->store);
	ipv4_allocator_free(&server->service_ips);
	ipv4_allocator_free(&server->pod_cidrs);
	range_allocator_free(&server->node_ports);
	strmap_free(server->namespaces);
	free(server->token);
}

/* Where pods reach the API, as kube-apiserver's --advertise-address defaults: --node-ip, else
 * a concrete non-loopback listen address, else the address of the default route's
 * interface; NULL when there is none (a bare network namespace). */
static const char *advertise_address(const struct server_flags *flags,
				     const struct sockaddr_storage *addr, bool loopback)
{
	static char text[INET6_ADDRSTRLEN];
	if (flags->node_ip)
		return flags->node_ip;
	if (!loopback && addr->ss_family == AF_INET) {
		const struct in_addr *a = &((const struct sockaddr_in *)addr)->sin_addr;
		if (a->s_addr != htonl(INADDR_ANY))
			return inet_ntop(AF_INET, a, text, sizeof(text));
	} else if (!loopback) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (!IN6_IS_ADDR_UNSPECIFIED(a6))
			return inet_ntop(AF_INET6, a6, text, sizeof(text));
	}
	return host_default_ipv4(text, sizeof(text)) == 0 ? text : NULL;
}

static int wait_for_signal(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int signal_number = 0;
	sigwait(&set, &signal_number);
	return signal_number;
}

static int start_node(const struct server_node_role *node, const struct server_flags *flags,
		      const struct apiserver *server, const struct tls_material *tls, void **handle,
		      struct ck_error *err)
{
	char url[160];
	struct server_node_launch launch = {
	    .url = url,
	    .token = server->token,
	    .ca_pem = server->require_token ? tls->ca_pem : NULL,
	    .node_name = flags->node_name,
	    .node_ip = flags->node_ip,
	    .data_dir = flags->config.data_dir,
	    .run_dir = flags->run_dir,
	    .log_dir = flags->log_dir,
	    .config_dir = flags->config.config_dir,
	    .cgroup_root = flags->cgroup_root,
	    .node_port = flags->node_port,
	    .cluster_cidr = flags->config.cluster_cidr,
	    .service_cidr = flags->config.service_cidr,
	};

	access_client_url(flags->config.listen, server->require_token, url, sizeof(url));
	return node->start(&launch, handle, err);
}

int server_run(int argc, char **argv, const struct server_node_role *node)
{
	struct server_flags flags;
	if (parse_flags(argc, argv, &flags) < 0)
		return 2;
	/* Block the stop signals before any thread starts, so only sigwait sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Large buffers (a list of 10,000 pods is 10 MB) go back to the system when freed instead
	 * of staying in the pools of the HTTP threads. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);

	struct ck_error err = {0};
	struct apiserver server = {.config = flags.config};
	pthread_mutex_init(&server.write_lock, NULL);
	clock_gettime(CLOCK_REALTIME, &server.started);
	int exit_code = 1;
	struct http_server *http = NULL;
	_cleanup_free_ char *kubeconfig = NULL;
	bool loopback;
	struct sockaddr_storage addr;
	struct tls_material tls = {0};
	void *node_agent = NULL;

	if (http_parse_listen(flags.config.listen, &addr, &loopback, &err) < 0 ||
	    fs_mkdir_p(flags.config.data_dir, 0700, &err) < 0 ||
	    fs_mkdir_p(flags.config.config_dir, 0755, &err) < 0 ||
	    fs_mkdir_p(flags.run_dir, 0755, &err) < 0 || schema_init(&err) < 0 ||
	    access_load_or_create_token(flags.config.data_dir, &server.token, &err) < 0)
		goto out;
	server.require_token = !loopback;
	server.config.advertise_address = advertise_address(&flags, &addr, loopback);
	if (apiserver_init_allocators(&server, &err) < 0 || open_state(&server, &flags, &err) < 0 ||
	    bootstrap_restore_state(&server, &err) < 0 || bootstrap_cluster(&server, &err) < 0)
		goto out;
	server.metrics = metrics_new();
	if (!server.metrics) {
		ck_error_set(&err, ENOMEM, "metrics: out of memory");
		goto out;
	}
	if (controllers_start(&server, &err) < 0)
		goto out;
	/* Beyond loopback the token is required, and clients only send it over TLS. */
	if (server.require_token) {
		char service_ip[32];
		ipv4_allocator_first(&server.service_ips, service_ip, sizeof(service_ip));
		if (access_prepare_tls(flags.config.data_dir, flags.config.listen,
				       server.config.advertise_address, service_ip, &tls, &err) < 0)
			goto out;
	}
	struct http_server_config http_config = {
	    .listen = flags.config.listen,
	    .max_body_bytes = flags.config.max_body_bytes,
	    .threads = flags.config.http_threads,
	    .handler = api_handle,
	    .handler_ctx = &server,
	    .tls_cert_pem = tls.cert_pem,
	    .tls_key_pem = tls.key_pem,
	};
	if (http_server_start(&http_config, &http, &err) < 0 ||
	    access_write_kubeconfig(flags.config.config_dir, flags.config.listen, server.token,
				    tls.ca_pem, &kubeconfig, &err) < 0)
		goto out;

	log_info("ckube server %s listening on %s (Kubernetes API %s)%s", CKUBE_VERSION,
		 flags.config.listen, CKUBE_KUBERNETES_GIT_VERSION,
		 server.require_token ? " over TLS; bearer token required" : "");
	printf("admin kubeconfig: %s\njoin token: %s/token\n", kubeconfig, flags.config.data_dir);
	fflush(stdout);
	if (!flags.no_agent && node &&
	    start_node(node, &flags, &server, &tls, &node_agent, &err) < 0)
		goto out;

	int signal_number = wait_for_signal();
	log_info("received %s, shutting down", strsignal(signal_number));
	exit_code = 0;
out:
	if (err.code)
		fprintf(stderr, "ckube server: %s\n", err.message);
	/* Watches end first so no connection stays parked, then no request can come in, then
	 * the controllers stop, and only then goes what they all use. The node's agent goes before
	 * all of them: it is a client of the API. */
	if (node_agent)
		node->stop(node_agent);
	if (server.hub)
		watch_hub_shutdown(server.hub);
	http_server_stop(http);
	tls_material_clear(&tls);
	controllers_stop(server.controllers);
	metrics_free(server.metrics);
	close_state(&server);
	pthread_mutex_destroy(&server.write_lock);
	return exit_code;
}
