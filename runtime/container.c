/* Starting containers, the agent's side: the plan for the child, the state directory, and the
 * life of the process afterwards. */
#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/mountinfo.h"
#include "runtime/container_internal.h"
#include "runtime/container_state.h"
#include "runtime/process_spec.h"
#include "runtime/seccomp_profile.h"
#include "runtime/spawn.h"

/* mount(2) takes its options in one page. */
#define MOUNT_OPTIONS_MAX 4095

static bool id_valid(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > 128 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", id[0]))
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* Characters that would change the meaning of overlay's option string. */
static bool overlay_path_ok(const char *path)
{
	return !strpbrk(path, ":,\\");
}

static size_t common_dir_len(const char *const *paths, size_t count)
{
	size_t len = strlen(paths[0]);

	for (size_t i = 1; i < count; i++) {
		size_t n = 0;
		while (n < len && paths[i][n] == paths[0][n])
			n++;
		len = n;
	}
	while (len > 0 && paths[0][len - 1] != '/')
		len--;
	return len;
}

static int plan_overlay(struct container_plan *plan, const struct container_config *config,
			struct ck_error *err)
{
	_cleanup_buf_ struct buf options = {0};
	size_t common = common_dir_len(config->layers, config->layer_count);

	if (!config->scratch_dir || !overlay_path_ok(config->scratch_dir))
		return ck_error_set(err, EINVAL,
				    "scratch directory: missing or unusable in overlay");
	buf_puts(&options, "lowerdir=");
	for (size_t i = config->layer_count; i-- > 0;) {
		const char *layer = config->layers[i];
		if (!overlay_path_ok(layer))
			return ck_error_set(err, EINVAL, "layer %s: unusable in overlay", layer);
		buf_printf(&options, "%s%s", i + 1 < config->layer_count ? ":" : "",
			   layer + common);
	}
	buf_printf(&options, ",upperdir=%s/upper,workdir=%s/work", config->scratch_dir,
		   config->scratch_dir);
	if (options.len > MOUNT_OPTIONS_MAX)
		return ck_error_set(err, E2BIG, "%zu layers are too many to mount",
				    config->layer_count);
	plan->layers_dir = strndup(config->layers[0], common ? common : 1);
	plan->overlay_options = buf_steal(&options);
	return 0;
}

static int make_scratch(const char *scratch_dir, struct ck_error *err)
{
	_cleanup_free_ char *upper = NULL, *work = NULL;
	int r = fs_mkdir_p(scratch_dir, 0700, err);

	if (r < 0)
		return r;
	if (asprintf(&upper, "%s/upper", scratch_dir) < 0 ||
	    asprintf(&work, "%s/work", scratch_dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0)
		return ck_error_errno(err, errno, "create %s/{upper,work}", scratch_dir);
	return 0;
}

/* Propagation needs a peer group on the node's side: a Bidirectional source must sit on a shared
 * mount, a HostToContainer one on a shared or slave mount; otherwise nothing would propagate,
 * and the container runtimes refuse such a mount rather than pretend (these are containerd's
 * words). */
static int check_propagation(const struct container_mount *m, struct ck_error *err)
{
	const bool both_ways = m->propagation == CONTAINER_PROPAGATION_BIDIRECTIONAL;
	const char *source = m->source ? m->source : "volume";
	struct mountinfo_entry *entries;
	const struct mountinfo_entry *mount = NULL;
	struct statx stx;
	size_t count;
	int r;

	if (m->propagation == CONTAINER_PROPAGATION_NONE)
		return 0;
	if (statx(m->source ? AT_FDCWD : m->source_fd, m->source ? m->source : "",
		  m->source ? 0 : AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
		return ck_error_errno(err, errno, "mount %s on %s", source, m->destination);
	r = mountinfo_read_self(&entries, &count, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < count && !mount; i++)
		if ((uint64_t)entries[i].id == stx.stx_mnt_id)
			mount = &entries[i];
	if (!mount)
		r = ck_error_set(err, ENOENT, "mount %s on %s: its mount is not in mountinfo",
				 source, m->destination);
	else if (!strstr(mount->propagation, "shared:") &&
		 (both_ways || !strstr(mount->propagation, "master:")))
		r = ck_error_set(err, EINVAL, "path \"%s\" is mounted on \"%s\" but it is not a %s",
				 source, mount->mount_point,
				 both_ways ? "shared mount" : "shared or slave mount");
	mountinfo_free(entries, count);
	return r;
}

/* Each source as a detached copy of its mount tree, made here in the agent's mount namespace:
 * the child, in a namespace of its own, could not copy a mount of another namespace, but it
 * can attach a detached one. Read-only and propagation are applied before it is attached
 * anywhere. A copy of a shared mount starts as a peer of its source, so even None must be
 * set: left alone, mounts would travel both ways. */
static int detach_source(const struct container_mount *m, int *tree, bool *is_dir,
			 struct ck_error *err)
{
	static const uint64_t propagation[] = {
	    [CONTAINER_PROPAGATION_NONE] = MS_PRIVATE,
	    [CONTAINER_PROPAGATION_HOST_TO_CONTAINER] = MS_SLAVE,
	    [CONTAINER_PROPAGATION_BIDIRECTIONAL] = MS_SHARED,
	};
	struct mount_attr attr = {.attr_set = m->read_only ? MOUNT_ATTR_RDONLY : 0,
				  .propagation = propagation[m->propagation]};
	const char *source = m->source ? m->source : "volume";
	struct stat st;
	int r = check_propagation(m, err);

	if (r < 0)
		return r;
	*tree =
	    m->source
		? open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)
		: open_tree(m->source_fd, "",
			    AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (*tree < 0 || fstat(*tree, &st) < 0)
		return ck_error_errno(err, errno, "mount %s on %s", source, m->destination);
	if (mount_setattr(*tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return ck_error_errno(err, errno, "mount %s on %s: %s", source, m->destination,
				      m->read_only ? "read-only and propagation" : "propagation");
	*is_dir = S_ISDIR(st.st_mode);
	return 0;
}

static int plan_mounts(struct container_plan *plan, const struct container_config *config,
		       struct ck_error *err)
{
	plan->mount_sources = calloc(config->mount_count + 1, sizeof(int));
	plan->mount_is_dir = calloc(config->mount_count + 1, sizeof(bool));
	if (!plan->mount_sources || !plan->mount_is_dir)
		return ck_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < config->mount_count; i++)
		plan->mount_sources[i] = -1;
	for (size_t i = 0; i < config->mount_count; i++) {
		const struct container_mount *m = &config->mounts[i];
		int r;

		if (m->destination[0] != '/')
			return ck_error_set(err, EINVAL,
					    "mount %s: the destination must be absolute",
					    m->destination);
		r = detach_source(m, &plan->mount_sources[i], &plan->mount_is_dir[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *find_path(char *const *env)
{
	for (; env && *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			return *env + 5;
	return DEFAULT_PATH;
}

static void plan_clear(struct container_plan *plan)
{
	if (plan->mount_sources)
		for (size_t i = 0; i < plan->config->mount_count; i++)
			if (plan->mount_sources[i] >= 0)
				close(plan->mount_sources[i]);
	free(plan->mount_sources);
	free(plan->mount_is_dir);
	free(plan->root_target);
	free(plan->overlay_options);
	free(plan->layers_dir);
}

static int plan_build(struct container_plan *plan, const struct container_config *config,
		      struct ck_error *err)
{
	int r;

	*plan = (struct container_plan){.config = config};
	/* One directory serves every container: each mounts its root there in a mount namespace
	 * of its own, so they never see each other's, and nothing is made or removed per
	 * container. */
	if (asprintf(&plan->root_target, "%s/containers/.root", config->run_dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	if (mkdir(plan->root_target, 0700) < 0 && errno != EEXIST)
		return ck_error_errno(err, errno, "create %s", plan->root_target);
	if (config->rootfs == NULL) {
		if (config->layer_count == 0)
			return ck_error_set(err, EINVAL, "no root file system and no image layers");
		r = plan_overlay(plan, config, err);
		if (r == 0)
			r = make_scratch(config->scratch_dir, err);
		if (r < 0)
			return r;
	}
	r = plan_mounts(plan, config, err);
	if (r < 0)
		return r;
	if (config->process.seccomp_default) {
		r = seccomp_runtime_default(config->process.capabilities, &plan->seccomp, err);
		if (r < 0)
			return ck_error_prefix(err, "seccomp profile");
	}
	if (!config->process.argv || !config->process.argv[0])
		return ck_error_set(err, EINVAL, "no command specified");
	plan->path = find_path(config->process.env);
	plan->new_uts = config->uts.mode == CONTAINER_NS_NEW;
	return 0;
}

static uint64_t clone_flags(const struct container_config *config)
{
	uint64_t flags = CLONE_NEWNS;

	if (config->pid_ns_fd < 0)
		flags |= CLONE_NEWPID;
	if (config->net.mode == CONTAINER_NS_NEW)
		flags |= CLONE_NEWNET;
	if (config->ipc.mode == CONTAINER_NS_NEW)
		flags |= CLONE_NEWIPC;
	if (config->uts.mode == CONTAINER_NS_NEW)
		flags |= CLONE_NEWUTS;
	return flags;
}

/* Removes what a start created before it failed. */
static void undo_start(const struct container_config *config, const char *state_dir)
{
	struct ck_error ignored;

	if (config->rootfs == NULL && config->scratch_dir)
		fs_remove_tree(AT_FDCWD, config->scratch_dir, &ignored);
	fs_remove_tree(AT_FDCWD, state_dir, &ignored);
}

static int make_state_dir(const struct container_config *config, char **out, struct ck_error *err)
{
	_cleanup_free_ char *parent = NULL, *dir = NULL, *state = NULL;
	int r;

	if (asprintf(&parent, "%s/containers", config->run_dir) < 0 ||
	    asprintf(&dir, "%s/%s", parent, config->id) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	r = fs_mkdir_p(parent, 0700, err);
	if (r < 0)
		return r;
	/* It may exist with only the output FIFOs (container_output_open), not with a state. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ck_error_errno(err, errno, "create %s", dir);
	if (asprintf(&state, "%s/state.json", dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	if (access(state, F_OK) == 0)
		return ck_error_set(err, EEXIST, "container %s exists already", config->id);
	*out = steal_ptr(&dir);
	return 0;
}

struct starting {
	struct container *container;
	const struct container_config *config;
};

/* The state is written while the child sets the container up. */
static int save_state(void *arg, pid_t pid, struct ck_error *err)
{
	struct starting *starting = arg;

	starting->container->pid = pid;
	return container_state_save(starting->container, starting->config, err);
}

static int start_process(struct container *container, const struct container_config *config,
			 enum container_failure *failure, struct ck_error *err)
{
	struct starting starting = {container, config};
	struct container_plan plan;
	int r = plan_build(&plan, config, err);

	if (r == 0) {
		struct spawn_request request = {
		    .clone_flags = clone_flags(config),
		    .cgroup_fd = config->cgroup_fd,
		    .join_fd = config->pid_ns_fd,
		    .join_flags = CLONE_NEWPID,
		    .run = container_child_run,
		    .arg = &plan,
		    .started = save_state,
		    .started_arg = &starting,
		};
		r = spawn_child(&request, &container->pid, &container->pidfd, failure, err);
	}
	plan_clear(&plan);
	return r;
}

int container_start(const struct container_config *config, struct container **out,
		    enum container_failure *failure, struct ck_error *err)
{
	struct container *container;
	char *state_dir = NULL;
	int r;

	*failure = CONTAINER_FAILED_CREATE;
	if (!id_valid(config->id))
		return ck_error_set(err, EINVAL, "%s: invalid container id \"%s\"", config->subject,
				    config->id);
	r = make_state_dir(config, &state_dir, err);
	if (r < 0)
		return ck_error_prefix(err, "%s", config->subject);
	container = calloc(1, sizeof(*container));
	if (!container)
		abort();
	container->id = strdup(config->id);
	container->state_dir = state_dir;
	container->pidfd = -1;
	container->recorded_status = -1;
	container->stop_signal = config->stop_signal ? config->stop_signal : SIGTERM;
	r = start_process(container, config, failure, err);
	if (r < 0) {
		/* Nothing runs: the state (written or not) and the writable layer go. */
		undo_start(config, container->state_dir);
		container_free(container);
		return ck_error_prefix(err, "%s", config->subject);
	}
	*out = container;
	return 0;
}

static void exit_from_status(int code, int status_kind, struct container_exit *out)
{
	out->exited = true;
	if (status_kind == CLD_EXITED) {
		out->code = code;
		out->signal = 0;
	} else {
		out->code = 128 + code;
		out->signal = code;
	}
}

static int wait_child(struct container *container, int flags, struct container_exit *out,
		      struct ck_error *err)
{
	siginfo_t info = {0};

	while (waitid(P_PIDFD, (id_t)container->pidfd, &info, WEXITED | flags) < 0)
		if (errno != EINTR)
			return ck_error_errno(err, errno, "container %s: wait", container->id);
	if (info.si_pid == 0)
		return 0; /* still running (WNOHANG) */
	exit_from_status(info.si_status, info.si_code, out);
	return 0;
}

/* An adopted container is not our child: its exit shows as a readable pidfd, its status only
 * through a recorded event. */
static int wait_adopted(struct container *container, int timeout_ms, struct container_exit *out,
			struct ck_error *err)
{
	struct pollfd pfd = {.fd = container->pidfd, .events = POLLIN};
	int n = 1;

	if (container->pidfd >= 0)
		while ((n = poll(&pfd, 1, timeout_ms)) < 0)
			if (errno != EINTR)
				return ck_error_errno(err, errno, "container %s: wait",
						      container->id);
	if (n == 0)
		return 0;
	if (container->recorded_status >= 0) {
		int status = container->recorded_status;
		if (WIFEXITED(status))
			exit_from_status(WEXITSTATUS(status), CLD_EXITED, out);
		else
			exit_from_status(WTERMSIG(status), CLD_KILLED, out);
	} else {
		out->exited = true;
		out->unknown = true;
		out->code = 128 + SIGKILL;
	}
	return 0;
}

int container_poll_exit(struct container *container, struct container_exit *out,
			struct ck_error *err)
{
	*out = (struct container_exit){0};
	if (container->adopted)
		return wait_adopted(container, 0, out, err);
	return wait_child(container, WNOHANG, out, err);
}

int container_wait(struct container *container, struct container_exit *out, struct ck_error *err)
{
	*out = (struct container_exit){0};
	if (container->adopted)
		return wait_adopted(container, -1, out, err);
	return wait_child(container, 0, out, err);
}

void container_record_exit(struct container *container, int wait_status)
{
	container->recorded_status = wait_status;
}

int container_signal(struct container *container, int sig, struct ck_error *err)
{
	if (container->pidfd < 0 || pidfd_send_signal(container->pidfd, sig, NULL, 0) == 0)
		return 0;
	if (errno == ESRCH)
		return 0; /* exited meanwhile */
	return ck_error_errno(err, errno, "container %s: send signal %d", container->id, sig);
}

int container_remove(struct container *container, struct ck_error *err)
{
	const char *scratch = container_state_scratch_dir(container);
	int r = 0;

	if (scratch)
		r = fs_remove_tree(AT_FDCWD, scratch, err);
	if (r == 0)
		r = fs_remove_tree(AT_FDCWD, container->state_dir, err);
	if (r < 0)
		ck_error_prefix(err, "container %s: remove", container->id);
	container_free(container);
	return r;
}

void container_free(struct container *container)
{
	if (!container)
		return;
	if (container->pidfd >= 0)
		close(container->pidfd);
	json_decref(container->state);
	free(container->id);
	free(container->state_dir);
	free(container);
}
