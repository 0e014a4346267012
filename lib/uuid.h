/* Random (version 4) UUIDs for metadata.uid, in the lower-case text form Kubernetes uses:
 * "0f8fad5b-d9cb-469f-a165-70867728950e". */
#pragma once

#include "error.h"

#define UUID_TEXT_SIZE 37 /* 36 characters and the NUL */

/* Draws 122 random bits from getrandom(). Returns 0, or -errno when the kernel gives none. */
int uuid_generate_v4(char out[UUID_TEXT_SIZE], struct ck_error *err);
