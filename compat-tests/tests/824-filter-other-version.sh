#!/usr/bin/env bash
# A C filter built for another nbdkit (c-plugins/filter-version.c:
# _version "1.30.0"; filter-api5.so: _api_version 5) is refused with C
# nbdkit's message and status, also by --version and --dump-plugin, and a
# missing filter name or path is refused the same way.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
need_filters
[ -e "$C_PLUGINS/filter-version.so" ] || skip "C test filters not built"

for f in "$C_PLUGINS/filter-version.so" "$C_PLUGINS/filter-api5.so" nosuch "$T/nosuch.so"; do
    for extra in "-U - memory 1M --run true" "memory --version" "memory --dump-plugin"; do
        # shellcheck disable=SC2086
        a=$("$REF_NBDKIT" --filter="$f" $extra 2>&1; echo "status $?")
        # shellcheck disable=SC2086
        b=$("$NBDKIT" --filter="$f" $extra 2>&1; echo "status $?")
        _same "--filter=$(basename "$f") $extra" "$a" "$b"
        expect_match "refused" "status 1" "$b"
    done
done
expect_match "the message names the versions" "_version = 1.30.0, need 1.32.5" \
    "$("$NBDKIT" --filter="$C_PLUGINS/filter-version.so" memory 1M --run true 2>&1)"
