/* One nf_tables transaction over netlink (libmnl + libnftnl): messages are collected in memory
 * between the batch's begin and end markers and sent in one sendmsg(), and the kernel commits
 * them as one or not at all. Packets see the old ruleset until the commit and the new one after
 * it; a failed batch changes nothing.
 *
 * A long-lived user keeps one socket (nft_socket_open) for all its batches and reads: the
 * kernel makes whoever closes a netfilter socket wait until the objects that earlier commits
 * deleted are freed, which takes an RCU grace period (10 to 30 ms here) after every commit
 * that deleted anything.
 *
 * Every message asks for an acknowledgement, so a failure names the step that caused it:
 * "nftables table ip ckube-proxy: add elements to map backends: File exists". The batch works in
 * the calling thread's network namespace. Allocation failures abort, as everywhere in ckube. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "lib/error.h"

struct mnl_socket;
struct nft_batch;

/* A netfilter netlink socket in the calling thread's network namespace. */
struct mnl_socket *nft_socket_open(struct ck_error *err);
void nft_socket_close(struct mnl_socket *socket);
/* The next sequence number(s) for requests on any socket of this process. */
uint32_t nft_next_seq(uint32_t count);

/* `family`: NFPROTO_IPV4 and so on, for every message. `subject` begins every error message
 * ("nftables table ip ckube-proxy"); it is copied. */
struct nft_batch *nft_batch_new(uint16_t family, const char *subject);
void nft_batch_free(struct nft_batch *batch);

/* Append one message: `type` is NFT_MSG_NEWTABLE, NFT_MSG_DELCHAIN and so on, `flags` the
 * netlink flags besides NLM_F_REQUEST and NLM_F_ACK (NLM_F_CREATE, NLM_F_APPEND...), `step`
 * what the message does, for errors (copied). */
void nft_batch_table(struct nft_batch *batch, uint16_t type, uint16_t flags,
		     const struct nftnl_table *table, const char *step);
void nft_batch_chain(struct nft_batch *batch, uint16_t type, uint16_t flags,
		     const struct nftnl_chain *chain, const char *step);
void nft_batch_rule(struct nft_batch *batch, uint16_t type, uint16_t flags,
		    const struct nftnl_rule *rule, const char *step);
void nft_batch_set(struct nft_batch *batch, uint16_t type, uint16_t flags,
		   const struct nftnl_set *set, const char *step);
/* The elements of `set` (NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM), in as many messages as
 * they need: one message holds up to 64 KiB of them. Nothing when the set holds none. */
void nft_batch_elements(struct nft_batch *batch, uint16_t type, uint16_t flags,
			const struct nftnl_set *set, const char *step);

/* The messages so far, markers not counted: 0 means there is nothing to commit. */
size_t nft_batch_messages(const struct nft_batch *batch);
/* The bytes so far, markers included. */
size_t nft_batch_bytes(const struct nft_batch *batch);

/* Sends the batch on `socket` and reads the kernel's verdict: 0 when it committed. After a
 * failure the earliest failing step is named; the kernel took none of it. Once per batch. */
int nft_batch_send(struct nft_batch *batch, struct mnl_socket *socket, struct ck_error *err);
/* The same on a socket of its own, for one-off batches. */
int nft_batch_commit(struct nft_batch *batch, struct ck_error *err);
