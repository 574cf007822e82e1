/* The variadic part of the server API: format in C (glibc handles %m and
 * every printf conversion), then hand the text to Rust.  errno is preserved
 * across the calls, as nbdkit-plugin(3) promises for nbdkit_debug.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

extern void nbdkit_rs_error (const char *msg);
extern void nbdkit_rs_debug (const char *msg);
extern const char *nbdkit_strdup_intern (const char *str);
extern void nbdkit_set_error (int err);

void nbdkit_verror (const char *fs, va_list args);
void nbdkit_error (const char *fs, ...);
void nbdkit_vdebug (const char *fs, va_list args);
void nbdkit_debug (const char *fs, ...);
const char *nbdkit_vprintf_intern (const char *fmt, va_list ap);
const char *nbdkit_printf_intern (const char *fmt, ...);
int nbdkit_rs_shim_anchor (void);

int
nbdkit_rs_shim_anchor (void)
{
  return 1;
}

void
nbdkit_verror (const char *fs, va_list args)
{
  int err = errno;
  char *msg = NULL;

  if (vasprintf (&msg, fs, args) == -1)
    nbdkit_rs_error (fs);
  else {
    nbdkit_rs_error (msg);
    free (msg);
  }
  errno = err;
}

void
nbdkit_error (const char *fs, ...)
{
  va_list args;

  va_start (args, fs);
  nbdkit_verror (fs, args);
  va_end (args);
}

void
nbdkit_vdebug (const char *fs, va_list args)
{
  int err = errno;
  char *msg = NULL;

  if (vasprintf (&msg, fs, args) == -1)
    nbdkit_rs_debug (fs);
  else {
    nbdkit_rs_debug (msg);
    free (msg);
  }
  errno = err;
}

void
nbdkit_debug (const char *fs, ...)
{
  va_list args;

  va_start (args, fs);
  nbdkit_vdebug (fs, args);
  va_end (args);
}

const char *
nbdkit_vprintf_intern (const char *fmt, va_list ap)
{
  char *s = NULL;
  const char *r;

  if (vasprintf (&s, fmt, ap) == -1) {
    nbdkit_error ("nbdkit_vprintf_intern: vasprintf: %m");
    return NULL;
  }
  r = nbdkit_strdup_intern (s);
  free (s);
  return r;
}

const char *
nbdkit_printf_intern (const char *fmt, ...)
{
  va_list ap;
  const char *r;

  va_start (ap, fmt);
  r = nbdkit_vprintf_intern (fmt, ap);
  va_end (ap);
  return r;
}
