/* Pod logs from the pod's node: see node_proxy.h. The request to the agent runs in a thread of
 * its own (libcurl, blocking), which hands the body over to the client's stream through a
 * bounded buffer: a slow client makes the agent wait rather than the API server hold the log. */
#include "apiserver/node_proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/api_respond.h"
#include "apiserver/api_rest.h"
#include "apiserver/node_target.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/curl_dl.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/strconv.h"
#include "lib/timeutil.h"

#define CONNECT_TIMEOUT_SECONDS 10
/* The agent answers with its headers before it reads any log; a node that does not within
 * this time is taken as unreachable. */
#define HEADERS_TIMEOUT_SECONDS 30
/* Body held for a client that reads slowly, before the transfer waits for it. */
#define MAX_PENDING (1024 * 1024)
/* Of an error body: the agent's are one line. */
#define MAX_ERROR_BODY 4096

/* --- the request's options ----------------------------------------------------------------- */

struct log_options {
	const char *container;
	bool follow, previous, timestamps;
	const char *tail_lines, *limit_bytes, *since_seconds, *since_time; /* validated text */
};

static int param_bool(const struct http_request *req, const char *key, bool *out,
		      struct api_status *status)
{
	const char *text = http_request_param(req, key);
	struct ck_error err = {0};

	*out = false;
	if (!text || !*text)
		return 0;
	if (strconv_parse_bool(text, out, &err) < 0)
		return api_fail(status, 400, "BadRequest", "%s: %s", key, err.message);
	return 0;
}

/* A positive (or, with `zero_ok`, non-negative) integer, or NULL when absent; a bad value is
 * 400 when it does not parse and 422 when it is out of range, as kube-apiserver answers. */
static int param_count(const struct http_request *req, const char *key, bool zero_ok,
		       const char *name, const char **out, struct field_errors *errors,
		       struct api_status *status)
{
	const char *text = http_request_param(req, key);
	struct ck_error err = {0};
	int64_t value;

	*out = NULL;
	if (!text || !*text)
		return 0;
	if (strconv_parse_int(text, INT64_MIN, INT64_MAX, &value, &err) < 0)
		return api_fail(status, 400, "BadRequest", "%s: %s", key, err.message);
	if (value < (zero_ok ? 0 : 1)) {
		json_t *shown = json_integer(value);
		field_error_invalid(errors, name, shown,
				    zero_ok ? "must be greater than or equal to 0"
					    : "must be greater than 0");
		json_decref(shown);
		return 0;
	}
	*out = text;
	return 0;
}

static int parse_options(const struct api_call *call, struct log_options *options,
			 struct api_status *status)
{
	const struct http_request *req = call->req;
	struct field_errors errors;
	struct timespec since;
	struct ck_error err = {0};
	int ret;

	memset(options, 0, sizeof(*options));
	options->container = http_request_param(req, "container");
	if (options->container && !*options->container)
		options->container = NULL;
	if (param_bool(req, "follow", &options->follow, status) < 0 ||
	    param_bool(req, "previous", &options->previous, status) < 0 ||
	    param_bool(req, "timestamps", &options->timestamps, status) < 0)
		return -1;
	options->since_time = http_request_param(req, "sinceTime");
	if (options->since_time && !*options->since_time)
		options->since_time = NULL;
	if (options->since_time && timeutil_parse_rfc3339(options->since_time, &since, &err) < 0)
		return api_fail(status, 400, "BadRequest", "sinceTime: %s", err.message);
	field_errors_init(&errors);
	ret =
	    param_count(req, "tailLines", true, "tailLines", &options->tail_lines, &errors, status);
	if (ret == 0)
		ret = param_count(req, "limitBytes", false, "limitBytes", &options->limit_bytes,
				  &errors, status);
	if (ret == 0)
		ret = param_count(req, "sinceSeconds", false, "sinceSeconds",
				  &options->since_seconds, &errors, status);
	if (ret == 0 && options->since_seconds && options->since_time)
		field_error_forbidden(
		    &errors, "sinceSeconds",
		    "at most one of `sinceTime` or `sinceSeconds` may be specified");
	if (ret == 0 && field_errors_count(&errors))
		ret = api_fail(status, 422, "Invalid", "PodLogOptions \"%s\" is invalid: %s",
			       call->name, errors.summary);
	field_errors_clear(&errors);
	return ret;
}

/* --- the pod, its container and its node -------------------------------------------------- */

/* "container \"c\" in pod \"p\" is waiting to start: ContainerCreating" when the pod's status
 * says the container never ran, the kubelet's answer when it has no log for it yet. */
