#!/usr/bin/env bash
# --selinux-label: this build has no SELinux support, so (as a build of
# nbdkit 1.32.5 without it) serving on a socket with a label fails with
# exit status 1 before the --run command runs; where no socket is made
# (--dump-plugin) the option is harmless.  Debian's C nbdkit has SELinux,
# so it is compared only on the outcome (it refuses the invalid label "x").
source "$COMPAT_LIB"
for b in "$REF_NBDKIT" "$NBDKIT"; do
    out=$(timeout 20 "$b" --selinux-label=x -U - memory 1M --run 'echo ran' 2>&1); rc=$?
    expect_eq "$b: exit status" 1 "$rc"
    case $out in *ran*) fail "$b: the --run command ran";; esac
    expect_eq "$b --dump-plugin with the label" 0 \
        "$(timeout 20 "$b" --selinux-label=x memory --dump-plugin >/dev/null 2>&1; echo $?)"
done
expect_eq "our message" \
    "nbdkit: --selinux-label option used, but this binary was compiled without SELinux support" \
    "$(timeout 20 "$NBDKIT" --selinux-label=x -U - memory 1M --run true 2>&1)"

# No label is set on a vsock socket: nbdkit 1.44.1 built without SELinux
# serves --vsock with the option (or fails alike where there is no vsock).
C144=/var/tmp/nbdkit-1.44.1/nbdkit
if [ -x "$C144" ]; then
    for b in "$C144" "$NBDKIT"; do
        timeout 20 "$b" --selinux-label=x --vsock -p 12361 null --run 'echo "ran $uri"' 2>&1 |
            sed -E 's/^[^:]*: //'
        echo "exit ${PIPESTATUS[0]}"
    done > vsock
    expect_eq "--vsock with the label (nbdkit 1.44.1's, ours)" \
        "$(sed -n '1,/^exit/p' vsock)" "$(sed '1,/^exit/d' vsock)"
fi
