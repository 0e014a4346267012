/* One probe attempt's life on the loop: start, dispatch by kind, the deadline, one report. */
/* See probe.h. Verdicts and messages, here and in probe_exec.c, probe_http.c and
 * probe_socket.c, follow Kubernetes' pkg/probe/{exec,http,tcp} and the Go errors they pass on,
 * since users search for those. */
#include "kubelet/probe.h"

#include <stdarg.h>
#include <stdlib.h>

#include "kubelet/probe_internal.h"
#include "lib/cleanup.h"

#define DEFAULT_TIMEOUT_MS 1000

/* Stops everything the attempt does: no event, timer or process of it is left. */
static void release(struct probe_attempt *a)
{
	probe_socket_close(a);
	probe_exec_release(a);
}

static void destroy(struct probe_attempt *a)
{
	release(a);
	loop_timer_cancel(a->loop, a->timer);
	buf_free(&a->request);
	buf_free(&a->response);
	buf_free(&a->output);
	free(a->address);
	free(a->url);
	free(a->command);
	free(a->message);
	free(a);
}

static void report(struct probe_attempt *a)
{
	probe_done_fn done = a->done;
	void *ctx = a->ctx;
	enum probe_result result = a->result;
	_cleanup_free_ char *message = steal_ptr(&a->message);

	destroy(a);
	done(ctx, result, message ? message : "");
}

static void on_deferred_report(void *ctx)
{
	struct probe_attempt *a = ctx;

	a->timer = NULL;
	report(a);
}

/* Inside probe_attempt_start the report waits for the loop, so that `done` never runs before
 * the caller holds the handle. */
void probe_finish_with(struct probe_attempt *a, enum probe_result result, char *message)
{
	a->result = result;
	free(a->message);
	a->message = message;
	release(a);
	loop_timer_cancel(a->loop, a->timer);
	a->timer = NULL;
	if (a->starting)
		a->timer = loop_timer_in(a->loop, 0, on_deferred_report, a);
	else
		report(a);
}

void probe_finish(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
{
	struct buf message = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	probe_finish_with(a, result, buf_steal(&message));
}

void probe_keep_output(struct buf *out, const char *data, size_t len)
{
	if (out->len < PROBE_MAX_OUTPUT)
		buf_append(out, data,
			   len < PROBE_MAX_OUTPUT - out->len ? len : PROBE_MAX_OUTPUT - out->len);
}

static void on_deadline(void *ctx)
{
	struct probe_attempt *a = ctx;

	a->timer = NULL;
	if (a->kind == PROBE_EXEC)
		probe_exec_timed_out(a);
	else if (a->kind == PROBE_TCP_SOCKET)
		probe_tcp_timed_out(a);
	else
		probe_http_timed_out(a);
}

struct probe_attempt *probe_attempt_start(struct loop *loop, const struct probe_spec *spec,
					  const struct probe_target *target, int64_t timeout_ms,
					  probe_done_fn done, void *ctx)
{
	struct probe_attempt *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	*a = (struct probe_attempt){.loop = loop,
				    .kind = spec->kind,
				    .done = done,
				    .ctx = ctx,
				    .starting = true,
				    .fd = -1,
				    .content_length = -1,
				    .pidfd = -1,
				    .output_fd = -1};
	a->timer =
	    loop_timer_in(loop, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS, on_deadline, a);
	switch (spec->kind) {
	case PROBE_EXEC:
		probe_exec_begin(a, spec, target);
		break;
	case PROBE_HTTP_GET:
		probe_http_begin(a, spec, target);
		break;
	case PROBE_TCP_SOCKET:
		probe_tcp_begin(a, spec, target);
		break;
	case PROBE_GRPC:
		probe_finish(a, PROBE_ERROR, "gRPC probes are not supported by ckube");
		break;
	default:
		probe_finish(a, PROBE_ERROR, "missing probe handler");
		break;
	}
	a->starting = false;
	return a;
}

void probe_attempt_cancel(struct probe_attempt *attempt)
{
	if (attempt)
		destroy(attempt);
}
