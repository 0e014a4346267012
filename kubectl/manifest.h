/* Manifests given with -f: files, directories (their .yaml, .yml and .json files) and "-" for
 * stdin, each holding one or more YAML or JSON documents (a "kind: List" counts as its items).
 * Everything is read and checked before anything is sent, so a bad document anywhere stops the
 * whole set with one line naming the file, the document and the field. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kubectl/discovery.h"
#include "kubectl/kubectl.h"

struct manifest_object {
	char *source; /* the file as named on the command line, "STDIN" for "-" */
	int document; /* 1-based, within the source */
	json_t *object;
	struct resource resource;
	const char *name;      /* metadata.name (NULL when only generateName is set) */
	const char *namespace; /* where it goes: NULL for cluster-scoped kinds */
};

struct manifest {
	struct manifest_object *objects;
	size_t count;
};

/* Reads and parses every source. `stdin_stream` serves "-". */
int manifest_read(const char *const *sources, size_t count, FILE *stdin_stream,
		  struct manifest *manifest, struct ck_error *err);

/* Checks every object: apiVersion, kind and metadata.name set and of the right type, the kind
 * known to the server, the namespace consistent with -n. Fills in each object's resource and
 * namespace (also into metadata.namespace, as kubectl sends it). Each problem is appended to
 * `problems` as one line without "error: "; returns how many objects have problems, or a negative
 * errno when the server could not be asked (err says why). `allow_generate_name` accepts objects
 * named by metadata.generateName (create). */
int manifest_check(struct kubectl *k, struct manifest *manifest, bool allow_generate_name,
		   struct buf *problems, struct ck_error *err);

void manifest_free(struct manifest *manifest);
