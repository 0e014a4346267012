/* The per-container probe worker: see prober.h. The counting follows worker.go's doProbe. */
#include "kubelet/prober.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/buf.h"

struct prober {
	struct loop *loop;
	enum prober_type type;
	struct probe_spec spec; /* a copy: the pod's spec may be replaced while we run */
	struct prober_timing timing;
	char *ip;
	probe_exec_fn exec;
	void *exec_ctx;
	void (*on_result)(void *ctx, enum prober_type type, bool success, const char *message);
	void (*on_unhealthy)(void *ctx, enum prober_type type, const char *event_message);
	void *ctx;

	int64_t container_started_ms;
	int64_t not_before_ms;   /* the jitter of the first attempt */
	int64_t last_attempt_ms; /* when the last attempt of this run started; 0: none yet */
	bool started;            /* liveness, readiness: the startup probe passed */
	bool stopped;            /* the container does not run */
	bool on_hold;            /* liveness, startup: failed, until the container restarts */
	bool done;               /* startup: succeeded, until the container restarts */
	enum prober_result result;
	enum probe_result last; /* the latest counted attempt's result ... */
	int run;                /* ... and how many times in a row it came; 0: none */
	struct loop_timer *timer;
	struct probe_attempt *attempt;
	/* Callbacks may restart or free us: a restart bumps the generation (what the callback
	 * that follows was about is stale), a free waits until the callbacks have returned. */
	unsigned generation;
	int calling;
	bool freed;
};

const char *prober_type_name(enum prober_type type)
{
	switch (type) {
	case PROBER_LIVENESS:
		return "Liveness";
	case PROBER_READINESS:
		return "Readiness";
	case PROBER_STARTUP:
		return "Startup";
	}
	return "Unknown";
}

void prober_timing_from_spec(const struct probe_spec *spec, enum prober_type type,
			     struct prober_timing *out)
{
	out->initial_delay_ms =
	    spec->initial_delay_seconds > 0 ? (int64_t)spec->initial_delay_seconds * 1000 : 0;
	out->period_ms = (int64_t)(spec->period_seconds > 0 ? spec->period_seconds : 10) * 1000;
	out->timeout_ms = (int64_t)(spec->timeout_seconds > 0 ? spec->timeout_seconds : 1) * 1000;
	out->success_threshold = spec->success_threshold > 0 ? spec->success_threshold : 1;
	if (type != PROBER_READINESS)
		out->success_threshold = 1;
	out->failure_threshold = spec->failure_threshold > 0 ? spec->failure_threshold : 3;
}

/* --- the spec's copy ------------------------------------------------------------------------ */

static char *copy_string(const char *s)
{
	char *copy = s ? strdup(s) : NULL;

	if (s && !copy)
		abort();
	return copy;
}

