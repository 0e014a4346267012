/* The writes of create and apply, made all-or-nothing as far as the server lets us: every write
 * is first sent as a server-side dry run (the server answers exactly as for the real write but
 * stores nothing); only when all of them pass are they sent for real. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kubectl/args.h"
#include "kubectl/kubectl.h"
#include "kubectl/manifest.h"

enum write_action { WRITE_CREATE, WRITE_PATCH, WRITE_NOTHING };

enum dry_run { DRY_RUN_NONE, DRY_RUN_SERVER, DRY_RUN_CLIENT };

struct planned_write {
	struct manifest_object *object;
	enum write_action action;
	json_t *body;       /* the object to create, or the merge patch */
	const char *result; /* "created", "configured", "unchanged" */
	bool warn_missing_last_applied;
};

struct write_plan {
	struct planned_write *writes;
	size_t count;
	const char *field_manager;    /* "kubectl-create", "kubectl-client-side-apply" */
	const char *field_validation; /* "Strict", "Warn", "Ignore" */
	enum dry_run dry_run;
};

void write_plan_add(struct write_plan *plan, struct manifest_object *object,
		    enum write_action action, json_t *body, const char *result);
void write_plan_free(struct write_plan *plan);

/* Dry-runs every write, printing each failure the way kubectl reports it; then, when all passed,
 * makes them for real and prints "pod/web created" lines. Returns the exit status. */
int write_plan_execute(struct kubectl *k, struct write_plan *plan);

/* --validate and --dry-run as kubectl spells them. */
int parse_field_validation(const char *flag, const char **validation, struct ck_error *err);
int parse_dry_run(const char *flag, enum dry_run *dry_run, struct ck_error *err);

/* Reads and checks the -f manifests, printing every problem; returns 0 when all are fine and
 * there is at least one object. `action` names the verb in "no objects passed to create". */
int load_manifests(struct kubectl *k, const struct arg_strings *files, bool allow_generate_name,
		   const char *action, struct manifest *manifest);
