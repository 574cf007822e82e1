#!/usr/bin/env bash
# tls-fallback: with --tls=on, a plaintext client gets a read-only 512-byte
# export holding the tlsreadme= message (whatever export it asks for),
# while a TLS client (PSK) gets the plugin; and the filter refuses a
# plugin that serializes connections.  As C nbdkit.
source "$COMPAT_LIB"
need_filters tls-fallback
source "$REPO/compat-tests/tls-keys.sh"

show='tu="nbds+unix://alice@/?${uri#*\?}&tls-psk-file='"$T"'/keys.psk"
echo "plain:"; nbdinfo --json "$uri" | grep -v "\"uri\":"; nbdcopy "$uri" - | md5sum
nbdsh -u "${uri/\?/other?}" -c "print(h.get_size(), bytes(h.pread(40, 0)))"
$PROBE "$uri" w:0:512:1 r:0:512
echo "tls:"; nbdinfo --json "$tu" | grep -v "\"uri\":"
nbdsh -c "h.set_uri_allow_local_file(True)" -c "h.connect_uri(\"$tu\")" \
    -c "h.pwrite(b\"x\" * 512, 0); print(h.get_size(), bytes(h.pread(4, 0)))"'
n=0
for readme in "" "tlsreadme=Please use TLS to reach this disk."; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    start_pair $n --tls=on --tls-psk="$T/keys.psk" --filter=tls-fallback memory 1M ${readme:+"$readme"}
    same_seen "tls-fallback ${readme:-(default message)}" $n "$show"
    stop_pair $n
done
expect_match "plaintext clients read the message" "b'Please use TLS to reach this disk.\\\\x00" "$SEEN"
expect_match "TLS clients reach the plugin" "^1048576 b'xxxx'" "$SEEN"
same_refusal "tls-fallback over serialize_connections" --tls=on --tls-psk="$T/keys.psk" \
    --filter=tls-fallback --filter=noparallel memory 1M serialize=connections
