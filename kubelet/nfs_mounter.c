/* NFS mounts off the loop: see nfs_mounter.h. */
#include "kubelet/nfs_mounter.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kubelet/ckube_child.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

struct nfs_job {
	struct loop *loop;
	char *server, *path, *target;
	bool read_only;
	int timeout_ms;
	nfs_mounted_fn done;
	void (*drop)(void *ctx);
	void *ctx;
	struct ck_error err;
};

static void job_free(struct nfs_job *job)
{
	free(job->server);
	free(job->path);
	free(job->target);
	free(job);
}

static void deliver(void *arg)
{
	struct nfs_job *job = arg;

	job->done(job->ctx, job->err.code ? &job->err : NULL);
	job_free(job);
}

static void drop(void *arg)
{
	struct nfs_job *job = arg;

	if (job->drop)
		job->drop(job->ctx);
	job_free(job);
}

static int run_child(struct nfs_job *job, struct ck_error *err)
{
	char *argv[9] = {"ckube", "volume", "nfs-mount"};
	size_t argc = 3;
	_cleanup_close_ int read_end = -1, pidfd = -1;
	_cleanup_buf_ struct buf message = {0};
	struct pollfd wait_for;
	siginfo_t info = {0};
	pid_t pid;
	int r;

	if (job->read_only)
		argv[argc++] = "--read-only";
	/* Whatever the pod names as its server or path is no option. */
	argv[argc++] = "--";
	argv[argc++] = job->server;
	argv[argc++] = job->path;
	argv[argc++] = job->target;
	r = ckube_child_start(argv, "mount", &pid, &read_end, err);
	if (r < 0)
		return r;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = ck_error_errno(err, errno, "mount: watch ckube volume nfs-mount");
		kill(pid, SIGKILL);
		waitid(P_PID, (id_t)pid, &info, WEXITED);
		return r;
	}
	wait_for = (struct pollfd){.fd = pidfd, .events = POLLIN};
	if (poll(&wait_for, 1, job->timeout_ms) == 0) {
		/* The mount's waits are killable: the child ends, its half-made mount with it. */
		kill(pid, SIGKILL);
		waitid(P_PID, (id_t)pid, &info, WEXITED);
		return ck_error_set(
		    err, ETIMEDOUT,
		    "mount of %s:%s timed out after %d s (the server does not answer)", job->server,
		    job->path, job->timeout_ms / 1000);
	}
	if (waitid(P_PID, (id_t)pid, &info, WEXITED) < 0)
		return ck_error_errno(err, errno, "wait for ckube volume nfs-mount");
	if (info.si_code == CLD_EXITED && info.si_status == 0)
		return 0;
	ckube_child_read_stderr(read_end, 4096, &message);
	return ck_error_set(err, EIO, "%s",
			    message.len ? message.data : "ckube volume nfs-mount failed");
}

static void *mount_thread(void *arg)
{
	struct nfs_job *job = arg;

	run_child(job, &job->err);
	loop_post(job->loop, deliver, drop, job);
	return NULL;
}

void nfs_mounter_start(struct loop *loop, const struct nfs_mount_request *request,
		       nfs_mounted_fn done, void (*drop_ctx)(void *ctx), void *ctx)
{
	struct nfs_job *job = calloc(1, sizeof(*job));
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	if (!job)
		abort();
	*job = (struct nfs_job){.loop = loop,
				.server = strdup(request->server),
				.path = strdup(request->path),
				.target = strdup(request->target),
				.read_only = request->read_only,
				.timeout_ms = request->timeout_ms,
				.done = done,
				.drop = drop_ctx,
				.ctx = ctx};
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&thread, &attr, mount_thread, job);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		ck_error_errno(&job->err, r, "start a mount thread");
		loop_post(loop, deliver, drop, job);
	}
}
