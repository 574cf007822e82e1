#!/usr/bin/env bash
# A C filter built for another nbdkit (c-plugins/filter-version.c:
# _version "1.30.0"; filter-api5.so: _api_version 5) is refused with C
# nbdkit's message and status, also by --version and --dump-plugin, and a
# missing filter name or path is refused the same way.  The version the
# server says it needs is its own (C nbdkit 1.44.1's), where Debian's
# nbdkit says 1.32.5: the message is compared with C nbdkit 1.44.1's.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
need_filters
need_ref144
ref_version=$("$REF_NBDKIT" --version | sed -n '1s/^nbdkit //p')
our_version=$("$REF144" --version | sed -n '1s/^nbdkit //p')
[ -e "$C_PLUGINS/filter-version.so" ] || skip "C test filters not built"

for f in "$C_PLUGINS/filter-version.so" "$C_PLUGINS/filter-api5.so"; do
    for extra in "-U - memory 1M --run true" "memory --version" "memory --dump-plugin"; do
        # shellcheck disable=SC2086
        a=$("$REF_NBDKIT" --filter="$f" $extra 2>&1 |
              sed "s/, need $ref_version)\$/, need $our_version)/"; echo "status ${PIPESTATUS[0]}")
        # shellcheck disable=SC2086
        b=$("$NBDKIT" --filter="$f" $extra 2>&1; echo "status $?")
        _same "--filter=$(basename "$f") $extra" "$a" "$b"
        expect_match "refused" "status 1" "$b"
    done
done
# The whole message, as C nbdkit 1.44.1 prints it.
memory144=$(plugin144 memory)
# A missing filter, by short name (its directory read as Debian's) and by
# path, in nbdkit 1.44.1's words.
for f in nosuch "$T/nosuch.so"; do
    for extra in "1M --run true" "--version" "--dump-plugin"; do
        # shellcheck disable=SC2086
        a=$("$REF144" -U - --filter="$f" "$memory144" $extra 2>&1 |
              sed "s#/usr/local/lib/nbdkit/#/usr/lib/x86_64-linux-gnu/nbdkit/#g"; echo "status ${PIPESTATUS[0]}")
        # shellcheck disable=SC2086
        b=$("$NBDKIT" -U - --filter="$f" memory $extra 2>&1; echo "status $?")
        _same "--filter=$(basename "$f") $extra" "$a" "$b"
        expect_match "refused" "status 1" "$b"
    done
done
a=$("$REF144" --filter="$C_PLUGINS/filter-version.so" "$memory144" 1M --run true 2>&1)
b=$("$NBDKIT" --filter="$C_PLUGINS/filter-version.so" memory 1M --run true 2>&1)
expect_match "C nbdkit 1.44.1 names the versions" "_version = 1.30.0, need 1.44.1" "$a"
_same "the message naming the versions" "$a" "$b"
