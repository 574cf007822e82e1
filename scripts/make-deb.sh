#!/usr/bin/env bash
# Turn a staged `make install DESTDIR=STAGE PREFIX=/usr` into a Debian
# package with dpkg-deb (no packaging tool beyond dpkg-dev):
#
#   bash scripts/make-deb.sh STAGE OUTDIR      (`make deb` runs it)
#
# writes OUTDIR/nbdkit-rs_VERSION_ARCH.deb, VERSION being what the staged
# server reports with --version (DEB_VERSION overrides it).
#
# The package takes the place of Debian's nbdkit server without taking
# the place of the `nbdkit` package: that package also holds Debian's
# plugins and filters, which this server loads, and every nbdkit-plugin-*
# package depends on it.  So nbdkit-rs recommends `nbdkit` and, in its
# preinst, diverts each path it shares with Debian's nbdkit and
# nbdkit-plugin-dev (/usr/bin/nbdkit, the man page, the bash completion,
# the headers, nbdkit.pc) to NAME.distrib; removing nbdkit-rs takes the
# diversions away and Debian's files are back where they were.  Debian's
# own updates of nbdkit land on the diverted names meanwhile.
set -euo pipefail

stage=${1:?usage: make-deb.sh STAGE OUTDIR}
out=${2:?usage: make-deb.sh STAGE OUTDIR}
package=nbdkit-rs
here=$(cd "$(dirname "$0")/.." && pwd)

server=$stage/usr/bin/nbdkit
[ -x "$server" ] || { echo "make-deb: no server at $server (make install DESTDIR=$stage PREFIX=/usr)" >&2; exit 1; }
version=${DEB_VERSION:-$("$server" --version | sed -n '1s/^nbdkit \([0-9][^ ]*\).*/\1/p')}
[ -n "$version" ] || { echo "make-deb: $server --version gave no version" >&2; exit 1; }
arch=$(dpkg --print-architecture)

# As Debian ships binaries and man pages: stripped, gzipped.  strip
# leaves the dynamic symbol table, which plugins resolve nbdkit_* from.
strip --strip-unneeded --remove-section=.comment "$server"
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9nf {} +

doc=$stage/usr/share/doc/$package
install -d "$doc/examples"
install -m 644 "$here"/docs/systemd/*.service "$here"/docs/systemd/*.socket "$doc/examples/"
install -m 644 "$here/docs/install.md" "$doc/"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $package

Files: *
Copyright: the $package authors
License: BSD-3-Clause
 On Debian systems the full text of the license is in
 /usr/share/common-licenses/BSD.
EOF

# Every path the package shares with Debian's packages is diverted.
# Man pages keep their section suffix (nbdkit.distrib.1.gz, so that
# `man nbdkit.distrib` finds Debian's); other files get .distrib
# appended, which keeps a diverted header or nbdkit.pc out of the
# compiler's and pkg-config's way.
diversions=()
while IFS= read -r path; do
    case $path in
        /usr/share/doc/*) continue ;;
        /usr/share/man/man*/*.gz)
            base=${path%.*.gz}
            diversions+=("$path ${base}.distrib${path#"$base"}") ;;
        *) diversions+=("$path $path.distrib") ;;
    esac
done < <(cd "$stage" && find . \( -type f -o -type l \) -printf '/%P\n' | sort)

install -d -m 755 "$stage/DEBIAN"
{
    echo '#!/bin/sh'
    echo '# Move the files of Debian'"'"'s nbdkit (and nbdkit-plugin-dev) aside'
    echo '# before ours are unpacked in their place.'
    echo 'set -e'
    echo 'if [ "$1" = install ] || [ "$1" = upgrade ]; then'
    for d in "${diversions[@]}"; do
        set -- $d
        echo "    dpkg-divert --package $package --add --rename --divert $2 $1 >/dev/null"
    done
    echo 'fi'
} > "$stage/DEBIAN/preinst"
{
    echo '#!/bin/sh'
    echo '# Our files are gone: put Debian'"'"'s back in their place.'
    echo 'set -e'
    echo 'case "$1" in'
    echo 'remove|abort-install|disappear)'
    for d in "${diversions[@]}"; do
        set -- $d
        echo "    dpkg-divert --package $package --remove --rename --divert $2 $1 >/dev/null"
    done
    echo '    ;;'
    echo 'esac'
} > "$stage/DEBIAN/postrm"
chmod 755 "$stage/DEBIAN/preinst" "$stage/DEBIAN/postrm"

# Shared-library dependencies of the server, as dpkg-shlibdeps (dpkg-dev)
# computes them for any Debian package; it reads debian/control.
shlibs=$(mktemp -d)
trap 'rm -rf "$shlibs"' EXIT
mkdir "$shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$package" "$package" > "$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O "$(cd "$stage" && pwd)/usr/bin/nbdkit" 2>/dev/null |
          sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

maintainer=${DEB_MAINTAINER:-$(git -C "$here" log -1 --format='%an <%ae>' 2>/dev/null || true)}
maintainer=${maintainer:-$package maintainers <root@localhost>}
cat > "$stage/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: ${depends}
Recommends: nbdkit
Suggests: nbdkit-plugin-python, nbdkit-plugin-perl
Section: admin
Priority: optional
Multi-Arch: foreign
Description: NBD server, nbdkit written in Rust
 A drop-in replacement for the nbdkit server: the same command line and
 the same behaviour on the wire, loading nbdkit's C plugins and filters
 unmodified.  It replaces /usr/bin/nbdkit and keeps Debian's nbdkit
 package (its plugins and filters) installed beside it; Debian's server
 stays available as /usr/bin/nbdkit.distrib while this package is
 installed and is back at /usr/bin/nbdkit once it is removed.
EOF

(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
    xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
chmod 755 "$stage"

deb=$out/${package}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
