# `make deb` builds nbdkit-rs_VERSION_ARCH.deb, and the package is made
# to take the place of Debian's nbdkit server without removing Debian's
# nbdkit package (its plugins and filters) or its plugin packages: it
# ships the server at Debian's path, the man page, the bash completion,
# the headers and nbdkit.pc where Debian's nbdkit and nbdkit-plugin-dev
# put them, diverts every one of those paths in its preinst and gives
# them back in its postrm, conflicts with nothing, and its server
# searches Debian's plugin and filter directories.  The packaged (strip-
# ped) server, unpacked, loads Debian's filters and the python plugin.
# Installing it over the system's nbdkit is compat 979.
# compat-timeout: 600
source "$COMPAT_LIB"

command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null ||
    skip "dpkg-dev is not installed"
dpkg-query -W -f='${Status}' nbdkit 2>/dev/null | grep -q 'ok installed' ||
    skip "Debian's nbdkit is not installed"

make -s -C "$REPO" deb DEBDIR="$T" >make.log 2>&1 || { tail -30 make.log; fail "make deb failed"; }
built=$(ls "$T"/*.deb)
version=$("$T/deb/usr/bin/nbdkit" --version | sed -n '1s/^nbdkit //p')
arch=$(dpkg --print-architecture)
expect_eq "package file" "$T/nbdkit-rs_${version}_${arch}.deb" "$built"

field() { dpkg-deb -f "$built" "$1"; }
expect_eq "Package" nbdkit-rs "$(field Package)"
expect_eq "Version (the server's)" "$version" "$(field Version)"
expect_match "Depends (dpkg-shlibdeps)" '(^|, )libc6 \(>= [0-9.]+\)' "$(field Depends)"
expect_eq "Recommends (Debian's plugins and filters)" nbdkit "$(field Recommends)"
for f in Conflicts Breaks Replaces Provides; do
    expect_eq "$f (Debian's nbdkit and its plugin packages stay)" "" "$(field $f)"
done

dpkg-deb -c "$built" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' | sort > contents
mkdir unpacked control
dpkg-deb -x "$built" unpacked
dpkg-deb -e "$built" control

# Where Debian's packages put the same things.
debian_files=$(dpkg -L nbdkit nbdkit-plugin-dev 2>/dev/null | sort -u)
for p in /usr/bin/nbdkit /usr/share/man/man1/nbdkit.1.gz \
         /usr/share/bash-completion/completions/nbdkit \
         /usr/include/nbdkit-plugin.h /usr/include/nbdkit-filter.h; do
    grep -qx "$p" contents || fail "package lacks $p"
    grep -qx "$p" <<<"$debian_files" || fail "$p is not where Debian's nbdkit or nbdkit-plugin-dev has it"
done
pc=$(grep '/nbdkit.pc$' contents)
expect_eq "nbdkit.pc where nbdkit-plugin-dev has it" \
    "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/nbdkit.pc" "$pc"
ok "files at Debian's paths"
cmp -s unpacked/usr/share/bash-completion/completions/nbdkit "$REPO/bash-completion/nbdkit" ||
    fail "packaged completion is not bash-completion/nbdkit"
zcat unpacked/usr/share/man/man1/nbdkit.1.gz | cmp -s - "$REPO/docs/nbdkit.1" ||
    fail "packaged man page is not docs/nbdkit.1"
ok "completion and man page are ours"

# Every shipped path Debian's packages also have is diverted by preinst
# and given back by postrm (dpkg-divert --add/--remove --rename).
while read -r p; do
    case $p in /usr/share/doc/nbdkit-rs/*) continue ;; esac
    grep -qE -- "--add --rename --divert [^ ]+ $p( |$)" control/preinst || fail "preinst does not divert $p"
    grep -qE -- "--remove --rename --divert [^ ]+ $p( |$)" control/postrm || fail "postrm does not give back $p"
done < contents
expect_match "preinst diverts on install and upgrade only" 'if \[ "\$1" = install \] \|\| \[ "\$1" = upgrade \]' \
    "$(cat control/preinst)"
expect_match "postrm gives back on remove, abort-install, disappear" '^remove\|abort-install\|disappear\)' \
    "$(cat control/postrm)"
sh -n control/preinst && sh -n control/postrm || fail "maintainer scripts are not valid sh"
(cd unpacked && md5sum --quiet -c ../control/md5sums) || fail "md5sums do not match the files"

# The packaged server: Debian's search path, stripped but still
# exporting nbdkit_* to the plugins and filters it loads.
server=$T/unpacked/usr/bin/nbdkit
for key in plugindir filterdir libdir; do
    expect_eq "--dump-config $key as Debian's nbdkit" \
        "$("$REF_NBDKIT" --dump-config | sed -n "s/^$key=//p")" \
        "$("$server" --dump-config | sed -n "s/^$key=//p")"
done
expect_eq "nbdkit.pc plugindir" "$("$server" --dump-config | sed -n 's/^plugindir=//p')" \
    "$(sed -n 's/^plugindir=//p' "unpacked$pc")"
file "$server" | grep -q 'stripped' && ! file "$server" | grep -q 'not stripped' ||
    fail "packaged server is not stripped: $(file "$server")"
got=$("$server" -U - --filter=offset memory 3M offset=1M --run 'nbdinfo --size "$uri"' 2>&1)
expect_eq "packaged server with Debian's offset filter" 2097152 "$got"
if [ -e "$("$server" --dump-config | sed -n 's/^plugindir=//p')/nbdkit-python-plugin.so" ]; then
    cat > plugin.py <<'EOF'
import nbdkit
API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 512
def pread(h, buf, offset, flags):
    buf[:] = b"py" * (len(buf) // 2)
EOF
    got=$("$server" -U - python "$T/plugin.py" --run 'nbdcopy "$uri" py.out && head -c 6 py.out' 2>&1)
    expect_eq "packaged server with the python plugin" pypypy "$got"
fi
