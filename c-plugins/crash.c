/* A 1M disk whose pread past the first 4096 bytes dereferences NULL:
 * a real crash, which takes the whole server down (as in C nbdkit). */
#define NBDKIT_API_VERSION 2
#include <string.h>
#include <stdint.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static int handle;

static void *
crash_open (int readonly)
{
  return &handle;
}

static int64_t
crash_get_size (void *h)
{
  return 1024 * 1024;
}

static int
crash_pread (void *h, void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  volatile char *volatile p = NULL;

  if (offset >= 4096)
    *p = 1;
  memset (buf, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "crash",
  .version = "1.0",
  .open = crash_open,
  .get_size = crash_get_size,
  .pread = crash_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
