/* The pod address allocator: hands out the addresses of the node's pod CIDR (its spec.podCIDR,
 * chosen by the API server) to pods, one address per owner id (the pod's uid).
 *
 * Its state is a directory of small files, so that it survives agent restarts and crashes and
 * can be shared by the agent and a CLI command running at the same time (each operation holds
 * an exclusive flock on <dir>/lock for its few system calls):
 *   <dir>/<a.b.c.d>         one per address handed out, holding its owner id. Creating it
 *                           with O_EXCL is the claim: two owners can never hold one address.
 *                           One left empty by a crash between the create and the write, or
 *                           unreadable, counts as taken, by nobody, until ipam_release_unless
 *                           collects it. Nothing is fsynced: a process crash loses nothing
 *                           (the page cache has it), and a power loss ends every pod with its
 *                           network namespace, so what it may garble is collected at the next
 *                           start. An fsync would cost about 1 ms of every pod start.
 *   <dir>/owners/<owner>    a symlink to "../<a.b.c.d>", made after the claim, so an owner's
 *                           address is found without reading the directory. One that dangles
 *                           or names an address held by someone else (a crash between two
 *                           steps) makes that owner's lookup scan the directory once and
 *                           repair it.
 *   <dir>/lock              the lock, which also holds the last address handed out: the next
 *                           search starts after it and wraps, so an address just released is
 *                           not given at once to the next pod while something may still hold
 *                           the old pod's entry.
 *
 * Never handed out: the network address, network + 1 (the bridge's gateway) and the broadcast
 * address, hence a /31 or /32 is refused. Address files outside the current CIDR (left from an
 * earlier one) are neither handed out nor collected; releasing their owner removes them, and
 * allocating for their owner moves it into the current CIDR.
 *
 * One struct ipam is for one thread at a time; processes and threads each opening their own
 * exclude each other through the lock file. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/ipv4_cidr.h"

/* The longest owner id; ids are 1 to this many characters of [A-Za-z0-9._-], not "." or "..". */
#define IPAM_OWNER_MAX 253

struct ipam;

/* Opens (creating with mode 0700 as needed) the state directory `state_dir` for the block
 * `pod_cidr` ("10.244.1.0/24"). A CIDR with host bits set, or smaller than a /30, is -EINVAL. */
int ipam_open(const char *state_dir, const char *pod_cidr, struct ipam **out, struct ck_error *err);
void ipam_close(struct ipam *ipam);

/* The address of `owner`: the one it holds already (idempotent), else the next free one. Host
 * order. -ENOSPC when every address is taken. */
int ipam_allocate(struct ipam *ipam, const char *owner, uint32_t *address, struct ck_error *err);
/* The address `owner` holds: 0, or -ENOENT. */
int ipam_lookup(struct ipam *ipam, const char *owner, uint32_t *address, struct ck_error *err);
/* Gives back what `owner` holds; 0 also when it holds nothing. */
int ipam_release(struct ipam *ipam, const char *owner, struct ck_error *err);
/* Garbage collection at agent start: releases every allocation in the current CIDR whose
 * owner `keep` says is gone, claims with no (valid) owner text, and second addresses of an
 * owner that holds two (a crash between the claim and its owners/ link); repairs owners/ links.
 * Returns how many addresses were released, or -errno. */
int ipam_release_unless(struct ipam *ipam, bool (*keep)(const char *owner, void *ctx), void *ctx,
			struct ck_error *err);

/* The pod CIDR and its gateway (network + 1), for the bridge address and pods' default route. */
const struct ipv4_cidr *ipam_cidr(const struct ipam *ipam);
uint32_t ipam_gateway(const struct ipam *ipam);
