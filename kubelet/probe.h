/* One probe attempt (exec, httpGet, tcpSocket) run asynchronously on the agent's loop, judged
 * and worded as Kubernetes' pkg/probe judges and words it. The per-container timing and
 * thresholds are prober.h's; this is a single try.
 *
 * An attempt never blocks the loop: sockets connect and talk non-blocking, an exec's output
 * pipe and pidfd are watched by the loop, and a timer bounds the whole attempt. It ends with
 * exactly one call of its `done` callback, always from the loop (never from inside
 * probe_attempt_start), unless it is cancelled first. */
#pragma once

#include <stdint.h>

#include "kubelet/loop.h"
#include "kubelet/pod_spec.h"
#include "lib/error.h"
#include "runtime/container.h"

/* At most this much of an exec's output or an HTTP body is kept (Kubernetes' maxReadLength). */
#define PROBE_MAX_OUTPUT (10 * 1024)

enum probe_result {
	PROBE_SUCCESS,
	PROBE_FAILURE,
	/* The probe could not be run at all (a port name that matches nothing, an exec that could
	 * not start, a kind ckube does not run): Kubernetes' "errored and resulted in unknown
	 * state". The worker throws the result away instead of counting it. */
	PROBE_ERROR,
};

/* Starts `argv` inside the container with `output_fd` as its stdout and stderr (stdin from
 * /dev/null) and hands back its pid and pidfd (the caller of probe_attempt_start then owns the
 * pidfd; tty_master is unused). The process must be a child of the agent: the attempt reaps it
 * with waitid(P_PIDFD). In the agent this wraps container_exec(); tests fork. */
typedef int (*probe_exec_fn)(void *ctx, char *const *argv, int output_fd,
			     struct container_exec *out, struct ck_error *err);

/* Where a probe goes. The strings and exec_ctx are only read while probe_attempt_start runs. */
struct probe_target {
	const char *ip;     /* the pod IP, for httpGet and tcpSocket without a host */
	probe_exec_fn exec; /* NULL: exec probes error */
	void *exec_ctx;
};

/* `message` is the body of a successful HTTP answer, an exec's output, or why it failed
 * ("HTTP probe failed with statuscode: 500", "dial tcp 10.0.0.5:80: connect: connection
 * refused"); valid during the call only. The attempt is gone when it is called. */
typedef void (*probe_done_fn)(void *ctx, enum probe_result result, const char *message);

struct probe_attempt;

/* Starts one attempt of `spec` (only read during this call) that gives up after `timeout_ms`
 * (<= 0: one second). Never fails: whatever goes wrong, even at once, arrives through `done`.
 */
struct probe_attempt *probe_attempt_start(struct loop *loop, const struct probe_spec *spec,
					  const struct probe_target *target, int64_t timeout_ms,
					  probe_done_fn done, void *ctx);

/* Stops an attempt whose `done` has not been called; it never will be. A running exec is
 * killed and reaped when it has died (the loop watches its pidfd until then). */
void probe_attempt_cancel(struct probe_attempt *attempt);
