/* Registration, node status and Lease of this node: see node_status.h. One thread runs a cycle
 * every 10 s (read the machine, make sure the Node exists, write its status when it differs from
 * the API's copy or is 5 minutes old, renew the Lease) and, while the API server fails, the same
 * cycle again after a back-off of 200 ms doubling to 7 s. What it computes comes from
 * node_info.c; this file only talks to the API. */
#include "kubelet/node_status.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/node_info.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define HEARTBEAT_MS 10000            /* Lease renewal and status computation (the kubelet's) */
#define STATUS_REPORT_MS (300 * 1000) /* a status write at least this often */
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 7000
#define REQUEST_TIMEOUT_SECONDS 10
#define LEASE_DURATION_SECONDS 40
#define LEASE_NAMESPACE "kube-node-lease"
#define STRATEGIC_PATCH "application/strategic-merge-patch+json"

struct node_status {
	struct node_description node;
	char *name;
	char *ip;
	char *data_dir;
	char *image_dir;
	char *cgroup_missing;
	char *node_path;  /* /api/v1/nodes/<name>, escaped */
	char *lease_path; /* .../namespaces/kube-node-lease/leases/<name> */
	struct http_client *client;
	pthread_t thread;
	pthread_mutex_t lock; /* with `wake`: pokes and stop end a wait early */
	pthread_cond_t wake;
	bool poked;
	atomic_bool stopping;
	atomic_bool registered;

