//! The nbdkit version this server reports (`--version`, `--dump-config`,
//! the `-v` start-up line) and checks filters against.

pub const VERSION: &str = "1.44.1";
