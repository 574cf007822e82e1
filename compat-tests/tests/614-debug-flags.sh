#!/usr/bin/env bash
# -D NAME.FLAG=N: the format is checked (with nbdkit's messages), a flag
# naming the plugin sets its variable or warns that it has none, an
# nbdkit.FLAG the server lacks is warned about, and a flag nothing used
# gets nbdkit's "was not used" warning, in nbdkit's order; built-in and
# Debian's plugins alike.
source "$COMPAT_LIB"
MEM=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so

answer() {              # answer BINARY ARGS...: warnings/errors, exit status
    timeout 10 "$@" </dev/null 2>&1 | grep -v '^[a-z_]*=' 
    echo "exit ${PIPESTATUS[0]}"
}
for plugin in memory "$MEM" null; do
    for d in "-D foo.bar=1" "-D memory.dir=1" "-D memory.nosuch=1" "-D nbdkit.foo=1" \
             "-D nbdkit.backend.datapath=0" "-D a.b.c=1" \
             "-D foo.bar=1 -D memory.x=1 -D nbdkit.y=1 -D null.z=2" \
             "-D foo" "-D foo.bar" "-D .bar=1" "-D foo.=1" "-D foo.bar=" \
             "-D foo.bar=x" "-D foo.bar=1x" "-D foo.bar=99999999999" "-D foo.bar=0x10"; do
        # shellcheck disable=SC2086
        want=$(answer "$REF_NBDKIT" $d "$plugin" 1M --dump-plugin)
        # shellcheck disable=SC2086
        got=$(answer "$NBDKIT" $d "$plugin" 1M --dump-plugin)
        # One line per case when it matches, the whole comparison when not.
        if ! (expect_eq "$d $(basename "$plugin")" "$want" "$got" >case.txt); then
            cat case.txt; exit 1
        fi
        head -1 case.txt
    done
done
