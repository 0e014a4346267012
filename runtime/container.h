/* Containers: from a prepared configuration to a running, confined process, and back.
 *
 * The caller (the agent, or `ckube run`) resolves everything first: the image's layers, the
 * argv and environment, the user, the capability set, the compiled seccomp program, the
 * container's cgroup and the pod's namespace files. container_start then clones the process
 * with clone3 straight into its cgroup, in new mount, cgroup and (unless shared) pid
 * namespaces, joined to the pod's network, IPC and UTS namespaces. The child builds the root
 * filesystem inside its own mount namespace (so no mount is ever visible on the host, and
 * everything disappears with the last process), drops privileges and executes. Between
 * clone3 and execve the child makes system calls only: the agent is threaded, and a child of a
 * threaded process must not allocate. A failure there reaches the parent through a pipe as
 * "step: message".
 *
 * Each container has a state directory under the run directory, <run-dir>/containers/<id>/:
 *   state.json     what an agent restarted later, or `ckube exec`, needs to find and enter it
 *   stdout stderr  FIFOs for the output (container_output_open), which outlive the agent
 * and a scratch directory under the data directory for the overlay's upper and work
 * directories. Every container mounts its root on <run-dir>/containers/.root, each in its own
 * mount namespace. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* How the container gets one of the pod-level namespaces. */
enum container_ns_mode {
	CONTAINER_NS_NEW,  /* a new, empty namespace of its own (`ckube run`) */
	CONTAINER_NS_HOST, /* the agent's */
	CONTAINER_NS_JOIN, /* the namespace file `fd` (the pod's) */
};

struct container_namespace {
	enum container_ns_mode mode;
	int fd;
};

/* How mounts below a bind reach the other side (Kubernetes' mountPropagation). */
enum container_propagation {
	CONTAINER_PROPAGATION_NONE,              /* private: neither way */
	CONTAINER_PROPAGATION_HOST_TO_CONTAINER, /* the container's copy is a slave of the host's */
	CONTAINER_PROPAGATION_BIDIRECTIONAL,     /* shared both ways (privileged containers) */
};

struct container_mount {
	const char *source;      /* a host path: file or directory, bound recursively; or NULL */
	int source_fd;           /* when `source` is NULL: an O_PATH descriptor of the source */
	const char *destination; /* absolute, resolved inside the root; created when missing */
	bool read_only;
	enum container_propagation propagation;
};

struct container_process {
	char *const *argv; /* argv[0] without a slash is looked up in the PATH of `env` */
	char *const *env;  /* "NAME=value", NULL-terminated */
	const char *cwd;   /* absolute; created when missing */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t group_count;
	uint64_t capabilities; /* bounding, permitted, effective and inheritable */
	bool no_new_privs;     /* allowPrivilegeEscalation: false */
	bool seccomp_default;  /* RuntimeDefault; false for Unconfined */
	int stdio[3];          /* become 0, 1 and 2 (-1: /dev/null) */
};

struct container_config {
	const char *id;      /* unique on the node: [a-z0-9][a-z0-9._-]*, at most 128 */
	const char *subject; /* who messages are about: "container app of pod default/web" */
	const char *run_dir; /* the state directory goes in <run_dir>/containers/<id> */
	/* The root: a directory used in place (as runc and crun use a bundle's rootfs), or the
	 * image's unpacked layers (bottom first) under an overlay whose upper and work
	 * directories are created in `scratch_dir`. */
	const char *rootfs;
	const char *const *layers;
	size_t layer_count;
	const char *scratch_dir;
	bool read_only_root;
	bool privileged;      /* host devices, read-write /sys, no masked or read-only paths */
	bool unmasked_proc;   /* procMount: Unmasked */
	const char *hostname; /* set when the UTS namespace is new */
	struct container_namespace net, ipc, uts;
	int pid_ns_fd;           /* the pod's shared pid namespace, or -1 for a new one */
	int cgroup_fd;           /* the container's cgroup, O_PATH (cgroup_create) */
	const char *cgroup_path; /* the same, recorded in the state for `ckube status` */
	const struct container_mount *mounts;
	size_t mount_count;
	struct container_process process;
	int stop_signal;     /* the image's STOPSIGNAL or SIGTERM */
	json_t *annotations; /* anything the caller wants back after adoption (pod uid, ...) */
};

/* Where a start failed, for the Kubernetes reason the agent reports. */
enum container_failure {
	CONTAINER_FAILED_CREATE, /* before the command could run: CreateContainerError */
	CONTAINER_FAILED_EXEC, /* the command itself: missing, not executable: RunContainerError */
};

