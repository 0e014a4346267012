/* exec probes: the command's output pipe and pidfd on the loop, reaping, the timeout kill. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kubelet/probe_internal.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"

/* 1 once the process is reaped (its exit code, or 128 + the signal, in *code), 0 while it
 * runs. */
static int reap(int pidfd, int *code)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	/* __WALL: a process started in a container is cloned with CLONE_PARENT, without an exit
	 * signal, which plain WEXITED does not wait for. */
	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | __WALL) < 0) {
		if (errno != EINTR) {
			*code = -1; /* ECHILD: not ours to reap, nothing left to do */
			return 1;
		}
	}
	if (info.si_pid == 0)
		return 0;
	*code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	return 1;
}

struct grave {
	struct loop *loop;
	int pidfd;
};

static void on_grave(void *ctx, uint32_t events)
{
	struct grave *grave = ctx;
	int code;

	(void)events;
	if (!reap(grave->pidfd, &code))
		return;
	loop_remove_fd(grave->loop, grave->pidfd);
	close(grave->pidfd);
	free(grave);
}

/* Kills an exec that is no longer wanted. It must still be reaped, but dying may take a while
 * (a process in uninterruptible sleep on a hung mount), so the loop reaps it when its pidfd
 * says it has died rather than this call waiting. */
static void bury(struct loop *loop, int pidfd)
{
	struct ck_error err = {0};
	struct grave *grave;
	siginfo_t info;
	int code;

	(void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	if (reap(pidfd, &code)) {
		close(pidfd);
		return;
	}
	grave = calloc(1, sizeof(*grave));
	if (!grave)
		abort();
	*grave = (struct grave){.loop = loop, .pidfd = pidfd};
	if (loop_add_fd(loop, pidfd, EPOLLIN, on_grave, grave, &err) == 0)
		return;
	/* Without the loop's help a zombie would stay: wait, the SIGKILL is on its way. */
	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL) < 0 && errno == EINTR)
		;
	close(pidfd);
	free(grave);
}

static void close_output(struct probe_attempt *a)
{
	if (a->output_watched)
		loop_remove_fd(a->loop, a->output_fd);
	a->output_watched = false;
	close(a->output_fd);
	a->output_fd = -1;
}

/* Keeps the first PROBE_MAX_OUTPUT bytes and throws the rest away, so that a talkative
 * command never blocks on a full pipe. */
static void read_output(struct probe_attempt *a)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(a->output_fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_output(a);
			return;
		}
		probe_keep_output(&a->output, chunk, (size_t)n);
	}
}

static void on_output(void *ctx, uint32_t events)
{
	(void)events;
	read_output(ctx);
}

static void on_exec_exit(void *ctx, uint32_t events)
{
	struct probe_attempt *a = ctx;
	int code;

	(void)events;
	if (!reap(a->pidfd, &code))
		return;
	loop_remove_fd(a->loop, a->pidfd);
	a->pidfd_watched = false;
	close(a->pidfd);
	a->pidfd = -1;
	/* What it wrote before it exited; a process it left behind holding the pipe open is not
	 * waited for. */
	if (a->output_fd >= 0)
		read_output(a);
	probe_finish_with(a, code == 0 ? PROBE_SUCCESS : PROBE_FAILURE, buf_steal(&a->output));
}

/* The command as the kubelet names it in a timeout: Go's %q of the words joined. */
static char *quote_command(char *const *argv)
{
	struct buf joined = {0};
	struct buf quoted = {0};

	for (size_t i = 0; argv[i]; i++) {
		if (i)
			buf_putc(&joined, ' ');
		buf_puts(&joined, argv[i]);
	}
	strconv_append_quoted(&quoted, joined.data ? joined.data : "", joined.len);
	buf_free(&joined);
	return buf_steal(&quoted);
}

static int watch_exec(struct probe_attempt *a, struct ck_error *err)
{
	int r = loop_add_fd(a->loop, a->pidfd, EPOLLIN, on_exec_exit, a, err);

	if (r < 0)
		return r;
	a->pidfd_watched = true;
	r = loop_add_fd(a->loop, a->output_fd, EPOLLIN, on_output, a, err);
	if (r < 0)
		return r;
	a->output_watched = true;
	return 0;
}

void probe_exec_begin(struct probe_attempt *a, const struct probe_spec *spec,
		      const struct probe_target *target)
{
	struct container_exec run = {.pid = -1, .pidfd = -1, .tty_master = -1};
	struct ck_error err = {0};
	_cleanup_close_ int write_end = -1;
	int fds[2];

	if (!spec->command || !spec->command[0]) {
		probe_finish(a, PROBE_ERROR, "exec probe without a command");
		return;
	}
	if (!target->exec) {
		probe_finish(a, PROBE_ERROR,
			     "exec probes cannot run: no way to enter the container");
		return;
	}
	a->command = quote_command(spec->command);
	/* Only our end is non-blocking: the command's writes must block as usual. */
	if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		probe_finish(a, PROBE_ERROR, "exec probe: output pipe: %s", strerror(errno));
		return;
	}
	a->output_fd = fds[0];
	write_end = fds[1];
	if (target->exec(target->exec_ctx, spec->command, write_end, &run, &err) < 0) {
		probe_finish(a, PROBE_ERROR, "%s", err.message);
		return;
	}
	if (run.tty_master >= 0)
		close(run.tty_master);
	a->pidfd = run.pidfd;
	if (a->pidfd < 0) {
		probe_finish(a, PROBE_ERROR, "exec probe: the process has no pidfd");
		return;
	}
	/* Closed here, so the end of the command's output shows as the end of the pipe. */
	close(steal_fd(&write_end));
	if (watch_exec(a, &err) < 0)
		probe_finish(a, PROBE_ERROR, "exec probe: %s", err.message);
}

void probe_exec_timed_out(struct probe_attempt *a)
{
	probe_finish(a, PROBE_FAILURE, "command %s timed out", a->command);
}

void probe_exec_release(struct probe_attempt *a)
{
	if (a->output_fd >= 0)
		close_output(a);
	if (a->pidfd_watched)
		loop_remove_fd(a->loop, a->pidfd);
	a->pidfd_watched = false;
	if (a->pidfd >= 0)
		bury(a->loop, a->pidfd);
	a->pidfd = -1;
}
