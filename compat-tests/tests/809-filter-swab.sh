#!/usr/bin/env bash
# swab swaps bytes in 16-, 32- and 64-bit words (8 is a no-op) on reads
# and writes, and makes requests aligned to the word: the data, the
# answers to unaligned requests, the advertised block size and what
# reaches the plugin are C nbdkit's.  swab over and under offset.
source "$COMPAT_LIB"
need_filters swab offset log

pat=(data '(0 1 2 3 4 5 6 7)*131072')
n=0
# Reads of a patterned plugin, read-only.  (Writes through swab over the
# data plugin, and through swab-bits=8 over any plugin, store bytes that
# differ from run to run in C nbdkit 1.32.5, so writes are tested over
# memory with 16, 32 and 64 bits.)
for bits in 8 16 32 64; do
    n=$((n + 1))
    start_pair $n -r --filter=swab "${pat[@]}" swab-bits=$bits
    same_seen "swab-bits=$bits: view" $n "$VIEW"
    same_seen "swab-bits=$bits: reads" $n "\$PROBE \"\$uri\" r:0:64 r:1:7 r:8:8 r:8:16 b:0:4k c:0:8"
    stop_pair $n
done
ops="w:16:16:0x12 r:0:64 w:3:2:1 r:0:64 z:64:8 r:0:128 t:128:8 b:0:4k f r:0:256"
for bits in 16 32 64; do
    n=$((n + 1))
    start_pair $n --filter=swab --filter=log memory 1M swab-bits=$bits logfile="$T/flog-@SIDE@-$n"
    same_seen "swab-bits=$bits: requests" $n "\$PROBE \"\$uri\" $ops"
    stop_pair $n
    _same "swab-bits=$bits: requests seen by the plugin" "$(norm_log flog-ref-$n)" "$(norm_log flog-ours-$n)"
done
# The plugin's words 00 01 .. 07 read back reversed.
start_server s64 "$NBDKIT" -r --filter=swab "${pat[@]}" swab-bits=64
expect_eq "swab-bits=64 swaps the words" "07060504030201000706" \
    "$(nbdcopy "$(uri s64)" - | head -c 10 | od -An -tx1 | tr -d ' \n')"
stop_server s64
for order in "--filter=swab --filter=offset" "--filter=offset --filter=swab"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    start_pair $n -r $order "${pat[@]}" swab-bits=32 offset=2 range=1000
    same_seen "$order: view" $n "$VIEW"
    same_seen "$order: reads" $n "\$PROBE \"\$uri\" r:0:64 r:4:8 r:1:8 r:0:16"
    stop_pair $n
done
