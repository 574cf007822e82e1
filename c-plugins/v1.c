/* An API version 1 plugin: a RAM disk using the old flag-less callbacks
 * (and .zero with may_trim).  size=N sets the size (default 1M).
 */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <pthread.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS

static char *disk;
static int64_t size = 1024 * 1024;

static int
v1_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static int
v1_config_complete (void)
{
  disk = calloc (1, size);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  return 0;
}

static void v1_unload (void) { free (disk); }

static void *
v1_open (int readonly)
{
  return disk;
}

static int64_t v1_get_size (void *h) { return size; }

static int
v1_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
v1_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
v1_flush (void *h)
{
  nbdkit_debug ("v1: flush");
  return 0;
}

static int
v1_trim (void *h, uint32_t count, uint64_t offset)
{
  memset (disk + offset, 0, count);
  return 0;
}

static int
v1_zero (void *h, uint32_t count, uint64_t offset, int may_trim)
{
  nbdkit_debug ("v1: zero count=%u offset=%lu may_trim=%d",
                count, (unsigned long) offset, may_trim);
  memset (disk + offset, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "v1",
  .version = "1.0",
  .longname = "API v1 test plugin",
  .magic_config_key = "size",
  .config = v1_config,
  .config_complete = v1_config_complete,
  .unload = v1_unload,
  .open = v1_open,
  .get_size = v1_get_size,
  .pread = v1_pread,
  .pwrite = v1_pwrite,
  .flush = v1_flush,
  .trim = v1_trim,
  .zero = v1_zero,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
