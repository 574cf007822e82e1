//! The C boundary: bindgen's view of `include/`, the exported `nbdkit_*`
//! server API, and the adapter that runs a `.so` plugin as a backend.
//! FFI `unsafe` lives under this module; other OS calls are in `sys/`.

#[allow(clippy::all)]
pub mod bindings;
pub mod context;
pub mod exports;
pub mod filter;
pub mod opaque;
pub mod plugin;

#[cfg(test)]
mod tests;
