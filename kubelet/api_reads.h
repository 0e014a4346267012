/* The few reads the sync loop makes from the API server itself, when a container starts: the
 * ConfigMaps and Secrets its environment and volumes name, and the Services whose variables it
 * gets. They are synchronous (a start needs the answer) and bounded by a short timeout, so an API
 * server that is away delays a start by that much and fails it with CreateContainerConfigError,
 * which the next sync retries. Internal to kubelet/. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "lib/error.h"
#include "lib/http_client.h"

/* The ConfigMap (or with `secret`, the Secret) `name` of `namespace`: 0 with *out a new
 * reference, or *out NULL when the server answers 404; a negative errno with the server's
 * message otherwise. */
int api_read_config_object(struct http_client *api, const char *namespace, bool secret,
			   const char *name, json_t **out, struct ck_error *err);

/* The Services a pod of `namespace` gets variables for: those of its namespace and the
 * `kubernetes` Service of namespace default. *out is a new array. */
int api_read_services(struct http_client *api, const char *namespace, json_t **out,
		      struct ck_error *err);