	/* Owned by the thread. */
	struct node_pressure pressure;
	char *uid;             /* the Node's, for the Lease's owner reference */
	json_t *lease;         /* the Lease as last read or written; NULL: read it first */
	int64_t last_write_ms; /* monotonic time of the last status write; 0: none yet */
	bool write_pending;    /* poked: write even if nothing changed */
	char *failing;         /* the failure being retried, logged once */
	char *facts_failing;   /* what could not be read from the machine, logged once */
	unsigned jitter_seed;
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Replaces *slot by a copy of `text` and says whether it changed: repeated failures are logged
 * once, not at every retry. */
static bool remember(char **slot, const char *text)
{
	if ((!*slot && !text) || (*slot && text && strcmp(*slot, text) == 0))
		return false;
	free(*slot);
	*slot = text ? strdup(text) : NULL;
	return true;
}

/* --- Talking to the API ------------------------------------------------------------------- */

/* One exchange with an optional JSON body. Returns the HTTP status (with `err` set unless it
 * is 2xx, and *answer the decoded body of 2xx answers when asked for), or -errno when the
 * server could not be reached. */
static int api_call(struct node_status *ns, const char *method, const char *path,
		    const char *content_type, const json_t *body, json_t **answer,
		    struct ck_error *err)
{
	_cleanup_free_ char *text = body ? json_dump_compact(body) : NULL;
	struct http_request request = {.method = method,
				       .path = path,
				       .content_type = content_type,
				       .body = text,
				       .body_len = text ? strlen(text) : 0,
				       .timeout_seconds = REQUEST_TIMEOUT_SECONDS,
				       .cancel = &ns->stopping};
	struct http_response response;
	int rc = http_client_request(ns->client, &request, &response, err);
	if (rc == 0) {
		rc = (int)response.status;
		json_t *decoded = json_loadb(response.body.data ? response.body.data : "",
					     response.body.len, 0, NULL);
		if (rc / 100 != 2) {
			const char *why = json_string_value(json_object_get(decoded, "message"));
			ck_error_set(err, EIO, "%s %s: HTTP %d: %s", method, path, rc,
				     why ? why : "no message");
		} else if (answer && !json_is_object(decoded)) {
			rc = ck_error_set(err, EPROTO, "%s %s: the answer is not a JSON object",
					  method, path);
		} else if (answer) {
			*answer = json_incref(decoded);
		}
		json_decref(decoded);
	}
	http_response_free(&response);
	return rc;
}

/* A failed step as a negative errno for the cycle: an HTTP error status counts as EIO. */
static int step_failed(int code)
{
	return code < 0 ? code : -EIO;
}

/* --- The Node ----------------------------------------------------------------------------- */

static json_t *desired_status(struct node_status *ns, const struct node_facts *facts,
			      const json_t *previous_conditions, time_t now)
{
	return node_status_json(
	    &ns->node, facts,
	    node_conditions(&ns->node, facts, &ns->pressure, previous_conditions, now));
}

/* A Node that exists already (an earlier start of this agent, or someone's kubectl create) gets
 * what the agent owns in its metadata; the status follows in the same cycle. */
static int update_metadata(struct node_status *ns, struct ck_error *err)
{
	_cleanup_json_ json_t *patch =
	    json_pack("{s:{s:o, s:o}}", "metadata", "labels", node_labels(&ns->node), "annotations",
		      node_annotations(&ns->node));
	int code = api_call(ns, "PATCH", ns->node_path, STRATEGIC_PATCH, patch, NULL, err);
	if (code != 200)
		return step_failed(code);
	log_info("node %s: registered before; labels and annotations brought up to date", ns->name);
	return 0;
}

static int register_node(struct node_status *ns, const struct node_facts *facts, time_t now,
			 struct ck_error *err)
{
	_cleanup_json_ json_t *node = node_object(&ns->node, desired_status(ns, facts, NULL, now));
	int code = api_call(ns, "POST", "/api/v1/nodes", NULL, node, NULL, err);
	if (code == 201) {
		log_info("node %s: registered", ns->name);
		ns->last_write_ms = monotonic_ms();
	} else if (code == 409) {
		int rc = update_metadata(ns, err);
		if (rc < 0)
			return rc;
	} else {
		return step_failed(code);
	}
	atomic_store(&ns->registered, true);
	return 0;
}

/* The Node as the API has it, registered (again) first when it does not exist. */
static int fetch_node(struct node_status *ns, const struct node_facts *facts, time_t now,
		      json_t **node, struct ck_error *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!atomic_load(&ns->registered)) {
			int rc = register_node(ns, facts, now, err);
			if (rc < 0) {
				ck_error_prefix(err, "register");
				return rc;
			}
		}
		int code = api_call(ns, "GET", ns->node_path, NULL, NULL, node, err);
		if (code == 200) {
			remember(&ns->uid, json_path_string(*node, "metadata.uid"));
			return 0;
		}
		if (code != 404) {
			ck_error_prefix(err, "read the Node");
			return step_failed(code);
		}
		log_warn("node %s: the Node was deleted from the API; registering it again",
			 ns->name);
		atomic_store(&ns->registered, false);
	}
	return ck_error_set(err, ENOENT, "the Node was deleted again right after registration");
}

/* Ready and CgroupLimitsEnforced are good when True, the pressure conditions when False. */
static bool condition_is_good(const char *type, const char *status)
{
	bool positive = !strcmp(type, "Ready") || !strcmp(type, "CgroupLimitsEnforced");
	return strcmp(status, positive ? "True" : "False") == 0;
}

/* Logs the conditions whose status changes with this write, as an operator wants to see them:
 * a warning when it turns bad. */
static void log_transitions(struct node_status *ns, const json_t *previous, const json_t *next)
{
	size_t i, j;
	json_t *condition, *old;
	json_array_foreach (next, i, condition) {
		const char *type = json_string_value(json_object_get(condition, "type"));
		const char *status = json_string_value(json_object_get(condition, "status"));
		json_array_foreach (previous, j, old) {
			const char *old_type = json_string_value(json_object_get(old, "type"));
			const char *old_status = json_string_value(json_object_get(old, "status"));
			if (!old_type || strcmp(old_type, type) != 0)
				continue;
			if (!old_status || strcmp(old_status, status) == 0)
				break;
			bool good = condition_is_good(type, status);
			log_message(good ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
				    "node %s: %s is now %s (%s: %s)", ns->name, type, status,
				    json_string_value(json_object_get(condition, "reason")),
				    json_string_value(json_object_get(condition, "message")));
			break;
		}
	}
}

