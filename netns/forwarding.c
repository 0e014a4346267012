/* Per-interface IPv4 forwarding: see forwarding.h. */
#include "netns/forwarding.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"

int ipv4_forwarding_enable(const char *ifname, struct ck_error *err)
{
	char path[128], value[2] = {0};
	_cleanup_close_ int fd = -1;

	/* /proc/sys/net is the one of the namespace that opens it: the caller's. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "forwarding on %s: open %s", ifname, path);
	/* Writing the same value again still makes the kernel walk its routes; read first. */
	if (read(fd, value, 1) == 1 && value[0] == '1')
		return 0;
	if (pwrite(fd, "1", 1, 0) != 1)
		return ck_error_errno(err, errno, "forwarding on %s: write %s", ifname, path);
	return 0;
}
