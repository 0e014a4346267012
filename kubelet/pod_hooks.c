/* Lifecycle hooks: see pod_hooks.h. */
#include "kubelet/pod_hooks.h"

#include <stdio.h>
#include <stdlib.h>

#include "kubelet/pod_probes.h"
#include "kubelet/pod_sync.h"
#include "kubelet/probe.h"
#include "lib/buf.h"

static void finish(struct pod_container *c, bool ok, const char *message)
{
	pod_hook_done_fn done = c->hook_done;

	c->hook_done = NULL;
	if (done)
		done(c, ok, message);
}

static void attempt_done(void *ctx, enum probe_result result, const char *message)
{
	struct pod_container *c = ctx;

	c->hook_attempt = NULL;
	finish(c, result == PROBE_SUCCESS, message);
}

static void slept(void *ctx)
{
	struct pod_container *c = ctx;

	c->hook_timer = NULL;
	finish(c, true, "");
}

void pod_hook_run(struct pod_container *c, const struct probe_spec *hook, int64_t timeout_ms,
		  pod_hook_done_fn done)
{
	struct loop *loop = pods_context(c->pod->pods)->loop;
	struct probe_target target;

	pod_hook_cancel(c);
	c->hook_done = done;
	if (timeout_ms < 1)
		timeout_ms = 1;
	if (hook->kind == PROBE_SLEEP) {
		int64_t sleep_ms = (int64_t)hook->sleep_seconds * 1000;
		c->hook_timer =
		    loop_timer_in(loop, sleep_ms < timeout_ms ? sleep_ms : timeout_ms, slept, c);
		return;
	}
	/* The API still takes tcpSocket handlers, but the kubelet has never run them: they
	 * fail as an invalid handler. */
	static const struct probe_spec invalid = {.kind = PROBE_NONE};
	const bool runnable = hook->kind == PROBE_EXEC || hook->kind == PROBE_HTTP_GET;
	pod_probe_target(c, &target);
	c->hook_attempt = probe_attempt_start(loop, runnable ? hook : &invalid, &target, timeout_ms,
					      attempt_done, c);
}

void pod_hook_cancel(struct pod_container *c)
{
	probe_attempt_cancel(c->hook_attempt);
	c->hook_attempt = NULL;
	loop_timer_cancel(pods_context(c->pod->pods)->loop, c->hook_timer);
	c->hook_timer = NULL;
	c->hook_done = NULL;
}

char *pod_hook_failure(const struct pod_container *c, const struct probe_spec *hook,
		       const char *message)
{
	const struct pod *pod = c->pod;
	struct buf text = {0};

	if (hook->kind == PROBE_EXEC) {
		buf_puts(&text, "Exec lifecycle hook ([");
		for (char **arg = hook->command; arg && *arg; arg++)
			buf_printf(&text, "%s%s", arg == hook->command ? "" : " ", *arg);
		buf_puts(&text, "])");
	} else if (hook->kind == PROBE_HTTP_GET) {
		buf_printf(&text, "HTTP lifecycle hook (%s)",
			   hook->http_path ? hook->http_path : "/");
	} else {
		buf_puts(&text, "Lifecycle hook");
	}
	buf_printf(&text, " for Container \"%s\" in Pod \"%s_%s(%s)\" failed - error: %s",
		   c->spec->name, pod->spec->name, pod->spec->namespace, pod->uid, message);
	return buf_steal(&text);
}
