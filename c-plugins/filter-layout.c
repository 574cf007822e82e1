/* Prints the layout of struct nbdkit_filter and struct nbdkit_next_ops and
 * the filter constants.  Built against our include/ and against nbdkit
 * 1.44.1's headers; the outputs must match.
 */
#include <stdio.h>
#include <stddef.h>
#include <nbdkit-filter.h>

#define F(f) printf ("filter %-20s %3zu %zu\n", #f, \
                     offsetof (struct nbdkit_filter, f), \
                     sizeof ((struct nbdkit_filter *) 0)->f)
#define N(f) printf ("next %-20s %3zu %zu\n", #f, \
                     offsetof (struct nbdkit_next_ops, f), \
                     sizeof ((struct nbdkit_next_ops *) 0)->f)

int
main (void)
{
  printf ("sizeof filter %zu next_ops %zu extent %zu export %zu\n",
          sizeof (struct nbdkit_filter), sizeof (struct nbdkit_next_ops),
          sizeof (struct nbdkit_extent), sizeof (struct nbdkit_export));
  F (_api_version); F (_version); F (name); F (longname); F (description);
  F (load); F (unload); F (config); F (config_complete); F (config_help);
  F (thread_model); F (dump_plugin); F (get_ready); F (after_fork); F (cleanup);
  F (preconnect); F (list_exports); F (default_export); F (open); F (close);
  F (prepare); F (finalize); F (get_size); F (export_description);
  F (block_size); F (can_write); F (can_flush); F (is_rotational);
  F (can_trim); F (can_zero); F (can_fast_zero); F (can_extents);
  F (can_fua); F (can_multi_conn); F (can_cache); F (pread); F (pwrite);
  F (flush); F (trim); F (zero); F (extents); F (cache);
  N (prepare); N (finalize); N (get_size); N (export_description);
  N (block_size); N (can_write); N (can_flush); N (is_rotational);
  N (can_trim); N (can_zero); N (can_fast_zero); N (can_extents);
  N (can_fua); N (can_multi_conn); N (can_cache); N (pread); N (pwrite);
  N (flush); N (trim); N (zero); N (extents); N (cache);
  printf ("api %d zero %d %d %d\n", NBDKIT_FILTER_API_VERSION,
          NBDKIT_ZERO_NONE, NBDKIT_ZERO_EMULATE, NBDKIT_ZERO_NATIVE);
  return 0;
}
