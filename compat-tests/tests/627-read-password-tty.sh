#!/usr/bin/env bash
# nbdkit_read_password with password=- on a terminal: the prompt appears
# with echo already off, so an answer typed at once (as expect does) is
# read, not flushed away; empty answers too; without a terminal it is
# refused with nbdkit's message.  (The race this guards against, the
# answer flushed when echo was turned off after the prompt, needs an
# unlucky schedule: upstream's test-read-password-interactive hit it under
# load; here a clean machine mostly wins it either way.)
source "$COMPAT_LIB"
so=$C_PLUGINS/everything.so
[ -e "$so" ] || skip "C plugins not built"
for b in "$REF_NBDKIT" "$NBDKIT"; do
    for answer in abc ""; do
        got=$(B=$b SO=$so A=$answer timeout 20 expect -c '
            log_user 0
            spawn $env(B) -v -U - $env(SO) password=- --run true
            expect "ssword:"
            send "$env(A)\r"
            expect {
                -re {password=\[([^]]*)\]} { puts "read \[$expect_out(1,string)\]" }
                eof { puts "eof" }
                timeout { puts "timeout" }
            }' 2>&1)
        want=$( [ -n "$answer" ] && echo "read [$answer]" || echo "read []")
        expect_eq "$b: password typed at once: '$answer'" "$want" "$got"
    done
    expect_eq "$b: no terminal" "nbdkit: error: stdin is not a tty, cannot read password interactively" \
        "$(timeout 20 "$b" -U - "$so" password=- --run true </dev/null 2>&1 | head -1)"
done
