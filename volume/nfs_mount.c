/* NFSv4 mounts with mount(2): see nfs_mount.h. */
#include "volume/nfs_mount.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "volume/volume_mounts.h"

static int resolve(const char *server, char address[INET_ADDRSTRLEN], struct ck_error *err)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *found;
	int r = getaddrinfo(server, NULL, &hints, &found);

	if (r != 0)
		return ck_error_set(err, EHOSTUNREACH, "resolve NFS server %s: %s", server,
				    gai_strerror(r));
	inet_ntop(AF_INET, &((const struct sockaddr_in *)found->ai_addr)->sin_addr, address,
		  INET_ADDRSTRLEN);
	freeaddrinfo(found);
	return 0;
}

int nfs_mount(const char *server, const char *path, const char *target, bool read_only,
	      struct ck_error *err)
{
	char address[INET_ADDRSTRLEN], source[4096], options[256];
	int r;

	if (volume_is_mount_point(target))
		return 0;
	r = resolve(server, address, err);
	if (r < 0)
		return r;
	snprintf(source, sizeof(source), "%s:%s", server, path);
	/* mount(2) takes "vers=4" as 4.0; negotiating the minor version is mount.nfs's part, so
	 * the highest is tried first, down to what the server speaks. Hard mounts, as Kubernetes
	 * mounts them: a server that goes away makes I/O wait, not fail. */
	for (int minor = 2; minor >= 0; minor--) {
		snprintf(options, sizeof(options),
			 "vers=4.%d,addr=%s,proto=tcp,timeo=600,retrans=2", minor, address);
		if (mount(source, target, "nfs4", read_only ? MS_RDONLY : 0, options) == 0)
			return 0;
		if (errno != EPROTONOSUPPORT)
			break;
	}
	return ck_error_errno(err, errno, "mount %s (%s) on %s", source, address, target);
}
