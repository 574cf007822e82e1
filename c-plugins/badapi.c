/* A plugin whose registration claims an API version nbdkit does not know
 * (-DBAD_API=N), or is missing .open (-DNO_OPEN), to test load errors.
 */
#define NBDKIT_API_VERSION 2
#include <string.h>
#include <stdint.h>
#include <nbdkit-plugin.h>

#ifndef NO_OPEN
static void *badapi_open (int readonly) { return (void *) 1; }
#endif
static int64_t badapi_get_size (void *h) { return 0; }

static int
badapi_pread (void *h, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "badapi",
#ifndef NO_OPEN
  .open = badapi_open,
#endif
  .get_size = badapi_get_size,
  .pread = badapi_pread,
};

struct nbdkit_plugin *plugin_init (void);

struct nbdkit_plugin *
plugin_init (void)
{
  plugin._struct_size = sizeof plugin;
#ifdef BAD_API
  plugin._api_version = BAD_API;
#else
  plugin._api_version = NBDKIT_API_VERSION;
#endif
  plugin._thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  return &plugin;
}
