/* Exits of processes that are not our children, from the kernel's process events connector
 * (netlink, CN_IDX_PROC). After an agent restart the containers it adopts were started by
 * the agent before: their pidfds say when they end, and this says how (exit code, signal).
 *
 * The connector only serves the initial network namespace; when the agent runs in another
 * one (a node's namespace, as the tests run it), the socket is made from a thread that enters
 * the namespace of pid 1 for that moment, or, where pid 1 is closed to the agent, that of the
 * nearest ancestor which is there. Listening changes nothing there. Needs CAP_NET_ADMIN. */
#pragma once

#include <sys/types.h>

#include "lib/error.h"

struct proc_events;

int proc_events_open(struct proc_events **out, struct ck_error *err);
void proc_events_close(struct proc_events *events);
/* Becomes readable when events are waiting. */
int proc_events_fd(const struct proc_events *events);

/* Reads what is waiting without blocking and calls `exited` for every process (thread group
 * leader) that ended, with its wait status. */
int proc_events_read(struct proc_events *events,
		     void (*exited)(void *ctx, pid_t pid, int wait_status), void *ctx,
		     struct ck_error *err);
