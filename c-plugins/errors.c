/* Fails reads in each way nbdkit turns into an errno.  mode=:
 *   seterr   nbdkit_set_error (ENOSPC) + nbdkit_error, return -1
 *   errno    errno = EROFS, return -1 (EROFS only if errno_is_preserved)
 *   plain    errno = 0, return -1 (always EIO)
 * Built twice: errors.so (errno_is_preserved = 1) and errors-noerrno.so
 * (-DNO_ERRNO).  Reads of the first 512 bytes succeed; the rest fail.
 * fail=open|get_size|config_complete fails that callback instead.
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static const char *mode = "seterr";
static const char *fail = "";

static int
errors_config (const char *key, const char *value)
{
  if (strcmp (key, "mode") == 0)
    mode = nbdkit_strdup_intern (value);
  else if (strcmp (key, "fail") == 0)
    fail = nbdkit_strdup_intern (value);
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int
fail_now (const char *what)
{
  if (strcmp (mode, "seterr") == 0) {
    nbdkit_error ("%s: failing with ENOSPC", what);
    nbdkit_set_error (ENOSPC);
  }
  else if (strcmp (mode, "errno") == 0) {
    nbdkit_error ("%s: failing with errno EROFS", what);
    errno = EROFS;
  }
  else {
    nbdkit_error ("%s: failing without an errno", what);
    errno = 0;
  }
  return -1;
}

static int
errors_config_complete (void)
{
  return strcmp (fail, "config_complete") == 0 ? fail_now ("config_complete") : 0;
}

static int handle;

static void *
errors_open (int readonly)
{
  if (strcmp (fail, "open") == 0) {
    fail_now ("open");
    return NULL;
  }
  return &handle;
}

static int64_t
errors_get_size (void *h)
{
  if (strcmp (fail, "get_size") == 0)
    return fail_now ("get_size");
  return 1024 * 1024;
}

static int
errors_pread (void *h, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  if (offset + count > 512)
    return fail_now ("pread");
  memset (buf, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "errors",
  .config = errors_config,
  .config_complete = errors_config_complete,
  .open = errors_open,
  .get_size = errors_get_size,
  .pread = errors_pread,
#ifdef NO_ERRNO
  .errno_is_preserved = 0,
#else
  .errno_is_preserved = 1,
#endif
};

NBDKIT_REGISTER_PLUGIN (plugin)
