/* Discovery documents, derived from the resource table: the legacy ones (APIVersions,
 * APIGroupList, APIGroup, APIResourceList) that kubectl 1.20 reads, and aggregated discovery
 * (apidiscovery.k8s.io v2 and v2beta1) that newer clients ask for first. */
#pragma once

#include <jansson.h>

/* GET /api; `server_address` is what clients should use ("127.0.0.1:6443"). */
json_t *discovery_api_versions(const char *server_address);
/* GET /apis */
json_t *discovery_group_list(void);
/* GET /apis/<group>; NULL when no such group. */
json_t *discovery_group(const char *group);
/* GET /api/v1 or /apis/<group>/<version>; NULL when not served. */
json_t *discovery_resource_list(const char *group, const char *version);
/* Aggregated discovery of the core group (`core` true: GET /api) or of the named groups
 * (GET /apis), as `api_version` ("apidiscovery.k8s.io/v2" or ".../v2beta1"). */
json_t *discovery_aggregated(bool core, const char *api_version);
