/* A plugin whose answers change underneath its clients, to check the
 * server passes every request to it as nbdkit does (no caching of data,
 * of errors or of one connection's answers for the next):
 *
 *   size=N        disk size (default 1M); with flip=true connection n
 *                 (counted from 1) sees N + 4096 * (n % 2)
 *   flip=true     each can_* answer alternates between connections
 *                 (odd: everything, even: nothing but reads)
 *   readfail=true every second pread fails with EIO, "fickle: read N failed"
 *   drift=true    every pread returns bytes of a new value (1, 2, ...):
 *                 the data changes between any two reads
 *   stale=true    extents say the whole disk is a hole of zeroes, always
 *   zero=native|emulate|enotsup  can_zero true or false (emulate: the
 *                 server writes zeroes); enotsup: true, but every zero
 *                 fails with ENOTSUP, so the server writes zeroes
 *   fua=native|emulate|none, cache=native|emulate|none   can_fua, can_cache
 *   delay=MS      every data call sleeps MS milliseconds first
 *   log=FILE      every data call appends a line to FILE ("pread 4096 0",
 *                 "pwrite 512 0 fua", "flush", ...), so a test can compare
 *                 the calls the server made
 *
 * It has a description, a long name and config help for --help.
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define MAX_SIZE (64 << 20)

static int64_t size = 1 << 20;
static bool flip, readfail, drift, stale;
static int zero_mode = 1, zero_enotsup;
static int fua_mode = NBDKIT_FUA_NATIVE, cache_mode = NBDKIT_CACHE_NATIVE;
static unsigned delay_ms;
static const char *logfile;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *disk;
static unsigned connections, reads;

static int
parse_mode (const char *key, const char *value, int native, int emulate, int none,
            int *out)
{
  if (strcmp (value, "native") == 0) *out = native;
  else if (strcmp (value, "emulate") == 0) *out = emulate;
  else if (strcmp (value, "none") == 0) *out = none;
  else {
    nbdkit_error ("%s: expecting native, emulate or none", key);
    return -1;
  }
  return 0;
}

static int
fickle_config (const char *key, const char *value)
{
  int r;

  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1) return -1;
    if (size > MAX_SIZE - 4096) {
      nbdkit_error ("size: at most 63M");
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "zero") == 0 && strcmp (value, "enotsup") == 0) {
    zero_enotsup = 1;
    zero_mode = 1;
    return 0;
  }
  if (strcmp (key, "zero") == 0)
    return parse_mode (key, value, 1, 0, 0, &zero_mode);
  if (strcmp (key, "fua") == 0)
    return parse_mode (key, value, NBDKIT_FUA_NATIVE, NBDKIT_FUA_EMULATE,
                       NBDKIT_FUA_NONE, &fua_mode);
  if (strcmp (key, "cache") == 0)
    return parse_mode (key, value, NBDKIT_CACHE_NATIVE, NBDKIT_CACHE_EMULATE,
                       NBDKIT_CACHE_NONE, &cache_mode);
  if (strcmp (key, "delay") == 0)
    return nbdkit_parse_unsigned (key, value, &delay_ms);
  if (strcmp (key, "log") == 0) {
    logfile = nbdkit_strdup_intern (value);
    return logfile == NULL ? -1 : 0;
  }
  r = nbdkit_parse_bool (value);
  if (r == -1) return -1;
  if (strcmp (key, "flip") == 0) flip = r;
  else if (strcmp (key, "readfail") == 0) readfail = r;
  else if (strcmp (key, "drift") == 0) drift = r;
  else if (strcmp (key, "stale") == 0) stale = r;
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int
fickle_get_ready (void)
{
  disk = calloc (1, MAX_SIZE);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  return 0;
}

/* One line per call, opened and closed each time (the server may be
 * killed). */
static void
log_call (const char *fmt, uint32_t count, uint64_t offset, uint32_t flags)
{
  FILE *f;

  if (logfile == NULL)
    return;
  f = fopen (logfile, "a");
  if (f == NULL)
    return;
  fprintf (f, fmt, count, offset);
  if (flags & NBDKIT_FLAG_FUA) fprintf (f, " fua");
  if (flags & NBDKIT_FLAG_MAY_TRIM) fprintf (f, " may_trim");
  if (flags & NBDKIT_FLAG_FAST_ZERO) fprintf (f, " fast");
  fprintf (f, "\n");
  fclose (f);
}

