# The package from `make deb`, installed with apt over the system's
# nbdkit with nbdkit-plugin-python beside it: both stay installed, and
# /usr/bin/nbdkit is our server, which serves the python plugin, a Debian
# filter and --run; the completion, man page and nbdkit.pc are ours.  An
# update of Debian's nbdkit meanwhile lands beside ours
# (/usr/bin/nbdkit.distrib), and removing nbdkit-rs brings Debian's
# server and files back, checked by dpkg --verify.
#
# It swaps the /usr/bin/nbdkit every other test uses as the C reference,
# so it runs only when asked (CI=true or NBDKIT_PACKAGE_TEST=1), after
# all the other tests, under the lock /tmp/system-nbdkit.lock, keeps the
# swap to seconds, and puts Debian's nbdkit back even when it fails.
# compat-run-last
# compat-timeout: 900
source "$COMPAT_LIB"

if [ "${CI:-}" != true ] && [ "${NBDKIT_PACKAGE_TEST:-}" != 1 ]; then
    skip "installs the package over the system's nbdkit (every test's C reference): set CI=true or NBDKIT_PACKAGE_TEST=1"
fi
[ "$(id -u)" = 0 ] || skip "installing packages needs root"
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
for p in nbdkit nbdkit-plugin-python; do
    installed "$p" || skip "$p is not installed (scripts/install-deps.sh)"
done
installed nbdkit-rs && fail "nbdkit-rs is already installed: the C reference is not Debian's"

export DEBIAN_FRONTEND=noninteractive
debver=$(dpkg-query -W -f='${Version}' nbdkit)
c_version=$(/usr/bin/nbdkit --version)
c_sum=$(md5sum < /usr/bin/nbdkit)

# Everything slow happens before the swap: the package, Debian's .deb
# to fall back on if apt cannot reach the mirror while restoring.
make -s -C "$REPO" deb DEBDIR="$T" >make.log 2>&1 || { tail -30 make.log; fail "make deb failed"; }
built=$(ls "$T"/nbdkit-rs_*.deb)
our_version=$("$T/deb/usr/bin/nbdkit" --version)
mkdir fallback
cp /var/cache/apt/archives/nbdkit_"${debver//:/%3a}"_*.deb fallback/ 2>/dev/null ||
    (cd fallback && apt-get download -q "nbdkit=$debver" >/dev/null 2>&1) ||
    echo "note: no copy of Debian's nbdkit $debver to fall back on"

# man-db's trigger rebuilds its whole index after each dpkg run (8 s
# here): with its debconf switch man-db/auto-update off for the few dpkg
# runs below, the swap lasts seconds.  Put back by restore.
mandb_switch=/var/lib/man-db/auto-update
mandb_was_on=no
[ -e $mandb_switch ] && mandb_was_on=yes

