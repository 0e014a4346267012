/* What a fresh or restarted API server sets up before it serves: the allocators and the
 * namespace states rebuilt from the stored objects, and the objects every cluster has (the
 * default namespaces and the `kubernetes` Service). */
#pragma once

#include "lib/error.h"

struct apiserver;

int apiserver_init_allocators(struct apiserver *server, struct ck_error *err);
int bootstrap_restore_state(struct apiserver *server, struct ck_error *err);
int bootstrap_cluster(struct apiserver *server, struct ck_error *err);
