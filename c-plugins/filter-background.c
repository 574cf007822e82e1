/* A filter that opens and closes extra contexts on the layer below, as
 * filters doing background work or reopening the plugin do
 * (nbdkit_context_get_backend, nbdkit_next_context_open/_close,
 * nbdkit_context_set_next).  mode=:
 *   request   every pread also reads the same bytes through a shared
 *             context opened for that request and closed after it, and
 *             fails with EIO if they differ
 *   thread    each connection starts a thread that keeps a shared context
 *             open and reads through it every few milliseconds until the
 *             connection closes (then closes it and is joined)
 *   swap      every flush takes this connection's next away
 *             (nbdkit_context_set_next), finalizes and closes it, opens a
 *             new unshared one and makes it the next, as the retry filter
 *             does (nbdkit 1.32.5 allows one unshared context per
 *             connection at a time)
 * A context opened by hand is prepared before use and finalized before
 * it is closed, as nbdkit-filter(3) requires.
 * The plugin below must allow parallel requests (memory does).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nbdkit-filter.h>

static const char *mode = "request";

struct handle {
  nbdkit_context *context;
  nbdkit_backend *backend;
  int readonly;
  char *exportname;
  pthread_t thread;
  bool thread_started;
  bool stop;
  pthread_mutex_t lock;
  uint64_t background_reads;
};

static int
bg_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "mode") == 0) {
    mode = nbdkit_strdup_intern (value);
    return mode ? 0 : -1;
  }
  return next (nxdata, key, value);
}

/* Built for nbdkit 1.32 (Debian's headers, which the reference loads) or
 * 1.44, whose .thread_model is told the model of the layers below. */
static int
#if NBDKIT_VERSION_MINOR >= 44
bg_thread_model (int next_thread_model)
#else
bg_thread_model (void)
#endif
{
  return NBDKIT_THREAD_MODEL_PARALLEL;
}

static void close_next (nbdkit_next *n);

/* A context of the layer below, opened by hand and prepared. */
static nbdkit_next *
open_next (struct handle *h, int readonly, int shared)
{
  nbdkit_next *n = nbdkit_next_context_open (h->backend, readonly,
                                             h->exportname, shared);
  if (n == NULL)
    return NULL;
  /* nbdkit checks requests against answers it has cached, so ask for
   * them all before the first request, as a connection does. */
  if (n->prepare (n) == -1 || n->get_size (n) == -1 ||
      n->can_write (n) == -1 || n->can_flush (n) == -1 ||
      n->can_trim (n) == -1 || n->can_zero (n) == -1 ||
      n->can_fast_zero (n) == -1 || n->can_fua (n) == -1 ||
      n->can_extents (n) == -1 || n->can_cache (n) == -1 ||
      n->is_rotational (n) == -1 || n->can_multi_conn (n) == -1) {
    close_next (n);
    return NULL;
  }
  return n;
}

static void
close_next (nbdkit_next *n)
{
  n->finalize (n);
  nbdkit_next_context_close (n);
}

static void *
background (void *vp)
{
  struct handle *h = vp;
  nbdkit_next *n;
  char buf[512];
  int err;

  n = open_next (h, 1, 1);
  if (n == NULL) {
    nbdkit_error ("filter-background: thread could not open a context");
    return NULL;
  }
  for (;;) {
    bool stop;
    pthread_mutex_lock (&h->lock);
    stop = h->stop;
    pthread_mutex_unlock (&h->lock);
    if (stop)
      break;
    if (n->pread (n, buf, sizeof buf, 0, 0, &err) == -1)
      nbdkit_error ("filter-background: background read failed: %d", err);
    else
      __atomic_add_fetch (&h->background_reads, 1, __ATOMIC_SEQ_CST);
    nanosleep (&(struct timespec){ .tv_nsec = 5000000 }, NULL);
  }
  close_next (n);
  return NULL;
}

static void *
bg_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  if (next (context, readonly, exportname) == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  h->context = context;
  h->backend = nbdkit_context_get_backend (context);
  h->readonly = readonly;
  h->exportname = strdup (exportname);
  pthread_mutex_init (&h->lock, NULL);
  if (h->exportname == NULL || h->backend == NULL) {
    nbdkit_error ("filter-background: no backend or no memory");
    free (h->exportname);
    free (h);
    return NULL;
  }
  return h;
}

static int
bg_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  int r;

  if (strcmp (mode, "thread") != 0)
    return 0;
  r = pthread_create (&h->thread, NULL, background, h);
  if (r != 0) {
    errno = r;
    nbdkit_error ("pthread_create: %m");
    return -1;
  }
  h->thread_started = true;
  return 0;
}

static void
bg_close (void *handle)
{
  struct handle *h = handle;

  if (h->thread_started) {
    pthread_mutex_lock (&h->lock);
    h->stop = true;
    pthread_mutex_unlock (&h->lock);
    pthread_join (h->thread, NULL);
    nbdkit_debug ("filter-background: %" PRIu64 " background reads",
                  h->background_reads);
  }
  pthread_mutex_destroy (&h->lock);
  free (h->exportname);
  free (h);
}

static int
bg_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  nbdkit_next *n;
  char *copy;
  int r;

  if (next->pread (next, buf, count, offset, flags, err) == -1)
    return -1;
  if (strcmp (mode, "request") != 0)
    return 0;

  n = open_next (h, 1, 1);
  if (n == NULL) {
    *err = EIO;
    return -1;
  }
  copy = malloc (count);
  if (copy == NULL) {
    *err = ENOMEM;
    close_next (n);
    return -1;
  }
  r = n->pread (n, copy, count, offset, flags, err);
  if (r == 0 && memcmp (copy, buf, count) != 0) {
    nbdkit_error ("filter-background: the second context read other data");
    *err = EIO;
    r = -1;
  }
  free (copy);
  close_next (n);
  return r;
}

static int
bg_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  struct handle *h = handle;
  nbdkit_next *fresh, *old;

  if (next->flush (next, flags, err) == -1)
    return -1;
  if (strcmp (mode, "swap") != 0)
    return 0;
  old = nbdkit_context_set_next (h->context, NULL);
  if (old)
    close_next (old);
  fresh = open_next (h, h->readonly, 0);
  if (fresh == NULL) {
    *err = EIO;
    return -1;
  }
  nbdkit_context_set_next (h->context, fresh);
  return 0;
}

static struct nbdkit_filter filter = {
  .name = "filter-background",
  .longname = "opens and closes contexts of the layer below",
  .config = bg_config,
  .config_help = "mode=request|thread|swap",
  .thread_model = bg_thread_model,
  .open = bg_open,
  .prepare = bg_prepare,
  .close = bg_close,
  .pread = bg_pread,
  .flush = bg_flush,
};

NBDKIT_REGISTER_FILTER (filter)
