//! Build the C half of the plugin ABI (the variadic `nbdkit_*` functions)
//! and make the binary export the server API to the plugins it dlopens.

fn main() {
    println!("cargo:rerun-if-changed=src/abi/shim.c");
    println!("cargo:rerun-if-changed=src/abi/exports.list");
    cc::Build::new()
        .file("src/abi/shim.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("nbdkit_shim");
    // The TLS transport: GnuTLS, linked dynamically (never libssl), by its
    // soname, so building needs only the runtime library (qemu-utils
    // already pulls it in), not libgnutls28-dev's libgnutls.so link.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libgnutls.so.30");
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/abi/exports.list");
    // For the binary and for the unit tests, which load plugins too.
    println!("cargo:rustc-link-arg=-Wl,--dynamic-list={}", list.display());
}
