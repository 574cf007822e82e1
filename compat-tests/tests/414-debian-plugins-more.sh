#!/usr/bin/env bash
# More of Debian's real nbdkit 1.32.5 plugins, differential against C
# nbdkit (same arguments, same client's view, same data by checksum):
# info, cc, iso, example1-3, nbd (proxying to a backend the test starts
# on a Unix socket), curl with file:// URLs, torrent (a local .torrent
# whose data is already in the cache directory), and linuxdisk/tmpdisk
# made reproducible (fixed mke2fs time, UUIDs masked or fixed), with the
# filesystem's files compared through debugfs.  And --dump-plugin of
# every plugin in Debian's directory, served here or not.
#
# Debian plugins deliberately not served here:
#   ssh   needs an sshd to talk to (none installed; setting one up means
#         host keys, a user key and a daemon: more than a test should do)
#   S3    needs an S3 endpoint (Amazon or a lookalike) and boto3
#   cdi   pulls a container image from a registry with podman
#   example4  is a Perl script: needs nbdkit-plugin-perl, which the tests
#         do not install (both servers then fail to load it alike)
# Their --dump-plugin is still compared below, whichever language plugins
# happen to be installed.
#
# torrent runs offline, but libtorrent also looks up the DHT's bootstrap
# routers and multicasts LSD and UPnP searches (none of which the plugin
# lets one turn off): it is served only inside a network namespace of its
# own (unshare), where nothing but loopback exists, or not at all.  Two
# races of Debian's torrent plugin itself, seen with both servers' timing:
# a read that checks for its piece just before the last "piece finished"
# wakeup waits forever (so the client connects only once the plugin has
# had time to check the cached pieces), and .unload deletes the session
# while the plugin's alert thread still uses it, which can abort the
# server at exit ("invalid session handle used": tolerated, with a note).
set -u
: "${NBDKIT:?}"
REF=${REF_NBDKIT:-/usr/bin/nbdkit}
PLUG=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[ -x "$REF" ] || { echo "SKIP: no $REF"; exit 77; }
[ -e "$PLUG/nbdkit-info-plugin.so" ] || { echo "SKIP: Debian's plugins not installed"; exit 77; }
tmp=$(mktemp -d)
bepid=
cleanup() {
    [ -n "$bepid" ] && kill "$bepid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
fails=0
PY=/usr/bin/python3

# The prefix of a plugin's error message names the connection, or in C
# nbdkit for a parallel plugin the worker thread ("info.1"), which we do
# not mimic: compare it as NAME[*].  The --run socket's directory is
# random.
norm() {
    sed -E 's/^nbdkit: ([a-z0-9-]+)(\.[0-9]+|\[[0-9]+\]): /nbdkit: \1[*]: /
            s,/tmp/nbdkit[A-Za-z0-9]+/socket,<sock>,g'
}

# check LABEL WANT GOT: WANT must be non-empty, must match $EXPECT (an
# extended regex; by default the client saw an export), and GOT must be
# the same.  VERBOSE=1 shows what was compared.
EXPECT='"protocol"'
check() {
    if [ -z "$2" ] || ! grep -Eq -- "$EXPECT" <<<"$2" || [ "$2" != "$3" ]; then
        echo "FAIL: $1"
        grep -Eq -- "$EXPECT" <<<"$2" ||
            { echo "  reference's output does not match /$EXPECT/:"; head -n 15 <<<"$2"; }
        diff <(echo "$2") <(echo "$3") | head -n 40
        fails=$((fails + 1))
    else
        echo "ok: $1"
        [ -n "${VERBOSE:-}" ] && sed 's/^/    | /' <<<"$2"
    fi
    return 0
}

# serve BINARY PROBE [args...]: `BINARY -U - args --run PROBE`, stdout
# and stderr, and the exit status.  $STDIN is the server's stdin.  The
# probes are scripts: --run's $uri and $unixsocket are shell variables,
# exported for them.
RUN='export uri unixsocket; '

PRE=:
STDIN=/dev/null
WRAP=()                 # a command to run the server under
serve() {
    local bin=$1 probe=$2
    shift 2
    timeout -k 5 60 "${WRAP[@]}" "$bin" -U - "$@" --run "$RUN$probe" <"$STDIN" 2>&1 | norm
    echo "exit ${PIPESTATUS[0]}"
}

# differ LABEL PROBE [args...]: PROBE's view through both servers.  $PRE
# (shell code) runs before each, to give it the same fresh files or
# backend.
differ() {
    local label=$1 probe=$2 want got
    shift 2
    eval "$PRE"
    want=$(serve "$REF" "$probe" "$@")
    eval "$PRE"
    got=$(serve "$NBDKIT" "$probe" "$@")
    check "$label: $*" "$want" "$got"
}

# What a client sees of the default export: the json (minus the uri),
# the extent map, the checksum of all data, and what a 4K write at 0 then
# a 1K read at 0 answer.
cat > std.sh <<'SH'
nbdinfo --json "$uri" | grep -v '"uri":'
nbdinfo --map "$uri"
nbdcopy "$uri" - | md5sum
nbdsh -u "$uri" -c '
try:
    h.pwrite(b"w" * 4096, 0); print("write ok")
except nbd.Error as e:
    print("write errno", e.errno)
try:
    print("read", h.pread(1024, 0)[:16])
except nbd.Error as e:
    print("read errno", e.errno)
'
SH
STD="bash $tmp/std.sh"

# names.py [NAME...]: connect to each export name (given raw, so they
# need no URI quoting) and print its size, a checksum of its content and
# its start; or the error.  Then the server's list of exports.
cat > names.py <<'PY'
import hashlib, os, sys
import nbd
sock = os.environ["unixsocket"]
for name in sys.argv[1:]:
    h = nbd.NBD()
    h.set_export_name(name)
    h.set_opt_mode(True)
    try:
        h.connect_unix(sock)
        h.opt_go()
        size = h.get_size()
        data = h.pread(size, 0) if size else b""
        print(repr(name), size, hashlib.md5(data).hexdigest(), data[:24],
              "ro" if h.is_read_only() else "rw")
    except nbd.Error as e:
        print(repr(name), "error", e.errno)
    del h
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(sock)
names = []
h.opt_list(lambda n, d: names.append((n, d)) or 0)
print("list", names)
h.opt_abort()
PY
names() {               # names NAME...: a --run command running names.py
    local q=
    for n in "$@"; do q+=" $(printf %q "$n")"; done
    echo "$PY $tmp/names.py$q"
}

# ---------------------------------------------------------------- info
b64() { printf "$1" | base64 -w0; }
EXPECT="'hello' 5 "
differ "info" "$(names hello 'with space' "$(printf 'caf\xc3\xa9')" '')" info
differ "info mode=exportname" "$(names hello x)" info mode=exportname
EXPECT="'$(b64 '\x01\x02\x00abc')' 6 "
differ "info base64" "$(names "$(b64 '\x01\x02\x00abc')" "$(b64 hello)" '!!!' '')" \
    info mode=base64exportname
EXPECT="'x' 4 .*b'unix'"
differ "info address (unix socket)" "$(names x)" info mode=address
# time, uptime and conntime cannot match: their shape can.  12 bytes,
# seconds then microseconds, big-endian; time is the server's clock,
# uptime and conntime small and growing.
cat > time.py <<'PY'
import os, struct, sys, time
import nbd
h = nbd.NBD()
h.connect_unix(os.environ["unixsocket"])
print("size", h.get_size())
s1, u1 = struct.unpack(">QI", h.pread(12, 0))
time.sleep(0.05)
s2, u2 = struct.unpack(">QI", h.pread(12, 0))
t1, t2 = s1 + u1 / 1e6, s2 + u2 / 1e6
print("usec < 1e6", u1 < 1000000 and u2 < 1000000)
print("grows by >= 0.05 s", t2 - t1 >= 0.049)
if sys.argv[1] == "time":
    print("near our clock", abs(t1 - time.time()) < 30)
else:
    print("small", 0 <= t1 < 30)
PY
EXPECT='^size 12'
for m in time uptime conntime; do
    differ "info $m (shape)" "$PY $tmp/time.py $m" info mode=$m
done

# ---------------------------------------------------------------- cc
# A small C plugin, compiled by Debian's cc plugin with the installed
# nbdkit-plugin-dev headers.  It answers most callbacks (exports, block
# sizes, extents, writes, zero, trim, flush) so that the server's use of
# the compiled plugin shows.
cat > plug.c <<'C'
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#ifndef GREETING
#define GREETING "no greeting"
#endif

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS

static int64_t size = 1024 * 1024;
static int fill = 1;
static unsigned char *disk;

static int
t_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  if (strcmp (key, "fill") == 0)
    return nbdkit_parse_int ("fill", value, &fill);
  nbdkit_error ("t: unknown parameter '%s'", key);
  return -1;
}

