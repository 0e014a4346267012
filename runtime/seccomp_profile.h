/* Seccomp for containers: the RuntimeDefault profile of containerd and Docker, compiled once
 * per capability set in the agent into a classic BPF program that the container's child loads
 * with one system call (libseccomp allocates, so it cannot run after clone3 in a threaded
 * agent).
 *
 * The profile is an allowlist: everything else fails with EPERM. Syscalls that need a
 * capability are allowed only when the container has it in its set (CAP_SYS_ADMIN: mount,
 * unshare, setns, clone with namespace flags ...; CAP_SYS_PTRACE: ptrace, process_vm_* ...;
 * and so on). Without CAP_SYS_ADMIN, clone is allowed only without namespace flags, and
 * clone3 fails with ENOSYS so that libc falls back to clone. personality is limited to the
 * usual personas, and socket to families other than AF_ALG and AF_VSOCK. Filters cover x86_64
 * with its i386 compatibility ABI (x32, off in most kernels, gets ENOSYS). System calls newer than
 * the libseccomp ckube is built with cannot be named, so they fail with EPERM like the rest. */
#pragma once

#include <linux/filter.h>
#include <stdint.h>

#include "lib/error.h"

/* The program for containers with capability set `capabilities`. The result is shared and
 * cached for the life of the process (a handful of distinct sets exist on a node): do not
 * free it. Thread-safe. */
int seccomp_runtime_default(uint64_t capabilities, const struct sock_fprog **out,
			    struct ck_error *err);

/* Keeps compiled programs in `dir` too (<run-dir>/seccomp), so that short-lived commands
 * (`ckube run`, `ckube exec`) find them there instead of compiling for 10 to 20 ms. A copy is
 * named after the capabilities that matter and a fingerprint of the profile and of libseccomp,
 * so another build never takes it for its own. NULL (the default) keeps them in memory only. */
void seccomp_profile_cache_dir(const char *dir);

/* In the child: loads `program` (seccomp(SECCOMP_SET_MODE_FILTER)). Needs no_new_privs or
 * CAP_SYS_ADMIN in the effective set. Returns 0 or -errno; no allocation. */
int seccomp_load_program(const struct sock_fprog *program);
