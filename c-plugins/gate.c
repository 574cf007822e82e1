/* A parallel plugin whose reads are instant, except a read at offset
 * GATE_OFFSET, which announces itself by creating DIR/started and then
 * waits (up to 20 s) for DIR/release to appear.  Used to check that a
 * plugin that usually answers in microseconds but sometimes blocks does
 * not stop the server answering other clients meanwhile.
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define GATE_OFFSET (1024 * 1024)

static const char *dir = ".";

static int
gate_config (const char *key, const char *value)
{
  if (strcmp (key, "dir") == 0) {
    dir = nbdkit_strdup_intern (value);
    return dir ? 0 : -1;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static void *
gate_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
gate_get_size (void *handle)
{
  return 4 * 1024 * 1024;
}

static int
exists (const char *name)
{
  char path[4096];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  return access (path, F_OK) == 0;
}

static int
gate_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  memset (buf, (int) (offset >> 12) & 0xff, count);
  if (offset == GATE_OFFSET) {
    char path[4096];
    FILE *fp;
    int i;

    snprintf (path, sizeof path, "%s/started", dir);
    fp = fopen (path, "w");
    if (fp)
      fclose (fp);
    for (i = 0; i < 2000 && !exists ("release"); i++)
      usleep (10000);
    if (!exists ("release")) {
      nbdkit_error ("gate: never released");
      nbdkit_set_error (ETIMEDOUT);
      return -1;
    }
  }
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "gate",
  .config = gate_config,
  .open = gate_open,
  .get_size = gate_get_size,
  .pread = gate_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
