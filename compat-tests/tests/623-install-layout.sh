#!/usr/bin/env bash
# `make install` lays files out as Debian's nbdkit packages do: bin/nbdkit,
# the headers, nbdkit.pc whose plugindir/filterdir are the directories the
# installed binary searches (and with an empty Libs), and a man page that
# documents every option the binary accepts.
# compat-timeout: 300
source "$COMPAT_LIB"
: "${REPO:?}"
[ -x "$REPO/target/release/nbdkit" ] || skip "no release build to install"
make -s -o build -C "$REPO" install PREFIX=/usr DESTDIR="$T/root" NBDKIT="$NBDKIT" >install.log 2>&1 ||
    { cat install.log; fail "make install failed"; }
for f in usr/bin/nbdkit usr/include/nbdkit-plugin.h usr/include/nbdkit-filter.h \
         usr/include/nbdkit-common.h usr/include/nbdkit-version.h \
         usr/lib/pkgconfig/nbdkit.pc usr/share/man/man1/nbdkit.1; do
    [ -e "$T/root/$f" ] || fail "$f not installed"
done
ok "files installed where Debian's packages put them"
pc="$T/root/usr/lib/pkgconfig/nbdkit.pc"
for v in plugindir filterdir; do
    expect_eq "nbdkit.pc $v is where the binary looks" \
        "$("$T/root/usr/bin/nbdkit" --dump-config | sed -n "s/^$v=//p")" \
        "$(PKG_CONFIG_PATH=$T/root/usr/lib/pkgconfig pkg-config --variable=$v nbdkit 2>/dev/null ||
           sed -n "s/^$v=//p" "$pc")"
done
grep -q '^Libs:' "$pc" || fail "nbdkit.pc has no Libs: line"
man=$T/root/usr/share/man/man1/nbdkit.1
missing=
for o in $("$NBDKIT" --long-options) $("$NBDKIT" --short-options) --memory-limit --timeout --no-sparse-reads --sparse-reads --send-error-messages; do
    grep -q -- "$(printf '%s' "$o" | sed 's/-/\\\\-/g')" "$man" || missing="$missing $o"
done
[ -z "$missing" ] || fail "options missing from the man page:$missing"
ok "the man page documents every option"
