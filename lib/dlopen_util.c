#include "dlopen_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

/* Opening is rare (once per library and process), so one lock serves every library. */
static pthread_mutex_t dlopen_lock = PTHREAD_MUTEX_INITIALIZER;

static int open_and_resolve(struct dlopen_library *library, struct ck_error *err)
{
	/* RTLD_NOW: a library whose own dependencies are missing fails here, with the loader's
	 * message, rather than at some later call. */
	void *handle = dlopen(library->soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return ck_error_set(err, ELIBACC, "%s (install %s)", dlerror(), library->package);
	for (size_t i = 0; i < library->symbol_count; i++) {
		const struct dlopen_symbol *symbol = &library->symbols[i];
		void *address = dlsym(handle, symbol->name);
		if (!address) {
			ck_error_set(err, ELIBACC, "%s: no symbol %s (ckube needs a newer %s)",
				     library->soname, symbol->name, library->package);
			dlclose(handle);
			return -ELIBACC;
		}
		/* POSIX makes data and function pointers alike; memcpy stores into a function
		 * pointer without going through an incompatible pointer type. */
		memcpy(symbol->pointer, &address, sizeof(address));
	}
	/* The handle stays open for the life of the process: the pointers lead into it. */
	return 0;
}

int dlopen_library(struct dlopen_library *library, struct ck_error *err)
{
	pthread_mutex_lock(&dlopen_lock);
	int ret = library->loaded ? 0 : open_and_resolve(library, err);
	if (ret == 0)
		library->loaded = true;
	pthread_mutex_unlock(&dlopen_lock);
	return ret;
}
