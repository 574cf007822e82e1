/* The part of GnuTLS nbdkit-rs uses: bindgen reads this (through
 * scripts/gen-gnutls-bindings.sh) to write server/src/sys/gnutls_bindings.rs. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
