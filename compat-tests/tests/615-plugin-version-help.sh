#!/usr/bin/env bash
# `nbdkit PLUGIN --version` prints the server's and the plugin's version,
# `nbdkit PLUGIN --help` the usage then the plugin's name, long name,
# path, description and help (each filter's likewise, before the
# plugin's): scripts probe plugins this way, so a plugin that cannot
# load must make the probe fail.
source "$COMPAT_LIB"
# The server's own version line is C nbdkit 1.44.1's (Debian's 1.32.5
# plugins and filters answer the rest).
need_ref144

# The usage text lists our own options as well (nbdkit.1): what follows
# it is compared.
answer() {
    local out rc
    out=$(timeout 10 "$@" </dev/null 2>&1)
    rc=$?
    if grep -q '^Please read the nbdkit(1) manual page for full usage.$' <<<"$out"; then
        out="(usage)
$(sed '1,/^Please read the nbdkit(1) manual page for full usage.$/d' <<<"$out")"
    fi
    printf '%s\nexit %s\n' "$out" "$rc"
}
for args in "null --version" "memory --version" "example1 --version" "sh --version" \
            "--version" "-V memory" "memory --version --dump-plugin" \
            "null --help" "memory --help" "example1 --help" "sh --help" \
            "--version --help memory" "$C_PLUGINS/everything.so --version" \
            "$C_PLUGINS/fickle.so --help" "--filter=$C_PLUGINS/filter-described.so null --help" \
            "--filter=$C_PLUGINS/filter-described.so --filter=nozero $C_PLUGINS/fickle.so --help" \
            "--filter=$C_PLUGINS/filter-described.so $C_PLUGINS/fickle.so --version"; do
    # shellcheck disable=SC2086
    want=$(answer "$REF_NBDKIT" $args | as_server_version)
    # shellcheck disable=SC2086
    _same "nbdkit $args" "$want" "$(answer "$NBDKIT" $args)"
done
