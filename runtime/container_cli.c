/* `ckube exec`, `ckube wait` and `ckube rm`: the containers of this node found by their id in
 * the run directory (those of `ckube run` and of the agent alike): a process in a running one,
 * the exit code of one started by another process, and removing what a stopped one left. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "lib/cleanup.h"
#include "runtime/cli.h"
#include "runtime/container.h"
#include "runtime/proc_events.h"

enum { OPT_DIR_BASE = 256 };

static void exec_usage(FILE *out)
{
	fprintf(out, "usage: ckube exec [-t] [--run-dir DIR] ID [--] COMMAND "
		     "[ARG...]\n\n"
		     "Runs COMMAND in the running container ID with the container's user,\n"
		     "capabilities and seccomp profile, and exits with its exit code.\n"
		     "  -t, --tty   a terminal from the container (this one goes raw meanwhile)\n");
}

static void copy_window_size(int from, int to)
{
	struct winsize size;

	if (ioctl(from, TIOCGWINSZ, &size) == 0)
		ioctl(to, TIOCSWINSZ, &size);
}

/* Bytes from one side to the other; false at end of file or error. */
static bool relay(int from, int to)
{
	char data[8192];
	ssize_t n = read(from, data, sizeof(data));

	if (n <= 0)
		return n < 0 && errno == EINTR;
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(to, data + done, (size_t)(n - done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		done += w;
	}
	return true;
}

/* Between this terminal and the container's, until the process exits. */
static void relay_terminal(int master, int pidfd)
{
	struct termios saved, raw;
	bool raw_mode = tcgetattr(0, &saved) == 0;
	sigset_t winch;
	int signal_fd;

	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	sigprocmask(SIG_BLOCK, &winch, NULL);
	signal_fd = signalfd(-1, &winch, SFD_CLOEXEC);
	if (raw_mode) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
		copy_window_size(0, master);
	}
	struct pollfd fds[] = {
	    {.fd = 0, .events = POLLIN},
	    {.fd = master, .events = POLLIN},
	    {.fd = signal_fd, .events = POLLIN},
	    {.fd = pidfd, .events = POLLIN},
	};
	for (;;) {
		if (poll(fds, 4, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			if (!relay(master, 1))
				break;
			continue; /* drain the output before looking at the exit */
		}
		if ((fds[0].revents & (POLLIN | POLLHUP)) && !relay(0, master))
			fds[0].fd = -1; /* our input ended; the process may go on */
		if (fds[2].revents & POLLIN) {
			struct signalfd_siginfo info;
			(void)!read(signal_fd, &info, sizeof(info));
			copy_window_size(0, master);
		}
		if (fds[3].revents & POLLIN)
			break;
	}
	if (raw_mode)
		tcsetattr(0, TCSANOW, &saved);
	close(signal_fd);
}

static int wait_exit_code(int pidfd)
{
	siginfo_t info = {0};

	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0)
		if (errno != EINTR)
			return 125;
	return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

int exec_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"tty", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	struct container_exec_request request = {.stdio = {0, 1, 2}};
	struct runtime_dirs dirs;
	struct container_exec exec;
	enum container_failure failure;
	struct container *container;
	struct ck_error err = {0};
	int c, code;

	runtime_dirs_default(&dirs);
	while ((c = getopt_long(argc, argv, "+th", options, NULL)) != -1) {
		if (c == 't')
			request.tty = true;
		else if (c == 'h') {
			exec_usage(stdout);
			return 0;
		} else if (!runtime_dirs_option(&dirs, c - OPT_DIR_BASE, optarg)) {
			exec_usage(stderr);
			return 2;
		}
	}
	if (optind < argc - 1 && strcmp(argv[optind + 1], "--") == 0) {
		argv[optind + 1] = argv[optind];
		optind++;
	}
	if (argc - optind < 2) {
		exec_usage(stderr);
		return 2;
	}
	runtime_use_seccomp_cache(&dirs);
	if (container_adopt(dirs.run_dir, argv[optind], &container, &err) < 0) {
		fprintf(stderr, "ckube exec: %s\n", err.message);
		return 125;
	}
	request.argv = argv + optind + 1;
	if (container_exec(container, &request, &exec, &failure, &err) < 0) {
		fprintf(stderr, "ckube exec: %s\n", err.message);
		container_free(container);
		return failure == CONTAINER_FAILED_EXEC ? (err.code == EACCES ? 126 : 127) : 125;
	}
	if (request.tty) {
		relay_terminal(exec.tty_master, exec.pidfd);
		close(exec.tty_master);
	}
	code = wait_exit_code(exec.pidfd);
	close(exec.pidfd);
	container_free(container);
	return code;
}

