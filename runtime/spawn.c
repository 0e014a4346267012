/* clone3 and the report pipe: see spawn.h. */
#include "runtime/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"

void child_report(int report_fd, enum container_failure failure, int errnum, const char *fmt, ...)
{
	struct child_report report = {.failure = failure, .errnum = errnum};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(report.text, sizeof(report.text), fmt, ap);
	va_end(ap);
	/* Nothing to do if the parent is gone: the child exits next anyway. */
	(void)!write(report_fd, &report, sizeof(report));
}

static pid_t clone3_into(uint64_t flags, int cgroup_fd, int *pidfd)
{
	struct clone_args args = {
	    .flags = flags,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD,
	};

	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* The intermediate of a joining spawn: enters the namespaces, clones the real child as a
 * sibling, tells the caller its pid through `pid_fd` and exits. */
static void run_intermediate(const struct spawn_request *request, int report_fd, int pid_fd)
{
	pid_t pid;

	if (setns(request->join_fd, request->join_flags) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "enter namespaces");
		_exit(1);
	}
	pid = clone3_into(request->clone_flags | CLONE_PARENT, request->cgroup_fd, NULL);
	if (pid < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "clone3");
		_exit(1);
	}
	if (pid == 0) {
		close(pid_fd);
		request->run(request->arg, report_fd);
		_exit(127);
	}
	(void)!write(pid_fd, &pid, sizeof(pid));
	_exit(0);
}

/* Starts the intermediate and returns the pid of the child it created (our child too). */
static pid_t spawn_joined(const struct spawn_request *request, int report_fd, struct ck_error *err)
{
	_cleanup_close_ int pid_read = -1;
	_cleanup_close_ int pid_write = -1;
	int fds[2];
	pid_t intermediate, pid = -1;
	int status;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return ck_error_errno(err, errno, "pipe");
	pid_read = fds[0];
	pid_write = fds[1];
	intermediate = clone3_into(0, -1, NULL);
	if (intermediate < 0)
		return ck_error_errno(err, errno, "clone3");
	if (intermediate == 0) {
		close(pid_read);
		run_intermediate(request, report_fd, pid_write);
	}
	close(steal_fd(&pid_write));
	if (read(pid_read, &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	while (waitpid(intermediate, &status, 0) < 0 && errno == EINTR)
		;
	/* Without a pid the intermediate failed and wrote why on the report pipe. */
	return pid > 0 ? pid : 0;
}

static int read_report(int report_read, struct child_report *report)
{
	ssize_t n;

	do
		n = read(report_read, report, sizeof(*report));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*report);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

int spawn_child(const struct spawn_request *request, pid_t *pid_out, int *pidfd_out,
		enum container_failure *failure, struct ck_error *err)
{
	_cleanup_close_ int report_read = -1;
	_cleanup_close_ int report_write = -1;
	_cleanup_close_ int pidfd = -1;
	struct child_report report;
	int fds[2];
	pid_t pid;

	*failure = CONTAINER_FAILED_CREATE;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ck_error_errno(err, errno, "pipe");
	report_read = fds[0];
	report_write = fds[1];
	/* A daemon may run with 0, 1 or 2 closed: the child must not move its stdio onto the
	 * report pipe. */
	if (report_write < 3) {
		int moved = fcntl(report_write, F_DUPFD_CLOEXEC, 3);
		if (moved < 0)
			return ck_error_errno(err, errno, "pipe");
		close(report_write);
		report_write = moved;
	}

	if (request->join_fd >= 0) {
		pid = spawn_joined(request, report_write, err);
		if (pid < 0)
			return pid;
		if (pid > 0) {
			/* Our child through CLONE_PARENT and not reaped: the pid cannot be reused.
			 */
			pidfd = pidfd_open(pid, 0);
			if (pidfd < 0) {
				int e = errno;
				kill(pid, SIGKILL);
				reap(pid);
				return ck_error_errno(err, e, "pidfd_open");
			}
		}
	} else {
		pid = clone3_into(request->clone_flags | CLONE_PIDFD, request->cgroup_fd, &pidfd);
		if (pid < 0)
			return ck_error_errno(err, errno, "clone3");
		if (pid == 0) {
			close(report_read);
			request->run(request->arg, report_write);
			_exit(127);
		}
	}

	close(steal_fd(&report_write));
	if (pid > 0 && request->started) {
		int r = request->started(request->started_arg, pid, err);
		if (r < 0) {
			kill(pid, SIGKILL);
			reap(pid);
			return r;
		}
	}
	/* End of file without a report: the child's exec closed the pipe. */
	if (!read_report(report_read, &report)) {
		*pid_out = pid;
		*pidfd_out = steal_fd(&pidfd);
		return 0;
	}
	if (pid > 0)
		reap(pid);
	report.text[sizeof(report.text) - 1] = '\0';
	*failure = report.failure == CONTAINER_FAILED_EXEC ? CONTAINER_FAILED_EXEC
							   : CONTAINER_FAILED_CREATE;
	if (report.errnum)
		return ck_error_errno(err, report.errnum, "%s", report.text);
	return ck_error_set(err, EINVAL, "%s", report.text);
}
