/* The container's child, from clone3 to execve: see container.h for the order and spawn.h for
 * what it may call. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/container_internal.h"
#include "runtime/spawn.h"

static int join_namespace(const struct container_namespace *ns, int type, const char *name,
			  int report_fd)
{
	if (ns->mode != CONTAINER_NS_JOIN)
		return 0;
	if (setns(ns->fd, type) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
			     "join the pod's %s namespace", name);
		return -1;
	}
	return 0;
}

static int enter_namespaces(const struct container_plan *plan, int report_fd)
{
	const struct container_config *config = plan->config;

	/* Cloned straight into its cgroup, the child now makes that cgroup the root of its
	 * cgroup namespace (clone3 would have rooted it at the agent's). */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "new cgroup namespace");
		return -1;
	}
	if (join_namespace(&config->net, CLONE_NEWNET, "network", report_fd) < 0 ||
	    join_namespace(&config->ipc, CLONE_NEWIPC, "IPC", report_fd) < 0 ||
	    join_namespace(&config->uts, CLONE_NEWUTS, "UTS", report_fd) < 0)
		return -1;
	if (plan->new_uts && config->hostname &&
	    sethostname(config->hostname, strlen(config->hostname)) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "set the hostname");
		return -1;
	}
	return 0;
}

/* The working directory is created as root (images often name one they do not have), and
 * entered before the user changes, as runc does. */
static int enter_working_dir(const char *cwd, int report_fd)
{
	char partial[4096];
	size_t len = strlen(cwd);

	if (chdir(cwd) == 0)
		return 0;
	if (errno != ENOENT || len >= sizeof(partial))
		goto fail;
	memcpy(partial, cwd, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (partial[i] != '/' && partial[i] != '\0')
			continue;
		partial[i] = '\0';
		if (mkdir(partial, 0755) < 0 && errno != EEXIST)
			goto fail;
		if (i < len)
			partial[i] = '/';
	}
	if (chdir(cwd) == 0)
		return 0;
fail:
	child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "enter the working directory %s",
		     cwd);
	return -1;
}

void container_child_run(void *arg, int report_fd)
{
	const struct container_plan *plan = arg;
	const struct container_process *process = &plan->config->process;

	umask(0);
	if (prepare_process(process->stdio, report_fd) < 0 ||
	    enter_namespaces(plan, report_fd) < 0 || container_rootfs_setup(plan, report_fd) < 0 ||
	    enter_working_dir(process->cwd, report_fd) < 0 ||
	    enter_credentials(process, plan->seccomp, report_fd) < 0)
		return;
	umask(022);
	exec_command(process->argv, process->env, plan->path, report_fd);
}