static int
t_get_ready (void)
{
  int64_t i;

  disk = malloc (size);
  if (disk == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  /* Each 4K block holds its number plus fill; the second quarter is a
   * hole of zeroes. */
  for (i = 0; i < size; i++)
    disk[i] = (i >= size / 4 && i < size / 2) ? 0 : (unsigned char) (i / 4096 + fill);
  return 0;
}

static int
t_list_exports (int readonly, int is_tls, struct nbdkit_exports *e)
{
  if (nbdkit_add_export (e, "a", "first") == -1) return -1;
  return nbdkit_add_export (e, "b", NULL);
}

static const char *
t_default_export (int readonly, int is_tls)
{
  return "a";
}

static void *
t_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static const char *
t_export_description (void *h)
{
  return GREETING;
}

static int64_t t_get_size (void *h) { return size; }
static int t_can_write (void *h) { return 1; }
static int t_can_flush (void *h) { return 1; }
static int t_can_trim (void *h) { return 1; }
static int t_can_zero (void *h) { return 1; }
static int t_can_fua (void *h) { return NBDKIT_FUA_NATIVE; }
static int t_can_multi_conn (void *h) { return 1; }
static int t_can_extents (void *h) { return 1; }
static int t_can_cache (void *h) { return NBDKIT_CACHE_NATIVE; }

static int
t_block_size (void *h, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  *minimum = 1;
  *preferred = 4096;
  *maximum = 1024 * 1024;
  return 0;
}

static int
t_pread (void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
t_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
  /* A write of "E" at the very start fails with a chosen errno. */
  if (offset == 0 && count > 0 && ((const char *) buf)[0] == 'E') {
    nbdkit_error ("t: refusing to write E");
    errno = ENOSPC;
    return -1;
  }
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
t_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  memset (disk + offset, 0, count);
  return 0;
}

static int
t_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return t_zero (h, count, offset, flags);
}

