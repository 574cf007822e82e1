/* nbdkit-rs: the C filter ABI (struct nbdkit_filter, the next-layer table
 * struct nbdkit_next_ops and the filter-only server functions), laid out as
 * nbdkit 1.44 lays them out.  Written for the Rust nbdkit from the
 * documented ABI (nbdkit-filter(3)); the layout is pinned by tests against
 * nbdkit 1.44.1's headers (c-plugins/filter-layout.c).
 *
 * The server loads filters built for nbdkit 1.32 to 1.44, reading the
 * layout of the release named by their _version string.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef NBDKIT_FILTER_H
#define NBDKIT_FILTER_H

#include <stdlib.h>

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The filter API version this header describes (the layout below). */
#define NBDKIT_FILTER_API_VERSION 6

/* Answers of a filter's .can_zero (plugins answer a boolean). */
#define NBDKIT_ZERO_NONE     0
#define NBDKIT_ZERO_EMULATE  1
#define NBDKIT_ZERO_NATIVE   2

/* Handles the server gives the filter: the layer below as a whole
 * (process-wide, from .after_fork to .cleanup), the filter's own
 * per-connection context (from .open to .close), and one connection's
 * context in the layer below, which starts with the table of functions
 * that call into it.
 */
typedef struct nbdkit_backend nbdkit_backend;
typedef struct nbdkit_context nbdkit_context;
typedef struct nbdkit_next_ops nbdkit_next;

/* Passing configuration and connection set-up on to the layer below. */
typedef int nbdkit_next_config (nbdkit_backend *nxdata,
                                const char *key, const char *value);
typedef int nbdkit_next_config_complete (nbdkit_backend *nxdata);
typedef int nbdkit_next_preconnect (nbdkit_backend *nxdata, int readonly);
typedef int nbdkit_next_list_exports (nbdkit_backend *nxdata, int readonly,
                                      struct nbdkit_exports *exports);
typedef const char *nbdkit_next_default_export (nbdkit_backend *nxdata,
                                                int readonly);
typedef int nbdkit_next_open (nbdkit_context *context,
                              int readonly, const char *exportname);

/* Calls into one context of the layer below.  Data calls report failure
 * through *err (a positive errno) as well as by returning -1.  The server's
 * objects are larger than this table: only use pointers it hands out.
 */
struct nbdkit_next_ops {
  /* Only for contexts the filter manages itself. */
  int (*prepare) (nbdkit_next *nxdata);
  int (*finalize) (nbdkit_next *nxdata);

  int64_t (*get_size) (nbdkit_next *nxdata);
  const char * (*export_description) (nbdkit_next *nxdata);
  int (*block_size) (nbdkit_next *nxdata, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum);

  int (*can_write) (nbdkit_next *nxdata);
  int (*can_flush) (nbdkit_next *nxdata);
  int (*is_rotational) (nbdkit_next *nxdata);
  int (*can_trim) (nbdkit_next *nxdata);
  int (*can_zero) (nbdkit_next *nxdata);
  int (*can_fast_zero) (nbdkit_next *nxdata);
  int (*can_extents) (nbdkit_next *nxdata);
  int (*can_fua) (nbdkit_next *nxdata);
  int (*can_multi_conn) (nbdkit_next *nxdata);
  int (*can_cache) (nbdkit_next *nxdata);

  int (*pread) (nbdkit_next *nxdata, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *nxdata, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err);
  int (*flush) (nbdkit_next *nxdata, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*zero) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*extents) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
};

/* Extents lists, for filters that build or read them. */
struct nbdkit_extent {
  uint64_t offset;
  uint64_t length;
  uint32_t type;
};

extern struct nbdkit_extents *nbdkit_extents_new (uint64_t start,
                                                  uint64_t end);
extern void nbdkit_extents_free (struct nbdkit_extents *);
extern size_t nbdkit_extents_count (const struct nbdkit_extents *);
extern struct nbdkit_extent nbdkit_get_extent (const struct nbdkit_extents *,
                                               size_t);
/* Ask the layer below until [offset, offset+count) is covered. */
extern struct nbdkit_extents *nbdkit_extents_full (nbdkit_next *next,
                                                   uint32_t count,
                                                   uint64_t offset,
                                                   uint32_t flags, int *err);
