/* Scope-bound release of resources with __attribute__((cleanup)), so that early returns on
 * error paths cannot leak. Declare with the matching macro and hand ownership on with
 * steal_ptr() / steal_fd(). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_json_ _cleanup_(cleanup_json_decrefp)

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cleanup_json_decrefp(json_t **j)
{
	json_decref(*j);
}

/* Takes the pointer out of a cleanup-managed variable, so the cleanup does nothing. */
#define steal_ptr(pp)                              \
	({                                         \
		__typeof__(*(pp)) stolen_ = *(pp); \
		*(pp) = NULL;                      \
		stolen_;                           \
	})

static inline int steal_fd(int *fd)
{
	int stolen = *fd;
	*fd = -1;
	return stolen;
}
