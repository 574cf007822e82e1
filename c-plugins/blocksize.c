/* Advertises block-size constraints min= / pref= / max= (defaults 512,
 * 4096, 1M; each may be given as -1 for 0xffffffff) on a size= disk
 * (default 8M) whose byte at offset o is (o / 4096) & 0xff, writable in
 * memory.  Every pread and pwrite is logged with nbdkit_debug so that
 * tests can count the calls in the -v log, and with counter=FILE one line
 * per call is also appended to FILE.
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS

static uint32_t minimum = 512, preferred = 4096, maximum = 1024 * 1024;
static int64_t size = 8 * 1024 * 1024;
static const char *counter;
static unsigned char *disk;

static int
parse32 (const char *key, const char *value, uint32_t *out)
{
  if (strcmp (value, "-1") == 0) {
    *out = UINT32_MAX;
    return 0;
  }
  return nbdkit_parse_uint32_t (key, value, out);
}

static int
bs_config (const char *key, const char *value)
{
  if (strcmp (key, "min") == 0)
    return parse32 (key, value, &minimum);
  if (strcmp (key, "pref") == 0)
    return parse32 (key, value, &preferred);
  if (strcmp (key, "max") == 0)
    return parse32 (key, value, &maximum);
  if (strcmp (key, "counter") == 0) {
    counter = nbdkit_strdup_intern (value);
    return 0;
  }
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static int
bs_get_ready (void)
{
  int64_t i;

  disk = malloc (size);
  if (disk == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  for (i = 0; i < size; i++)
    disk[i] = (i / 4096) & 0xff;
  return 0;
}

static int handle;

static void *
bs_open (int readonly)
{
  return &handle;
}

static int64_t
bs_get_size (void *h)
{
  return size;
}

static int
bs_block_size (void *h, uint32_t *min, uint32_t *pref, uint32_t *max)
{
  *min = minimum;
  *pref = preferred;
  *max = maximum;
  return 0;
}

static void
count_call (const char *what, uint32_t count, uint64_t offset)
{
  nbdkit_debug ("blocksize: %s count=%u offset=%llu", what,
                (unsigned) count, (unsigned long long) offset);
  if (counter) {
    FILE *f = fopen (counter, "a");
    if (f) {
      fprintf (f, "%s %u %llu\n", what, (unsigned) count,
               (unsigned long long) offset);
      fclose (f);
    }
  }
}

static int
bs_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  count_call ("pread", count, offset);
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
bs_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  count_call ("pwrite", count, offset);
  memcpy (disk + offset, buf, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "blocksize",
  .version           = "1.0",
  .config            = bs_config,
  .get_ready         = bs_get_ready,
  .open              = bs_open,
  .get_size          = bs_get_size,
  .block_size        = bs_block_size,
  .pread             = bs_pread,
  .pwrite            = bs_pwrite,
};

NBDKIT_REGISTER_PLUGIN (plugin)
