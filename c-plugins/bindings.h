/* What bindgen sees: the plugin ABI at API version 2 and the filter ABI. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#include <nbdkit-filter.h>
