#!/usr/bin/env bash
# Install what the build and the tests need on a fresh Debian machine
# (idempotent), or with `--only PKG...` the packages named.  A package counts as present only when dpkg says it is
# installed: a file that happens to match a glob (libclang-cpp*.so for
# libclang, say) proves nothing about the package the tests rely on.
set -u

# Package, and what needs it.
packages=(
  nbdkit                # the reference: /usr/bin/nbdkit and Debian's plugins
  nbdkit-plugin-dev     # Debian's headers (layout and cbindgen checks), example plugins
  nbdkit-plugin-python  # python plugin tests (408, 411)
  libnbd-bin            # nbdinfo, nbdcopy
  python3-libnbd        # nbdsh and `import nbd` in the Python compat tests
  qemu-utils            # qemu-img, qemu-nbd
  xorriso               # the iso plugin
  e2fsprogs             # mke2fs, debugfs, dumpe2fs (linuxdisk, tmpdisk)
  util-linux            # unshare, mkfs
  coreutils             # timeout, truncate
  expect                # a terminal for nbdkit_read_password (627)
  iproute2              # ss: the listening sockets (628)
  libclang-dev          # bindgen (bindings check)
  libgnutls28-dev       # the TLS transport links GnuTLS; bindgen reads its header
  gnutls-bin            # certtool, psktool: the TLS tests make their keys
  xz-utils              # xz: the xz filter test (compat 810)
  bash-completion       # the completion test (960) loads it
  systemd               # systemd-socket-activate, systemd-analyze (961)
  dpkg-dev              # dpkg-shlibdeps for `make deb` (962, 979)
)

# `--only PKG...`: just these (the benchmarks' tools), checked the same way.
if [ "${1:-}" = --only ]; then
  shift
  packages=("$@")
fi

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

need=()
for p in "${packages[@]}"; do
  installed "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
