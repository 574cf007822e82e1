/* Prints the layout of struct nbdkit_plugin and the ABI constants.  Built
 * against our include/ and against Debian's headers; the outputs must match.
 */
#define NBDKIT_API_VERSION 2
#include <stdio.h>
#include <stddef.h>
#include <nbdkit-plugin.h>

#define F(f) printf ("%-20s %3zu %zu\n", #f, \
                     offsetof (struct nbdkit_plugin, f), \
                     sizeof ((struct nbdkit_plugin *) 0)->f)

int
main (void)
{
  printf ("sizeof %zu\n", sizeof (struct nbdkit_plugin));
  F (_struct_size); F (_api_version); F (_thread_model);
  F (name); F (longname); F (version); F (description);
  F (load); F (unload); F (config); F (config_complete); F (config_help);
  F (open); F (close); F (get_size);
  F (can_write); F (can_flush); F (is_rotational); F (can_trim);
  F (_pread_v1); F (_pwrite_v1); F (_flush_v1); F (_trim_v1); F (_zero_v1);
  F (errno_is_preserved); F (dump_plugin); F (can_zero); F (can_fua);
  F (pread); F (pwrite); F (flush); F (trim); F (zero);
  F (magic_config_key); F (can_multi_conn); F (can_extents); F (extents);
  F (can_cache); F (cache); F (thread_model); F (can_fast_zero);
  F (preconnect); F (get_ready); F (after_fork); F (list_exports);
  F (default_export); F (export_description); F (cleanup); F (block_size);
  printf ("thread models %d %d %d %d\n",
          NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS,
          NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS,
          NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS,
          NBDKIT_THREAD_MODEL_PARALLEL);
  printf ("flags %d %d %d %d\n", NBDKIT_FLAG_MAY_TRIM, NBDKIT_FLAG_FUA,
          NBDKIT_FLAG_REQ_ONE, NBDKIT_FLAG_FAST_ZERO);
  printf ("fua %d %d %d cache %d %d %d\n",
          NBDKIT_FUA_NONE, NBDKIT_FUA_EMULATE, NBDKIT_FUA_NATIVE,
          NBDKIT_CACHE_NONE, NBDKIT_CACHE_EMULATE, NBDKIT_CACHE_NATIVE);
  printf ("extents %d %d\n", NBDKIT_EXTENT_HOLE, NBDKIT_EXTENT_ZERO);
  printf ("version %d.%d.%d %s\n", NBDKIT_VERSION_MAJOR, NBDKIT_VERSION_MINOR,
          NBDKIT_VERSION_MICRO, NBDKIT_VERSION_STRING);
  return 0;
}
