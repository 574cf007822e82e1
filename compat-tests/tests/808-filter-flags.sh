#!/usr/bin/env bash
# Filters that change what is advertised and how requests are emulated:
# nozero (zeromode, fastzeromode), fua (fuamode), nocache (cachemode),
# multi-conn (multi-conn-mode, track-dirty), noparallel (serialize) and
# protect (protected ranges): the flags nbdinfo shows, each request's
# answer (FUA, fast zero, cache, writes into protected bytes) and the
# requests reaching the plugin (log filter below) are C nbdkit's.
source "$COMPAT_LIB"
need_filters nozero fua nocache multi-conn noparallel protect log

ops="w:0:4k:1:fua z:0:8k z:8k:8k:fua z:16k:8k:fast z:24k:4k:nohole+fua t:0:4k:fua c:0:64k f r:0:32k"
info='nbdinfo --json "$uri" | grep -E "\"(can_|is_)"'
n=0
check() {               # check LABEL ARGS...: leaves the flags in $FLAGS
    logged_pair "$1" "$info" "${@:2}"
    FLAGS=$VIEWED
}
for m in emulate notrim plugin none; do
    check "nozero zeromode=$m" --filter=nozero --filter=log memory 1M zeromode=$m
done
expect_match "zeromode=none: no zero" '"can_zero": false' "$FLAGS"
for m in none slow ignore default; do
    check "nozero fastzeromode=$m" --filter=nozero --filter=log memory 1M fastzeromode=$m
done
for m in discard pass emulate native force; do
    check "fua fuamode=$m" --filter=fua --filter=log memory 1M fuamode=$m
done
# nbdkit-fua-filter(1) documents fuamode=none, but 1.32.5 refuses it.
same_refusal "fua fuamode=none" --filter=fua memory 1M fuamode=none
# Modes that need the plugin's FUA or flush refuse the connection.
for m in native force emulate; do
    same_run "fua fuamode=$m over a plugin without FUA" \
        '$PROBE "$uri" r:0:512; echo "status $?"' --filter=fua eval get_size='echo 1M' \
        pread='head -c $3 /dev/zero' can_write='exit 0' pwrite='cat >/dev/null' \
        can_fua='echo none' can_flush='exit 3' fuamode=$m
done
for m in none emulate nop; do
    check "nocache cachemode=$m" --filter=nocache --filter=log memory 1M cachemode=$m
done
for m in auto emulate disable plugin unsafe; do
    check "multi-conn-mode=$m" --filter=multi-conn --filter=log memory 1M multi-conn-mode=$m
done
check "multi-conn track-dirty=connection" --filter=multi-conn --filter=log memory 1M \
    multi-conn-mode=emulate multi-conn-track-dirty=connection
expect_match "multi-conn advertised" '"can_multi_conn": true' "$FLAGS"
for m in requests all-requests connections; do
    check "noparallel serialize=$m" --filter=noparallel --filter=log memory 1M serialize=$m
done
# (A zero request crossing into a protected range crashes C nbdkit 1.32.5's
# protect filter, so the requests here stay on one side of each boundary.)
ops="w:0:4k:1 w:4096:512:1 w:4096:512:0 r:0:8k w:65536:512:1 t:4096:4096 z:4096:512 z:70000:10 f"
check "protect" --filter=protect --filter=log memory 1M protect=4096-8191 protect=~0-65535
expect_match "protect: a write changing protected bytes fails" "w:4096:512:1 errno EPERM" "$PROBED"
same_logs "protect" $n
# Protected bytes keep their data: writes of the same data are allowed.
n=$((n + 1))
start_pair $n --filter=protect data '0xaa * 8192' protect=0-4095
same_seen "protect: same-data writes" $n "\$PROBE \"\$uri\" w:0:512:0xaa w:0:512:0xab w:4096:512:1 r:0:8k z:4k:4k z:0:4k"
stop_pair $n
