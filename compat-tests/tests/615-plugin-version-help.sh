#!/usr/bin/env bash
# `nbdkit PLUGIN --version` prints the server's and the plugin's version,
# `nbdkit PLUGIN --help` the usage then the plugin's name, long name,
# path and help: scripts probe plugins this way, so a plugin that cannot
# load must make the probe fail.
source "$COMPAT_LIB"

answer() { timeout 10 "$@" </dev/null 2>&1; echo "exit $?"; }
for args in "null --version" "memory --version" "example1 --version" "sh --version" \
            "nosuchplugin --version" "--version" "-V memory" "memory --version --dump-plugin" \
            "null --help" "memory --help" "example1 --help" "sh --help" "nosuchplugin --help" \
            "--version --help memory" "$C_PLUGINS/everything.so --version"; do
    # shellcheck disable=SC2086
    expect_eq "nbdkit $args" "$(answer "$REF_NBDKIT" $args)" "$(answer "$NBDKIT" $args)" | head -1
done
