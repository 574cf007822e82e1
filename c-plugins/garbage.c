/* A plugin that misbehaves in the ways nbdkit has to survive, one per
 * connection-visible callback.  mode= picks the misbehaviour:
 *   negsize     get_size returns -5 (negative, not -1), no error set
 *   sizefail    get_size returns -1 without nbdkit_error/set_error
 *   readfail    pread returns -1 without nbdkit_error/set_error
 *   readgarbage pread returns 7 (neither 0 nor -1)
 *   can42       every can_* and is_rotational return 42
 *   fua42       can_fua and can_cache return 42 (not an NBDKIT_* value)
 *   noextents   extents succeeds without adding any extent
 *   openfail    open returns NULL without an error message
 * Offsets below 4096 of the 1M disk read as 0xab except as above; writes
 * are accepted and dropped.
 */
#define NBDKIT_API_VERSION 2
#include <string.h>
#include <stdint.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static const char *mode = "";
static int handle;

static int
is (const char *m)
{
  return strcmp (mode, m) == 0;
}

static int
garbage_config (const char *key, const char *value)
{
  if (strcmp (key, "mode") != 0) {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  mode = nbdkit_strdup_intern (value);
  return 0;
}

static void *
garbage_open (int readonly)
{
  return is ("openfail") ? NULL : &handle;
}

static int64_t
garbage_get_size (void *h)
{
  if (is ("negsize"))
    return -5;
  if (is ("sizefail"))
    return -1;
  return 1024 * 1024;
}

static int
garbage_pread (void *h, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  if (is ("readfail"))
    return -1;
  memset (buf, 0xab, count);
  return is ("readgarbage") ? 7 : 0;
}

static int
garbage_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  return 0;
}

static int
garbage_can (void *h)
{
  return is ("can42") ? 42 : 1;
}

static int
garbage_can_fua (void *h)
{
  return is ("can42") || is ("fua42") ? 42 : NBDKIT_FUA_NATIVE;
}

static int
garbage_can_cache (void *h)
{
  return is ("can42") || is ("fua42") ? 42 : NBDKIT_CACHE_EMULATE;
}

static int
garbage_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
garbage_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
garbage_flush (void *h, uint32_t flags)
{
  return 0;
}

static int
garbage_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents)
{
  if (is ("noextents"))
    return 0;
  return nbdkit_add_extent (extents, offset, count, 0);
}

static struct nbdkit_plugin plugin = {
  .name = "garbage",
  .version = "1.0",
  .config = garbage_config,
  .open = garbage_open,
  .get_size = garbage_get_size,
  .pread = garbage_pread,
  .pwrite = garbage_pwrite,
  .can_write = garbage_can,
  .can_flush = garbage_can,
  .is_rotational = garbage_can,
  .can_trim = garbage_can,
  .can_zero = garbage_can,
  .can_fast_zero = garbage_can,
  .can_extents = garbage_can,
  .can_multi_conn = garbage_can,
  .can_fua = garbage_can_fua,
  .can_cache = garbage_can_cache,
  .zero = garbage_zero,
  .trim = garbage_trim,
  .flush = garbage_flush,
  .extents = garbage_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
