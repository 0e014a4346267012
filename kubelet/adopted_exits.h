/* How adopted containers end. A container started by an earlier agent is not this agent's
 * child, so its pidfd says when it ends but not how; the kernel's process events connector
 * (runtime/proc_events.h) does. The connector hears every exit on the node, so it is open only
 * while adopted runs are watched; the loop reads it as events come (so its socket never
 * overflows) and once more just before such a run's exit is polled (the kernel queues the
 * event before it wakes pidfd waiters). Internal to kubelet/; loop thread only. */
#pragma once

#include "kubelet/loop.h"
#include "runtime/container.h"

struct adopted_exits;

struct adopted_exits *adopted_exits_new(struct loop *loop, const char *node_name);
void adopted_exits_free(struct adopted_exits *exits);

/* Watches `run` (adopted) until adopted_exits_forget. Without the connector (no
 * CAP_NET_ADMIN), its exit stays unknown, as before. */
void adopted_exits_watch(struct adopted_exits *exits, struct container *run);
void adopted_exits_forget(struct adopted_exits *exits, struct container *run);
/* Records the exits waiting in the connector on the runs they belong to. */
void adopted_exits_drain(struct adopted_exits *exits);
