#!/usr/bin/env bash
# Commands a plugin runs while it is configured start with SIGPIPE at its
# default (nbdkit ignores it only once the plugin is configured): the data
# plugin reads 400 bytes of an endless <(COMMAND) and closes it, and the
# command must die of SIGPIPE instead of writing forever.
source "$COMPAT_LIB"
for b in "$REF_NBDKIT" "$NBDKIT"; do
    got=$(timeout 20 "$b" -U - data '<( while :; do echo -n .; done )[:400]' \
          --run 'nbdinfo --size "$uri"' 2>&1)
    expect_eq "$b: size of data '<(endless)[:400]'" 400 "$got"
done
# And a --run command does not start with SIGPIPE ignored.  (C nbdkit
# 1.32.5 leaves it ignored there, so `yes | head -1` run from there never
# ends: a deliberate difference, children start with default dispositions.)
ign=$(timeout 20 "$NBDKIT" -U - null --run 'sed -n "s/^SigIgn:\t//p" /proc/self/status' 2>&1)
expect_eq "SIGPIPE ignored in a --run command (SigIgn $ign)" 0 $(( 0x$ign >> 12 & 1 ))
got=$(timeout 20 "$NBDKIT" -U - null --run 'yes | head -c 3' 2>&1)
expect_eq "yes | head -c 3 in --run ends" "y
y" "$got"
