/* `ckube` itself run as a child process, for work the agent keeps out of its own process: an
 * image pull (so that the agent never maps the archive libraries, and a hostile layer crashes
 * only the child) and an NFS mount (which can block for as long as its server is silent). The
 * child gets the agent's environment, /dev/null as stdin and stdout, and a pipe as stderr:
 * its last line there is the error it reports. Internal to kubelet/. */
#pragma once

#include <sys/types.h>

#include "lib/buf.h"
#include "lib/error.h"

/* Starts /proc/self/exe with `argv` (argv[0] "ckube"). Returns 0 with the child's pid and the
 * read end of its stderr (close-on-exec, the caller closes it), or a negative errno naming
 * `what`. */
int ckube_child_start(char *const argv[], const char *what, pid_t *pid, int *stderr_fd,
		      struct ck_error *err);

/* Reads the child's stderr until the child closes it, keeping its last `keep` bytes, without
 * the newlines at the end. */
void ckube_child_read_stderr(int fd, size_t keep, struct buf *out);