struct container {
	char *id;
	char *state_dir;
	pid_t pid;
	int pidfd;           /* readable when the process has exited */
	bool adopted;        /* not our child: started before the agent restarted */
	uint64_t start_time; /* /proc/<pid>/stat starttime, guards against pid reuse */
	int stop_signal;
	int recorded_status; /* wait status from container_record_exit, -1 until then */
	json_t *state;       /* the state file's content */
};

/* Starts the container. On failure nothing is left: no process, no mount (they lived only in
 * the child's mount namespace), no state or scratch directory; `failure` says which reason
 * applies. */
int container_start(const struct container_config *config, struct container **out,
		    enum container_failure *failure, struct ck_error *err);

/* Exit of a container process. */
struct container_exit {
	bool exited;  /* false while it runs */
	int code;     /* exit code, or 128 + signal, as Kubernetes shows it */
	int signal;   /* the terminating signal, 0 when it exited by itself */
	bool unknown; /* adopted, and its exit was not observed: Kubernetes' ContainerStatusUnknown
		       */
};

/* Non-blocking: reaps our own child (waitid on the pidfd); for an adopted container reports
 * `unknown` once the pidfd says it is gone, unless an exit record is known for it
 * (container_record_exit). */
int container_poll_exit(struct container *container, struct container_exit *out,
			struct ck_error *err);
/* Blocks until the container exits (for `ckube run`). */
int container_wait(struct container *container, struct container_exit *out, struct ck_error *err);
/* Records an exit observed elsewhere (the process-events connector) for an adopted one. */
void container_record_exit(struct container *container, int wait_status);

/* Sends a signal to the container's main process (pidfd_send_signal). */
int container_signal(struct container *container, int sig, struct ck_error *err);

/* Removes the state directory and scratch directory of a container that has exited, and
 * frees it. */
int container_remove(struct container *container, struct ck_error *err);
/* container_remove for a container known only by its id; -EBUSY while it runs. */
int container_remove_stopped(const char *run_dir, const char *id, struct ck_error *err);
/* Frees the handle only (the container keeps running). */
void container_free(struct container *container);

/* The containers of a run directory, from their state files, after a restart of the agent or
 * from another command. Each is `adopted`; its pidfd is open while the process exists (its
 * start time is checked against pid reuse), readable once it has exited, -1 when it is gone
 * altogether. The exit status of an exited process that its new parent has not reaped yet
 * is read from /proc (so container_poll_exit knows it); afterwards only the process events
 * connector can tell it (container_record_exit). */
int container_adopt_all(const char *run_dir, struct container ***out, size_t *count,
			struct ck_error *err);
/* One container by id; -ENOENT when there is no state for it. */
int container_adopt(const char *run_dir, const char *id, struct container **out,
		    struct ck_error *err);
/* Whether its process still runs. */
bool container_running(const struct container *container);
/* The image IDs (annotation imageID) of the running containers of a run directory, which
 * image removal and collection must keep: NULL-terminated, free with strv_free. */
char **container_images_in_use(const char *run_dir, struct ck_error *err);

/* --- output -------------------------------------------------------------------------------- */

/* Makes the container's stdout and stderr FIFOs in its state directory and opens them:
 * `child` (read-write, so the container never sees a broken pipe when the agent restarts:
 * it holds a reader itself) goes into process.stdio[1] and [2]; `reader` (read-only,
 * non-blocking) goes to the log pump. After an agent restart container_output_reopen opens
 * new readers on the same FIFOs. */
int container_output_open(const char *run_dir, const char *id, int child[2], int reader[2],
			  struct ck_error *err);
int container_output_reopen(const struct container *container, int reader[2], struct ck_error *err);

/* --- exec ---------------------------------------------------------------------------------- */

struct container_exec_request {
	char *const *argv;
	char *const *env; /* NULL: the container's environment */
	bool tty;         /* a terminal from the container's /dev/pts */
	int stdio[3];     /* without tty: the process's 0, 1, 2 (-1: /dev/null) */
};

struct container_exec {
	pid_t pid;
	int pidfd;
	int tty_master; /* with tty: the terminal's master side (the caller owns it), else -1 */
};

/* Runs a process inside a running container: all its namespaces and its cgroup, with the same
 * user, groups, capabilities, no_new_privs and seccomp program as the container, in its
 * working directory. */
int container_exec(struct container *container, const struct container_exec_request *request,
		   struct container_exec *out, enum container_failure *failure,
		   struct ck_error *err);
