#!/usr/bin/env bash
# TCP listening sockets as nbdkit makes them: one per address family (the
# IPv6 wildcard takes IPv6 only, so 0.0.0.0 gets its own socket), or only
# the family -4/-6/-i asks for; the -v line counts them.
source "$COMPAT_LIB"
command -v ss >/dev/null || skip "no ss"
port=$((20000 + RANDOM % 20000))
listening() {           # listening BINARY ARGS...: local addresses, -v line
    timeout 20 "$@" -v -p $port null --run "ss -ltnH 'sport = :$port' | awk '{print \$4}' | sort" 2>&1 |
        grep -E "^[^n]|bound to IP"
}
for a in "" -4 -6 "-i 127.0.0.1" "-i ::1"; do
    # shellcheck disable=SC2086
    expect_eq "sockets for '$a'" "$(listening "$REF_NBDKIT" $a)" "$(listening "$NBDKIT" $a)"
done
