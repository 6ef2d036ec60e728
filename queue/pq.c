/* pq.c: resolve libpq's functions with dlopen (see pq.h). */
#include "queue/pq.h"

#include <dlfcn.h>
#include <stdio.h>

#define PQ_LIBRARY "libpq.so.5"

struct pq_api pq;
static void *handle;

int pq_load(char *why, size_t size)
{
	if (handle)
		return 0;
	void *h = dlopen(PQ_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, size, "cannot load %s, which the postgres store needs (Debian package "
		         "libpq5): %s", PQ_LIBRARY, dlerror());
		return -1;
	}
	struct pq_api api;
#define PQ_RESOLVE(ret, name, args)                                                          \
	if (!(*(void **)&api.name = dlsym(h, #name))) {                                          \
		snprintf(why, size, "%s has no %s: it is not the libpq governor was built for",   \
		         PQ_LIBRARY, #name);                                                      \
		dlclose(h);                                                                       \
		return -1;                                                                        \
	}
	PQ_FUNCTIONS(PQ_RESOLVE)
#undef PQ_RESOLVE
	pq = api;
	handle = h;
	return 0;
}

int pq_loaded(void)
{
	return handle != NULL;
}