/* Add extents for the range, merged so that each covers whole blocks of
 * `align' bytes (a power of 2). */
extern int nbdkit_extents_aligned (nbdkit_next *next,
                                   uint32_t count, uint64_t offset,
                                   uint32_t flags, uint32_t align,
                                   struct nbdkit_extents *extents, int *err);

/* Export lists, for filters that rewrite them. */
struct nbdkit_export {
  char *name;
  char *description;
};

extern struct nbdkit_exports *nbdkit_exports_new (void);
extern void nbdkit_exports_free (struct nbdkit_exports *);
extern size_t nbdkit_exports_count (const struct nbdkit_exports *);
extern const struct nbdkit_export nbdkit_get_export (
  const struct nbdkit_exports *, size_t);

/* Contexts the filter manages itself. */
extern nbdkit_backend *nbdkit_context_get_backend (nbdkit_context *context);
extern nbdkit_next *nbdkit_next_context_open (nbdkit_backend *backend,
                                              int readonly,
                                              const char *exportname,
                                              int shared);
extern void nbdkit_next_context_close (nbdkit_next *next);
extern nbdkit_next *nbdkit_context_set_next (nbdkit_context *context,
                                             nbdkit_next *next);

struct nbdkit_filter {
  /* Filled in by NBDKIT_REGISTER_FILTER; do not set these yourself. */
  int _api_version;
  const char *_version;

  const char *name;
  const char *longname;
  const char *description;

  void (*load) (void);
  void (*unload) (void);

  int (*config) (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value);
  int (*config_complete) (nbdkit_next_config_complete *next,
                          nbdkit_backend *nxdata);
  const char *config_help;

  /* Receives the thread model of the layers below. */
  int (*thread_model) (int next_thread_model);
  void (*dump_plugin) (void);

  int (*get_ready) (int final_thread_model);
  int (*after_fork) (nbdkit_backend *backend);
  void (*cleanup) (nbdkit_backend *backend);

  int (*preconnect) (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                     int readonly);
  int (*list_exports) (nbdkit_next_list_exports *next,
                       nbdkit_backend *nxdata, int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char * (*default_export) (nbdkit_next_default_export *next,
                                  nbdkit_backend *nxdata,
                                  int readonly, int is_tls);
  void * (*open) (nbdkit_next_open *next, nbdkit_context *context,
                  int readonly, const char *exportname, int is_tls);
  void (*close) (void *handle);

  int (*prepare) (nbdkit_next *next, void *handle, int readonly);
  int (*finalize) (nbdkit_next *next, void *handle);

  int64_t (*get_size) (nbdkit_next *next, void *handle);
  const char * (*export_description) (nbdkit_next *next, void *handle);
  int (*block_size) (nbdkit_next *next, void *handle, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum);

  int (*can_write) (nbdkit_next *next, void *handle);
  int (*can_flush) (nbdkit_next *next, void *handle);
  int (*is_rotational) (nbdkit_next *next, void *handle);
  int (*can_trim) (nbdkit_next *next, void *handle);
  int (*can_zero) (nbdkit_next *next, void *handle);
  int (*can_fast_zero) (nbdkit_next *next, void *handle);
  int (*can_extents) (nbdkit_next *next, void *handle);
  int (*can_fua) (nbdkit_next *next, void *handle);
  int (*can_multi_conn) (nbdkit_next *next, void *handle);
  int (*can_cache) (nbdkit_next *next, void *handle);

  int (*pread) (nbdkit_next *next, void *handle, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *next, void *handle, const void *buf,
                 uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*flush) (nbdkit_next *next, void *handle, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err);
  int (*zero) (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err);
  int (*extents) (nbdkit_next *next, void *handle, uint32_t count,
                  uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
};

/* The one entry point the server looks up with dlsym.  It records the API
 * version and the exact server version the filter was compiled against.
 */
#define NBDKIT_REGISTER_FILTER(filter)                          \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_filter *    \
  filter_init (void);                                           \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_filter *    \
  filter_init (void)                                            \
  {                                                             \
    (filter)._api_version = NBDKIT_FILTER_API_VERSION;          \
    (filter)._version = NBDKIT_VERSION_STRING;                  \
    return &(filter);                                           \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_FILTER_H */
