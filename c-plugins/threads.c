/* An API v2 plugin built once per thread model (-DTM=...).  Reads sleep
 * a little while counting how many run at once; the maximum seen is
 * logged at close ("threads: max concurrency N") and, with file=PATH,
 * written to PATH at each close and at unload.
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <pthread.h>
#include <nbdkit-plugin.h>

#ifndef TM
#error "build with -DTM=NBDKIT_THREAD_MODEL_..."
#endif
#define THREAD_MODEL TM

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int running, max_running, open_handles, max_open;
static const char *file;

static int
threads_config (const char *key, const char *value)
{
  if (strcmp (key, "file") == 0) {
    file = nbdkit_strdup_intern (value);
    return file ? 0 : -1;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

/* Called at every close and at unload, so the file is right even if the
 * server exits without unloading.  Caller holds the lock (or is alone).
 */
static void
write_file (void)
{
  if (file) {
    FILE *fp = fopen (file, "w");
    if (fp) {
      fprintf (fp, "requests=%d\nhandles=%d\n", max_running, max_open);
      fclose (fp);
    }
  }
}

static void
threads_unload (void)
{
  write_file ();
}

static void *
threads_open (int readonly)
{
  pthread_mutex_lock (&lock);
  if (++open_handles > max_open)
    max_open = open_handles;
  pthread_mutex_unlock (&lock);
  return &lock;
}

static void
threads_close (void *h)
{
  pthread_mutex_lock (&lock);
  open_handles--;
  nbdkit_debug ("threads: max concurrency %d", max_running);
  write_file ();
  pthread_mutex_unlock (&lock);
}

static int64_t threads_get_size (void *h) { return 64 * 1024 * 1024; }
static int threads_can_multi_conn (void *h) { return 1; }

static int
threads_pread (void *h, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  pthread_mutex_lock (&lock);
  if (++running > max_running)
    max_running = running;
  pthread_mutex_unlock (&lock);

  if (nbdkit_nanosleep (0, 20 * 1000 * 1000) == -1)
    return -1;
  memset (buf, 0, count);

  pthread_mutex_lock (&lock);
  running--;
  pthread_mutex_unlock (&lock);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "threads",
  .config = threads_config,
  .unload = threads_unload,
  .open = threads_open,
  .close = threads_close,
  .get_size = threads_get_size,
  .can_multi_conn = threads_can_multi_conn,
  .pread = threads_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
