/* Returns extents in one of many shapes, legal and not, chosen by shape=.
 *
 * The disk (size=, default 1M) is made of 64 KiB blocks; block i has type
 * (i % 4), so all four combinations of HOLE and ZERO occur.  Reads return
 * zeroes for blocks with the ZERO bit and 0xAA otherwise.
 *
 * Legal shapes:
 *   block     from the start of the block containing offset (so usually
 *             before it) up to a block boundary past offset+count, REQ_ONE
 *             ignored
 *   whole     the whole disk from 0 every time, REQ_ONE ignored
 *   exact     clipped exactly to [offset, offset+count)
 *   reqone    like block, but only one extent when REQ_ONE is set
 *   tiny      1-byte extents alternating data/hole from offset for up to
 *             4096 bytes, then one extent to the end of the range
 *   zerolen   like block with a zero-length extent between every pair
 *   allsame   the whole disk in 4 KiB extents, all data (server merges)
 * Contract breakers (the server must answer with an error):
 *   descending  the second extent goes backwards
 *   gap         a gap between the first and the second extent
 *   late        the first extent starts after offset
 *   overflow    an extent whose offset + length overflows 64 bits
 *   none        no extents at all
 *   overlong    2 million 1-byte extents of alternating types (nbdkit
 *               caps the list; the answer is just shorter)
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define BLK 65536

static const char *shape = "block";
static int64_t size = 1024 * 1024;

static int
shapes_config (const char *key, const char *value)
{
  if (strcmp (key, "shape") == 0)
    shape = nbdkit_strdup_intern (value);
  else if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1)
      return -1;
  }
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int handle;

static void *
shapes_open (int readonly)
{
  return &handle;
}

static int64_t
shapes_get_size (void *h)
{
  return size;
}

static int
shapes_pread (void *h, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  unsigned char *p = buf;
  uint32_t i;

  for (i = 0; i < count; i++)
    p[i] = ((offset + i) / BLK) % 4 & NBDKIT_EXTENT_ZERO ? 0 : 0xAA;
  return 0;
}

static int
shapes_can_extents (void *h)
{
  return 1;
}

static int
is (const char *s)
{
  return strcmp (shape, s) == 0;
}

static int
add (struct nbdkit_extents *e, uint64_t off, uint64_t len, uint32_t type)
{
  return nbdkit_add_extent (e, off, len, type);
}

static int
shapes_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
                struct nbdkit_extents *e)
{
  uint64_t end = offset + count, b, i;
  int req_one = (flags & NBDKIT_FLAG_REQ_ONE) != 0;

  if (is ("block") || is ("reqone") || is ("zerolen")) {
    for (b = offset / BLK; b * BLK < end; b++) {
      if (add (e, b * BLK, BLK, b % 4) == -1)
        return -1;
      if (is ("zerolen") && add (e, (b + 1) * BLK, 0, 3) == -1)
        return -1;
      if (is ("reqone") && req_one)
        break;
    }
    return 0;
  }
  if (is ("whole")) {
    for (b = 0; b * BLK < (uint64_t) size; b++)
      if (add (e, b * BLK, BLK, b % 4) == -1)
        return -1;
    return 0;
  }
  if (is ("exact")) {
    uint64_t pos = offset;
    while (pos < end) {
      uint64_t next = (pos / BLK + 1) * BLK;
      if (next > end)
        next = end;
      if (add (e, pos, next - pos, (pos / BLK) % 4) == -1)
        return -1;
      pos = next;
    }
    return 0;
  }
  if (is ("tiny")) {
    uint64_t pos = offset;
    for (i = 0; pos < end && i < 4096; i++, pos++)
      if (add (e, pos, 1, (i & 1) ? 3 : 0) == -1)
        return -1;
    if (pos < end && add (e, pos, end - pos, 0) == -1)
      return -1;
    return 0;
  }
  if (is ("allsame")) {
    for (b = 0; b * 4096 < (uint64_t) size; b++)
      if (add (e, b * 4096, 4096, 0) == -1)
        return -1;
    return 0;
  }
  if (is ("descending")) {
    if (add (e, offset, 512, 0) == -1)
      return -1;
    return add (e, offset, 512, 3);
  }
  if (is ("gap")) {
    if (add (e, offset, 512, 0) == -1)
      return -1;
    return add (e, offset + 1024, 512, 3);
  }
  if (is ("late"))
    return add (e, offset + 512, count, 0);
  if (is ("overflow")) {
    if (add (e, offset, 512, 0) == -1)
      return -1;
    return add (e, offset + 512, UINT64_MAX - 100, 3);
  }
  if (is ("none"))
    return 0;
  if (is ("overlong")) {
    for (i = 0; i < 2 * 1024 * 1024; i++)
      if (add (e, offset + i, 1, (i & 1) ? 3 : 0) == -1)
        return -1;
    return add (e, offset + i, size, 0);
  }
  nbdkit_error ("unknown shape '%s'", shape);
  errno = EINVAL;
  return -1;
}

static struct nbdkit_plugin plugin = {
  .name              = "extents-shapes",
  .version           = "1.0",
  .config            = shapes_config,
  .open              = shapes_open,
  .get_size          = shapes_get_size,
  .pread             = shapes_pread,
  .can_extents       = shapes_can_extents,
  .extents           = shapes_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
