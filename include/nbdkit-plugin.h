/* nbdkit-rs: the C plugin ABI (struct nbdkit_plugin and its registration),
 * laid out as nbdkit 1.32 to 1.44 lay it out.  Written for the Rust nbdkit from the
 * documented ABI (nbdkit-plugin(3)); the layout is pinned by tests.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef NBDKIT_PLUGIN_H
#define NBDKIT_PLUGIN_H

/* API version 1 is the pre-1.14 one (no flags on data callbacks); the
 * default is version 2.  Define NBDKIT_API_VERSION before the include to
 * choose.
 */
#ifndef NBDKIT_API_VERSION
#define NBDKIT_API_VERSION 1
#endif
#if NBDKIT_API_VERSION != 1 && NBDKIT_API_VERSION != 2
#error "NBDKIT_API_VERSION must be 1 or 2"
#endif

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Callback slots.  Each API version names the data callbacks it uses
 * pread/pwrite/...; the other version's slots carry a private name.
 */
#if NBDKIT_API_VERSION == 1
#define NBDKIT_V1_(name) name
#define NBDKIT_V2_(name) _##name##_v2
#else
#define NBDKIT_V1_(name) _##name##_v1
#define NBDKIT_V2_(name) name
#endif

struct nbdkit_plugin {
  /* Filled in by NBDKIT_REGISTER_PLUGIN; do not set these yourself. */
  uint64_t _struct_size;
  int _api_version;
  int _thread_model;

  const char *name;
  const char *longname;
  const char *version;
  const char *description;

  void (*load) (void);
  void (*unload) (void);

  int (*config) (const char *key, const char *value);
  int (*config_complete) (void);
  const char *config_help;

  void * (*open) (int readonly);
  void (*close) (void *handle);

  int64_t (*get_size) (void *handle);

  int (*can_write) (void *handle);
  int (*can_flush) (void *handle);
  int (*is_rotational) (void *handle);
  int (*can_trim) (void *handle);

  /* API version 1 data callbacks. */
  int (*NBDKIT_V1_(pread)) (void *handle, void *buf, uint32_t count,
                            uint64_t offset);
  int (*NBDKIT_V1_(pwrite)) (void *handle, const void *buf, uint32_t count,
                             uint64_t offset);
  int (*NBDKIT_V1_(flush)) (void *handle);
  int (*NBDKIT_V1_(trim)) (void *handle, uint32_t count, uint64_t offset);
  int (*NBDKIT_V1_(zero)) (void *handle, uint32_t count, uint64_t offset,
                           int may_trim);

  int errno_is_preserved;

  void (*dump_plugin) (void);

  int (*can_zero) (void *handle);
  int (*can_fua) (void *handle);

  /* API version 2 data callbacks. */
  int (*NBDKIT_V2_(pread)) (void *handle, void *buf, uint32_t count,
                            uint64_t offset, uint32_t flags);
  int (*NBDKIT_V2_(pwrite)) (void *handle, const void *buf, uint32_t count,
                             uint64_t offset, uint32_t flags);
  int (*NBDKIT_V2_(flush)) (void *handle, uint32_t flags);
  int (*NBDKIT_V2_(trim)) (void *handle, uint32_t count, uint64_t offset,
                           uint32_t flags);
  int (*NBDKIT_V2_(zero)) (void *handle, uint32_t count, uint64_t offset,
                           uint32_t flags);

  const char *magic_config_key;

  int (*can_multi_conn) (void *handle);

  int (*can_extents) (void *handle);
  int (*extents) (void *handle, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents);

  int (*can_cache) (void *handle);
  int (*cache) (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags);

  int (*thread_model) (void);

  int (*can_fast_zero) (void *handle);

  int (*preconnect) (int readonly);

  int (*get_ready) (void);
  int (*after_fork) (void);

  int (*list_exports) (int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char * (*default_export) (int readonly, int is_tls);
  const char * (*export_description) (void *handle);

  void (*cleanup) (void);

  int (*block_size) (void *handle, uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum);
};

#undef NBDKIT_V1_
#undef NBDKIT_V2_

/* Every plugin must #define THREAD_MODEL before registering (see
 * nbdkit-plugin(3) "Threads"); there is deliberately no default.
 */

/* The one entry point the server looks up with dlsym (visible even in
 * a plugin built with -fvisibility=hidden).
 */
#define NBDKIT_REGISTER_PLUGIN(plugin)                          \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_plugin *    \
  plugin_init (void);                                           \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_plugin *    \
  plugin_init (void)                                            \
  {                                                             \
    (plugin)._struct_size = sizeof (plugin);                    \
    (plugin)._api_version = NBDKIT_API_VERSION;                 \
    (plugin)._thread_model = THREAD_MODEL;                      \
    return &(plugin);                                           \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_PLUGIN_H */
