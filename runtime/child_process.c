/* The last steps of every container and exec child: stdio, signals, credentials, exec. System
 * calls only (see spawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/capabilities.h"
#include "runtime/container_internal.h"
#include "runtime/seccomp_profile.h"
#include "runtime/spawn.h"

/* Moves the three descriptors onto 0, 1 and 2 without one clobbering another: first out of
 * the way above 2, then into place. */
static int setup_stdio(const int stdio[3], int report_fd)
{
	int moved[3];

	for (int i = 0; i < 3; i++) {
		if (stdio[i] < 0)
			moved[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
		else
			moved[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
		if (moved[i] < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "set up stdio %d",
				     i);
			return -1;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(moved[i], i) < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "set up stdio %d",
				     i);
			return -1;
		}
		close(moved[i]);
	}
	return 0;
}

int prepare_process(const int stdio[3], int report_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and gaps */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setup_stdio(stdio, report_fd) < 0)
		return -1;
	/* Whatever else the agent had open (sockets, database, other containers' pipes) must
	 * not reach the container. The report pipe is close-on-exec already. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "close descriptors");
		return -1;
	}
	return 0;
}

/* glibc's setuid() and friends signal every thread the process had, which the child of a
 * threaded agent only believes it has; the raw system calls change this one task. */
static int set_ids(const struct container_process *process, int report_fd)
{
	if (syscall(SYS_setgroups, process->group_count, process->groups) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "setgroups");
		return -1;
	}
	if (syscall(SYS_setresgid, process->gid, process->gid, process->gid) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "setresgid %u",
			     (unsigned)process->gid);
		return -1;
	}
	if (syscall(SYS_setresuid, process->uid, process->uid, process->uid) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "setresuid %u",
			     (unsigned)process->uid);
		return -1;
	}
	return 0;
}

int enter_credentials(const struct container_process *process, const struct sock_fprog *seccomp,
		      int report_fd)
{
	const uint64_t caps = process->capabilities;
	const uint64_t sys_admin = 1ULL << CAP_SYS_ADMIN;
	int failed_cap = -1;
	int r;

	/* Keep the permitted set across the change of uid, to choose from it afterwards. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "keep capabilities");
		return -1;
	}
	r = capabilities_drop_bounding(caps, &failed_cap);
	if (r < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, -r,
			     "drop capability %d from the bounding set", failed_cap);
		return -1;
	}
	if (set_ids(process, report_fd) < 0)
		return -1;
	if (process->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "set no_new_privs");
		return -1;
	}
	/* Loading a filter without no_new_privs needs CAP_SYS_ADMIN: hold it just for that. */
	if (seccomp && !process->no_new_privs) {
		r = capabilities_set(caps | sys_admin, caps | sys_admin, caps);
		if (r == 0)
			r = seccomp_load_program(seccomp);
		if (r < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, -r,
				     "load seccomp profile");
			return -1;
		}
		seccomp = NULL;
	}
	r = capabilities_set(caps, caps, caps);
	if (r < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, -r, "set capabilities");
		return -1;
	}
	if (seccomp) {
		r = seccomp_load_program(seccomp);
		if (r < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, -r,
				     "load seccomp profile");
			return -1;
		}
	}
	return 0;
}

void exec_command(char *const *argv, char *const *env, const char *path, int report_fd)
{
	const char *name = argv[0];
	size_t name_len = strlen(name);
	char candidate[4096];
	int denied = 0;

	if (strchr(name, '/')) {
		execve(name, argv, env);
		child_report(report_fd, CONTAINER_FAILED_EXEC, errno, "exec \"%s\"", name);
		return;
	}
	/* As execvp does, but with the container's PATH rather than the agent's. */
	for (const char *dir = path; dir;) {
		const char *end = strchr(dir, ':');
		size_t dir_len = end ? (size_t)(end - dir) : strlen(dir);

		if (dir_len == 0)
			dir = ".", dir_len = 1;
		if (dir_len + 1 + name_len < sizeof(candidate)) {
			memcpy(candidate, dir, dir_len);
			candidate[dir_len] = '/';
			memcpy(candidate + dir_len + 1, name, name_len + 1);
			execve(candidate, argv, env);
			if (errno == EACCES)
				denied = 1;
			else if (errno != ENOENT && errno != ENOTDIR) {
				child_report(report_fd, CONTAINER_FAILED_EXEC, errno, "exec \"%s\"",
					     candidate);
				return;
			}
		}
		dir = end ? end + 1 : NULL;
	}
	if (denied)
		child_report(report_fd, CONTAINER_FAILED_EXEC, EACCES, "exec \"%s\"", name);
	else
		child_report(report_fd, CONTAINER_FAILED_EXEC, 0,
			     "exec: \"%s\": executable file not found in $PATH", name);
}
