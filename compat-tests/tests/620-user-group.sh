#!/usr/bin/env bash
# -u USER / -g GROUP drop privileges once the socket is bound: names or
# numbers, the group also the only supplementary group, -u alone leaving
# the group; an unknown name is refused (after binding) with nbdkit's two
# lines and exit status 1, a bad group before a bad user.  -v says what
# changed, in nbdkit's words.
source "$COMPAT_LIB"
[ "$(id -u)" = 0 ] || skip "needs root to change user"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"

ids() {                 # ids BINARY ARGS...: Uid/Gid/Groups of the server
    local b=$1 pid; shift
    rm -f "$T/ug.sock"
    "$b" -f -U "$T/ug.sock" "$@" null 1M 2>/dev/null &
    pid=$!
    wait_for_socket "$T/ug.sock" $pid || { echo "no socket"; return; }
    # Serving means past the change of user (the socket appears before it).
    nbdinfo --size "nbd+unix:///?socket=$T/ug.sock" >/dev/null 2>&1
    grep -E '^(Uid|Gid|Groups)' "/proc/$pid/status" | tr -s '\t ' ' '
    kill $pid; wait $pid 2>/dev/null
}
for a in "-u nobody -g nogroup" "-u nobody" "-g 4321" "-u 0x10" "-u 65534 -g 65534"; do
    # shellcheck disable=SC2086
    expect_eq "ids with $a" "$(ids "$REF_NBDKIT" $a)" "$(ids "$NBDKIT" $a)"
done

refused() {             # refused BINARY ARGS...
    local b=$1; shift
    rm -f "$T/bad.sock"
    timeout 10 "$b" -f -U "$T/bad.sock" "$@" null 2>&1; echo "exit $?"
    [ -S "$T/bad.sock" ] && echo "socket was bound"
}
for a in "-u nosuchuser" "-g nosuchgroup" "-u 12x" "-g 0x" "-u nobody -g nosuchgroup" \
         "-u nosuchuser -g nosuchgroup"; do
    # shellcheck disable=SC2086
    expect_eq "refused: $a" "$(refused "$REF_NBDKIT" $a)" "$(refused "$NBDKIT" $a)"
done

changed() {             # changed BINARY ARGS...: the -v lines saying what changed
    local b=$1; shift
    rm -f "$T/v.sock"
    timeout 10 "$b" -v -f -U "$T/v.sock" "$@" null --run true 2>&1 | grep -E 'debug: changed' |
        sed -E 's/^[^:]*: debug: //'
}
expect_eq "C nbdkit's -v lines" "changed group to nogroup
changed user to nobody" "$(changed "$REF_NBDKIT" -u nobody -g nogroup)"
for a in "-u nobody -g nogroup" "-u 65534" "-g 0x0"; do
    # shellcheck disable=SC2086
    expect_eq "-v with $a" "$(changed "$REF_NBDKIT" $a)" "$(changed "$NBDKIT" $a)"
done
