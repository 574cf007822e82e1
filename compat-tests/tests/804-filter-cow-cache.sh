#!/usr/bin/env bash
# cow, cache and cacheextents over a file: what the client reads after its
# writes, the map, what reaches the plugin (the log filter below) and what
# ends up in the file (cow never writes it; cache writes through, back on
# flush, or never) are C nbdkit's.
source "$COMPAT_LIB"
need_filters cow cache cacheextents log

head -c 1048576 /dev/urandom > orig
truncate -s 2M orig
ops="r:0:4k w:1000:5000:1 r:0:8k z:64k:64k t:128k:64k r:60k:80k b:0:2M f c:1M:64k r:1M:64k w:2097151:1:2 b:0:2M:reqone"
n=0
check() {               # check LABEL ARGS...: also compares each side's file
    cp orig "img-ref-$((n + 1))"; cp orig "img-ours-$((n + 1))"
    logged_pair "$1" "$VIEW" "${@:2}"
    _same "$1: the file afterwards" "$(md5sum <img-ref-$n)" "$(md5sum <img-ours-$n)"
}
img() { echo "$T/img-@SIDE@-$((n + 1))"; }

check "cow" --filter=cow --filter=log file "$(img)"
expect_eq "cow left the file alone" "$(md5sum <orig)" "$(md5sum <img-ours-$n)"
check "cow -r plugin, cow-block-size=4k, cow-on-read" --filter=cow --filter=log \
    file "$(img)" cow-block-size=4k cow-on-read=true
check "cow cow-on-cache=true" --filter=cow --filter=log file "$(img)" cow-on-cache=true
for mode in writeback unsafe writethrough; do
    check "cache=$mode" --filter=cache --filter=log file "$(img)" cache=$mode
done
[ "$(md5sum <orig)" != "$(md5sum <img-ours-$n)" ] || fail "cache=writethrough did not write the file"
check "cache=writethrough cache-on-read cache-min-block-size=64k" --filter=cache --filter=log \
    file "$(img)" cache=writethrough cache-on-read=true cache-min-block-size=64k
check "cacheextents" --filter=cacheextents --filter=log file "$(img)"
check "cache over cow" --filter=cache --filter=cow --filter=log file "$(img)"
check "cow over cache" --filter=cow --filter=cache --filter=log file "$(img)"
