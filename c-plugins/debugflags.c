/* -D debugflags.foo=N and -D debugflags.bar.baz=N set these globals; their
 * values are logged at config_complete and printed by --dump-plugin.
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS

int debugflags_debug_foo;
int debugflags_debug_bar_baz = 7;

static int
debugflags_config_complete (void)
{
  nbdkit_debug ("debugflags: foo=%d bar.baz=%d",
                debugflags_debug_foo, debugflags_debug_bar_baz);
  return 0;
}

static void
debugflags_dump_plugin (void)
{
  printf ("debugflags_foo=%d\n", debugflags_debug_foo);
  printf ("debugflags_bar_baz=%d\n", debugflags_debug_bar_baz);
}

static void *debugflags_open (int readonly) { return &debugflags_debug_foo; }
static int64_t debugflags_get_size (void *h) { return 512; }

static int
debugflags_pread (void *h, void *buf, uint32_t count, uint64_t offset,
                  uint32_t flags)
{
  memset (buf, debugflags_debug_foo, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "debugflags",
  .config_complete = debugflags_config_complete,
  .dump_plugin = debugflags_dump_plugin,
  .open = debugflags_open,
  .get_size = debugflags_get_size,
  .pread = debugflags_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
