#!/usr/bin/env bash
# A plugin that is an executable script in the plugin directory
# (nbdkit-NAME-plugin, no .so: Debian's S3 and example4) is found by its
# short name: nbdkit runs the script, whose #! line starts nbdkit with the
# language plugin, the other arguments kept.  Same output and status as C
# nbdkit, whichever language plugins are installed.
source "$COMPAT_LIB"
PLUG=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[ -x "$PLUG/nbdkit-S3-plugin" ] || skip "Debian's S3 script plugin not installed"
# (Less the lines nbdkit 1.44.1 added, which 1.32.5 lacks: 645.)
answer() {
    timeout 20 "$@" </dev/null 2>&1 | grep -v '^nbdkit: debug: \(nbdkit\|TLS\)' | grep -Ev "$VERBOSE_144_ONLY"
    echo "exit ${PIPESTATUS[0]}"
}
for args in "S3 --dump-plugin" "S3 --version" "-v S3 --dump-plugin" "example4 --version" \
            "example4 --dump-plugin" "S3 --help"; do
    # shellcheck disable=SC2086
    expect_eq "nbdkit $args" "$(answer "$REF_NBDKIT" $args | sort)" "$(answer "$NBDKIT" $args | sort)"
done
