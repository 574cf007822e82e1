# Source from a TLS compat test (after $COMPAT_LIB): makes, in the test's
# directory, with certtool and psktool (Debian's gnutls-bin):
#   pki/        ca-cert.pem server-cert.pem server-key.pem (the server's --tls-certificates)
#   client/     ca-cert.pem client-cert.pem client-key.pem (signed by the same CA)
#   badclient/  the same, signed by another CA
#   keys.psk    alice's pre-shared key (psktool's username:hexkey)
# Skips the test when gnutls-bin is missing (make check installs it).
command -v certtool >/dev/null && command -v psktool >/dev/null ||
    skip "certtool/psktool not installed (Debian's gnutls-bin)"

_tls_ca() {             # _tls_ca DIR NAME: a CA key and self-signed cert in DIR
    mkdir -p "$1"
    certtool --generate-privkey >"$1/ca-key.pem" 2>/dev/null
    printf 'cn = %s\nca\ncert_signing_key\nexpiration_days = 30\n' "$2" >"$1/ca.info"
    certtool --generate-self-signed --load-privkey "$1/ca-key.pem" \
        --template "$1/ca.info" --outfile "$1/ca-cert.pem" >/dev/null 2>&1 ||
        fail "certtool: CA"
}

_tls_cert() {           # _tls_cert CADIR KEY CERT TEMPLATE-TEXT
    certtool --generate-privkey >"$2" 2>/dev/null
    printf '%b' "$4" >"$3.info"
    certtool --generate-certificate --load-ca-certificate "$1/ca-cert.pem" \
        --load-ca-privkey "$1/ca-key.pem" --load-privkey "$2" \
        --template "$3.info" --outfile "$3" >/dev/null 2>&1 || fail "certtool: $3"
}

_tls_ca ca "Test CA"
_tls_ca otherca "Other CA"
mkdir -p pki client badclient
cp ca/ca-cert.pem pki/
cp ca/ca-cert.pem client/
cp ca/ca-cert.pem badclient/
_tls_cert ca pki/server-key.pem pki/server-cert.pem \
    'organization = Test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 30\n'
_tls_cert ca client/client-key.pem client/client-cert.pem \
    'cn = client.example.com\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 30\n'
_tls_cert otherca badclient/client-key.pem badclient/client-cert.pem \
    'cn = client.example.com\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 30\n'
rm -f pki/*.info client/*.info badclient/*.info
psktool -u alice -p keys.psk >/dev/null 2>&1 || fail "psktool"

# A free TCP port on 127.0.0.1.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_tcp_server NAME PORT BINARY [args...]: like start_server, on TCP.
start_tcp_server() {
    local name=$1 port=$2 bin=$3 pid i
    shift 3
    "$bin" -f -p "$port" -i 127.0.0.1 "$@" 2>"$T/$name.log" >"$T/$name.out" &
    pid=$!
    SERVER_PID[$name]=$pid
    _lib_servers+=("$name")
    for i in $(seq 100); do
        ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && return 0
        /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fail "server $name exited: $(tail -5 "$T/$name.log")"
        sleep 0.1
    done
    fail "server $name not listening on 127.0.0.1:$port"
}