restore() {
    set +e
    if dpkg-query -W nbdkit-rs >/dev/null 2>&1; then
        dpkg --purge nbdkit-rs >restore.log 2>&1 || cat restore.log
    fi
    # A postrm that failed half way leaves diversions behind.
    dpkg-divert --list | sed -n 's/^diversion of \(.*\) to \(.*\) by nbdkit-rs$/\1 \2/p' |
        while read -r from to; do
            dpkg-divert --package nbdkit-rs --remove --rename --divert "$to" "$from"
        done
    if [ "$(md5sum < /usr/bin/nbdkit 2>/dev/null)" != "$c_sum" ] || ! dpkg --verify nbdkit >/dev/null 2>&1; then
        echo "restore: reinstalling Debian's nbdkit $debver"
        apt-get -o DPkg::Lock::Timeout=120 install -y -q --reinstall --allow-downgrades "nbdkit=$debver" >restore.log 2>&1 ||
            dpkg -i fallback/*.deb >>restore.log 2>&1 || cat restore.log
    fi
    /usr/bin/nbdkit --version | grep -qxF "$c_version" ||
        echo "restore: /usr/bin/nbdkit is still not Debian's: $(/usr/bin/nbdkit --version 2>&1)"
    [ $mandb_was_on = yes ] && touch $mandb_switch
}
trap 'rc=$?; restore; (exit $rc); _lib_cleanup' EXIT
trap 'exit 143' TERM INT

exec 9>/tmp/system-nbdkit.lock
flock 9
rm -f $mandb_switch
swap_start=$(date +%s)

apt-get -o DPkg::Lock::Timeout=120 install -y -q "$built" >apt-install.log 2>&1 || { cat apt-install.log; fail "apt-get install $built"; }
installed nbdkit-rs || fail "nbdkit-rs is not installed"
for p in nbdkit nbdkit-plugin-python; do
    installed "$p" || fail "installing nbdkit-rs removed $p"
done
ok "nbdkit-rs installed; nbdkit and nbdkit-plugin-python stay installed"

expect_eq "nbdkit on PATH" /usr/bin/nbdkit "$(command -v nbdkit)"
expect_eq "nbdkit --version" "$our_version" "$(nbdkit --version)"
cmp -s /usr/bin/nbdkit "$T/deb/usr/bin/nbdkit" || fail "/usr/bin/nbdkit is not the packaged server"
expect_eq "Debian's server, diverted" "$c_version" "$(/usr/bin/nbdkit.distrib --version)"
expect_match "dpkg -S /usr/bin/nbdkit" '^diversion by nbdkit-rs from: /usr/bin/nbdkit$' "$(dpkg -S /usr/bin/nbdkit)"

cat > plugin.py <<'EOF'
import nbdkit
API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 1024
def pread(h, buf, offset, flags):
    buf[:] = b"py" * (len(buf) // 2)
EOF
got=$(nbdkit -U - python "$T/plugin.py" --run 'nbdcopy "$uri" py.out && head -c 6 py.out' 2>&1)
expect_eq "installed server, python plugin (nbdkit-plugin-python)" pypypy "$got"
got=$(nbdkit -U - --filter=offset --filter=nozero memory 3M offset=1M \
          --run 'nbdinfo --size "$uri"' 2>&1)
expect_eq "installed server, Debian's offset and nozero filters" 2097152 "$got"
got=$(/usr/bin/nbdkit -U - pattern 1M --run 'echo "$uri"; nbdcopy "$uri" pat.out && od -An -tx1 -j8 -N8 pat.out' 2>&1)
expect_match "--run through /usr/bin/nbdkit" '^nbd\+unix://' "$got"
expect_match "--run through /usr/bin/nbdkit: pattern data" '^ 00 00 00 00 00 00 00 08$' "$got"

cmp -s /usr/share/bash-completion/completions/nbdkit "$REPO/bash-completion/nbdkit" ||
    fail "installed completion is not ours"
got=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion
    __load_completion nbdkit && complete -p nbdkit
    COMP_LINE="nbdkit --fil"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(nbdkit --fil); COMP_CWORD=1
    _nbdkit_rs_complete nbdkit --fil nbdkit; echo "${COMPREPLY[*]}"' 2>&1)
expect_eq "bash-completion loads ours; --fil<TAB>" \
    "complete -o default -F _nbdkit_rs_complete nbdkit
--filter" "$got"
expect_match "man page" '^diversion by nbdkit-rs to: /usr/share/man/man1/nbdkit.distrib.1.gz$' \
    "$(dpkg -S /usr/share/man/man1/nbdkit.1.gz)"
zcat /usr/share/man/man1/nbdkit.1.gz | cmp -s - "$REPO/docs/nbdkit.1" || fail "installed man page is not ours"
if command -v pkg-config >/dev/null; then
    expect_eq "pkg-config plugindir" "$(nbdkit --dump-config | sed -n 's/^plugindir=//p')" \
        "$(pkg-config --variable=plugindir nbdkit)"
fi
dpkg --verify nbdkit-rs || fail "dpkg --verify nbdkit-rs"

# An update of Debian's nbdkit while ours is installed lands beside it.
if [ -n "$(ls fallback)" ]; then
    dpkg -i fallback/*.deb >reinstall.log 2>&1 || { cat reinstall.log; fail "reinstalling Debian's nbdkit"; }
else
    apt-get -o DPkg::Lock::Timeout=120 install -y -q --reinstall "nbdkit=$debver" >reinstall.log 2>&1 ||
        { cat reinstall.log; fail "reinstalling Debian's nbdkit"; }
fi
expect_eq "after Debian's nbdkit is reinstalled: nbdkit --version" "$our_version" "$(nbdkit --version)"
expect_eq "after Debian's nbdkit is reinstalled: nbdkit.distrib" "$c_version" "$(/usr/bin/nbdkit.distrib --version)"

# Switching back: `apt remove nbdkit-rs` runs dpkg --remove, which apt
# takes seconds to decide on here.
dpkg --remove nbdkit-rs >remove.log 2>&1 || { cat remove.log; fail "dpkg --remove nbdkit-rs"; }
installed nbdkit-rs && fail "nbdkit-rs still installed"
expect_eq "after removing nbdkit-rs: nbdkit --version" "$c_version" "$(nbdkit --version)"
expect_eq "after removing nbdkit-rs: /usr/bin/nbdkit" "$c_sum" "$(md5sum < /usr/bin/nbdkit)"
expect_eq "diversions left" "" "$(dpkg-divert --list | grep nbdkit-rs)"
verify=nbdkit; installed nbdkit-plugin-dev && verify="nbdkit nbdkit-plugin-dev"
out=$(dpkg --verify $verify 2>&1) || fail "dpkg --verify $verify: $out"
expect_eq "dpkg --verify $verify" "" "$out"
expect_eq "completion is Debian's again" "nbdkit: /usr/share/bash-completion/completions/nbdkit" \
    "$(dpkg -S /usr/share/bash-completion/completions/nbdkit)"
got=$(nbdkit -U - python "$T/plugin.py" --run 'nbdcopy "$uri" py.out && head -c 6 py.out' 2>&1)
expect_eq "Debian's server, python plugin" pypypy "$got"
flock -u 9
echo "the system's nbdkit was ours for $(( $(date +%s) - swap_start )) s"
