/* Calls every function the server exports to plugins and logs what it got
 * with nbdkit_debug ("everything: ..."), so a test can compare the lines
 * nbdkit and our server produce.  Config keys: int, unsigned, int8_t,
 * uint8_t, ... uint64_t (nbdkit_parse_*), size, bool, password, path,
 * shutdown (call nbdkit_shutdown at open).
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/socket.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* Filter-side helpers nbdkit also exports (nbdkit-filter(3)). */
struct everything_extent { uint64_t offset, length; uint32_t type; };
struct everything_export { char *name, *description; };
extern struct nbdkit_extents *nbdkit_extents_new (uint64_t, uint64_t);
extern void nbdkit_extents_free (struct nbdkit_extents *);
extern size_t nbdkit_extents_count (const struct nbdkit_extents *);
extern struct everything_extent nbdkit_get_extent (const struct nbdkit_extents *, size_t);
extern struct nbdkit_exports *nbdkit_exports_new (void);
extern void nbdkit_exports_free (struct nbdkit_exports *);
extern size_t nbdkit_exports_count (const struct nbdkit_exports *);
extern struct everything_export nbdkit_get_export (const struct nbdkit_exports *, size_t);

static int do_shutdown;

static void
vdebug_wrapper (const char *fs, ...)
{
  va_list ap;
  va_start (ap, fs);
  nbdkit_vdebug (fs, ap);
  va_end (ap);
}

static void
verror_wrapper (const char *fs, ...)
{
  va_list ap;
  va_start (ap, fs);
  nbdkit_verror (fs, ap);
  va_end (ap);
}

static const char *
vprintf_wrapper (const char *fs, ...)
{
  va_list ap;
  const char *r;
  va_start (ap, fs);
  r = nbdkit_vprintf_intern (fs, ap);
  va_end (ap);
  return r;
}

