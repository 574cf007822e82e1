//! OS calls that are not the plugin ABI, each wrapped in a safe function:
//! with `abi/`, the only place `unsafe` is allowed (`#![deny(unsafe_code)]`
//! elsewhere).  Callers use `crate::sys::NAME`.

pub mod file;
pub mod host_memory;
pub mod process;
pub mod socket;

pub use file::*;
pub use host_memory::*;
pub use process::*;
pub use socket::*;
