/* Linux capabilities of container processes, computed as Kubernetes and containerd compute
 * them, and applied in the container's child process.
 *
 * A set is a bit mask indexed by capability number (1ULL << CAP_CHOWN, ...). The computing
 * functions run in the agent; the applying ones run in the child between clone3 and execve,
 * where a threaded parent allows nothing that allocates: they are plain system calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* The 14 capabilities containerd and Docker give every container: CHOWN, DAC_OVERRIDE,
 * FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
 * SYS_CHROOT, KILL, AUDIT_WRITE. */
uint64_t capabilities_default(void);
/* Every capability this kernel knows that this process still holds in its bounding set: what
 * `privileged` and "ALL" can give. */
uint64_t capabilities_all(void);

/* "NET_ADMIN", "CAP_NET_ADMIN" and "net_admin" all name CAP_NET_ADMIN; -1 when unknown. */
int capability_from_name(const char *name);
/* "CAP_NET_ADMIN"; NULL for numbers this build does not know. */
const char *capability_name(int cap);
/* "CAP_CHOWN,CAP_KILL" (for status and messages). Caller frees. */
char *capabilities_format(uint64_t set);

/* securityContext.capabilities and privileged to a set, with containerd's rules: privileged
 * gives every capability; otherwise start from the default set, "ALL" in add gives every
 * capability, "ALL" in drop removes all, then the named adds are added and the named drops
 * removed (so add [ALL] drop [CHOWN] is all but CHOWN). An unknown name fails with -EINVAL:
 * `unknown capability "FOO"`; a known one the running kernel lacks is left out, as runc does.
 * For a privileged container add and drop are not read at all, as in containerd. */
int capabilities_compute(const char *const *add, size_t add_count, const char *const *drop,
			 size_t drop_count, bool privileged, uint64_t *out, struct ck_error *err);

/* --- in the child, before execve ---------------------------------------------------------- */

/* Drops every capability not in `keep` from the bounding set (PR_CAPBSET_DROP), up to the
 * kernel's last one (measured by libcap when it loaded: no file is read here). Capabilities
 * already out of the bounding set are skipped. Returns 0 or -errno with the capability number
 * in *failed_cap. */
int capabilities_drop_bounding(uint64_t keep, int *failed_cap);
/* capset() of the three sets for this thread, after clearing the ambient set. 0 or -errno. */
int capabilities_set(uint64_t effective, uint64_t permitted, uint64_t inheritable);
