/* OpenAPI documents. kubectl reads them before create and apply to learn that the server
 * validates fields itself (the fieldValidation parameter of each kind's PATCH), then sends
 * fieldValidation=Strict. kubectl 1.29+ read v3 (JSON); 1.27 and 1.28 read v2, and only as
 * protobuf (gnostic's openapi_v2.Document), so that one is encoded here by hand: it is a few
 * nested messages of strings. */
#pragma once

#include <jansson.h>

#include "lib/buf.h"

/* GET /openapi/v3: the group-versions with their document URLs. */
json_t *openapi_v3_root(void);
/* GET /openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>; NULL when not served. */
json_t *openapi_v3_group_version(const char *group, const char *version);
/* GET /openapi/v2 as application/com.github.proto-openapi.spec.v2@v1.0+protobuf. */
void openapi_v2_protobuf(struct buf *out);
