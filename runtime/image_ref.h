/* Image references as Kubernetes and Docker read them: "httpd", "httpd:2.4", "library/httpd",
 * "registry:5000/team/app@sha256:...". A reference without a registry is on docker.io, a
 * docker.io name without a namespace is under library/, and no tag means :latest (unless a
 * digest is given). */
#pragma once

#include <stdbool.h>

#include "lib/error.h"

struct image_ref {
	char *registry;   /* "docker.io", "registry:5000", "127.0.0.1:5000" */
	char *repository; /* "library/httpd", "team/app" */
	char *tag;        /* NULL when only a digest is given */
	char *digest;     /* "sha256:..." or NULL */
};

/* Parses and normalizes; -EINVAL with Kubernetes-like wording ("couldn't parse image
 * reference \"X\": invalid reference format") for anything else. */
int image_ref_parse(const char *text, struct image_ref *out, struct ck_error *err);
void image_ref_clear(struct image_ref *ref);
/* "docker.io/library/httpd:2.4", or "...@sha256:..." when there is a digest (tag dropped). */
char *image_ref_string(const struct image_ref *ref);
