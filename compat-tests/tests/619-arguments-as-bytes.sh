#!/usr/bin/env bash
# Command-line arguments are bytes, not text: invalid UTF-8 in a plugin
# parameter reaches the C plugin's .config byte for byte (through a C
# filter too), in -P and -U paths names those files, and in -e is taken
# without complaint, as C nbdkit does.
source "$COMPAT_LIB"
FILE=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-file-plugin.so
name=$'\xff\xfe-disk.img'
truncate -s 3M "$name"

for b in "$REF_NBDKIT" "$NBDKIT"; do
    expect_eq "$b: Debian's file plugin serves $'\\xff\\xfe-disk.img'" 3145728 \
        "$(timeout 20 "$b" -U - "$FILE" "file=$T/$name" --run 'nbdinfo --size "$uri"' 2>&1)"
    expect_eq "$b: the same through the offset filter" 2097152 \
        "$(timeout 20 "$b" -U - --filter=offset "$FILE" "$T/$name" offset=1M \
            --run 'nbdinfo --size "$uri"' 2>&1)"
    expect_eq "$b: -e with invalid UTF-8" 0 \
        "$(timeout 20 "$b" -U - -e $'\xff\xfe' null --run true 2>&1; echo $?)"
done

# Pid file and socket with such names, relative: created under those bytes.
pid=$'p\xff.pid' sock=$'s\xfe.sock'
timeout 20 "$NBDKIT" -P "$pid" -U "$sock" null 1M </dev/null >/dev/null 2>&1 ||
    fail "daemon with non-UTF-8 -P/-U did not start"
[ -s "$pid" ] || fail "pid file $'p\\xff.pid' not written"
track_pid "$(cat "$pid")"
[ -S "$sock" ] || fail "socket $'s\\xfe.sock' not there"
kill "$(cat "$pid")"
ok "-P and -U with invalid UTF-8 names"
