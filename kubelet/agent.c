/* The node agent's parts, started and stopped in order: see agent.h. */
#include "kubelet/agent.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/agent_metrics.h"
#include "kubelet/agent_settings.h"
#include "kubelet/volume_sources.h"
#include "kubelet/api_writer.h"
#include "kubelet/image_puller.h"
#include "kubelet/loop.h"
#include "kubelet/node_server.h"
#include "kubelet/node_network.h"
#include "kubelet/node_status.h"
#include "kubelet/api_watch.h"
#include "kubelet/pods.h"
#include "kubelet/service_proxy.h"
#include "kubelet/status_socket.h"
#include "kubelet/usage_report.h"
#include "lib/cleanup.h"
#include "lib/hostaddr.h"
#include "lib/log.h"
#include "runtime/cri_log.h"
#include "runtime/seccomp_profile.h"

#define PULL_WORKERS 2
/* A status request waits this long for the loop: a stuck loop is what it may be debugging. */
#define SNAPSHOT_TIMEOUT_SECONDS 10

struct agent {
	struct agent_config config;
	/* Owned copies behind config's pointers: the caller's strings need not outlive the start
	 * (the threads read them for as long as the agent runs). */
	char *node_name, *node_ip, *api_server, *api_token, *api_ca, *bridge, *cluster_cidr,
	    *service_cidr;
	struct cgroup_root cgroup;
	bool cgroup_open;
	struct loop *loop;
	pthread_t loop_thread;
	bool loop_running;
	struct api_writer *writer;
	struct image_puller *puller;
	struct log_pump *logs;
	struct http_client *api;
	struct pods *pods;
	struct api_watch *watch;
	struct node_network *network;
	struct api_watch *node_watch;
	struct volume_sources *volume_sources;
	struct service_proxy *services;
	struct node_status *node;
	struct node_server *endpoint;
	struct agent_context context;
	struct agent_settings settings;
	char *pods_dir;           /* <data-dir>/pods: pod volumes */
	char *status_socket_path; /* owned copy behind config's pointer */
	struct agent_metrics *metrics;
	struct usage_reporter *usage;
	struct status_socket *status;
};

