#!/usr/bin/env bash
# A debug message of printable ASCII is written as it is, backslashes
# included: Debian's data plugin escapes its own bytes in its -D data.AST=1
# lines, which must read as under C nbdkit 1.32.5 (nbdkit 1.44.1 would
# double the backslashes).  A message with a control character is still
# escaped whole, as 1.44.1 does (642).
source "$COMPAT_LIB"
[ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
ref_plugin_exists data || skip "Debian's data plugin not installed"
for side in ref ours; do
    if [ $side = ref ]; then b=$REF_NBDKIT; else b=$NBDKIT; fi
    "$b" -U - -v -D data.AST=1 data '(((2 2 2) 2)) (1 1 1 (1 3))' --run true 2>&1 |
        sed -n '/BEGIN AST/,/END AST/p' | grep -o 'debug: .*' >"$side.ast"
done
[ -s ours.ast ] || fail "no AST lines from our server"
expect_match "the bytes as the plugin wrote them" '"\\x01\\x03"' "$(cat ours.ast)"
expect_eq "AST lines" "$(cat ref.ast)" "$(cat ours.ast)"
ok "printable debug messages as nbdkit 1.32.5 writes them"