static void
slow (void)
{
  struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };

  if (delay_ms)
    nanosleep (&ts, NULL);
}

struct handle { unsigned n; };

static void *
fickle_open (int readonly)
{
  struct handle *h = malloc (sizeof *h);

  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  pthread_mutex_lock (&lock);
  h->n = ++connections;
  pthread_mutex_unlock (&lock);
  return h;
}

static void
fickle_close (void *handle)
{
  free (handle);
}

/* Odd connections can do everything; even ones (with flip=true) only read. */
static int
can (void *handle)
{
  struct handle *h = handle;

  return !flip || h->n % 2 == 1;
}

static int64_t
fickle_get_size (void *handle)
{
  struct handle *h = handle;

  return size + (flip ? 4096 * (h->n % 2) : 0);
}

static int fickle_can_write (void *h) { return can (h); }
static int fickle_can_flush (void *h) { return can (h); }
static int fickle_can_trim (void *h) { return can (h); }
static int fickle_can_zero (void *h) { return can (h) ? zero_mode : 0; }
static int fickle_can_fast_zero (void *h) { return can (h); }
static int fickle_can_fua (void *h) { return can (h) ? fua_mode : NBDKIT_FUA_NONE; }
static int fickle_can_multi_conn (void *h) { return can (h); }
static int fickle_can_cache (void *h) { return can (h) ? cache_mode : NBDKIT_CACHE_NONE; }
static int fickle_can_extents (void *h) { return can (h); }
static int fickle_is_rotational (void *h) { return !can (h); }

static int
fickle_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  unsigned n;

  log_call ("pread %u %lu", count, offset, flags);
  slow ();
  pthread_mutex_lock (&lock);
  n = ++reads;
  if (drift)
    memset (buf, n & 0xff, count);
  else
    memcpy (buf, disk + offset, count);
  pthread_mutex_unlock (&lock);
  if (readfail && n % 2 == 0) {
    nbdkit_error ("fickle: read %u failed", n);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
fickle_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  log_call ("pwrite %u %lu", count, offset, flags);
  slow ();
  pthread_mutex_lock (&lock);
  memcpy (disk + offset, buf, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
fickle_flush (void *handle, uint32_t flags)
{
  log_call ("flush %u %lu", 0, 0, flags);
  slow ();
  return 0;
}

static int
fickle_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  log_call ("trim %u %lu", count, offset, flags);
  slow ();
  return 0;
}

static int
fickle_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  log_call ("zero %u %lu", count, offset, flags);
  slow ();
  if (zero_enotsup) {
    errno = ENOTSUP;
    return -1;
  }
  pthread_mutex_lock (&lock);
  memset (disk + offset, 0, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
fickle_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  log_call ("cache %u %lu", count, offset, flags);
  slow ();
  return 0;
}

static int
fickle_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                struct nbdkit_extents *extents)
{
  log_call ("extents %u %lu", count, offset, flags);
  slow ();
  if (stale)
    return nbdkit_add_extent (extents, 0, size,
                              NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
  return nbdkit_add_extent (extents, offset, count, 0);
}

static struct nbdkit_plugin plugin = {
  .name = "fickle",
  .longname = "a plugin whose answers change",
  .description = "Size, capabilities, data and errors change between\n"
                 "connections and calls, to test the server.",
  .config_help = "size=<SIZE>   disk size\n"
                 "flip=true     answers alternate between connections",
  .config = fickle_config,
  .get_ready = fickle_get_ready,
  .open = fickle_open,
  .close = fickle_close,
  .get_size = fickle_get_size,
  .can_write = fickle_can_write,
  .can_flush = fickle_can_flush,
  .can_trim = fickle_can_trim,
  .can_zero = fickle_can_zero,
  .can_fast_zero = fickle_can_fast_zero,
  .can_fua = fickle_can_fua,
  .can_multi_conn = fickle_can_multi_conn,
  .can_cache = fickle_can_cache,
  .can_extents = fickle_can_extents,
  .is_rotational = fickle_is_rotational,
  .pread = fickle_pread,
  .pwrite = fickle_pwrite,
  .flush = fickle_flush,
  .trim = fickle_trim,
  .zero = fickle_zero,
  .cache = fickle_cache,
  .extents = fickle_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
