#!/usr/bin/env bash
# --swap locks the server's memory (mlockall), as nbdkit does for a disk
# used as swap on the same machine: the serving process has locked pages,
# and without --swap it has none.
source "$COMPAT_LIB"
locked() { timeout 20 "$@" -U - memory 1M --run 'sed -n "s/^VmLck:[[:space:]]*\([0-9]*\).*/\1/p" /proc/$PPID/status' 2>&1; }
for b in "$REF_NBDKIT" "$NBDKIT"; do
    n=$(locked "$b" --swap)
    [ "${n:-0}" -gt 0 ] 2>/dev/null || fail "$b --swap: no locked memory ($n)"
    ok "$b --swap: $n kB locked"
    expect_eq "$b without --swap: locked kB" 0 "$(locked "$b")"
done
