/* The container's stdout and stderr as FIFOs in its state directory. The container holds
 * them read-write, which makes it a reader of its own output as far as the kernel is
 * concerned: when the agent stops, writes block once the pipe is full instead of failing
 * with EPIPE (or killing the container with SIGPIPE), and the agent that starts next opens
 * the same FIFOs and reads on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "runtime/container.h"

/* Room for a burst while the log pump is busy elsewhere (the default is 64 KiB). */
#define OUTPUT_PIPE_SIZE (1 << 20)

static const char *const stream_names[2] = {"stdout", "stderr"};

static int open_reader(const char *path, struct ck_error *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return ck_error_errno(err, errno, "open %s", path);
	return fd;
}

int container_output_open(const char *run_dir, const char *id, int child[2], int reader[2],
			  struct ck_error *err)
{
	char dir[4096];
	int r;

	child[0] = child[1] = reader[0] = reader[1] = -1;
	snprintf(dir, sizeof(dir), "%s/containers/%s", run_dir, id);
	r = fs_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s", dir, stream_names[i]);
		if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
			r = ck_error_errno(err, errno, "create %s", path);
			goto fail;
		}
		/* Read-write first, so that opening the reader finds a writer. */
		child[i] = open(path, O_RDWR | O_CLOEXEC);
		if (child[i] < 0) {
			r = ck_error_errno(err, errno, "open %s", path);
			goto fail;
		}
		/* Best effort: a smaller pipe only means the container waits sooner. */
		fcntl(child[i], F_SETPIPE_SZ, OUTPUT_PIPE_SIZE);
		r = reader[i] = open_reader(path, err);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (child[i] >= 0)
			close(child[i]);
		if (reader[i] >= 0)
			close(reader[i]);
		child[i] = reader[i] = -1;
	}
	return r;
}

int container_output_reopen(const struct container *container, int reader[2], struct ck_error *err)
{
	reader[0] = reader[1] = -1;
	for (int i = 0; i < 2; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", container->state_dir, stream_names[i]);
		int r = reader[i] = open_reader(path, err);

		if (r < 0) {
			if (i == 1)
				close(reader[0]);
			reader[0] = -1;
			return r;
		}
	}
	return 0;
}