static int t_flush (void *h, uint32_t flags) { return 0; }
static int t_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags) { return 0; }

/* Extents: runs of zero 4K blocks are holes, the rest data. */
static int
t_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
           struct nbdkit_extents *ex)
{
  uint64_t end = offset + count, b;
  static const unsigned char zero[4096];

  for (b = offset & ~4095ULL; b < end && b < (uint64_t) size; b += 4096) {
    uint64_t n = size - b < 4096 ? size - b : 4096;
    uint32_t type = memcmp (disk + b, zero, n) == 0 ?
      NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0;
    if (nbdkit_add_extent (ex, b, n, type) == -1)
      return -1;
  }
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name               = "t",
  .version            = "0.1",
  .config             = t_config,
  .get_ready          = t_get_ready,
  .list_exports       = t_list_exports,
  .default_export     = t_default_export,
  .open               = t_open,
  .export_description = t_export_description,
  .get_size           = t_get_size,
  .block_size         = t_block_size,
  .can_write          = t_can_write,
  .can_flush          = t_can_flush,
  .can_trim           = t_can_trim,
  .can_zero           = t_can_zero,
  .can_fua            = t_can_fua,
  .can_multi_conn     = t_can_multi_conn,
  .can_extents        = t_can_extents,
  .can_cache          = t_can_cache,
  .pread              = t_pread,
  .pwrite             = t_pwrite,
  .zero               = t_zero,
  .trim               = t_trim,
  .flush              = t_flush,
  .cache              = t_cache,
  .extents            = t_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
C

# The client's view plus writes, zeroes, trims, a refused write and the
# map afterwards.
cat > ccprobe.sh <<'SH'
bash "$(dirname "$0")/std.sh"
nbdinfo --list --json "$uri" | grep -v '"uri":'
nbdsh -u "$uri" -c '
h.zero(8192, 4096); h.trim(4096, 65536); h.flush(); h.cache(4096, 0)
h.pwrite(b"x" * 100, 300000, nbd.CMD_FLAG_FUA)
try:
    h.pwrite(b"E", 0)
except nbd.Error as e:
    print("E errno", e.errno)
print(h.pread(8, 300000), h.pread(8, 4096))
'
nbdinfo --map "$uri"
SH
CCP="bash $tmp/ccprobe.sh"
EXPECT='"description": "hi there"'
differ "cc script" "$CCP" cc "$tmp/plug.c" size=512K fill=3 \
    EXTRA_CFLAGS="-DGREETING='\"hi there\"'"
EXPECT='"protocol"'
STDIN=plug.c differ "cc - (source on stdin)" "$CCP" cc - size=300K
# C "script": "#if 0 / exec nbdkit cc ..." run as a program, with the
# server under test first on $PATH as "nbdkit".
mkdir -p refbin ourbin
ln -sf "$REF" refbin/nbdkit
ln -sf "$NBDKIT" ourbin/nbdkit
{ printf '#if 0\nexec nbdkit cc "$0" "$@"\n#endif\n'; cat plug.c; } > script.c
chmod +x script.c
check "cc self-running C script" \
    "$(PATH=$tmp/refbin:$PATH ./script.c -U - fill=9 --run "$RUN$CCP" 2>&1 | norm)" \
    "$(PATH=$tmp/ourbin:$PATH ./script.c -U - fill=9 --run "$RUN$CCP" 2>&1 | norm)"
# Errors: the plugin's own config error, a compile error.
EXPECT="unknown parameter 'bogus'"
differ "cc plugin's config error" "$STD" cc "$tmp/plug.c" bogus=1
printf 'int main (void) { return syntax error; }\n' > broken.c
EXPECT='exit 1'
differ "cc compile error" "$STD" cc "$tmp/broken.c"

# ---------------------------------------------------------------- examples
head -c 200000 /dev/urandom > f1
EXPECT='"protocol"'
differ "example1" "$STD" example1
differ "example2" "$STD" example2 file="$tmp/f1"
# example3 gives each connection its own fresh disk: a write is gone
# for the next client.
cat > fresh.sh <<'SH'
bash "$(dirname "$0")/std.sh"
nbdcopy "$uri" - | md5sum
SH
differ "example3" "bash $tmp/fresh.sh" example3 size=1M
differ "example3 default size" "nbdinfo --json \"\$uri\" | grep -v '\"uri\":'" example3
EXPECT='exit 1'
differ "example2 missing file" "$STD" example2 file="$tmp/nonexistent"

# ---------------------------------------------------------------- nbd
# Backends the nbd plugin proxies to: C nbdkit on a Unix socket started
# here (info for export names, memory for writes), and qemu-nbd started
# by the plugin itself (command=, socket activation) on a qcow2 file.
start_backend() {       # start_backend ARGS...: $REF on be.sock, fresh
    [ -n "$bepid" ] && { kill "$bepid" 2>/dev/null; wait "$bepid" 2>/dev/null; }
    rm -f "$tmp/be.sock"
    "$REF" -f -U "$tmp/be.sock" "$@" 2>"$tmp/be.log" &
    bepid=$!
    for _ in $(seq 100); do [ -S "$tmp/be.sock" ] && return 0; sleep 0.05; done
    echo "backend did not start: $*"; cat "$tmp/be.log"
}
EXPECT='"protocol"'
PRE='start_backend memory 1M'
differ "nbd socket= (memory backend)" "$STD" nbd socket="$tmp/be.sock"
differ "nbd uri=" "$STD" nbd "nbd+unix:///?socket=$tmp/be.sock"
differ "nbd shared=true" "$STD" nbd socket="$tmp/be.sock" shared=true
PRE='start_backend info'
EXPECT="'hello' 5 "
differ "nbd dynamic-export=true (info backend)" "$(names hello '' x)" \
    nbd socket="$tmp/be.sock" dynamic-export=true
EXPECT="'hello' 5 .*b'fixed'"
differ "nbd fixed export=" "$(names hello)" \
    nbd socket="$tmp/be.sock" export=fixed
PRE=:
kill "$bepid"; wait "$bepid" 2>/dev/null; bepid=
if command -v qemu-img >/dev/null && command -v qemu-nbd >/dev/null; then
    qemu-img convert -f raw -O qcow2 f1 d.qcow2.orig
    PRE='cp d.qcow2.orig d.qcow2'
    EXPECT='"protocol"'
    differ "nbd command=qemu-nbd (qcow2)" "$STD" \
        nbd command=qemu-nbd arg=-f arg=qcow2 arg="$tmp/d.qcow2"
    PRE=:
else
    echo "skipped nbd command=qemu-nbd: no qemu-nbd"
fi
# No server behind the socket: each client's open fails...
EXPECT='nbd_connect_unix'
differ "nbd to nothing" "nbdinfo \"\$uri\"" nbd socket="$tmp/nosuch.sock"
# ... or, with shared=true, the server fails at start (after_fork).
# (Not through --run: C nbdkit 1.32.5 then waits forever for its
# command after the plugin failed.)
fail_start() {
    rm -f "$tmp/fs.sock"
    timeout 20 "$1" -f -U "$tmp/fs.sock" nbd socket="$tmp/nosuch.sock" shared=true 2>&1 | norm
    echo "exit ${PIPESTATUS[0]}"
}
check "nbd shared=true to nothing fails at start" "$(fail_start "$REF")" "$(fail_start "$NBDKIT")"

# ---------------------------------------------------------------- curl
head -c 150000 /dev/urandom > c1.orig
PRE='cp c1.orig c1'
EXPECT='"protocol"'
differ "curl file://" "$STD" curl "file://$tmp/c1"
differ "curl -r url=file://" "$STD" -r curl url="file://$tmp/c1"
EXPECT='.'
differ "curl protocols=http refuses file://" "$STD" curl "file://$tmp/c1" protocols=http
differ "curl file:// missing" "$STD" curl "file://$tmp/nonexistent"
PRE=:

# ---------------------------------------------------------------- torrent
# A two-file torrent written here (bencoded by hand), whose files are
# already complete in the cache directory: the plugin checks the pieces
# and serves without any peer.
mkdir -p tcache/tor
head -c 300000 /dev/urandom > tcache/tor/big.img
seq 1 2000 > tcache/tor/readme.txt
$PY - <<'PY'
import hashlib
def enc(x):
    if isinstance(x, int): return b"i%de" % x
    if isinstance(x, str): x = x.encode()
    if isinstance(x, bytes): return b"%d:%s" % (len(x), x)
    if isinstance(x, list): return b"l" + b"".join(map(enc, x)) + b"e"
    return b"d" + b"".join(enc(k) + enc(x[k]) for k in sorted(x)) + b"e"
files = ["big.img", "readme.txt"]
blob = b"".join(open("tcache/tor/" + f, "rb").read() for f in files)
plen = 16384
pieces = b"".join(hashlib.sha1(blob[i:i + plen]).digest()
                  for i in range(0, len(blob), plen))
info = {"name": "tor", "piece length": plen, "pieces": pieces,
        "files": [{"path": [f], "length": len(open("tcache/tor/" + f, "rb").read())}
                  for f in files]}
open("t.torrent", "wb").write(enc({"announce": "http://127.0.0.1:9/announce", "info": info}))
PY
TOR=(torrent "$tmp/t.torrent" cache="$tmp/tcache"
     listen-interfaces=127.0.0.1:0 outgoing-interfaces=127.0.0.1)
if unshare -n true 2>/dev/null; then
    WRAP=(unshare -n)
elif unshare -rn true 2>/dev/null; then
    WRAP=(unshare -rn)
fi
unload_abort() {        # the .unload race above: note it, compare the rest
    local out
    out=$(cat)
    if grep -q "^  what():  invalid session handle used$" <<<"$out"; then
        echo "note: the torrent plugin aborted in .unload (its known race)" >&2
        out=$(grep -v "^terminate called after throwing an instance of 'boost::system::system_error'$" <<<"$out" |
              grep -v "^  what():  invalid session handle used$" | sed 's/^exit 134$/exit 0/')
    fi
    printf '%s\n' "$out"
}
if [ ${#WRAP[@]} -gt 0 ]; then
    WRAP+=(sh -c 'ip link set lo up 2>/dev/null; exec "$@"' sh)
    EXPECT="$(md5sum < tcache/tor/big.img)"
    check "torrent (largest file)" \
        "$(serve "$REF" "sleep 1; $STD" "${TOR[@]}" | unload_abort)" \
        "$(serve "$NBDKIT" "sleep 1; $STD" "${TOR[@]}" | unload_abort)"
    EXPECT="$(md5sum < tcache/tor/readme.txt)"
    check "torrent file=tor/readme.txt" \
        "$(serve "$REF" "sleep 1; $STD" "${TOR[@]}" file=tor/readme.txt | unload_abort)" \
        "$(serve "$NBDKIT" "sleep 1; $STD" "${TOR[@]}" file=tor/readme.txt | unload_abort)"
    WRAP=()
else
    echo "skipped torrent: cannot make a network namespace (unshare -n / -rn)"
fi

# ---------------------------------------------------------------- iso
# xorriso honours SOURCE_DATE_EPOCH (volume dates, and every file date
# set to its mtime), which makes the ISO reproducible; the files get a
# fixed mtime.
if command -v xorriso >/dev/null; then
    export SOURCE_DATE_EPOCH=1000000000
    mkdir -p isodir/sub isodir2
    echo hello > isodir/a.txt
    seq 1 20000 > isodir/sub/numbers-with-a-long-name.txt
    head -c 70000 /dev/urandom > isodir2/blob.bin
    touch -h -d @999999999 isodir/a.txt isodir/sub/* isodir/sub isodir2/* isodir isodir2
    EXPECT='"protocol"'
    differ "iso" "$STD" iso "$tmp/isodir"
    differ "iso params=-JrT -V" "$STD" iso "$tmp/isodir" params='-JrT -V TESTVOL'
    differ "iso two dirs, prog=xorriso" "$STD" iso dir="$tmp/isodir" dir="$tmp/isodir2" prog=xorriso
    EXPECT='exit 1'
    differ "iso prog missing" "$STD" iso "$tmp/isodir" prog=/nonexistent/mkisofs
    unset SOURCE_DATE_EPOCH
else
    echo "skipped iso: no xorriso (scripts/install-deps.sh installs it)"
fi

# ---------------------------------------------------------------- linuxdisk
# mke2fs takes its clock from E2FSPROGS_FAKE_TIME; the files get a fixed
# mtime and are read (a symlink read and followed) so that their atime no
# longer moves (relatime).
# What is still random is the filesystem UUID, the directory hash seed
# and the GPT GUIDs: fsview.py masks them wherever they occur (ext2/ext3;
# ext4's metadata checksums are seeded by the UUID, so there only the
# contents are compared), then lists the superblock (dumpe2fs, minus
# UUID, seed and checksums), fsck's verdict, and every file debugfs
# extracts.
cat > fsview.py <<'PY'
import hashlib, os, struct, sys, zlib
img = bytearray(open(sys.argv[1], "rb").read())
out = sys.argv[2]
random = []             # 16-byte values to mask
crcs = []               # offsets of 4-byte CRCs to mask
# GPT (linuxdisk) or a bare filesystem (tmpdisk).  linuxdisk draws its
# GPT GUIDs from a generator seeded with the time of day: masked, and so
# are the CRCs covering them (after checking them).
if img[512:520] == b"EFI PART":
    for hdr in (512, len(img) - 512):
        assert img[hdr:hdr + 8] == b"EFI PART", "no GPT header at %d" % hdr
        hsize, = struct.unpack_from("<I", img, hdr + 12)
        entries, n, esize, ecrc = struct.unpack_from("<QIII", img, hdr + 72)
        h = bytearray(img[hdr:hdr + hsize]); h[16:20] = bytes(4)
        print("gpt header at", hdr, "crc ok", zlib.crc32(h) == struct.unpack_from("<I", img, hdr + 16)[0],
              "entries crc ok", zlib.crc32(img[entries * 512:entries * 512 + n * esize]) == ecrc)
        random.append(bytes(img[hdr + 56:hdr + 72]))
        crcs += [hdr + 16, hdr + 88]
    entries = struct.unpack_from("<Q", img, 512 + 72)[0] * 512
    first, last = struct.unpack_from("<QQ", img, entries + 32)
    random.append(bytes(img[entries + 16:entries + 32]))
    start, end = first * 512, (last + 1) * 512
    print("partition", first, last, "type", img[entries:entries + 16].hex())
else:
    start, end = 0, len(img)
sb = start + 1024
assert struct.unpack_from("<H", img, sb + 0x38)[0] == 0xEF53, "no ext2 magic"
# The filesystem UUID and directory hash seed are random (mke2fs).
random += [bytes(img[sb + 0x68:sb + 0x78]), bytes(img[sb + 0xEC:sb + 0xFC])]
ro_compat = struct.unpack_from("<I", img, sb + 0x64)[0]
open(out, "wb").write(img[start:end])
if ro_compat & 0x400:
    print("metadata_csum: bytes not compared")
elif os.environ.get("FSVIEW_NO_IMAGE"):
    print("image not compared")
else:
    for off in crcs:
        img[off:off + 4] = bytes(4)
    for r in random:
        if r != bytes(16):
            img = img.replace(r, bytes(16))
    print("masked image", hashlib.md5(img).hexdigest())
PY
cat > fsprobe.sh <<'SH'
d=$(dirname "$0")
nbdinfo --json "$uri" | grep -v '"uri":' | sed -E 's/UUID=[0-9a-f-]+//'
rm -rf "$d/img" "$d/part" "$d/rdump"
nbdcopy "$uri" "$d/img"
/usr/bin/python3 "$d/fsview.py" "$d/img" "$d/part"
/sbin/dumpe2fs -h "$d/part" 2>/dev/null |
    grep -Ev '^(Filesystem UUID|Directory Hash Seed|Checksum|Journal checksum):'
/sbin/e2fsck -fn "$d/part" >/dev/null 2>&1; echo "e2fsck exit $?"
mkdir "$d/rdump"
/sbin/debugfs -R "rdump / $d/rdump" "$d/part" >/dev/null 2>&1
# (debugfs gives the symlinks it makes the current time.)
(cd "$d/rdump" && find . -mindepth 1 \( -type l -printf '%p -> %l\n' \) -o \
        -printf '%p %y %s %m %T@\n' | sort &&
    find . -type f -exec md5sum {} + | sort)
SH
FSP="bash $tmp/fsprobe.sh"
if command -v mke2fs >/dev/null && [ -x /sbin/debugfs ] && [ -x /sbin/dumpe2fs ]; then
    export E2FSPROGS_FAKE_TIME=1000000000
    mkdir -p ld/sub ld/empty
    echo hello > ld/a.txt
    seq 1 30000 > ld/sub/b.txt
    head -c 100000 /dev/urandom > ld/sub/c.bin
    ln -s a.txt ld/link
    ln ld/a.txt ld/hard
    touch -h -d @999999999 ld/a.txt ld/sub/* ld/link ld/sub ld/empty ld
    prime() {           # read everything the way mke2fs -d does
        find ld -type f -exec cat {} + >/dev/null
        find ld -type l -exec readlink {} + -exec stat -L {} + >/dev/null
        ls -laR ld >/dev/null
    }
    prime
    atimes=$(find ld -printf '%p %A@\n')
    sleep 0.01
    prime
    # On a filesystem mounted strictatime every read moves the atime and
    # the images cannot match: then only the files are compared.
    EXPECT='masked image'
    if [ "$atimes" != "$(find ld -printf '%p %A@\n')" ]; then
        echo "note: atimes move on every read here: linuxdisk's images not compared"
        export FSVIEW_NO_IMAGE=1
        EXPECT='e2fsck exit 0'
    fi
    differ "linuxdisk" "$FSP" linuxdisk "$tmp/ld"
    differ "linuxdisk ext3 label size=+" "$FSP" linuxdisk "$tmp/ld" type=ext3 label=TEST size=+1M
    EXPECT='e2fsck exit 0'
    differ "linuxdisk ext4 size=" "$FSP" linuxdisk dir="$tmp/ld" type=ext4 size=8M
    EXPECT='exit 1'
    differ "linuxdisk too small" "$STD" linuxdisk "$tmp/ld" size=64K

    unset FSVIEW_NO_IMAGE

    # tmpdisk runs "mkfs" from $PATH: a mkfs that gives ext filesystems
    # a fixed UUID and hash seed makes each fresh disk reproducible.
    mkdir -p wbin
    cat > wbin/mkfs <<'SH'
#!/bin/bash
type=
for ((i = 1; i < $#; i++)); do [ "${!i}" = -t ] && { j=$((i + 1)); type=${!j}; }; done
case $type in
    ext*) exec /sbin/mkfs "${@:1:$#-1}" -U 2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901 \
              -E hash_seed=0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9 "${!#}" ;;
    *) exec /sbin/mkfs "$@" ;;
esac
SH
    chmod +x wbin/mkfs
    # The data of a fresh disk, a write, and a new connection's (fresh
    # again) data.
    cat > tmpd.sh <<'SH'
nbdinfo --json "$uri" | grep -v '"uri":' | sed -E 's/UUID=[0-9a-f-]+//'
nbdcopy "$uri" - | md5sum
nbdsh -u "$uri" -c 'h.pwrite(b"w" * 4096, 8192); print("wrote", h.pread(4, 8192))'
nbdcopy "$uri" - | md5sum
SH
    oldpath=$PATH
    PATH=$tmp/wbin:$PATH
    EXPECT='"protocol"'
    differ "tmpdisk (ext4)" "bash $tmp/tmpd.sh" tmpdisk 4M
    differ "tmpdisk ext2 label" "bash $tmp/tmpd.sh" tmpdisk size=3M type=ext2 label=SCRATCH
    differ "tmpdisk command= with a variable" "bash $tmp/tmpd.sh" tmpdisk 2M vlabel=VAR \
        command='truncate -s $size "$disk" && /sbin/mke2fs -q -F -t ext4 -L "$vlabel" -U 11111111-2222-4333-8444-555555555555 -E hash_seed=66666666-7777-4888-9999-aaaaaaaaaaaa "$disk"'
    EXPECT='"protocol"'
    differ "tmpdisk filesystem view" "$FSP" tmpdisk 4M label=VIEW
    EXPECT='.'
    differ "tmpdisk failing command" "$STD" tmpdisk 1M command='echo no disk >&2; exit 3'
    PATH=$oldpath
    unset E2FSPROGS_FAKE_TIME
else
    echo "skipped linuxdisk/tmpdisk: no mke2fs/debugfs/dumpe2fs"
fi

# ---------------------------------------------------------------- dump
# --dump-plugin (minus path=) of the plugins served only above, and of
# those not served at all; the scripts (S3, example4) through their
# language plugin, as their #! line would run them.  Compared as sorted
# lines: a script's own lines (perl's print) go through its language's
# buffer, which C nbdkit on a pipe flushes before its own stdio buffer, so
# where they land is a buffering accident, not behaviour (on a terminal C
# nbdkit prints them last, as we do).
for p in example1 example2 example3 nbd curl torrent ssh cdi \
         "python $PLUG/nbdkit-S3-plugin" "perl $PLUG/nbdkit-example4-plugin" \
         "cc $tmp/plug.c" "example2 file=$tmp/nonexistent"; do
    # shellcheck disable=SC2086
    want=$("$REF" $p --dump-plugin 2>&1 | grep -v '^path=' | sort; echo "exit ${PIPESTATUS[0]}")
    # shellcheck disable=SC2086
    got=$("$NBDKIT" $p --dump-plugin 2>&1 | grep -v '^path=' | sort; echo "exit ${PIPESTATUS[0]}")
    EXPECT='.'
    check "--dump-plugin $p" "$want" "$got"
done

[ "$fails" -eq 0 ]