int rm_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	struct runtime_dirs dirs;
	int c, status = 0;

	runtime_dirs_default(&dirs);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h' || !runtime_dirs_option(&dirs, c - OPT_DIR_BASE, optarg)) {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: ckube rm [--run-dir DIR] ID...\n\n"
				"Removes stopped containers' state and writable layers.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		struct ck_error err = {0};

		if (container_remove_stopped(dirs.run_dir, argv[i], &err) < 0) {
			fprintf(stderr, "ckube rm: %s\n", err.message);
			status = 1;
		}
	}
	return status;
}

struct awaited {
	pid_t pid;
	int wait_status; /* -1 until its exit event */
};

static void note_exit(void *ctx, pid_t pid, int wait_status)
{
	struct awaited *awaited = ctx;

	if (pid == awaited->pid)
		awaited->wait_status = wait_status;
}

/* Until the pidfd says the process is gone; its status comes from the exit event, which the
 * kernel sends before the pidfd becomes readable. */
static int await_exit(struct container *container, struct proc_events *events, struct ck_error *err)
{
	struct awaited awaited = {.pid = container->pid, .wait_status = -1};
	struct pollfd fds[] = {
	    {.fd = container->pidfd, .events = POLLIN},
	    {.fd = proc_events_fd(events), .events = POLLIN},
	};

	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return ck_error_errno(err, errno, "wait for container %s", container->id);
		if (proc_events_read(events, note_exit, &awaited, err) < 0)
			return -err->code;
		if (fds[0].revents & POLLIN)
			break;
	}
	if (awaited.wait_status >= 0)
		container_record_exit(container, awaited.wait_status);
	return 0;
}

int wait_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    RUNTIME_DIRS_OPTIONS(OPT_DIR_BASE),
	    {0},
	};
	struct runtime_dirs dirs;
	struct container *container;
	struct proc_events *events;
	struct container_exit status;
	struct ck_error err = {0};
	int c;

	runtime_dirs_default(&dirs);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h' || !runtime_dirs_option(&dirs, c - OPT_DIR_BASE, optarg)) {
			fprintf(
			    c == 'h' ? stdout : stderr,
			    "usage: ckube wait [--run-dir DIR] ID\n\n"
			    "Waits for a running container started by another process (ckube run,\n"
			    "the agent) and prints its exit code.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: ckube wait [--run-dir DIR] ID\n");
		return 2;
	}
	/* Listening first, so that an exit right after the adoption is not missed. */
	if (proc_events_open(&events, &err) < 0 ||
	    container_adopt(dirs.run_dir, argv[optind], &container, &err) < 0) {
		fprintf(stderr, "ckube wait: %s\n", err.message);
		return 125;
	}
	if ((container->pidfd >= 0 && await_exit(container, events, &err) < 0) ||
	    container_wait(container, &status, &err) < 0) {
		fprintf(stderr, "ckube wait: %s\n", err.message);
		return 125;
	}
	if (status.unknown)
		printf("unknown\n");
	else
		printf("%d\n", status.code);
	container_free(container);
	proc_events_close(events);
	return 0;
}
