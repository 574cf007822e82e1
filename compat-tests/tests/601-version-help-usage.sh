# --version / -V, --help, and an unknown option.
source "$COMPAT_LIB"

out=$("$NBDKIT" --version 2>&1); rc=$?
expect_eq "--version exit status" 0 "$rc"
expect_match "--version first line" '^nbdkit 1\.32\.5' "$(head -n1 <<<"$out")"
out=$("$NBDKIT" -V 2>&1); rc=$?
expect_eq "-V exit status" 0 "$rc"
expect_match "-V first line" '^nbdkit 1\.32\.5' "$(head -n1 <<<"$out")"

out=$("$NBDKIT" --help 2>&1); rc=$?
expect_eq "--help exit status" 0 "$rc"
expect_match "--help shows the usage" 'PLUGIN' "$out"
expect_match "--help mentions -U" '(-U|--unix)' "$out"

out=$("$NBDKIT" --no-such-option memory 1M 2>&1); rc=$?
expect_eq "unknown option exit status" 1 "$rc"
expect_match "unknown option: the message names it" 'no-such-option' "$out"