static int write_status(struct node_status *ns, const struct node_facts *facts, time_t now,
			const json_t *node, struct ck_error *err)
{
	const json_t *current = json_object_get(node, "status");
	const json_t *previous = json_object_get(current, "conditions");
	json_t *desired = desired_status(ns, facts, previous, now);
	_cleanup_json_ json_t *patch = json_pack("{s:o}", "status", desired);
	int64_t since = monotonic_ms() - ns->last_write_ms;
	bool due = ns->write_pending || !ns->last_write_ms || since >= STATUS_REPORT_MS;
	if (!due && !node_status_differs(desired, current))
		return 0;
	log_transitions(ns, previous, json_object_get(desired, "conditions"));
	int code = api_call(ns, "PATCH", ns->node_path, STRATEGIC_PATCH, patch, NULL, err);
	if (code == 404)
		atomic_store(&ns->registered, false);
	if (code != 200) {
		ck_error_prefix(err, "write the node status");
		return step_failed(code);
	}
	ns->last_write_ms = monotonic_ms();
	ns->write_pending = false;
	return 0;
}

/* --- The Lease ---------------------------------------------------------------------------- */

/* Sets what the kubelet sets in its Lease: holder, duration, renewal time, and the Node as owner
 * so that the Lease goes with it. */
static void fill_lease(struct node_status *ns, json_t *lease)
{
	struct timespec now;
	char renewed[TIMEUTIL_TEXT_SIZE];
	clock_gettime(CLOCK_REALTIME, &now);
	timeutil_format_rfc3339_micro(now, renewed);
	json_t *metadata = json_object_ensure(lease, "metadata");
	json_object_set_string(metadata, "name", ns->name);
	json_object_set_string(metadata, "namespace", LEASE_NAMESPACE);
	json_object_set_new(metadata, "ownerReferences",
			    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "Node",
				      "name", ns->name, "uid", ns->uid));
	json_t *spec = json_object_ensure(lease, "spec");
	json_object_set_string(spec, "holderIdentity", ns->name);
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(LEASE_DURATION_SECONDS));
	json_object_set_string(spec, "renewTime", renewed);
}

static int create_lease(struct node_status *ns, struct ck_error *err)
{
	_cleanup_json_ json_t *lease =
	    json_pack("{s:s, s:s}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease");
	fill_lease(ns, lease);
	int code = api_call(ns, "POST",
			    "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NAMESPACE "/leases",
			    NULL, lease, &ns->lease, err);
	return code == 201 ? 0 : step_failed(code);
}

static int renew_lease(struct node_status *ns, struct ck_error *err)
{
	int code;
	if (!ns->lease) {
		code = api_call(ns, "GET", ns->lease_path, NULL, NULL, &ns->lease, err);
		if (code == 404)
			return create_lease(ns, err);
		if (code != 200)
			return step_failed(code);
	}
	fill_lease(ns, ns->lease);
	json_t *renewed = NULL;
	code = api_call(ns, "PUT", ns->lease_path, NULL, ns->lease, &renewed, err);
	json_decref(ns->lease);
	/* After a conflict or a deletion the next attempt reads the Lease again. */
	ns->lease = code == 200 ? renewed : NULL;
	return code == 200 ? 0 : step_failed(code);
}

/* --- The cycle ---------------------------------------------------------------------------- */

static void read_facts(struct node_status *ns, struct node_facts *facts)
{
	struct ck_error err = {0};
	int rc = node_facts_read("", ns->data_dir, ns->image_dir, facts, &err);
	if (remember(&ns->facts_failing, rc < 0 ? err.message : NULL) && rc < 0)
		log_warn("node %s: measure the node: %s", ns->name, err.message);
}

