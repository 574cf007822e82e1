# --version / -V (the version of C nbdkit 1.44.1), --help, and an unknown
# option.
source "$COMPAT_LIB"
need_ref144
want=$("$REF144" --version | head -n1)
expect_match "C nbdkit 1.44.1's --version" '^nbdkit 1\.44\.1$' "$want"

out=$("$NBDKIT" --version 2>&1); rc=$?
expect_eq "--version exit status" 0 "$rc"
expect_eq "--version first line" "$want" "$(head -n1 <<<"$out")"
out=$("$NBDKIT" -V 2>&1); rc=$?
expect_eq "-V exit status" 0 "$rc"
expect_eq "-V first line" "$want" "$(head -n1 <<<"$out")"

out=$("$NBDKIT" --help 2>&1); rc=$?
expect_eq "--help exit status" 0 "$rc"
expect_match "--help shows the usage" 'PLUGIN' "$out"
expect_match "--help mentions -U" '(-U|--unix)' "$out"

out=$("$NBDKIT" --no-such-option memory 1M 2>&1); rc=$?
expect_eq "unknown option exit status" 1 "$rc"
expect_match "unknown option: the message names it" 'no-such-option' "$out"
