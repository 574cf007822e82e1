//! The NBD wire format: parsing and encoding only.  No I/O and no backend
//! calls, so every function here can be unit-tested and fuzzed with
//! arbitrary bytes.

pub mod consts;
pub mod handshake;
pub mod negotiate;
pub mod requests;
pub mod transmission;

use std::fmt;

/// A violation that ends the connection: the byte stream can no longer be
/// trusted to be in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    BadOptionMagic(u64),
    OptionTooLong {
        option: u32,
        length: u32,
    },
    BadRequestMagic(u32),
    /// An extended request announcing a payload longer than any request
    /// may carry: the spec says to disconnect rather than read it.
    PayloadTooLong {
        cmd: u16,
        length: u64,
    },
    UnknownClientFlags(u32),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadOptionMagic(m) => {
                write!(f, "client sent bad option magic {m:#x}, expected IHAVEOPT")
            }
            ProtocolError::OptionTooLong { length, .. } => {
                write!(f, "client option data too long ({length})")
            }
            ProtocolError::BadRequestMagic(m) => write!(f, "invalid request: magic {m:#x}"),
            ProtocolError::PayloadTooLong { cmd, length } => write!(
                f,
                "invalid request: {}: payload length {length} is larger than {}, disconnecting",
                consts::command_name(*cmd),
                consts::MAX_REQUEST_SIZE
            ),
            ProtocolError::UnknownClientFlags(fl) => {
                write!(f, "handshake: client sent unknown flags {fl:#x}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}