static int sync_node(struct node_status *ns, struct ck_error *err)
{
	struct node_facts facts;
	time_t now = time(NULL);
	read_facts(ns, &facts);
	node_pressure_observe(&ns->pressure, &facts, now);

	_cleanup_json_ json_t *node = NULL;
	int rc = fetch_node(ns, &facts, now, &node, err);
	if (rc == 0)
		rc = write_status(ns, &facts, now, node, err);
	/* The Lease is the heartbeat: renewed even when the status could not be written. */
	if (!ns->uid)
		return rc;
	struct ck_error lease_err = {0};
	int lease_rc = renew_lease(ns, &lease_err);
	if (lease_rc < 0) {
		ck_error_prefix(&lease_err, "renew the Lease");
		if (rc == 0)
			*err = lease_err;
	}
	return rc < 0 ? rc : lease_rc;
}

static bool take_poke(struct node_status *ns)
{
	pthread_mutex_lock(&ns->lock);
	bool poked = ns->poked;
	ns->poked = false;
	pthread_mutex_unlock(&ns->lock);
	return poked;
}

/* Waits `ms` on the monotonic clock, or less when poked or stopped. */
static void wait_ms(struct node_status *ns, int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec until;
	until = timeutil_after_ms(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&ns->lock);
	while (!atomic_load(&ns->stopping) && !ns->poked &&
	       pthread_cond_timedwait(&ns->wake, &ns->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&ns->lock);
}

/* The next back-off and the wait it gives: up to a quarter less, so that agents that lost the
 * same server do not all come back in step. */
static int64_t next_backoff(struct node_status *ns, int64_t *backoff)
{
	*backoff = *backoff ? *backoff * 2 : BACKOFF_FIRST_MS;
	if (*backoff > BACKOFF_MAX_MS)
		*backoff = BACKOFF_MAX_MS;
	return *backoff - rand_r(&ns->jitter_seed) % (*backoff / 4 + 1);
}

static void *run(void *arg)
{
	struct node_status *ns = arg;
	int64_t backoff = 0;
	while (!atomic_load(&ns->stopping)) {
		int64_t started = monotonic_ms();
		if (take_poke(ns))
			ns->write_pending = true;
		struct ck_error err = {0};
		int rc = sync_node(ns, &err);
		if (atomic_load(&ns->stopping))
			break;
		int64_t delay;
		if (rc < 0) {
			if (remember(&ns->failing, err.message))
				log_warn("node %s: %s (retrying with back-off)", ns->name,
					 err.message);
			delay = next_backoff(ns, &backoff);
		} else {
			if (remember(&ns->failing, NULL))
				log_info("node %s: API server reachable again; node status and "
					 "Lease are up to date",
					 ns->name);
			backoff = 0;
			delay = started + HEARTBEAT_MS - monotonic_ms();
		}
		wait_ms(ns, delay);
	}
	return NULL;
}

/* --- Starting and stopping ---------------------------------------------------------------- */

static void node_status_free(struct node_status *ns)
{
	http_client_free(ns->client);
	pthread_mutex_destroy(&ns->lock);
	pthread_cond_destroy(&ns->wake);
	json_decref(ns->lease);
	free(ns->name);
	free(ns->ip);
	free(ns->data_dir);
	free(ns->image_dir);
	free(ns->cgroup_missing);
	free(ns->node_path);
	free(ns->lease_path);
	free(ns->uid);
	free(ns->failing);
	free(ns->facts_failing);
	free(ns);
}

static int check_config(const struct node_status_config *config, struct ck_error *err)
{
	if (!config->node_name || !*config->node_name)
		return ck_error_set(err, EINVAL, "node status: no node name");
	if (!config->data_dir || !config->cgroup || config->max_pods <= 0)
		return ck_error_set(err, EINVAL,
				    "node %s: status needs a data directory, the cgroup root and "
				    "a positive pod limit",
				    config->node_name);
	return 0;
}

/* Copies what the thread keeps and describes the node. */
static int describe(struct node_status *ns, const struct node_status_config *config,
		    struct ck_error *err)
{
	_cleanup_free_ char *escaped = http_escape(config->node_name);
	const char *missing = cgroup_root_missing(config->cgroup);
	ns->name = strdup(config->node_name);
	ns->ip = config->node_ip ? strdup(config->node_ip) : NULL;
	ns->data_dir = strdup(config->data_dir);
	ns->image_dir = strdup(config->image_dir ? config->image_dir : config->data_dir);
	ns->cgroup_missing = missing ? strdup(missing) : NULL;
	if (!ns->name || (config->node_ip && !ns->ip) || !ns->data_dir || !ns->image_dir ||
	    (missing && !ns->cgroup_missing) ||
	    asprintf(&ns->node_path, "/api/v1/nodes/%s", escaped) < 0 ||
	    asprintf(&ns->lease_path,
		     "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NAMESPACE "/leases/%s",
		     escaped) < 0)
		return ck_error_set(err, ENOMEM, "node %s: status", config->node_name);
	ns->node = (struct node_description){.name = ns->name,
					     .ip = ns->ip,
					     .max_pods = config->max_pods,
					     .agent_port = config->agent_port,
					     .cgroup_available = config->cgroup->available,
					     .cgroup_missing = ns->cgroup_missing};
	struct ck_error why = {0};
	if (node_system_info_read("", &ns->node.system, &why) < 0)
		log_warn("node %s: system info: %s", ns->name, why.message);
	if (ns->cgroup_missing)
		log_warn("node %s: %s", ns->name, ns->cgroup_missing);
	return 0;
}

/* The condition variable waits on the monotonic clock: a wall clock set back must not stretch
 * a heartbeat. */
static int init_sync(struct node_status *ns, const char *name, struct ck_error *err)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);
	if (rc)
		return ck_error_errno(err, rc, "node %s: status: condition variable", name);
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&ns->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc)
		return ck_error_errno(err, rc, "node %s: status: condition variable", name);
	pthread_mutex_init(&ns->lock, NULL);
	return 0;
}

