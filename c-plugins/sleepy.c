/* A 1M all-zero disk whose reads at offset 0 call nbdkit_nanosleep for
 * sleep= seconds (default 60); reads elsewhere answer at once, so a second
 * client can be served while (or after) the first one sleeps.  With
 * log=FILE, each sleeping read appends "start" when it begins and
 * "result R ERRNO MS" when nbdkit_nanosleep returns (R its return value,
 * ERRNO the errno name when R is -1, MS how long it slept), so a test can
 * see whether the sleep was cut short and why.
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static unsigned seconds = 60;
static const char *logfile;

static int
sleepy_config (const char *key, const char *value)
{
  if (strcmp (key, "sleep") == 0)
    return nbdkit_parse_unsigned (key, value, &seconds);
  if (strcmp (key, "log") == 0) {
    logfile = nbdkit_strdup_intern (value);
    return logfile == NULL ? -1 : 0;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

/* One line per write, opened and closed each time: the test reads the
 * file while the server runs, and the server may be killed. */
static void
log_line (const char *line)
{
  FILE *f;

  if (logfile == NULL)
    return;
  f = fopen (logfile, "a");
  if (f == NULL)
    return;
  fprintf (f, "%s\n", line);
  fclose (f);
}

static const char *
errno_name (int e)
{
  switch (e) {
  case ESHUTDOWN: return "ESHUTDOWN";
  case EINTR: return "EINTR";
  case EINVAL: return "EINVAL";
  default: return "other";
  }
}

static long long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int handle;

static void *
sleepy_open (int readonly)
{
  return &handle;
}

static int64_t
sleepy_get_size (void *h)
{
  return 1024 * 1024;
}

static int
sleepy_pread (void *h, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  char line[128];
  long long t0;
  int r, err;

  if (offset == 0) {
    log_line ("start");
    t0 = now_ms ();
    r = nbdkit_nanosleep (seconds, 0);
    err = errno;
    snprintf (line, sizeof line, "result %d %s %lld", r,
              r == -1 ? errno_name (err) : "-", now_ms () - t0);
    log_line (line);
    if (r == -1) {
      nbdkit_set_error (err);
      return -1;
    }
  }
  memset (buf, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "sleepy",
  .version           = "1.0",
  .config            = sleepy_config,
  .open              = sleepy_open,
  .get_size          = sleepy_get_size,
  .pread             = sleepy_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
