/* A filter whose reads are quick alone and slow in company, as a filter
 * that serialises its work on a lock of its own looks from outside (cow,
 * cache): every pread first works (spins) for crowd-work-us microseconds
 * (default 10), as those filters copy a block; one that starts while
 * another of its preads is running also waits crowd-wait-us (default 300)
 * first, as if queued behind it.  Everything else passes through.
 * (compat 826)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nbdkit-filter.h>

static long wait_us = 300;
static long work_us = 10;
static int running;             /* preads in progress (atomic) */

static int
crowded_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                const char *key, const char *value)
{
  if (strcmp (key, "crowd-wait-us") == 0) {
    wait_us = atol (value);
    return 0;
  }
  if (strcmp (key, "crowd-work-us") == 0) {
    work_us = atol (value);
    return 0;
  }
  return next (nxdata, key, value);
}

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * INT64_C (1000000000) + ts.tv_nsec;
}

/* Built for nbdkit 1.32 (Debian's headers, which the reference loads) or
 * 1.44, whose .thread_model is told the model of the layers below. */
static int
#if NBDKIT_VERSION_MINOR >= 44
crowded_thread_model (int next_thread_model)
#else
crowded_thread_model (void)
#endif
{
  return NBDKIT_THREAD_MODEL_PARALLEL;
}

static int
crowded_pread (nbdkit_next *next, void *handle, void *buf,
               uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  int r;

  if (__atomic_add_fetch (&running, 1, __ATOMIC_SEQ_CST) > 1) {
    struct timespec ts = { .tv_sec = 0, .tv_nsec = wait_us * 1000 };
    nanosleep (&ts, NULL);
  }
  int64_t until = now_ns () + work_us * 1000;
  while (now_ns () < until)
    ;
  r = next->pread (next, buf, count, offset, flags, err);
  __atomic_sub_fetch (&running, 1, __ATOMIC_SEQ_CST);
  return r;
}

static struct nbdkit_filter filter = {
  .name = "crowded",
  .longname = "quick alone, slow in company",
  .config = crowded_config,
  .thread_model = crowded_thread_model,
  .pread = crowded_pread,
};

NBDKIT_REGISTER_FILTER (filter)
