/* nbdkit-rs: version of the nbdkit plugin ABI these headers describe.
 * Written for the Rust nbdkit from the documented ABI (nbdkit-plugin(3)).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef NBDKIT_VERSION_H
#define NBDKIT_VERSION_H

#define NBDKIT_VERSION_MAJOR 1
#define NBDKIT_VERSION_MINOR 44
#define NBDKIT_VERSION_MICRO 1
#define NBDKIT_VERSION_STRING "1.44.1"

#endif /* NBDKIT_VERSION_H */
