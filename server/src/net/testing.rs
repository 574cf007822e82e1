//! A server over the built-in pattern plugin and connections over
//! socket pairs, for unit tests of the connection's state machine and
//! the handshake steps.

use super::config::ServeConfig;
use super::outbox;
use super::server::{EventsRx, Server};
use super::shared::Shared;
use super::stream::Stream;
use super::transport;
use crate::backend::builtin::pattern::PatternPlugin;
use crate::backend::{Connection, Stack};
use std::sync::Arc;

pub fn server() -> (Arc<Server>, EventsRx) {
    let cfg = ServeConfig {
        readonly: false,
        export_name: String::new(),
        no_sr: false,
        tls: Default::default(),
        mask_handshake: u16::MAX,
        oldstyle: false,
        max_inflight: 16,
        memory_limit: 64 << 20,
        sparse_reads: crate::sparse_read::SparseReads::Off,
        error_messages: false,
        enforce_block_size: false,
        handshake_timeout: None,
        keepalive: false,
        no_mc: false,
    };
    Server::new(
        Stack::ready_for_test(Box::new(PatternPlugin::new()), "1M"),
        cfg,
        1,
    )
}

/// A plain transport over one end of a socket pair (non-blocking), and
/// the other end.
pub fn transport() -> (transport::Transport, std::os::unix::net::UnixStream) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let s = Stream::Unix(mio::net::UnixStream::from_std(a));
    (transport::Transport::new(s), b)
}

/// A connection's shared state, and the client's end of its socket.
pub fn shared(srv: &Arc<Server>) -> (Arc<Shared>, std::os::unix::net::UnixStream) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let stream = Stream::Unix(mio::net::UnixStream::from_std(a));
    let conn = Arc::new(Connection::new(stream.raw_fd(), false, srv.stack.len()));
    let sh = Shared::new(srv, 1, 1, stream, outbox::Outbox::default(), conn);
    (Arc::new(sh), b)
}
