#!/usr/bin/env bash
# blocksize (minblock, maxdata, maxlen) and blocksize-policy: the block
# sizes advertised (nbdinfo --json), the answers to unaligned and oversize
# requests, and the requests the plugin then receives (the log filter
# below them) are C nbdkit's.  Both orders of the two filters.
source "$COMPAT_LIB"
need_filters blocksize blocksize-policy log

ops="r:1:10 r:4095:2 w:5000:20000:3 r:0:32k z:1:100k:fua t:1:9000 b:0:1M c:0:100 f r:0:64k w:65535:3:7"
n=0
check() { logged_pair "$1" "$VIEW" "${@:2}"; }
check "blocksize minblock=4k maxdata=8k" \
    --filter=blocksize --filter=log memory 1M minblock=4k maxdata=8k
expect_match "an unaligned read becomes aligned below" "Read id=1 offset=0x0 count=0x1000" "$SEEN"
check "blocksize maxlen=16k" --filter=blocksize --filter=log memory 1M maxlen=16k
check "blocksize minblock=512 over a 1000000-byte disk" \
    --filter=blocksize --filter=log memory 1000000 minblock=512
check "blocksize-policy minimum=4k error" --filter=blocksize-policy --filter=log memory 1M \
    blocksize-minimum=4k blocksize-preferred=16k blocksize-maximum=32k blocksize-error-policy=error
expect_match "policy error: an unaligned read fails" "r:1:10 errno EINVAL" "$PROBED"
expect_eq "policy error: the unaligned read never reaches the plugin" 0 \
    "$(grep -c 'Read id=[0-9]* offset=0x1 ' flog-ours-$n)"
check "blocksize-policy allow" --filter=blocksize-policy --filter=log memory 1M \
    blocksize-minimum=512 blocksize-maximum=8k
check "policy over blocksize" --filter=blocksize-policy --filter=blocksize --filter=log memory 1M \
    blocksize-minimum=4k blocksize-error-policy=error minblock=512 maxdata=4k
check "blocksize over policy" --filter=blocksize --filter=blocksize-policy --filter=log memory 1M \
    blocksize-minimum=4k blocksize-error-policy=error minblock=512 maxdata=4k
# The blocksize C test plugin advertises its own constraints: blocksize
# relaxes them for the client, the plugin still sees aligned requests.
if [ -e "$C_PLUGINS/blocksize.so" ]; then
    check "blocksize over a plugin with constraints" \
        --filter=blocksize --filter=log "$C_PLUGINS/blocksize.so"
fi
