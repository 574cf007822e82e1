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
