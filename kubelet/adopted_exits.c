/* How adopted containers end: see adopted_exits.h. */
#include "kubelet/adopted_exits.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "lib/log.h"
#include "runtime/proc_events.h"

struct adopted_exits {
	struct loop *loop;
	char *node_name;
	struct proc_events *events; /* open while `runs` is not empty */
	struct container **runs;
	size_t count;
};

struct adopted_exits *adopted_exits_new(struct loop *loop, const char *node_name)
{
	struct adopted_exits *exits = calloc(1, sizeof(*exits));

	if (!exits || !(exits->node_name = strdup(node_name)))
		abort();
	exits->loop = loop;
	return exits;
}

static void close_events(struct adopted_exits *exits)
{
	if (!exits->events)
		return;
	loop_remove_fd(exits->loop, proc_events_fd(exits->events));
	proc_events_close(exits->events);
	exits->events = NULL;
}

void adopted_exits_free(struct adopted_exits *exits)
{
	if (!exits)
		return;
	close_events(exits);
	free(exits->runs);
	free(exits->node_name);
	free(exits);
}

static void on_events(void *ctx, uint32_t events)
{
	(void)events;
	adopted_exits_drain(ctx);
}

static void open_events(struct adopted_exits *exits)
{
	struct ck_error err = {0};

	if (proc_events_open(&exits->events, &err) < 0 ||
	    loop_add_fd(exits->loop, proc_events_fd(exits->events), EPOLLIN, on_events, exits,
			&err) < 0) {
		log_warn("node %s: exit codes of adopted containers will be unknown: %s",
			 exits->node_name, err.message);
		proc_events_close(exits->events);
		exits->events = NULL;
	}
}

void adopted_exits_watch(struct adopted_exits *exits, struct container *run)
{
	if (!exits->events)
		open_events(exits);
	exits->runs = realloc(exits->runs, (exits->count + 1) * sizeof(*exits->runs));
	if (!exits->runs)
		abort();
	exits->runs[exits->count++] = run;
}

void adopted_exits_forget(struct adopted_exits *exits, struct container *run)
{
	for (size_t i = 0; i < exits->count; i++) {
		if (exits->runs[i] != run)
			continue;
		exits->runs[i] = exits->runs[--exits->count];
		break;
	}
	if (exits->count == 0)
		close_events(exits);
}

static void record(void *ctx, pid_t pid, int wait_status)
{
	struct adopted_exits *exits = ctx;

	for (size_t i = 0; i < exits->count; i++)
		if (exits->runs[i]->pid == pid)
			container_record_exit(exits->runs[i], wait_status);
}

void adopted_exits_drain(struct adopted_exits *exits)
{
	struct ck_error err = {0};

	if (exits->events && proc_events_read(exits->events, record, exits, &err) < 0)
		log_warn("node %s: process events: %s", exits->node_name, err.message);
}
