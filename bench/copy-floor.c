/* The floor under the W6 cow and cache rows: what one 4 KiB client read
 * costs those filters by themselves, whatever server runs them.
 *
 * nbdkit's cow and cache filters work in 64 KiB blocks: a 4 KiB read makes
 * them pread the whole 64 KiB block that holds it from their temporary
 * file (in $TMPDIR, else /var/tmp), then copy the 4 KiB out.  This times
 * exactly that on a 256 MiB file like W6's disk, one thread, random blocks,
 * with the file in the page cache (as it is after W6's fill).
 *
 * Usage: copy-floor [SECONDS]   (build: gcc -O2 -o copy-floor copy-floor.c)
 * Prints the mean time of one such read.  A server's rate through those
 * filters, on one CPU, is at most 1 / (this + its own per-request cost).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DISK (256u << 20)
#define BLOCK 65536u
#define PIECE 4096u

static double now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main (int argc, char **argv)
{
  double secs = argc > 1 ? atof (argv[1]) : 2.0;
  const char *dir = getenv ("TMPDIR");
  char path[4096];
  snprintf (path, sizeof path, "%s/copy-floor-XXXXXX", dir && *dir ? dir : "/var/tmp");
  int fd = mkstemp (path);
  if (fd < 0) { perror (path); return 1; }
  unlink (path);

  /* Fill the file as W6's fill fills the overlay: every block written. */
  static char chunk[1 << 20];
  memset (chunk, 0x5a, sizeof chunk);
  for (uint64_t off = 0; off < DISK; off += sizeof chunk)
    if (pwrite (fd, chunk, sizeof chunk, off) != (ssize_t) sizeof chunk) {
      perror ("pwrite");
      return 1;
    }

  char *block = malloc (BLOCK), *out = malloc (PIECE);
  if (!block || !out) return 1;
  memset (block, 0, BLOCK);
  uint64_t x = 88172645463325252u, n = 0;
  double t0 = now (), t1;
  do {
    for (int i = 0; i < 1000; i++) {
      /* xorshift: a random block, a random 4 KiB piece of it. */
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      uint64_t blk = x % (DISK / BLOCK);
      if (pread (fd, block, BLOCK, blk * BLOCK) != (ssize_t) BLOCK) {
        perror ("pread");
        return 1;
      }
      memcpy (out, block + (x >> 32) % (BLOCK / PIECE) * PIECE, PIECE);
      __asm__ volatile ("" : : "r" (out) : "memory");
    }
    n += 1000;
    t1 = now ();
  } while (t1 - t0 < secs);
  printf ("64 KiB block read + 4 KiB copy: %.2f us each (%llu in %.1f s)\n",
          (t1 - t0) * 1e6 / n, (unsigned long long) n, t1 - t0);
  return 0;
}
