# qemu-img convert 1 GiB of random data into our memory plugin and into
# our file plugin over nbd+unix, then back out, and qemu-img compare:
# byte-identical.  One changed byte must then make compare fail.
# compat-timeout: 300
source "$COMPAT_LIB"

head -c 1G /dev/urandom > src.img

check_roundtrip() {     # check_roundtrip NAME
    local name=$1 u
    u=$(uri "$name")
    must qemu-img convert -n -f raw -O raw src.img "$u"
    ok "$name: qemu-img convert in"
    must qemu-img compare -f raw -F raw src.img "$u"
    ok "$name: qemu-img compare src.img against the export: identical"
    must qemu-img convert -f raw -O raw "$u" back-$name.img
    must qemu-img compare -f raw -F raw src.img back-$name.img
    cmp src.img back-$name.img || fail "$name: converted back out, the bytes differ"
    ok "$name: converted back out, byte-identical"
    # The comparison must be able to fail: flip one byte through the
    # server and compare again.
    printf '\x5a' | dd of=flip.bin bs=1 count=1 status=none
    orig=$(dd if=src.img bs=1 skip=777777777 count=1 status=none | od -An -tx1 | tr -d ' ')
    [ "$orig" = 5a ] && printf '\xa5' > flip.bin
    must nbdsh -u "$u" -c 'h.pwrite(open("flip.bin","rb").read(), 777777777)'
    qemu-img compare -f raw -F raw src.img "$u" >compare.out 2>&1
    rc=$?
    expect_eq "$name: qemu-img compare exit status after one byte changed" 1 "$rc"
    # qemu-img reports the 512-byte sector holding the byte.
    expect_match "$name: compare reports the offset" "mismatch at offset 777777664" "$(cat compare.out)"
}

start_server mem "$NBDKIT" memory 1G
check_roundtrip mem
stop_server mem
expect_eq "memory: exit status after SIGTERM" 0 "$STOP_STATUS"

truncate -s 1G dst.img
start_server file "$NBDKIT" file dst.img
check_roundtrip file
stop_server file
expect_eq "file: exit status after SIGTERM" 0 "$STOP_STATUS"
# The file itself: identical to the source except for the flipped byte.
cmp -l src.img dst.img > cmp.out 2>&1
expect_eq "file: bytes differing between src.img and the served file" 1 "$(wc -l < cmp.out)"
expect_match "file: the one difference is the flipped byte" "^ *777777778 " "$(cat cmp.out)"
