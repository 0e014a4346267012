/* ckube as a child process of the agent: see ckube_child.h. */
#include "kubelet/ckube_child.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int ckube_child_start(char *const argv[], const char *what, pid_t *pid, int *stderr_fd,
		      struct ck_error *err)
{
	posix_spawn_file_actions_t actions;
	int pipe_fds[2], r;

	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return ck_error_errno(err, errno, "%s: pipe", what);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
	/* The agent's environment: a proxy for the registries (HTTPS_PROXY) applies to pulls. */
	r = posix_spawn(pid, "/proc/self/exe", &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(pipe_fds[1]);
	if (r != 0) {
		close(pipe_fds[0]);
		return ck_error_errno(err, r, "%s: start ckube %s", what, argv[1]);
	}
	*stderr_fd = pipe_fds[0];
	return 0;
}

void ckube_child_read_stderr(int fd, size_t keep, struct buf *out)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		buf_append(out, chunk, (size_t)n);
		if (out->len > keep) {
			memmove(out->data, out->data + out->len - keep, keep);
			out->len = keep;
			out->data[keep] = '\0';
		}
	}
	while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
		out->data[--out->len] = '\0';
}
