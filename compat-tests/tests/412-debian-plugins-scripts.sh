#!/usr/bin/env bash
# Debian's script and filesystem plugins, differential against C nbdkit:
# sh and python (short form with a bare script, script=, a
# "#!.../nbdkit python" shebang, and python serving concurrent clients
# from several threads), linuxdisk and tmpdisk (whose filesystems carry
# fresh UUIDs and timestamps, so their data is compared in shape only
# here; 414 makes them reproducible and compares the bytes and files).
set -u
: "${NBDKIT:?}"
REF=${REF_NBDKIT:-/usr/bin/nbdkit}
PLUG=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[ -x "$REF" ] || { echo "SKIP: no $REF"; exit 77; }
[ -e "$PLUG/nbdkit-sh-plugin.so" ] || { echo "SKIP: Debian's plugins not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0

check() {               # check LABEL WANT GOT
    if [ -z "$2" ] || [ "$2" != "$3" ] || grep -q "nbd_opt_go\|Traceback\|error running" <<<"$2"; then
        echo "FAIL: $1"; diff <(echo "$2") <(echo "$3") | head -n 30
        fails=$((fails + 1))
    else
        echo "ok: $1"
    fi
}

# A client's view: json minus the uri (and minus filesystem UUIDs), the
# checksum of all data (unless NODATA is set), a write and a read back.
probe='nbdinfo --json "$uri" | grep -v "\"uri\":" | sed -E "s/UUID=[0-9a-f-]+//"
[ -n "${NODATA:-}" ] || nbdcopy "$uri" - | md5sum
nbdsh -u "$uri" -c "
try:
    h.pwrite(b\"w\" * 4096, 8192); print(\"write ok\", h.pread(8, 8192))
except nbd.Error as e:
    print(\"write errno\", e.errno)
"'
export NODATA
differ() {              # differ LABEL [args...]
    local label=$1
    shift
    check "$label" "$("$REF" -U - "$@" --run "$probe" 2>&1)" \
                   "$("$NBDKIT" -U - "$@" --run "$probe" 2>&1)"
}

cat > disk.sh <<'SH'
#!/bin/bash
case "$1" in
  get_size) echo 256K ;;
  open) echo handle ;;
  pread) yes "block at $4 " | head -c "$3" ;;
  can_write) exit 0 ;;
  pwrite) cat >/dev/null ;;
  can_extents) exit 3 ;;
  *) exit 2 ;;
esac
SH
chmod +x disk.sh
differ "sh (bare script)" sh ./disk.sh
differ "sh script=" sh script="$tmp/disk.sh"
differ "sh.so by path" "$PLUG/nbdkit-sh-plugin.so" ./disk.sh

cat > disk.py <<'PY'
import nbdkit, time
API_VERSION = 2
disk = bytearray(512 * 1024)
for i in range(0, len(disk), 4096):
    disk[i:i + 8] = b"blk%05d" % (i // 4096)
def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL
def open(readonly):
    return 1
def get_size(h):
    return len(disk)
def pread(h, buf, offset, flags):
    time.sleep(0.002)
    buf[:] = disk[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    time.sleep(0.002)
    disk[offset:offset + len(buf)] = buf
PY
differ "python (bare script)" python ./disk.py
differ "python script=" python script="$tmp/disk.py"

# Eight clients at once, each writing and reading back its own 64K,
# several requests in flight each: the plugin's threads run Python
# concurrently (it drops the GIL in load).  Then the whole disk's sum.
# Each client writes its verdict to its own file: lines printed by eight
# processes at once into one pipe can interleave.
conc='{ for i in 0 1 2 3 4 5 6 7; do
  nbdsh -u "$uri" -c "
base = $i * 65536
pat = bytes([65 + $i]) * 4096
for off in range(base, base + 65536, 4096):
    h.aio_pwrite(pat, off)
while h.aio_in_flight() > 0:
    h.poll(-1)
ok = all(h.pread(4096, off) == pat for off in range(base, base + 65536, 4096))
open(\"res.$i\", \"w\").write(\"%d %s\\n\" % ($i, \"ok\" if ok else \"BAD\"))
" &
done; wait; cat res.*; rm -f res.*; }
nbdcopy "$uri" - | md5sum'
check "python, 8 concurrent clients" \
    "$("$REF" -U - python ./disk.py --run "$conc" 2>&1 | sort)" \
    "$("$NBDKIT" -U - python ./disk.py --run "$conc" 2>&1 | sort)"

# A python script run as a program through "#!<our nbdkit> python".
mkdir -p bin
cp "$NBDKIT" bin/nbdkit
{ echo "#!$tmp/bin/nbdkit python"; cat disk.py; } > shebang.py
chmod +x shebang.py
{ echo "#!$REF python"; cat disk.py; } > shebang-ref.py
chmod +x shebang-ref.py
check "python #! script" \
    "$(./shebang-ref.py -U - --run "$probe" 2>&1)" \
    "$(./shebang.py -U - --run "$probe" 2>&1)"
out=$(./shebang.py --dump-plugin 2>&1 | grep -c '^python_version=')
check "#! script --dump-plugin shows python_version" 1 "$out"

# linuxdisk and tmpdisk need mke2fs / mkfs.
if command -v mke2fs >/dev/null && command -v mkfs >/dev/null; then
    mkdir -p dir/sub
    echo hello > dir/a.txt; seq 1 3000 > dir/sub/b.txt
    NODATA=1
    differ linuxdisk linuxdisk dir
    differ "linuxdisk ext4 label" linuxdisk dir type=ext4 label=TEST size=+1M
    differ tmpdisk tmpdisk size=4M
    differ "tmpdisk command=" tmpdisk size=2M \
        command='truncate -s $size "$disk" && mkfs -t ext2 -q -F "$disk"'
    NODATA=
else
    echo "skipped linuxdisk/tmpdisk: no mke2fs/mkfs"
fi

[ "$fails" -eq 0 ]
