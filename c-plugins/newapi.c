/* Calls the server functions added after nbdkit 1.32, and says what they
 * answered on stderr (lines starting "newapi:"), for a test to compare
 * with C nbdkit 1.44.1 loading the same plugin:
 *
 *   probability=STR   nbdkit_parse_probability ("probability", STR)
 *   delay=STR         nbdkit_parse_delay ("delay", STR) (the outputs start
 *                     at 77 77: a failed parse must leave them alone)
 *
 * Neither fails the configuration: several keys can be tried in one run.
 * get_ready calls nbdkit_disconnect outside any connection (nothing must
 * happen).  Each .open reports nbdkit_peer_security_context,
 * nbdkit_peer_tls_dn and nbdkit_peer_tls_issuer_dn.  The disk is 1M of
 * memory; a write to export "soft" calls nbdkit_disconnect (0) and
 * succeeds, one to export "force" calls nbdkit_disconnect (1) (reads of
 * export "force" take a second, so that one is in flight then).
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define SIZE (1024 * 1024)

static char disk[SIZE];

static int
newapi_config (const char *key, const char *value)
{
  if (strcmp (key, "probability") == 0) {
    double d = -1;

    if (nbdkit_parse_probability ("probability", value, &d) == 0)
      fprintf (stderr, "newapi: probability %s = %.17g\n", value, d);
    else
      fprintf (stderr, "newapi: probability %s refused (%g)\n", value, d);
    return 0;
  }
  if (strcmp (key, "delay") == 0) {
    unsigned sec = 77, nsec = 77;
    int r = nbdkit_parse_delay ("delay", value, &sec, &nsec);

    fprintf (stderr, "newapi: delay %s: %d %u %u\n", value, r, sec, nsec);
    return 0;
  }
  nbdkit_error ("newapi: unknown parameter '%s'", key);
  return -1;
}

static int
newapi_get_ready (void)
{
  nbdkit_disconnect (1);
  fprintf (stderr, "newapi: get_ready survived nbdkit_disconnect\n");
  return 0;
}

/* NULL shown as "(null)", then freed. */
static void
say (const char *what, char *s)
{
  fprintf (stderr, "newapi: %s: %s%s%s\n", what,
           s ? "\"" : "", s ? s : "(null)", s ? "\"" : "");
  free (s);
}

static void *
newapi_open (int readonly)
{
  say ("peer_security_context", nbdkit_peer_security_context ());
  say ("peer_tls_dn", nbdkit_peer_tls_dn ());
  say ("peer_tls_issuer_dn", nbdkit_peer_tls_issuer_dn ());
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
newapi_get_size (void *handle)
{
  return SIZE;
}

static int
newapi_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  const char *name = nbdkit_export_name ();

  /* Still in flight when a write to the same export disconnects. */
  if (name && strcmp (name, "force") == 0)
    nbdkit_nanosleep (1, 0);
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
newapi_pwrite (void *handle, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags)
{
  const char *name = nbdkit_export_name ();

  memcpy (disk + offset, buf, count);
  if (name && strcmp (name, "soft") == 0)
    nbdkit_disconnect (0);
  else if (name && strcmp (name, "force") == 0)
    nbdkit_disconnect (1);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "newapi",
  .version = "1.0",
  .config = newapi_config,
  .get_ready = newapi_get_ready,
  .open = newapi_open,
  .get_size = newapi_get_size,
  .pread = newapi_pread,
  .pwrite = newapi_pwrite,
};

NBDKIT_REGISTER_PLUGIN (plugin)
