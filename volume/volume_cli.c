/* `ckube volume`: the node's volume steps by hand. `nfs-mount` is also how the agent mounts an
 * NFS volume: in a child process it can give up on when the server does not answer. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "volume/nfs_mount.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: ckube volume nfs-mount [--read-only] SERVER PATH TARGET\n\n"
		     "Mounts the NFSv4 export SERVER:PATH on the directory TARGET with the\n"
		     "kernel's client, as the agent mounts an nfs volume (no mount.nfs needed).\n");
}

static int nfs_mount_main(int argc, char **argv)
{
	static const struct option options[] = {{"read-only", no_argument, NULL, 'r'},
						{"help", no_argument, NULL, 'h'},
						{NULL, 0, NULL, 0}};
	struct ck_error err = {0};
	bool read_only = false;
	int c;

	while ((c = getopt_long(argc, argv, "rh", options, NULL)) != -1) {
		if (c == 'r') {
			read_only = true;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 3) {
		usage(stderr);
		return 2;
	}
	if (nfs_mount(argv[optind], argv[optind + 1], argv[optind + 2], read_only, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	return 0;
}

int volume_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "nfs-mount") == 0)
		return nfs_mount_main(argc - 1, argv + 1);
	usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
	return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
