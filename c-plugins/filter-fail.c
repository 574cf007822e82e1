/* A filter that fails in the one callback named by fail=NAME, and passes
 * everything else through to the layer below.  NAME is a callback of
 * struct nbdkit_filter: config_complete, get_ready, after_fork,
 * preconnect, list_exports, default_export, open, prepare, finalize,
 * get_size, export_description, block_size, can_write, can_flush,
 * is_rotational, can_trim, can_zero, can_fast_zero, can_extents, can_fua,
 * can_multi_conn, can_cache, pread, pwrite, flush, trim, zero, extents,
 * cache.  A failing request sets *err to ENOSPC (EROFS for pwrite, so the
 * two can be told apart) and logs with nbdkit_error; other callbacks
 * return their error value after nbdkit_error.  With fail=NAME-once only
 * the first call fails (per server).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <nbdkit-filter.h>

static const char *fail = "";
static bool once;
static int failed_already;

static bool
failing (const char *what)
{
  if (strcmp (fail, what) != 0)
    return false;
  if (once && __atomic_fetch_add (&failed_already, 1, __ATOMIC_SEQ_CST) > 0)
    return false;
  nbdkit_error ("filter-fail: failing %s", what);
  return true;
}

static int
ff_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "fail") == 0) {
    size_t n = strlen (value);
    if (n > 5 && strcmp (value + n - 5, "-once") == 0) {
      once = true;
      fail = nbdkit_strndup_intern (value, n - 5);
    }
    else
      fail = nbdkit_strdup_intern (value);
    return fail ? 0 : -1;
  }
  return next (nxdata, key, value);
}

static int
ff_config_complete (nbdkit_next_config_complete *next, nbdkit_backend *nxdata)
{
  if (failing ("config_complete"))
    return -1;
  return next (nxdata);
}

static int
ff_get_ready (int thread_model)
{
  return failing ("get_ready") ? -1 : 0;
}

static int
ff_after_fork (nbdkit_backend *nxdata)
{
  return failing ("after_fork") ? -1 : 0;
}

static int
ff_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
               int readonly)
{
  if (failing ("preconnect"))
    return -1;
  return next (nxdata, readonly);
}

static int
ff_list_exports (nbdkit_next_list_exports *next, nbdkit_backend *nxdata,
                 int readonly, int is_tls, struct nbdkit_exports *exports)
{
  if (failing ("list_exports"))
    return -1;
  return next (nxdata, readonly, exports);
}

static const char *
ff_default_export (nbdkit_next_default_export *next, nbdkit_backend *nxdata,
                   int readonly, int is_tls)
{
  if (failing ("default_export"))
    return NULL;
  return next (nxdata, readonly);
}

static void *
ff_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  if (failing ("open"))
    return NULL;
  if (next (context, readonly, exportname) == -1)
    return NULL;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int
ff_prepare (nbdkit_next *next, void *handle, int readonly)
{
  return failing ("prepare") ? -1 : 0;
}

static int
ff_finalize (nbdkit_next *next, void *handle)
{
  return failing ("finalize") ? -1 : 0;
}

static int64_t
ff_get_size (nbdkit_next *next, void *handle)
{
  return failing ("get_size") ? -1 : next->get_size (next);
}

static const char *
ff_export_description (nbdkit_next *next, void *handle)
{
  return failing ("export_description") ? NULL
    : next->export_description (next);
}

static int
ff_block_size (nbdkit_next *next, void *handle,
               uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  if (failing ("block_size"))
    return -1;
  return next->block_size (next, minimum, preferred, maximum);
}

/* The can_* callbacks and is_rotational: fail, or ask the layer below. */
#define PASS_CAN(name)                                          \
  static int                                                    \
  ff_##name (nbdkit_next *next, void *handle)                   \
  {                                                             \
    return failing (#name) ? -1 : next->name (next);            \
  }
PASS_CAN (can_write)
PASS_CAN (can_flush)
PASS_CAN (is_rotational)
PASS_CAN (can_trim)
PASS_CAN (can_zero)
PASS_CAN (can_fast_zero)
PASS_CAN (can_extents)
PASS_CAN (can_fua)
PASS_CAN (can_multi_conn)
PASS_CAN (can_cache)

static int
ff_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  if (failing ("pread")) {
    *err = ENOSPC;
    return -1;
  }
  return next->pread (next, buf, count, offset, flags, err);
}

static int
ff_pwrite (nbdkit_next *next, void *handle, const void *buf, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  if (failing ("pwrite")) {
    *err = EROFS;
    return -1;
  }
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
ff_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  if (failing ("flush")) {
    *err = ENOSPC;
    return -1;
  }
  return next->flush (next, flags, err);
}

static int
ff_trim (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  if (failing ("trim")) {
    *err = ENOSPC;
    return -1;
  }
  return next->trim (next, count, offset, flags, err);
}

static int
ff_zero (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  if (failing ("zero")) {
    *err = ENOSPC;
    return -1;
  }
  return next->zero (next, count, offset, flags, err);
}

static int
ff_extents (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
            uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  if (failing ("extents")) {
    *err = ENOSPC;
    return -1;
  }
  return next->extents (next, count, offset, flags, extents, err);
}

static int
ff_cache (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
          uint32_t flags, int *err)
{
  if (failing ("cache")) {
    *err = ENOSPC;
    return -1;
  }
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "filter-fail",
  .longname = "fails in the callback named by fail=",
  .config = ff_config,
  .config_complete = ff_config_complete,
  .config_help = "fail=CALLBACK[-once]  The callback that fails.",
  .get_ready = ff_get_ready,
  .after_fork = ff_after_fork,
  .preconnect = ff_preconnect,
  .list_exports = ff_list_exports,
  .default_export = ff_default_export,
  .open = ff_open,
  .prepare = ff_prepare,
  .finalize = ff_finalize,
  .get_size = ff_get_size,
  .export_description = ff_export_description,
  .block_size = ff_block_size,
  .can_write = ff_can_write,
  .can_flush = ff_can_flush,
  .is_rotational = ff_is_rotational,
  .can_trim = ff_can_trim,
  .can_zero = ff_can_zero,
  .can_fast_zero = ff_can_fast_zero,
  .can_extents = ff_can_extents,
  .can_fua = ff_can_fua,
  .can_multi_conn = ff_can_multi_conn,
  .can_cache = ff_can_cache,
  .pread = ff_pread,
  .pwrite = ff_pwrite,
  .flush = ff_flush,
  .trim = ff_trim,
  .zero = ff_zero,
  .extents = ff_extents,
  .cache = ff_cache,
};

NBDKIT_REGISTER_FILTER (filter)
