/* A pass-through filter with a long name, a description (ending in a
 * newline) and config help, for what --help prints about a filter.
 */
#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "described",
  .longname = "a filter that says what it is",
  .description = "Passes every request through.\n"
                 "It only has words for --help.\n",
  .config_help = "(no parameters)",
};

NBDKIT_REGISTER_FILTER (filter)
