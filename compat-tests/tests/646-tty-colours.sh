#!/usr/bin/env bash
# On a terminal, nbdkit 1.44.1 writes errors in bright red and the debug
# messages of plugins and filters (nbdkit_debug) in bold black, the
# server's own debug lines plain; into a pipe or file, no colour.  The
# same bytes from this server, under script(1)'s terminal, as from C
# nbdkit 1.44.1: Debian's memory plugin and 1.44.1's cow filter on both,
# and this server's built-in memory plugin against 1.44.1's .so.
source "$COMPAT_LIB"
need_ref144
command -v script >/dev/null || skip "no script(1)"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
MEM=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so
[ -e "$MEM" ] || skip "no $MEM"
COW=$(filter144 cow)

on_tty() {              # on_tty BINARY ARGS...: the output on a terminal, normalised
    local b=$1
    shift
    script -qec "$(printf '%q ' "$b" "$@")" /dev/null </dev/null | tr -d '\r' |
        sed -E 's#/tmp/nbdkit[A-Za-z0-9]+#TMPDIR#g'
}
coloured() { grep -a $'\e' | grep -v ' worker thread '; }

run='nbdinfo "$uri" >/dev/null'
want=$(on_tty "$REF144" -v --filter="$COW" "$MEM" 1M --run "$run" | coloured)
expect_match "C nbdkit colours a filter's debug line (sanity)" $'\e\\[1;30mnbdkit: debug: cow: ' "$want"
expect_eq "coloured lines: cow over Debian's memory .so" "$want" \
    "$(on_tty "$NBDKIT" -v --filter="$COW" "$MEM" 1M --run "$run" | coloured)"
expect_eq "coloured lines: built-in memory" \
    "$(on_tty "$REF144" -v "$(ref144_plugin memory)" 1M --run "$run" | coloured)" \
    "$(on_tty "$NBDKIT" -v memory 1M --run "$run" | coloured)"
# Errors: the whole output, colour codes and all.
for a in "size=abc" "size=1M nosuchkey=1"; do
    # shellcheck disable=SC2086
    expect_eq "error on a terminal: memory $a" "$(on_tty "$REF144" "$MEM" $a)" "$(on_tty "$NBDKIT" "$MEM" $a)"
done
# Not a terminal: no colour at all.
out=$("$NBDKIT" -v --filter="$COW" "$MEM" size=abc 2>&1 </dev/null)
expect_match "an error into a pipe (sanity)" "could not parse size" "$out"
if grep -qa $'\e' <<<"$out"; then fail "colour codes written into a pipe"; fi
