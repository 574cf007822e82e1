#!/usr/bin/env bash
# Filters that decode a format: gzip, xz (multi-block), tar (an entry),
# ext2 (a file in an ext2 image, read and written) and luks (an image made
# by `qemu-img create -f luks`, read and written; qemu-img then reads what
# was written with qemu's own LUKS driver).  Same json, map and data as
# C nbdkit; the decoded data equal the original.
# compat-timeout: 180
source "$COMPAT_LIB"
need_filters gzip xz tar ext2 luks
for c in xz gzip tar mke2fs debugfs qemu-img; do command -v $c >/dev/null || skip "no $c"; done

head -c 300000 /dev/urandom > d
truncate -s 1M d
sum=$(md5sum <d)
n=0
check() {               # check LABEL ARGS...: leaves pair $n running
    local label=$1
    shift
    n=$((n + 1))
    start_pair $n "$@"
    same_seen "$label: view" $n "$VIEW"
}

gzip -c d > d.gz
check "gzip" --filter=gzip file d.gz
expect_eq "gzip: data" "$sum" "$(nbdcopy "$(uri ours-$n)" - | md5sum)"
stop_pair $n
xz -c --block-size=65536 d > d.xz
check "xz" --filter=xz file d.xz
same_seen "xz: reads across blocks" $n "\$PROBE \"\$uri\" r:65000:1000 r:0:200k r:1000000:48576"
expect_eq "xz: data" "$sum" "$(nbdcopy "$(uri ours-$n)" - | md5sum)"
stop_pair $n
same_run "xz: xz-max-depth=1 gives up" '$PROBE "$uri" r:0:512 r:200000:512 r:70000:512' \
    --filter=xz file d.xz xz-max-depth=1
mkdir -p tdir/sub; cp d tdir/sub/disk.img; echo hi > tdir/a
tar cf d.tar -C tdir a sub
check "tar" --filter=tar file d.tar tar-entry=sub/disk.img
expect_eq "tar: data" "$sum" "$(nbdcopy "$(uri ours-$n)" - | md5sum)"
stop_pair $n
same_run "tar: a missing entry" 'nbdinfo --size "$uri"' --filter=tar file d.tar tar-entry=nope

# ext2: each side its own copy of the image, written through the filter.
mkdir -p e2; cp d e2/disk.raw
mke2fs -q -t ext2 -d e2 fs.img 4M
cp fs.img fs-ref.img; cp fs.img fs-ours.img
check "ext2" --filter=ext2 file "$T/fs-@SIDE@.img" ext2file=/disk.raw
same_seen "ext2: writes" $n "\$PROBE \"\$uri\" w:1000:5000:7 r:0:8k z:200k:100k r:196k:8k f"
stop_pair $n
# (The images differ in inode times: compare the file in each.)
_same "ext2: the file in each image afterwards" \
    "$(debugfs -R "cat /disk.raw" fs-ref.img 2>/dev/null | md5sum)" \
    "$(debugfs -R "cat /disk.raw" fs-ours.img 2>/dev/null | md5sum)"
same_run "ext2: a missing file" 'nbdinfo --size "$uri"' --filter=ext2 file fs.img ext2file=/nope

# luks: an image made by qemu-img, written through the filter.
echo 123456 > pw
# A short iter-time keeps each open (key derivation) fast.
qemu-img create -q -f luks --object secret,id=sec0,data=123456 \
    -o key-secret=sec0,iter-time=10 luks.img 1M
cp luks.img luks-ref.img; cp luks.img luks-ours.img
check "luks" --filter=luks file "$T/luks-@SIDE@.img" passphrase=+"$T/pw"
same_seen "luks: writes" $n "\$PROBE \"\$uri\" w:1000:5000:7 r:0:8k z:200k:100k r:196k:8k w:1040000:8576:9 f"
stop_pair $n
for side in ref ours; do
    out=$(qemu-img compare --object secret,id=sec0,data=123456 \
        --image-opts "driver=luks,key-secret=sec0,file.filename=luks-$side.img" \
        --image-opts "driver=luks,key-secret=sec0,file.filename=luks-ref.img" 2>&1) ||
        fail "luks: qemu-img compare of ref and $side: $out"
done
ok "luks: what each server wrote reads the same through qemu's LUKS driver"
start_server luks "$NBDKIT" --filter=luks file "$T/luks-ours.img" passphrase=+"$T/pw"
out=$(qemu-img compare --object secret,id=sec0,data=123456 --image-opts \
    "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$T/luks.sock" \
     "driver=luks,key-secret=sec0,file.filename=luks-ours.img" 2>&1) ||
    fail "luks: qemu-img compare of the NBD export and the image: $out"
ok "luks: qemu-img compare of the export and qemu's reading of the image: $out"
stop_server luks
# A wrong passphrase: the client is refused.  (C nbdkit 1.32.5 then
# sometimes crashes at exit, so only the client's side is compared.)
a=$("$REF_NBDKIT" -U - --filter=luks file luks.img passphrase=wrong --run 'nbdinfo --size "$uri"; echo "status $?"' 2>/dev/null)
b=$("$NBDKIT" -U - --filter=luks file luks.img passphrase=wrong --run 'nbdinfo --size "$uri"; echo "status $?"' 2>/dev/null)
_same "luks: a wrong passphrase" "$a" "$b"
expect_match "luks: a wrong passphrase is refused" "status 1" "$b"
