/* Starting a child for a container or an exec: clone3 straight into a cgroup, with a pidfd,
 * and a report pipe through which the child says why it failed before execve.
 *
 * Internal to runtime/. Code running in the child (the `run` callback and what it calls)
 * makes system calls only: the agent is threaded, and after a raw clone3 the child may not
 * allocate or take locks (another thread may have held them at clone time). Everything it
 * needs is computed by the parent before. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "runtime/container.h"

/* What a child sends back when it cannot go on: one write, so it arrives whole. */
struct child_report {
	int failure; /* enum container_failure */
	int errnum;  /* errno of the failed call, 0 when the text says it all */
	char text[512];
};

struct spawn_request {
	uint64_t clone_flags; /* namespaces to create (CLONE_NEW*) */
	int cgroup_fd;        /* the cgroup the child starts in (CLONE_INTO_CGROUP), or -1 */
	/* Namespaces to enter before the child is created (setns flags on join_fd, a pidfd or a
	 * namespace file). Entering a pid namespace only applies to children, and entering a
	 * mount namespace is impossible in a threaded process, so with a join_fd the child is
	 * created by a short-lived intermediate process that joins first and then clones it
	 * with CLONE_PARENT, making it the caller's child all the same. */
	int join_fd;
	int join_flags;
	/* Runs in the child with the write end of the report pipe; it either execs (the pipe
	 * closes on exec) or reports and returns. */
	void (*run)(void *arg, int report_fd);
	void *arg;
	/* Optional: runs in the parent as soon as the child exists, while it is still setting up
	 * (so the two overlap). A failure here kills the child and fails the spawn. */
	int (*started)(void *arg, pid_t pid, struct ck_error *err);
	void *started_arg;
};

/* Starts the child and waits until it has executed or failed. 0 with *pid and *pidfd set; on
 * a failure reported by the child the child is reaped, `failure` set, and err holds
 * "<the child's text>: <strerror>". */
int spawn_child(const struct spawn_request *request, pid_t *pid, int *pidfd,
		enum container_failure *failure, struct ck_error *err);

/* For the child: records a failure (formatting with the text only, no allocation). */
void child_report(int report_fd, enum container_failure failure, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
