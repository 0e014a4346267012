/* Capability sets: names through libcap, containerd's CRI rules for securityContext, and the
 * raw system calls that apply a set in the container's child. */
#include "runtime/capabilities.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/buf.h"

/* Sets are 64-bit masks; a kernel with more capabilities than that would need a new type. */
#define CAP_SLOTS 64
/* "CAP_CHECKPOINT_RESTORE" is the longest name today; room for future ones. */
#define CAP_NAME_SIZE 40

static char cap_names[CAP_SLOTS][CAP_NAME_SIZE];
static pthread_once_t cap_names_once = PTHREAD_ONCE_INIT;

/* libcap's cap_to_name allocates and answers in lower case (and with a number for a
 * capability it does not know), so the upper-case names are copied once into a table that
 * readers can share without locking. */
static void cap_names_build(void)
{
	for (int cap = 0; cap < CAP_SLOTS; cap++) {
		char *name = cap_to_name(cap);
		if (!name)
			continue;
		if (strncasecmp(name, "cap_", 4) == 0 && strlen(name) < CAP_NAME_SIZE) {
			for (size_t i = 0; name[i]; i++)
				cap_names[cap][i] = (char)toupper((unsigned char)name[i]);
		}
		cap_free(name);
	}
}

const char *capability_name(int cap)
{
	if (cap < 0 || cap >= CAP_SLOTS)
		return NULL;
	pthread_once(&cap_names_once, cap_names_build);
	return cap_names[cap][0] ? cap_names[cap] : NULL;
}

int capability_from_name(const char *name)
{
	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (int cap = 0; cap < CAP_SLOTS; cap++) {
		const char *known = capability_name(cap);
		if (known && strcasecmp(known + 4, name) == 0)
			return cap;
	}
	return -1;
}

/* libcap measures the running kernel (PR_CAPBSET_READ probes) when it is loaded and keeps the
 * answer in a variable, so this is a plain read: safe in the child, no file involved. */
static int kernel_last_cap(void)
{
	int bits = (int)cap_max_bits();
	return (bits > CAP_SLOTS ? CAP_SLOTS : bits) - 1;
}

uint64_t capabilities_all(void)
{
	int last = kernel_last_cap();
	uint64_t set = 0;
	/* What this process can still give: a capability outside its own bounding set (ckube
	 * may itself run confined, like on hosts without CAP_SYS_RESOURCE) would make capset
	 * fail in the child. containerd grants what it holds, too. */
	for (int cap = 0; cap <= last && cap < CAP_SLOTS; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			set |= UINT64_C(1) << cap;
	return set;
}

uint64_t capabilities_default(void)
{
	/* Docker's set since its first releases; containerd copied it, and images expect it. */
	static const int defaults[] = {
	    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
	    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
	    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	    CAP_KILL,    CAP_AUDIT_WRITE,
	};
	uint64_t set = 0;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		set |= UINT64_C(1) << defaults[i];
	return set;
}

char *capabilities_format(uint64_t set)
{
	struct buf out = {0};
	for (int cap = 0; cap < CAP_SLOTS; cap++) {
		if (!(set & (UINT64_C(1) << cap)))
			continue;
		const char *name = capability_name(cap);
		const char *sep = out.len ? "," : "";
		if (name)
			buf_printf(&out, "%s%s", sep, name);
		else
			buf_printf(&out, "%s%d", sep, cap);
	}
	return buf_steal(&out);
}

/* Adds to or drops from a set, remembering whether "ALL" (any case) was among the names. */
static int names_to_set(const char *const *names, size_t count, uint64_t *set, bool *all,
			struct ck_error *err)
{
	*set = 0;
	*all = false;
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(names[i], "ALL") == 0) {
			*all = true;
			continue;
		}
		int cap = capability_from_name(names[i]);
		if (cap < 0)
			return ck_error_set(err, EINVAL, "unknown capability \"%s\"", names[i]);
		*set |= UINT64_C(1) << cap;
	}
	return 0;
}

int capabilities_compute(const char *const *add, size_t add_count, const char *const *drop,
			 size_t drop_count, bool privileged, uint64_t *out, struct ck_error *err)
{
	/* containerd does not look at add and drop at all for a privileged container. */
	if (privileged) {
		*out = capabilities_all();
		return 0;
	}
	uint64_t added, dropped;
	bool add_all, drop_all;
	int rc = names_to_set(add, add_count, &added, &add_all, err);
	if (rc == 0)
		rc = names_to_set(drop, drop_count, &dropped, &drop_all, err);
	if (rc < 0)
		return rc;
	uint64_t set = capabilities_default();
	if (add_all)
		set = capabilities_all();
	if (drop_all)
		set = 0;
	/* A capability newer than the running kernel cannot be granted; runc leaves such names
	 * out instead of failing the container, and so does this. */
	*out = ((set | added) & ~dropped) & capabilities_all();
	return 0;
}

int capabilities_drop_bounding(uint64_t keep, int *failed_cap)
{
	int last = kernel_last_cap();
	for (int cap = 0; cap <= last; cap++) {
		if (keep & (UINT64_C(1) << cap))
			continue;
		/* Already gone (the agent may itself run with a reduced bounding set): dropping it
		 * again would still demand CAP_SETPCAP, for nothing. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			*failed_cap = cap;
			return -errno;
		}
	}
	return 0;
}

int capabilities_set(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	/* Ambient capabilities survive execve into a non-root user; none are granted here. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	/* Version 3 takes two 32-bit words per set: capabilities 0-31, then 32-63. */
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	for (int word = 0; word < 2; word++) {
		data[word].effective = (uint32_t)(effective >> (32 * word));
		data[word].permitted = (uint32_t)(permitted >> (32 * word));
		data[word].inheritable = (uint32_t)(inheritable >> (32 * word));
	}
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	return 0;
}
