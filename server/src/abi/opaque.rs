//! The C types behind the pointers the server hands plugins and filters.
//!
//! Plugins and filters only hold pointers to these, so they are opaque here
//! too.  They carry nbdkit's struct names, and are not `repr(C)`, so that
//! cbindgen declares them as the incomplete `struct nbdkit_extents` &c. that
//! include/ (and nbdkit-filter.h) use: scripts/cbindgen-check.sh then
//! compiles our signatures against those headers.  The pointers really
//! point at the server's own types ([`Extents`](crate::backend::Extents),
//! [`Exports`](super::exports::Exports), and for the filter ones the
//! adapter's types in `filter.rs`).
// The C types keep the names nbdkit's headers give them.
#![allow(non_camel_case_types)]

/// `struct nbdkit_extents`: really an [`Extents`](crate::backend::Extents).
pub struct nbdkit_extents {
    _opaque: [u8; 0],
}

/// `struct nbdkit_exports`: really an [`Exports`](super::exports::Exports).
pub struct nbdkit_exports {
    _opaque: [u8; 0],
}

/// `nbdkit_backend` (`struct nbdkit_backend` to filters).  The filter
/// types have names of their own here (renamed for C in cbindgen.toml):
/// bindgen's view of nbdkit-filter.h has the real `nbdkit_next_ops` table.
pub struct OpaqueBackend {
    _opaque: [u8; 0],
}

/// `nbdkit_context` (`struct nbdkit_context` to filters).
pub struct OpaqueContext {
    _opaque: [u8; 0],
}

/// `nbdkit_next` (`struct nbdkit_next_ops` to filters).
pub struct OpaqueNext {
    _opaque: [u8; 0],
}