static bool never_ran(const json_t *pod, const char *container, const char **reason)
{
	static const char *const lists[] = {"status.containerStatuses",
					    "status.initContainerStatuses",
					    "status.ephemeralContainerStatuses"};

	*reason = "ContainerCreating";
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		size_t i;
		json_t *s;
		json_array_foreach (json_path(pod, lists[l]), i, s) {
			const char *name = json_string_value(json_object_get(s, "name"));
			if (!name || strcmp(name, container) != 0)
				continue;
			if (json_path(s, "lastState.terminated") || json_path(s, "state.running") ||
			    json_path(s, "state.terminated"))
				return false;
			const char *waiting = json_path_string(s, "state.waiting.reason");
			if (waiting && *waiting)
				*reason = waiting;
			return true;
		}
	}
	return true;
}

/* --- the transfer ------------------------------------------------------------------------- */

/* Shared by the transfer thread and the client's stream; freed by whichever lets go last. */
struct log_proxy {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int refs;
	bool headers_done; /* status is known */
	long status;
	bool finished;
	CURLcode result;
	char curl_error[CURL_ERROR_SIZE];
	struct buf data; /* the body not yet handed out, from data_pos */
	size_t data_pos;
	atomic_bool cancelled; /* the client went away (or the request failed) */
	void (*notify)(void *ctx);
	void *notify_ctx;
	/* The thread's own. */
	CURL *curl;
	struct curl_slist *headers;
	char *url;
	char *authorization;
};

static void proxy_unref(struct log_proxy *p)
{
	pthread_mutex_lock(&p->lock);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (!last)
		return;
	if (p->curl)
		sym_curl_easy_cleanup(p->curl);
	sym_curl_slist_free_all(p->headers);
	free(p->url);
	free(p->authorization);
	buf_free(&p->data);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	free(p);
}

/* Under the lock: the client's stream is woken while it cannot be released. */
static void wake_client(struct log_proxy *p)
{
	pthread_cond_broadcast(&p->changed);
	if (p->notify)
		p->notify(p->notify_ctx);
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
	struct log_proxy *p = ctx;
	size_t len = size * count;
	long code = 0;

	/* The blank line after the headers; a 1xx answer has one too, and more follow. */
	if (len <= 2 && (data[0] == '\r' || data[0] == '\n') &&
	    sym_curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code >= 200) {
		pthread_mutex_lock(&p->lock);
		p->status = code;
		p->headers_done = true;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->lock);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
	struct log_proxy *p = ctx;
	size_t len = size * count;

	pthread_mutex_lock(&p->lock);
	bool ok = p->status >= 200 && p->status < 300;
	while (ok && !atomic_load(&p->cancelled) && p->data.len - p->data_pos > MAX_PENDING)
		pthread_cond_wait(&p->changed, &p->lock);
	if (atomic_load(&p->cancelled)) {
		pthread_mutex_unlock(&p->lock);
		return 0; /* ends the transfer */
	}
	if (ok)
		buf_append(&p->data, data, len);
	else if (p->data.len < MAX_ERROR_BODY)
		buf_append(&p->data, data,
			   len < MAX_ERROR_BODY - p->data.len ? len : MAX_ERROR_BODY - p->data.len);
	wake_client(p);
	pthread_mutex_unlock(&p->lock);
	return len;
}

/* Called about once a second also while nothing arrives: a gone client ends the transfer. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct log_proxy *p = ctx;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&p->cancelled) ? 1 : 0;
}

static void *run_transfer(void *arg)
{
	struct log_proxy *p = arg;
	CURLcode result = sym_curl_easy_perform(p->curl);

	pthread_mutex_lock(&p->lock);
	p->result = result;
	p->finished = true;
	wake_client(p);
	pthread_mutex_unlock(&p->lock);
	proxy_unref(p);
	return NULL;
}

static int setup_transfer(struct log_proxy *p, const char *token, struct api_status *status)
{
	struct ck_error err = {0};

	if (curl_ready(&err) < 0)
		return api_fail_internal(status, "pod logs: %s", err.message);
	p->curl = sym_curl_easy_init();
	if (!p->curl || asprintf(&p->authorization, "Authorization: Bearer %s", token) < 0)
		abort();
	p->headers = sym_curl_slist_append(NULL, p->authorization);
	p->headers = sym_curl_slist_append(p->headers, "Accept: */*");
	CURL *curl = p->curl;
	sym_curl_easy_setopt(curl, CURLOPT_HTTPHEADER, p->headers);
	sym_curl_easy_setopt(curl, CURLOPT_USERAGENT, "ckube-apiserver");
	sym_curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	sym_curl_easy_setopt(curl, CURLOPT_HEADERDATA, p);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	sym_curl_easy_setopt(curl, CURLOPT_WRITEDATA, p);
	sym_curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	sym_curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	sym_curl_easy_setopt(curl, CURLOPT_XFERINFODATA, p);
	sym_curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, p->curl_error);
	sym_curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_SECONDS);
	sym_curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* A node that vanished without closing the connection is noticed in time. */
	sym_curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	sym_curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
	sym_curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 10L);
	return 0;
}