static char **copy_strv(char *const *strv)
{
	size_t n = 0;
	char **copy;

	if (!strv)
		return NULL;
	while (strv[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	if (!copy)
		abort();
	for (size_t i = 0; i < n; i++)
		copy[i] = copy_string(strv[i]);
	return copy;
}

static void copy_spec(struct probe_spec *to, const struct probe_spec *from)
{
	*to = *from;
	to->command = copy_strv(from->command);
	to->http_path = copy_string(from->http_path);
	to->http_scheme = copy_string(from->http_scheme);
	to->http_host = copy_string(from->http_host);
	/* A deep copy: reference counts in jansson are not atomic, and the pod's JSON may be
	 * touched by other threads. */
	to->http_headers = from->http_headers ? json_deep_copy(from->http_headers) : NULL;
	to->port_name = copy_string(from->port_name);
	to->grpc_service = copy_string(from->grpc_service);
}

static void clear_spec(struct probe_spec *spec)
{
	for (char **p = spec->command; p && *p; p++)
		free(*p);
	free(spec->command);
	free(spec->http_path);
	free(spec->http_scheme);
	free(spec->http_host);
	json_decref(spec->http_headers);
	free(spec->port_name);
	free(spec->grpc_service);
}

/* --- running attempts ------------------------------------------------------------------------ */

static enum prober_result initial_result(enum prober_type type)
{
	switch (type) {
	case PROBER_READINESS:
		return PROBER_FAILURE;
	case PROBER_LIVENESS:
		return PROBER_SUCCESS;
	case PROBER_STARTUP:
		break;
	}
	return PROBER_UNKNOWN;
}

static bool runnable(const struct prober *p)
{
	return !p->stopped && !p->on_hold && !p->done && (p->type == PROBER_STARTUP || p->started);
}

static void halt(struct prober *p)
{
	loop_timer_cancel(p->loop, p->timer);
	p->timer = NULL;
	probe_attempt_cancel(p->attempt);
	p->attempt = NULL;
}

static void on_attempt_done(void *ctx, enum probe_result result, const char *message);

static void on_tick(void *ctx)
{
	struct prober *p = ctx;
	struct probe_target target = {.ip = p->ip, .exec = p->exec, .exec_ctx = p->exec_ctx};

	p->timer = NULL;
	if (!runnable(p) || p->attempt)
		return;
	p->last_attempt_ms = loop_now_ms();
	p->attempt = probe_attempt_start(p->loop, &p->spec, &target, p->timing.timeout_ms,
					 on_attempt_done, p);
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Sets the timer for the next attempt: after the initial delay, a period after the last one
 * (at once when that one took longer), never while one runs. */
static void schedule(struct prober *p)
{
	int64_t at;

	loop_timer_cancel(p->loop, p->timer);
	p->timer = NULL;
	if (!runnable(p) || p->attempt)
		return;
	at = max64(p->container_started_ms + p->timing.initial_delay_ms, p->not_before_ms);
	if (p->last_attempt_ms)
		at = max64(at, p->last_attempt_ms + p->timing.period_ms);
	p->timer = loop_timer_at(p->loop, at, on_tick, p);
}

/* Counts an attempt as worker.go does: the result only moves after enough of the same in a
 * row. True when it moved. */
static bool count(struct prober *p, enum probe_result result)
{
	enum prober_result verdict = result == PROBE_SUCCESS ? PROBER_SUCCESS : PROBER_FAILURE;
	int threshold =
	    result == PROBE_SUCCESS ? p->timing.success_threshold : p->timing.failure_threshold;
	bool changed;

	if (p->run && p->last == result) {
		p->run++;
	} else {
		p->last = result;
		p->run = 1;
	}
	if (p->run < threshold)
		return false;
	changed = p->result != verdict;
	p->result = verdict;
	if (verdict == PROBER_FAILURE && p->type != PROBER_READINESS) {
		/* The container will be restarted: probing it meanwhile only adds noise. */
		p->on_hold = true;
		p->run = 0;
	}
	if (verdict == PROBER_SUCCESS && p->type == PROBER_STARTUP)
		p->done = true;
	return changed;
}

static void send_unhealthy(struct prober *p, enum probe_result result, const char *message)
{
	struct buf event = {0};

	if (!p->on_unhealthy)
		return;
	if (result == PROBE_ERROR)
		buf_printf(&event, "%s probe errored and resulted in unknown state: %s",
			   prober_type_name(p->type), message);
	else
		buf_printf(&event, "%s probe failed: %s", prober_type_name(p->type), message);
	p->on_unhealthy(p->ctx, p->type, event.data);
	buf_free(&event);
}

static void really_free(struct prober *p)
{
	halt(p);
	clear_spec(&p->spec);
	free(p->ip);
	free(p);
}

static void on_attempt_done(void *ctx, enum probe_result result, const char *message)
{
	struct prober *p = ctx;
	unsigned generation = p->generation;
	/* An attempt that could not run says nothing about the container: Kubernetes throws
	 * its result away. */
	bool changed = result != PROBE_ERROR && count(p, result);

	p->attempt = NULL;
	schedule(p);
	p->calling++;
	if (result != PROBE_SUCCESS)
		send_unhealthy(p, result, message);
	if (changed && p->on_result && !p->freed && p->generation == generation)
		p->on_result(p->ctx, p->type, p->result == PROBER_SUCCESS, message);
	p->calling--;
	if (p->freed && !p->calling)
		really_free(p);
}

/* --- the worker ------------------------------------------------------------------------------ */

static int64_t jitter_ms(int64_t period_ms)
{
	uint64_t random = 0;

	if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
		random = (uint64_t)loop_now_ms();
	return (int64_t)(random % (uint64_t)period_ms);
}

int prober_new(struct loop *loop, const struct prober_config *config, struct prober **out,
	       struct ck_error *err)
{
	const struct prober_timing *t = &config->timing;
	int64_t now = loop_now_ms();
	struct prober *p;

	if (t->period_ms <= 0 || t->timeout_ms <= 0 || t->initial_delay_ms < 0 ||
	    t->success_threshold < 1 || t->failure_threshold < 1)
		return ck_error_set(err, EINVAL,
				    "%s probe: period, timeout and thresholds must be positive",
				    prober_type_name(config->type));
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->loop = loop;
	p->type = config->type;
	copy_spec(&p->spec, config->spec);
	p->timing = *t;
	p->ip = copy_string(config->target.ip);
	p->exec = config->target.exec;
	p->exec_ctx = config->target.exec_ctx;
	p->on_result = config->on_result;
	p->on_unhealthy = config->on_unhealthy;
	p->ctx = config->ctx;
	p->container_started_ms = config->container_started_ms ? config->container_started_ms : now;
	p->not_before_ms = config->jitter ? now + jitter_ms(t->period_ms) : 0;
	p->started = config->started;
	p->result = initial_result(p->type);
	schedule(p);
	*out = p;
	return 0;
}

void prober_set_started(struct prober *p, bool started)
{
	if (p->type == PROBER_STARTUP || p->started == started)
		return;
	p->started = started;
	if (!started)
		halt(p);
	schedule(p);
}

void prober_restart(struct prober *p, int64_t container_started_ms, bool started)
{
	halt(p);
	p->generation++;
	p->container_started_ms = container_started_ms ? container_started_ms : loop_now_ms();
	p->last_attempt_ms = 0;
	p->started = started;
	p->stopped = p->on_hold = p->done = false;
	p->result = initial_result(p->type);
	p->run = 0;
	schedule(p);
}

void prober_stop(struct prober *p)
{
	halt(p);
	p->generation++;
	p->stopped = true;
}

enum prober_result prober_result(const struct prober *p)
{
	return p->result;
}

void prober_free(struct prober *p)
{
	if (!p)
		return;
	halt(p);
	if (p->calling) {
		p->freed = true;
		return;
	}
	really_free(p);
}