#define PARSE(type, fn, fmt)                                           \
  if (strcmp (key, #type) == 0) {                                      \
    type v = 0;                                                        \
    if (fn (key, value, &v) == -1)                                     \
      return -1;                                                       \
    nbdkit_debug ("everything: %s=%" fmt, key, v);                     \
    return 0;                                                          \
  }

static int
everything_config (const char *key, const char *value)
{
  PARSE (int, nbdkit_parse_int, "d");
  PARSE (unsigned, nbdkit_parse_unsigned, "u");
  PARSE (int8_t, nbdkit_parse_int8_t, PRIi8);
  PARSE (uint8_t, nbdkit_parse_uint8_t, PRIu8);
  PARSE (int16_t, nbdkit_parse_int16_t, PRIi16);
  PARSE (uint16_t, nbdkit_parse_uint16_t, PRIu16);
  PARSE (int32_t, nbdkit_parse_int32_t, PRIi32);
  PARSE (uint32_t, nbdkit_parse_uint32_t, PRIu32);
  PARSE (int64_t, nbdkit_parse_int64_t, PRIi64);
  PARSE (uint64_t, nbdkit_parse_uint64_t, PRIu64);
  if (strcmp (key, "size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    nbdkit_debug ("everything: size=%" PRIi64, r);
    return 0;
  }
  if (strcmp (key, "bool") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    nbdkit_debug ("everything: bool=%d", r);
    return 0;
  }
  if (strcmp (key, "password") == 0) {
    char *p = NULL;
    if (nbdkit_read_password (value, &p) == -1)
      return -1;
    nbdkit_debug ("everything: password=[%s]", p);
    free (p);
    return 0;
  }
  if (strcmp (key, "path") == 0) {
    char *a = nbdkit_absolute_path (value);
    char *r = nbdkit_realpath (value);
    nbdkit_debug ("everything: absolute_path=%s", a ? a : "(null)");
    nbdkit_debug ("everything: realpath=%s", r ? r : "(null)");
    free (a);
    free (r);
    return 0;
  }
  if (strcmp (key, "shutdown") == 0) {
    do_shutdown = 1;
    return 0;
  }
  verror_wrapper ("unknown parameter '%s'", key);
  return -1;
}

static int
everything_config_complete (void)
{
  struct nbdkit_extents *e;
  struct nbdkit_exports *x;
  size_t i;

  nbdkit_debug ("everything: stdio_safe=%d", nbdkit_stdio_safe ());
  vdebug_wrapper ("everything: vdebug %d %s", 42, "ok");
  nbdkit_debug ("everything: strndup_intern=%s",
                nbdkit_strndup_intern ("abcdef", 3));
  nbdkit_debug ("everything: printf_intern=%s",
                nbdkit_printf_intern ("%d-%s", 7, "x"));
  nbdkit_debug ("everything: vprintf_intern=%s",
                vprintf_wrapper ("%05d", 12));

  e = nbdkit_extents_new (100, 1000);
  if (e == NULL)
    return -1;
  nbdkit_add_extent (e, 0, 200, NBDKIT_EXTENT_HOLE);
  nbdkit_add_extent (e, 200, 100, NBDKIT_EXTENT_HOLE);
  nbdkit_add_extent (e, 300, 2000, 0);
  for (i = 0; i < nbdkit_extents_count (e); ++i) {
    struct everything_extent x = nbdkit_get_extent (e, i);
    nbdkit_debug ("everything: extent %zu: %" PRIu64 " %" PRIu64 " %u",
                  i, x.offset, x.length, x.type);
  }
  if (nbdkit_add_extent (e, 5000, 1, 0) == -1)
    nbdkit_debug ("everything: non-contiguous extent refused");
  nbdkit_extents_free (e);

  x = nbdkit_exports_new ();
  nbdkit_add_export (x, "one", "the first");
  nbdkit_add_export (x, "two", NULL);
  for (i = 0; i < nbdkit_exports_count (x); ++i) {
    struct everything_export ex = nbdkit_get_export (x, i);
    nbdkit_debug ("everything: export %zu: %s %s", i, ex.name,
                  ex.description ? ex.description : "(null)");
  }
  nbdkit_exports_free (x);
  return 0;
}

static int
everything_list_exports (int readonly, int is_tls,
                         struct nbdkit_exports *exports)
{
  if (nbdkit_add_export (exports, "a", "export a") == -1 ||
      nbdkit_add_export (exports, "b", NULL) == -1 ||
      nbdkit_use_default_export (exports) == -1)
    return -1;
  return 0;
}

static const char *
everything_default_export (int readonly, int is_tls)
{
  return nbdkit_strdup_intern ("dflt");
}

static int handle;

static void *
everything_open (int readonly)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  nbdkit_debug ("everything: export_name=[%s]", nbdkit_export_name ());
  nbdkit_debug ("everything: is_tls=%d", nbdkit_is_tls ());
  if (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == 0)
    nbdkit_debug ("everything: peer_name family=%d", ss.ss_family);
  nbdkit_debug ("everything: peer_uid_is_me=%d",
                nbdkit_peer_uid () == (int64_t) getuid ());
  nbdkit_debug ("everything: peer_gid_is_me=%d",
                nbdkit_peer_gid () == (int64_t) getgid ());
  nbdkit_debug ("everything: peer_pid_positive=%d", nbdkit_peer_pid () > 0);
  /* Once serving, stdin and stdout are not the plugin's. */
  nbdkit_debug ("everything: open_stdio_safe=%d", nbdkit_stdio_safe ());
  if (nbdkit_nanosleep (0, 1000) == -1)
    return NULL;
  if (do_shutdown)
    nbdkit_shutdown ();
  return &handle;
}

static int64_t everything_get_size (void *h) { return 1024 * 1024; }

static const char *
everything_export_description (void *h)
{
  return nbdkit_printf_intern ("description of [%s]", nbdkit_export_name ());
}

static int
everything_block_size (void *h, uint32_t *min, uint32_t *pref, uint32_t *max)
{
  *min = 1;
  *pref = 4096;
  *max = 0xffffffff;
  return 0;
}

static int
everything_pread (void *h, void *buf, uint32_t count, uint64_t offset,
                  uint32_t flags)
{
  memset (buf, offset < 512 * 1024 ? 0 : 'x', count);
  return 0;
}

static int
everything_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
                    struct nbdkit_extents *extents)
{
  if (nbdkit_add_extent (extents, 0, 512 * 1024,
                         NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
    return -1;
  return nbdkit_add_extent (extents, 512 * 1024, 512 * 1024, 0);
}

static struct nbdkit_plugin plugin = {
  .name = "everything",
  .version = "0.1",
  .config = everything_config,
  .config_complete = everything_config_complete,
  .config_help = "int=N unsigned=N ... size=SIZE bool=BOOL password=PASSWORD path=PATH",
  .list_exports = everything_list_exports,
  .default_export = everything_default_export,
  .open = everything_open,
  .get_size = everything_get_size,
  .export_description = everything_export_description,
  .block_size = everything_block_size,
  .pread = everything_pread,
  .extents = everything_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
