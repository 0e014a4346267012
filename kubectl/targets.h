/* What the user named on the command line: "pods web nginx", "pods,services", "pod/web svc/web",
 * each type resolved through discovery. */
#pragma once

#include "kubectl/args.h"
#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"

struct target {
	struct resource resource;
	struct arg_strings names; /* none: the whole collection */
};

struct targets {
	struct target *items;
	size_t count;
};

/* `args` are the verb's positional arguments; `verb` names it in kubectl's messages. */
int targets_resolve(struct kubectl *k, const char *verb, const struct arg_strings *args,
		    struct targets *targets, struct ck_error *err);
void targets_free(struct targets *targets);
