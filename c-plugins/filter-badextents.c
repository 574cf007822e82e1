/* A filter that breaks the extents contract of nbdkit-filter(3) in the
 * way chosen by mode= (everything else passes through):
 *   none       returns success without adding any extent
 *   backwards  adds an extent, then one before it (nbdkit_add_extent
 *              fails; the filter returns that failure)
 *   ignore     the same, but ignores the failure and returns success
 *   gap        the first extent starts after the requested offset
 *   zerolen    adds only zero-length extents
 *   pastend    adds one extent reaching far past the end of the export
 *   error      returns -1 without setting *err
 *   full       adds the extents nbdkit_extents_full collects from the
 *              layer below (legal, for contrast)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <nbdkit-filter.h>

static const char *mode = "none";

static int
be_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "mode") == 0) {
    mode = nbdkit_strdup_intern (value);
    return mode ? 0 : -1;
  }
  return next (nxdata, key, value);
}

/* The layer below must be asked (nbdkit caches its answer before
 * next->extents may be called); this layer always has extents. */
static int
be_can_extents (nbdkit_next *next, void *handle)
{
  return next->can_extents (next) == -1 ? -1 : 1;
}

static int
be_extents (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
            uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  int r;

  if (strcmp (mode, "none") == 0)
    return 0;
  if (strcmp (mode, "backwards") == 0 || strcmp (mode, "ignore") == 0) {
    if (nbdkit_add_extent (extents, offset, 4096, 0) == -1)
      goto failed;
    r = nbdkit_add_extent (extents, offset, 512, NBDKIT_EXTENT_HOLE);
    if (r == -1 && strcmp (mode, "backwards") == 0)
      goto failed;
    return 0;
  }
  if (strcmp (mode, "gap") == 0) {
    if (nbdkit_add_extent (extents, offset + 512, 4096, 0) == -1)
      goto failed;
    return 0;
  }
  if (strcmp (mode, "zerolen") == 0) {
    nbdkit_add_extent (extents, offset, 0, 0);
    nbdkit_add_extent (extents, offset, 0, NBDKIT_EXTENT_ZERO);
    return 0;
  }
  if (strcmp (mode, "pastend") == 0) {
    if (nbdkit_add_extent (extents, offset, UINT64_MAX / 2, NBDKIT_EXTENT_ZERO) == -1)
      goto failed;
    return 0;
  }
  if (strcmp (mode, "error") == 0) {
    nbdkit_error ("filter-badextents: failing without an errno");
    return -1;
  }
  if (strcmp (mode, "full") == 0) {
    struct nbdkit_extents *all;
    size_t i;

    all = nbdkit_extents_full (next, count, offset, flags, err);
    if (all == NULL)
      return -1;
    for (i = 0; i < nbdkit_extents_count (all); i++) {
      struct nbdkit_extent e = nbdkit_get_extent (all, i);
      if (nbdkit_add_extent (extents, e.offset, e.length, e.type) == -1) {
        nbdkit_extents_free (all);
        goto failed;
      }
    }
    nbdkit_extents_free (all);
    return 0;
  }
  return next->extents (next, count, offset, flags, extents, err);

 failed:
  *err = errno;
  return -1;
}

static struct nbdkit_filter filter = {
  .name = "filter-badextents",
  .longname = "breaks the extents contract",
  .config = be_config,
  .config_help = "mode=none|backwards|ignore|gap|zerolen|pastend|error|full",
  .can_extents = be_can_extents,
  .extents = be_extents,
};

NBDKIT_REGISTER_FILTER (filter)