/* --- the client's stream ------------------------------------------------------------------ */

static ssize_t stream_read(void *state, char *out, size_t max)
{
	struct log_proxy *p = state;
	ssize_t n = 0;

	pthread_mutex_lock(&p->lock);
	size_t ready = p->data.len - p->data_pos;
	if (ready) {
		n = (ssize_t)(ready < max ? ready : max);
		memcpy(out, p->data.data + p->data_pos, (size_t)n);
		p->data_pos += (size_t)n;
		if (p->data_pos == p->data.len) {
			buf_reset(&p->data);
			p->data_pos = 0;
		}
		pthread_cond_broadcast(&p->changed); /* room again for the transfer */
	} else if (p->finished) {
		n = -1;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void stream_set_notify(void *state, void (*notify)(void *ctx), void *ctx)
{
	struct log_proxy *p = state;

	pthread_mutex_lock(&p->lock);
	p->notify = notify;
	p->notify_ctx = ctx;
	pthread_mutex_unlock(&p->lock);
}

static void stream_release(void *state)
{
	struct log_proxy *p = state;

	pthread_mutex_lock(&p->lock);
	atomic_store(&p->cancelled, true);
	p->notify = NULL;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	proxy_unref(p);
}

static const struct http_stream_ops proxy_stream_ops = {
    .read = stream_read,
    .set_notify = stream_set_notify,
    .release = stream_release,
};

/* --- the call ------------------------------------------------------------------------------ */

static void add_param(struct buf *url, CURL *curl, const char *key, const char *value)
{
	char *escaped = sym_curl_easy_escape(curl, value, 0);

	if (!escaped)
		abort();
	buf_printf(url, "%c%s=%s", strchr(url->data, '?') ? '&' : '?', key, escaped);
	sym_curl_free(escaped);
}

static char *agent_url(const char *endpoint, const char *namespace, const char *pod,
		       const char *container, const char *uid, const struct log_options *o)
{
	struct buf url = {0};
	CURL *curl = sym_curl_easy_init();
	char *parts[3] = {sym_curl_easy_escape(curl, namespace, 0),
			  sym_curl_easy_escape(curl, pod, 0),
			  sym_curl_easy_escape(curl, container, 0)};

	if (!curl || !parts[0] || !parts[1] || !parts[2])
		abort();
	buf_printf(&url, "%s/containerLogs/%s/%s/%s", endpoint, parts[0], parts[1], parts[2]);
	for (int i = 0; i < 3; i++)
		sym_curl_free(parts[i]);
	if (uid)
		add_param(&url, curl, "podUID", uid);
	if (o->follow)
		add_param(&url, curl, "follow", "true");
	if (o->previous)
		add_param(&url, curl, "previous", "true");
	if (o->timestamps)
		add_param(&url, curl, "timestamps", "true");
	if (o->tail_lines)
		add_param(&url, curl, "tailLines", o->tail_lines);
	if (o->limit_bytes)
		add_param(&url, curl, "limitBytes", o->limit_bytes);
	if (o->since_seconds)
		add_param(&url, curl, "sinceSeconds", o->since_seconds);
	if (o->since_time)
		add_param(&url, curl, "sinceTime", o->since_time);
	sym_curl_easy_cleanup(curl);
	return buf_steal(&url);
}

/* Waits until `done` holds, the transfer ended, or the deadline passed (false). */
static bool wait_for(struct log_proxy *p, const bool *done, int seconds)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&p->lock);
	while (!*done && !p->finished)
		if (pthread_cond_timedwait(&p->changed, &p->lock, &deadline) == ETIMEDOUT)
			break;
	bool ok = *done || p->finished;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* The agent's error as kube-apiserver reports a kubelet's: its text as the message. */
static void agent_failure(struct log_proxy *p, const json_t *pod, const char *container,
			  const char *node, struct api_status *status)
{
	const char *reason;
	char *text = p->data.data ? p->data.data + p->data_pos : "";
	size_t len = strlen(text);

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	if (!p->headers_done) {
		api_fail_internal(status, "Get \"%s\": %s", p->url,
				  p->curl_error[0] ? p->curl_error
						   : sym_curl_easy_strerror(p->result));
	} else if (p->status == 404 && never_ran(pod, container, &reason)) {
		const char *name = json_path_string(pod, "metadata.name");
		api_fail(status, 400, "BadRequest",
			 "container \"%s\" in pod \"%s\" is waiting to "
			 "start: %s",
			 container, name ? name : "", reason);
	} else if (p->status == 400) {
		api_fail(status, 400, "BadRequest", "%s", text);
	} else if (p->status == 404) {
		api_fail(status, 404, "NotFound", "%s", text);
	} else if (p->status == 401 || p->status == 403) {
		api_fail_internal(status, "node %s refused the API server's credentials: %s", node,
				  text);
	} else if (p->status == 422) {
		api_fail(status, 422, "Invalid", "%s", text);
	} else {
		api_fail(status, p->status >= 500 && p->status < 600 ? (unsigned)p->status : 500,
			 "InternalError",
			 "an error on the server (\"%s\") has prevented the request "
			 "from succeeding",
			 text);
	}
}

static void respond_failure(struct api_call *call, struct api_status *status)
{
	respond_status(call->resp, status);
	api_status_clear(status);
}

void node_proxy_pod_log(struct api_call *call)
{
	struct api_status status = {0};
	struct log_options options;
	_cleanup_free_ char *endpoint = NULL;

	if (strcmp(call->req->method, "GET") != 0) {
		respond_error(call->resp, 405, "MethodNotAllowed",
			      "the server does not allow this method on the requested resource");
		return;
	}
	_cleanup_json_ json_t *pod = NULL;
	if (node_target_pod(call, &pod, &status) < 0)
		return respond_failure(call, &status);
	if (parse_options(call, &options, &status) < 0 ||
	    node_target_container(call, pod, &options.container, &status) < 0)
		return respond_failure(call, &status);
	const char *node = json_path_string(pod, "spec.nodeName");
	if (!node || !*node) {
		/* Not scheduled: no log anywhere yet, an empty one as kube-apiserver answers. */
		call->resp->status = 200;
		call->resp->content_type = "text/plain";
		return;
	}
	_cleanup_free_ char *host = NULL;
	int port;
	if (node_target_endpoint(call, node, "pod logs", &host, &port, &status) < 0)
		return respond_failure(call, &status);
	if (asprintf(&endpoint, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port) <
	    0)
		abort();
	if (!call->server->token) {
		api_fail_internal(&status, "pod logs: the API server has no token for its nodes");
		return respond_failure(call, &status);
	}

	struct log_proxy *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	p->refs = 1;
	if (setup_transfer(p, call->server->token, &status) < 0) {
		proxy_unref(p);
		return respond_failure(call, &status);
	}
	p->url = agent_url(endpoint, call->namespace, call->name, options.container,
			   json_path_string(pod, "metadata.uid"), &options);
	sym_curl_easy_setopt(p->curl, CURLOPT_URL, p->url);
	pthread_t thread;
	p->refs = 2;
	int ret = pthread_create(&thread, NULL, run_transfer, p);
	if (ret != 0) {
		p->refs = 1;
		proxy_unref(p);
		api_fail_internal(&status, "pod logs: start a thread: %s", strerror(ret));
		return respond_failure(call, &status);
	}
	pthread_detach(thread);
	if (!wait_for(p, &p->headers_done, HEADERS_TIMEOUT_SECONDS)) {
		atomic_store(&p->cancelled, true);
		proxy_unref(p);
		api_fail(&status, 504, "Timeout", "node %s did not answer for the log of pod %s/%s",
			 node, call->namespace, call->name);
		return respond_failure(call, &status);
	}
	if (p->headers_done && p->status >= 200 && p->status < 300) {
		/* The reference goes to the stream, released when the client's answer ends. */
		call->resp->status = 200;
		call->resp->content_type = "text/plain";
		call->resp->stream_ops = &proxy_stream_ops;
		call->resp->stream_state = p;
		return;
	}
	/* An error: its body is short and comes right after the headers. */
	wait_for(p, &p->finished, CONNECT_TIMEOUT_SECONDS);
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->cancelled, true);
	pthread_cond_broadcast(&p->changed);
	agent_failure(p, pod, options.container, node, &status);
	pthread_mutex_unlock(&p->lock);
	proxy_unref(p);
	log_debug("pod %s/%s: log from node %s: %s", call->namespace, call->name, node,
		  status.message);
	respond_failure(call, &status);
}
