/* The agent's event loop: one epoll instance for descriptors (pidfds of containers, output
 * pipes, sockets), one timerfd behind a heap of deadlines (back-off, probes, grace periods,
 * resyncs), and work posted by other threads (watch events, finished pulls, API answers) run in
 * the loop's thread. Nothing in it polls: with nothing to do, it sleeps in epoll_wait.
 *
 * Everything but loop_post and loop_quit must be called from the loop's thread. */
#pragma once

#include <stdint.h>

#include "lib/error.h"

struct loop;
struct loop_timer;

typedef void (*loop_fd_fn)(void *ctx, uint32_t events);
typedef void (*loop_fn)(void *ctx);

int loop_new(struct loop **out, struct ck_error *err);
/* Frees the loop; posted work that never ran is dropped with `drop` called on it. */
void loop_free(struct loop *loop);

/* Calls `fn` with the epoll events whenever `fd` is ready. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *ctx,
		struct ck_error *err);
void loop_remove_fd(struct loop *loop, int fd);

/* Milliseconds on the monotonic clock. */
int64_t loop_now_ms(void);

/* Calls `fn` once, at `deadline_ms` (loop_now_ms time) or as soon after as the loop gets to it.
 * The handle is valid until the timer fires or is cancelled. */
struct loop_timer *loop_timer_at(struct loop *loop, int64_t deadline_ms, loop_fn fn, void *ctx);
struct loop_timer *loop_timer_in(struct loop *loop, int64_t delay_ms, loop_fn fn, void *ctx);
/* Cancels a pending timer; NULL is fine. */
void loop_timer_cancel(struct loop *loop, struct loop_timer *timer);

/* From any thread: runs `fn(ctx)` in the loop's thread, in the order posted. If the loop is
 * freed first, `drop(ctx)` is called instead (NULL: nothing). */
void loop_post(struct loop *loop, loop_fn fn, loop_fn drop, void *ctx);

/* Runs until loop_quit. */
void loop_run(struct loop *loop);
/* From any thread: makes loop_run return after the work it is doing. */
void loop_quit(struct loop *loop);
