/* A pass-through filter that claims to be built for another nbdkit:
 * its filter_init sets _version to "1.30.0" (or, built with
 * -DOTHER_API, _api_version to 5 with the right _version) instead of
 * using NBDKIT_REGISTER_FILTER.  nbdkit must refuse to load it.
 */
#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "filter-version",
  .longname = "built for another nbdkit",
};

struct nbdkit_filter *
filter_init (void)
{
#ifdef OTHER_API
  filter._api_version = 5;
  filter._version = NBDKIT_VERSION_STRING;
#else
  filter._api_version = NBDKIT_FILTER_API_VERSION;
  filter._version = "1.30.0";
#endif
  return &filter;
}