int node_status_start(const struct node_status_config *config, struct node_status **out,
		      struct ck_error *err)
{
	int rc = check_config(config, err);
	if (rc < 0)
		return rc;
	struct node_status *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return ck_error_set(err, ENOMEM, "node %s: status", config->node_name);
	ns->jitter_seed = (unsigned)monotonic_ms() ^ (unsigned)getpid();
	rc = init_sync(ns, config->node_name, err);
	if (rc < 0) {
		free(ns);
		return rc;
	}
	rc = describe(ns, config, err);
	if (rc == 0)
		rc = http_client_new(&config->api, &ns->client, err);
	if (rc == 0) {
		rc = -pthread_create(&ns->thread, NULL, run, ns);
		if (rc < 0)
			ck_error_errno(err, -rc, "node %s: status: start the thread", ns->name);
	}
	if (rc < 0) {
		node_status_free(ns);
		return rc;
	}
	*out = ns;
	return 0;
}

void node_status_stop(struct node_status *ns)
{
	if (!ns)
		return;
	pthread_mutex_lock(&ns->lock);
	atomic_store(&ns->stopping, true);
	pthread_cond_signal(&ns->wake);
	pthread_mutex_unlock(&ns->lock);
	pthread_join(ns->thread, NULL);
	node_status_free(ns);
}

void node_status_poke(struct node_status *ns)
{
	pthread_mutex_lock(&ns->lock);
	ns->poked = true;
	pthread_cond_signal(&ns->wake);
	pthread_mutex_unlock(&ns->lock);
}

bool node_status_registered(struct node_status *ns)
{
	return atomic_load(&ns->registered);
}
