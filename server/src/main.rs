//! `nbdkit`: a network block device server, command-line compatible with
//! nbdkit 1.32.

mod abi;
mod backend;
mod lifecycle;
mod parse;
mod protocol;

fn main() {
    let _ = backend::registry::load_plugin("memory", &[]);
}
