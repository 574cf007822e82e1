/* What bindgen sees: the plugin ABI at API version 2. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