int agent_config_defaults(struct agent_config *config, struct ck_error *err)
{
	static char hostname[256], address[64];

	if (!config->node_name) {
		/* Node names are lower-case DNS names, as the kubelet lower-cases the hostname. */
		if (gethostname(hostname, sizeof(hostname) - 1) < 0)
			return ck_error_errno(err, errno, "hostname");
		for (char *c = hostname; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		config->node_name = hostname;
	}
	if (!config->node_ip)
		config->node_ip =
		    host_default_ipv4(address, sizeof(address)) == 0 ? address : "127.0.0.1";
	if (!config->log_dir)
		config->log_dir = "/var/log/pods";
	if (!config->manifests_dir) {
		static char manifests[4096];
		snprintf(manifests, sizeof(manifests), "%s/manifests", config->dirs.config_dir);
		config->manifests_dir = manifests;
	}
	if (!config->max_pods)
		config->max_pods = 110;
	if (!config->node_port)
		config->node_port = NODE_SERVER_DEFAULT_PORT;
	return 0;
}

static void *run_loop(void *arg)
{
	struct agent *agent = arg;

	loop_run(agent->loop);
	return NULL;
}

/* Builds the pods' view in the loop's thread, where it lives. */
struct pods_start {
	struct agent *agent;
	struct ck_error err;
	int result;
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool finished;
};

static void start_pods(void *ctx)
{
	struct pods_start *start = ctx;

	start->result = pods_new(&start->agent->context, &start->agent->pods, &start->err);
	pthread_mutex_lock(&start->lock);
	start->finished = true;
	pthread_cond_signal(&start->done);
	pthread_mutex_unlock(&start->lock);
}

static int start_in_loop(struct agent *agent, struct ck_error *err)
{
	struct pods_start start = {.agent = agent};

	pthread_mutex_init(&start.lock, NULL);
	pthread_cond_init(&start.done, NULL);
	loop_post(agent->loop, start_pods, NULL, &start);
	pthread_mutex_lock(&start.lock);
	while (!start.finished)
		pthread_cond_wait(&start.done, &start.lock);
	pthread_mutex_unlock(&start.lock);
	pthread_mutex_destroy(&start.lock);
	pthread_cond_destroy(&start.done);
	if (start.result < 0)
		*err = start.err;
	return start.result;
}

/* A snapshot of the pods for the status socket, taken in the loop's thread. The request lives
 * on the heap with two references, the asker's and the loop's: an asker that gives up waiting
 * leaves it to the loop, which may still run (or drop) it later. */
struct pods_request {
	struct agent *agent;
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool finished;
	int references;
	json_t *pods;
};

static void pods_request_release(struct pods_request *request)
{
	pthread_mutex_lock(&request->lock);
	bool last = --request->references == 0;
	pthread_mutex_unlock(&request->lock);
	if (!last)
		return;
	json_decref(request->pods);
	pthread_mutex_destroy(&request->lock);
	pthread_cond_destroy(&request->done);
	free(request);
}

static void pods_request_finish(struct pods_request *request, json_t *pods)
{
	pthread_mutex_lock(&request->lock);
	request->pods = pods;
	request->finished = true;
	pthread_cond_signal(&request->done);
	pthread_mutex_unlock(&request->lock);
	pods_request_release(request);
}

static void take_snapshot(void *ctx)
{
	struct pods_request *request = ctx;
	struct pods *pods = request->agent->pods;

	pods_request_finish(request, pods ? pods_snapshot(pods) : NULL);
}

static void drop_snapshot(void *ctx)
{
	pods_request_finish(ctx, NULL);
}

static json_t *status_pods(void *ctx)
{
	struct pods_request *request = calloc(1, sizeof(*request));
	struct timespec deadline;
	json_t *pods;

	if (!request)
		abort();
	request->agent = ctx;
	request->references = 2;
	pthread_mutex_init(&request->lock, NULL);
	pthread_cond_init(&request->done, NULL);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += SNAPSHOT_TIMEOUT_SECONDS;
	loop_post(request->agent->loop, take_snapshot, drop_snapshot, request);
	pthread_mutex_lock(&request->lock);
	while (!request->finished &&
	       pthread_cond_timedwait(&request->done, &request->lock, &deadline) == 0)
		;
	pods = request->pods;
	request->pods = NULL;
	pthread_mutex_unlock(&request->lock);
	pods_request_release(request);
	return pods;
}

/* The Service proxy's part of the status socket. */
static json_t *services_status(void *ctx)
{
	return service_proxy_status(ctx);
}

/* What reports on the node from outside the loop: usage for `kubectl top`, and the status
 * socket. */
static int start_reporting(struct agent *agent, struct ck_error *err)
{
	const struct agent_config *config = &agent->config;
	struct usage_reporter_config usage = {.api = config->api,
					      .node_name = config->node_name,
					      .run_dir = config->dirs.run_dir,
					      .metrics = agent->metrics};
	struct status_socket_config status = {.path = config->status_socket,
					      .node_name = config->node_name,
					      .node_ip = config->node_ip,
					      .api_server = config->api.server,
					      .run_dir = config->dirs.run_dir,
					      .cgroup = agent->cgroup.path,
					      .unenforced_limits =
						  cgroup_root_missing(&agent->cgroup),
					      .pods_snapshot = status_pods,
					      .ctx = agent,
					      .services_status = services_status,
					      .services_ctx = agent->services,
					      .metrics = agent->metrics};
	int r = usage_reporter_start(&usage, &agent->usage, err);

	if (r == 0)
		r = status_socket_start(&status, &agent->status, err);
	return r;
}

/* The API server reaches the node's logs here, with the token this agent uses towards it; an
 * agent without one (loopback, no --token-file) has nothing to check requests with, so it
 * serves none. */
static int start_endpoint(struct agent *agent, struct ck_error *err)
{
	const struct agent_config *config = &agent->config;
	const struct node_server_config endpoint = {.address = config->node_ip,
						    .port = config->node_port,
						    .token = config->api.bearer_token,
						    .node_name = config->node_name,
						    .log_dir = config->log_dir,
						    .run_dir = config->dirs.run_dir};

	if (config->node_port < 0)
		return 0;
	if (!config->api.bearer_token || !*config->api.bearer_token) {
		log_warn("node %s: no API token, so no node endpoint: kubectl logs will not reach "
			 "this node",
			 config->node_name);
		return 0;
	}
	return node_server_start(&endpoint, &agent->endpoint, err);
}

/* The node network's readiness reaches the pods, which exist only once the loop made them. */
static void network_changed(void *ctx)
{
	struct agent *agent = ctx;

	if (agent->pods)
		pods_network_changed(agent->pods);
}

static struct node_network *new_network(struct agent *agent)
{
	const struct agent_config *config = &agent->config;
	_cleanup_free_ char *state_dir = NULL, *pods_dir = NULL;
	struct node_network_config network = {.node_name = config->node_name,
					      .node_ip = config->node_ip,
					      .bridge = config->network.bridge,
					      .cluster_cidr = config->network.cluster_cidr,
					      .service_cidr = config->network.service_cidr,
					      .mtu = config->network.mtu,
					      .on_ready = network_changed,
					      .ctx = agent};

	if (asprintf(&state_dir, "%s/network", config->dirs.data_dir) < 0 ||
	    asprintf(&pods_dir, "%s/pods", config->dirs.run_dir) < 0)
		abort();
	network.state_dir = state_dir;
	network.pods_dir = pods_dir;
	return node_network_new(&network);
}

/* Every Node, for this node's pod CIDR and the routes to the others' pods. */
static int start_node_watch(struct agent *agent, struct ck_error *err)
{
	const struct api_watch_config watch = {.api = agent->config.api,
					       .resource = "nodes",
					       .node_name = agent->config.node_name,
					       .loop = agent->loop,
					       .on_change = node_network_on_nodes,
					       .ctx = agent->network};

	return api_watch_start(&watch, &agent->node_watch, err);
}

/* kube-proxy's part: every Service and Endpoints object, to the node's nftables table. */
static int start_service_proxy(struct agent *agent, struct ck_error *err)
{
	const struct agent_config *config = &agent->config;
	const struct service_proxy_config proxy = {.api = config->api,
						   .node_name = config->node_name,
						   .cluster_cidr = config->network.cluster_cidr,
						   .service_cidr = config->network.service_cidr,
						   .bridge = config->network.bridge};

	return service_proxy_start(&proxy, &agent->services, err);
}

static int start_services(struct agent *agent, struct ck_error *err)
{
	const struct agent_config *config = &agent->config;
	const struct log_pump_options log_options = {0};
	_cleanup_free_ char *image_dir = NULL;
	int r;

	_cleanup_free_ char *settings_file = NULL;
	if (asprintf(&settings_file, "%s/agent.yaml", config->dirs.config_dir) < 0 ||
	    asprintf(&agent->pods_dir, "%s/pods", config->dirs.data_dir) < 0)
		abort();
	r = agent_settings_load(settings_file, &agent->settings, err);
	if (r < 0)
		return ck_error_prefix(err, "node %s: settings", config->node_name);
	r = cgroup_root_open(config->dirs.cgroup_root, &agent->cgroup, err);
	if (r < 0)
		return ck_error_prefix(err, "node %s: cgroup root", config->node_name);
	agent->cgroup_open = true;
	agent->metrics = agent_metrics_new(config->dirs.run_dir, "");
	r = loop_new(&agent->loop, err);
	if (r == 0)
		r = api_writer_start(&config->api, config->node_name, agent->metrics,
				     &agent->writer, err);
	if (r == 0)
		r = image_puller_start(agent->loop, &config->dirs, PULL_WORKERS, &agent->puller,
				       err);
	if (r == 0)
		r = log_pump_start(&log_options, &agent->logs, err);
	if (r == 0)
		r = http_client_new(&config->api, &agent->api, err);
	if (r < 0)
		return r;
	agent->network = new_network(agent);
	agent->context = (struct agent_context){
	    .config = &agent->config,
	    .loop = agent->loop,
	    .writer = agent->writer,
	    .cgroup = &agent->cgroup,
	    .puller = agent->puller,
	    .logs = agent->logs,
	    .api = agent->api,
	    .metrics = agent->metrics,
	    .network = agent->network,
	    .settings = &agent->settings,
	    .pods_dir = agent->pods_dir,
	};
	const struct api_watch_config sources = {
	    .api = config->api, .node_name = config->node_name, .loop = agent->loop};
	agent->volume_sources = volume_sources_new(&sources, &agent->pods);
	agent->context.volume_sources = agent->volume_sources;
	r = -pthread_create(&agent->loop_thread, NULL, run_loop, agent);
	if (r < 0)
		return ck_error_errno(err, -r, "start the sync loop");
	agent->loop_running = true;
	r = start_in_loop(agent, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *on_this_node = NULL;
	if (asprintf(&on_this_node, "spec.nodeName=%s", config->node_name) < 0)
		abort();
	struct api_watch_config watch = {.api = config->api,
					 .resource = "pods",
					 .field_selector = on_this_node,
					 .node_name = config->node_name,
					 .loop = agent->loop,
					 .on_change = pods_on_change,
					 .ctx = agent->pods};
	r = api_watch_start(&watch, &agent->watch, err);
	if (r == 0)
		r = start_node_watch(agent, err);

	if (r == 0)
		r = start_service_proxy(agent, err);
	if (r < 0)
		return r;
	if (asprintf(&image_dir, "%s/images", config->dirs.data_dir) < 0)
		abort();
	r = start_endpoint(agent, err);
	if (r < 0)
		return r;
	const int agent_port = agent->endpoint ? node_server_port(agent->endpoint) : 0;
	struct node_status_config node = {.api = config->api,
					  .node_name = config->node_name,
					  .node_ip = config->node_ip,
					  .data_dir = config->dirs.data_dir,
					  .image_dir = image_dir,
					  .cgroup = &agent->cgroup,
					  .max_pods = config->max_pods,
					  .agent_port = agent_port};
	r = node_status_start(&node, &agent->node, err);
	if (r == 0)
		r = start_reporting(agent, err);
	return r;
}

int agent_start(const struct agent_config *config, struct agent **out, struct ck_error *err)
{
	struct agent *agent = calloc(1, sizeof(*agent));
	_cleanup_free_ char *seccomp_dir = NULL;
	int r;

	if (!agent)
		abort();
	agent->config = *config;
	r = agent_config_defaults(&agent->config, err);
	if (r < 0) {
		free(agent);
		return r;
	}
	agent->node_name = strdup(agent->config.node_name);
	agent->node_ip = strdup(agent->config.node_ip);
	agent->config.node_name = agent->node_name;
	agent->config.node_ip = agent->node_ip;
	agent->config.api.server = agent->api_server = strdup(config->api.server);
	if (config->api.bearer_token)
		agent->config.api.bearer_token = agent->api_token =
		    strdup(config->api.bearer_token);
	if (config->api.ca_pem)
		agent->config.api.ca_pem = agent->api_ca =
		    strndup(config->api.ca_pem, config->api.ca_pem_len);
	if (config->network.bridge)
		agent->config.network.bridge = agent->bridge = strdup(config->network.bridge);
	if (config->network.cluster_cidr)
		agent->config.network.cluster_cidr = agent->cluster_cidr =
		    strdup(config->network.cluster_cidr);
	if (config->network.service_cidr)
		agent->config.network.service_cidr = agent->service_cidr =
		    strdup(config->network.service_cidr);
	if (config->status_socket)
		agent->status_socket_path = strdup(config->status_socket);
	else if (asprintf(&agent->status_socket_path, "%s/ckube.sock", config->dirs.run_dir) < 0)
		abort();
	agent->config.status_socket = agent->status_socket_path;
	if (asprintf(&seccomp_dir, "%s/seccomp", config->dirs.run_dir) < 0)
		abort();
	seccomp_profile_cache_dir(seccomp_dir);
	r = start_services(agent, err);
	if (r < 0) {
		agent_stop(agent);
		return r;
	}
	log_info("node %s: agent running (node IP %s)", agent->config.node_name,
		 agent->config.node_ip);
	*out = agent;
	return 0;
}

static void free_pods(void *ctx)
{
	struct agent *agent = ctx;

	pods_free(agent->pods);
	agent->pods = NULL;
}

void agent_stop(struct agent *agent)
{
	if (!agent)
		return;
	/* Inputs first (no new work), then the loop with the pods' view, then its helpers. */
	status_socket_stop(agent->status);
	usage_reporter_stop(agent->usage);
	node_status_stop(agent->node);
	node_server_stop(agent->endpoint);
	api_watch_stop(agent->watch);
	api_watch_stop(agent->node_watch);
	service_proxy_stop(agent->services);
	if (agent->loop_running) {
		loop_post(agent->loop, free_pods, NULL, agent);
		loop_quit(agent->loop);
		pthread_join(agent->loop_thread, NULL);
	}
	/* The loop is gone: nothing asks for watches of volume sources any more; theirs end before
	 * the loop they post to is freed. Nothing uses the network any more either. What it made
	 * stays for the pods. */
	volume_sources_free(agent->volume_sources);
	node_network_free(agent->network);
	image_puller_stop(agent->puller);
	log_pump_stop(agent->logs);
	api_writer_stop(agent->writer);
	http_client_free(agent->api);
	loop_free(agent->loop);
	if (agent->cgroup_open)
		cgroup_root_close(&agent->cgroup);
	agent_metrics_free(agent->metrics);
	free(agent->node_name);
	free(agent->node_ip);
	free(agent->api_server);
	free(agent->api_token);
	free(agent->api_ca);
	free(agent->bridge);
	free(agent->cluster_cidr);
	free(agent->service_cidr);
	free(agent->status_socket_path);
	free(agent->pods_dir);
	agent_settings_clear(&agent->settings);
	free(agent);
}
