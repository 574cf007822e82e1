/* nbdkit-rs: declarations shared by plugins and filters: constants and the
 * functions the server exports to them.  Written for the Rust nbdkit from the
 * documented ABI (nbdkit-plugin(3), nbdkit-filter(3)).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef NBDKIT_COMMON_H
#define NBDKIT_COMMON_H

#if !defined (NBDKIT_PLUGIN_H) && !defined (NBDKIT_FILTER_H)
#error "include <nbdkit-plugin.h> or <nbdkit-filter.h>, not this header"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/socket.h>

#include <nbdkit-version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined (__GNUC__) || defined (__clang__)
#define NBDKIT_ATTRIBUTE_FORMAT_PRINTF(fmtpos, argpos) \
  __attribute__ ((__format__ (__printf__, fmtpos, argpos)))
#else
#define NBDKIT_ATTRIBUTE_FORMAT_PRINTF(fmtpos, argpos)
#endif

/* What the server exports and what a plugin or filter exports to the
 * server: visible even when the module is built with
 * -fvisibility=hidden.
 */
#if defined (__GNUC__) || defined (__clang__)
#define NBDKIT_DLL_PUBLIC __attribute__ ((__visibility__ ("default")))
#else
#define NBDKIT_DLL_PUBLIC
#endif
#define NBDKIT_EXTERN_DECL(ret, fn, args) extern ret fn args

#if defined (__GNUC__) || defined (__clang__)
#define NBDKIT_ATTRIBUTE_NONNULL(args) __attribute__ ((__nonnull__ args))
#else
#define NBDKIT_ATTRIBUTE_NONNULL(args)
#endif

/* Thread models, most restrictive first. */
#define NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS     0
#define NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS    1
#define NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS        2
#define NBDKIT_THREAD_MODEL_PARALLEL                  3

/* Flags passed to the v2 data callbacks. */
#define NBDKIT_FLAG_MAY_TRIM    (1 << 0)
#define NBDKIT_FLAG_FUA         (1 << 1)
#define NBDKIT_FLAG_REQ_ONE     (1 << 2)
#define NBDKIT_FLAG_FAST_ZERO   (1 << 3)

/* Answers of .can_fua. */
#define NBDKIT_FUA_NONE       0
#define NBDKIT_FUA_EMULATE    1
#define NBDKIT_FUA_NATIVE     2

/* Answers of .can_cache. */
#define NBDKIT_CACHE_NONE     0
#define NBDKIT_CACHE_EMULATE  1
#define NBDKIT_CACHE_NATIVE   2

/* Extent types for nbdkit_add_extent. */
#define NBDKIT_EXTENT_HOLE    (1 << 0)
#define NBDKIT_EXTENT_ZERO    (1 << 1)

/* What .open may return when the plugin keeps no per-connection state:
 * the server only needs a pointer that is never NULL, and errno's
 * address is one every translation unit can name. */
#define NBDKIT_HANDLE_NOT_NEEDED ((void *) &errno)

/* Opaque lists owned by the server. */
struct nbdkit_extents;
struct nbdkit_exports;

/* Messages. */
extern void nbdkit_error (const char *msg, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);
extern void nbdkit_verror (const char *msg, va_list args)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0);
extern void nbdkit_debug (const char *msg, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);
extern void nbdkit_vdebug (const char *msg, va_list args)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0);
extern void nbdkit_set_error (int err);

/* Paths and configuration values. */
extern char *nbdkit_absolute_path (const char *path);
extern char *nbdkit_realpath (const char *path);
extern int64_t nbdkit_parse_size (const char *str);
extern int nbdkit_parse_bool (const char *str);
extern int nbdkit_parse_probability (const char *what, const char *str,
                                     double *r);
extern int nbdkit_parse_delay (const char *what, const char *str,
                               unsigned *sec, unsigned *nsec);
extern int nbdkit_parse_int (const char *what, const char *str, int *r);
extern int nbdkit_parse_unsigned (const char *what, const char *str,
                                  unsigned *r);
extern int nbdkit_parse_int8_t (const char *what, const char *str,
                                int8_t *r);
extern int nbdkit_parse_uint8_t (const char *what, const char *str,
                                 uint8_t *r);
extern int nbdkit_parse_int16_t (const char *what, const char *str,
                                 int16_t *r);
extern int nbdkit_parse_uint16_t (const char *what, const char *str,
                                  uint16_t *r);
extern int nbdkit_parse_int32_t (const char *what, const char *str,
                                 int32_t *r);
extern int nbdkit_parse_uint32_t (const char *what, const char *str,
                                  uint32_t *r);
extern int nbdkit_parse_int64_t (const char *what, const char *str,
                                 int64_t *r);
extern int nbdkit_parse_uint64_t (const char *what, const char *str,
                                  uint64_t *r);
extern int nbdkit_stdio_safe (void);
extern int nbdkit_read_password (const char *value, char **password);

/* Time, shutdown. */
extern int nbdkit_nanosleep (unsigned sec, unsigned nsec);
extern void nbdkit_shutdown (void);
extern void nbdkit_disconnect (int force);

/* The current connection. */
extern const char *nbdkit_export_name (void);
extern int nbdkit_peer_name (struct sockaddr *addr, socklen_t *addrlen);
extern int64_t nbdkit_peer_pid (void);
extern int64_t nbdkit_peer_uid (void);
extern int64_t nbdkit_peer_gid (void);
extern int nbdkit_is_tls (void);
/* Strings the caller frees (NULL after nbdkit_error). */
extern char *nbdkit_peer_security_context (void);
extern char *nbdkit_peer_tls_dn (void);
extern char *nbdkit_peer_tls_issuer_dn (void);

/* Strings that live as long as the connection (or the plugin). */
extern const char *nbdkit_strdup_intern (const char *str);
extern const char *nbdkit_strndup_intern (const char *str, size_t n);
extern const char *nbdkit_printf_intern (const char *fmt, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);
extern const char *nbdkit_vprintf_intern (const char *fmt, va_list ap)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0);

/* Extents. */
extern int nbdkit_add_extent (struct nbdkit_extents *,
                              uint64_t offset, uint64_t length,
                              uint32_t type);

/* Exports. */
extern int nbdkit_add_export (struct nbdkit_exports *,
                              const char *name, const char *description);
extern int nbdkit_use_default_export (struct nbdkit_exports *);

/* Set by -D SERVER.FLAG=VALUE. */
extern int nbdkit_debug_backend_controlpath;
extern int nbdkit_debug_backend_datapath;

/* Mark a plugin's or filter's entry point so C++ keeps the C name. */
#ifdef __cplusplus
#define NBDKIT_CXX_LANG_C extern "C"
#else
#define NBDKIT_CXX_LANG_C /* nothing */
#endif

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_COMMON_H */
