//! `-D NAME.FLAG=VALUE` settings from the command line, handed to the
//! layer named NAME as it loads (or to the server itself for `nbdkit`).

/// One `-D NAME.FLAG=VALUE` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugFlag {
    pub name: String,
    pub flag: String,
    pub value: i32,
}
