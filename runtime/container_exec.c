/* Exec: another process in a running container, entering all its namespaces through its
 * pidfd and starting in its cgroup, with the container's user, capabilities and seccomp. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "runtime/container_internal.h"
#include "runtime/container_state.h"
#include "runtime/process_spec.h"
#include "runtime/seccomp_profile.h"
#include "runtime/spawn.h"

#define JOIN_ALL \
	(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP)

struct exec_plan {
	const struct container_exec_request *request;
	struct container_process process;
	const struct sock_fprog *seccomp;
	const char *path;
	int tty_socket; /* the child's end, to send the terminal's master side back */
};

static int send_fd(int socket_fd, int fd)
{
	char data = 't';
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control = {0};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(socket_fd, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int receive_fd(int socket_fd)
{
	char data;
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) <= 0)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

/* A terminal from the container's own devpts (its /dev/ptmx), so the name the process sees
 * exists inside the container. The master side goes back to the agent. */
static int open_terminal(int tty_socket, int report_fd, int *slave)
{
	int unlock = 0;
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "open a terminal");
		return -1;
	}
	*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0 || send_fd(tty_socket, master) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "open a terminal");
		return -1;
	}
	close(master);
	return 0;
}

static void exec_child_run(void *arg, int report_fd)
{
	const struct exec_plan *plan = arg;
	const struct container_exec_request *request = plan->request;
	int stdio[3] = {request->stdio[0], request->stdio[1], request->stdio[2]};
	int slave = -1;

	if (request->tty) {
		if (open_terminal(plan->tty_socket, report_fd, &slave) < 0)
			return;
		stdio[0] = stdio[1] = stdio[2] = slave;
	}
	if (prepare_process(stdio, report_fd) < 0)
		return;
	if (request->tty && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0)) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "make the terminal ours");
		return;
	}
	if (chdir(plan->process.cwd) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
			     "enter the working directory %s", plan->process.cwd);
		return;
	}
	if (enter_credentials(&plan->process, plan->seccomp, report_fd) < 0)
		return;
	umask(022);
	exec_command(request->argv, request->env ? request->env : plan->process.env, plan->path,
		     report_fd);
}

static const char *env_path(char *const *env)
{
	for (; env && *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			return *env + 5;
	return DEFAULT_PATH;
}

static int open_cgroup(const struct container *container, struct ck_error *err)
{
	const char *path = json_string_value(json_object_get(container->state, "cgroup"));
	int fd;

	if (!path)
		return ck_error_set(err, ENOENT, "no cgroup recorded");
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : ck_error_errno(err, errno, "open cgroup %s", path);
}

static int run_exec(struct container *container, struct exec_plan *plan, int cgroup_fd,
		    struct container_exec *out, enum container_failure *failure,
		    struct ck_error *err)
{
	struct spawn_request spawn = {
	    .cgroup_fd = cgroup_fd,
	    .join_fd = container->pidfd,
	    .join_flags = JOIN_ALL,
	    .run = exec_child_run,
	    .arg = plan,
	};
	_cleanup_close_ int agent_end = -1;
	int r, sv[2];

	if (plan->request->tty) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return ck_error_errno(err, errno, "socketpair");
		agent_end = sv[0];
		plan->tty_socket = sv[1];
	}
	r = spawn_child(&spawn, &out->pid, &out->pidfd, failure, err);
	if (plan->tty_socket >= 0)
		close(plan->tty_socket);
	if (r < 0 || !plan->request->tty)
		return r;
	out->tty_master = receive_fd(agent_end);
	if (out->tty_master < 0)
		return ck_error_errno(err, EIO, "receive the terminal");
	return 0;
}

int container_exec(struct container *container, const struct container_exec_request *request,
		   struct container_exec *out, enum container_failure *failure,
		   struct ck_error *err)
{
	struct exec_plan plan = {.request = request, .tty_socket = -1};
	_cleanup_close_ int cgroup_fd = -1;
	int r;

	*failure = CONTAINER_FAILED_CREATE;
	*out = (struct container_exec){.pid = -1, .pidfd = -1, .tty_master = -1};
	if (!request->argv || !request->argv[0])
		return ck_error_set(err, EINVAL, "container %s: exec: no command", container->id);
	if (!container_running(container))
		return ck_error_set(err, ESRCH, "container %s is not running", container->id);
	r = container_state_process(container, &plan.process, err);
	if (r == 0 && plan.process.seccomp_default)
		r = seccomp_runtime_default(plan.process.capabilities, &plan.seccomp, err);
	if (r == 0)
		r = cgroup_fd = open_cgroup(container, err);
	if (r >= 0) {
		plan.path = env_path(request->env ? request->env : plan.process.env);
		r = run_exec(container, &plan, cgroup_fd, out, failure, err);
	}
	container_state_process_clear(&plan.process);
	if (r < 0)
		return ck_error_prefix(err, "container %s", container->id);
	return 0;
}
