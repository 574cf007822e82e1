//! How a connection ends, deterministically.
//!
//! The loop and the workers each hold an `Arc<Shared>` while they use a
//! connection.  Each lets go through [`release`]; whoever lets go of the
//! last one (the loop when it closes the connection, or the worker whose
//! job was the connection's last) gets the state itself and hands it to
//! the pool to close: the export's finalize and close callbacks run once,
//! with nothing else holding the connection, and nobody waits or polls for
//! the others.
//!
//! What the connection owns is dropped last of all, its hold on the server
//! ([`super::hold::ServerHold`]) after the socket.

use super::shared::Shared;
use std::sync::Arc;

/// How long a closing TLS connection waits for the client's close_notify.
const TLS_CLOSE_WAIT_MS: u64 = 500;

/// Let go of one reference to a connection; the last one closes it.
pub fn release(shared: Arc<Shared>) {
    if let Some(sh) = Arc::into_inner(shared) {
        if closes_on_this_thread(&sh) {
            close(sh);
            return;
        }
        // Not a clone of the server: that would outlive the close in
        // this thread, and the server, seeing no connection left, would
        // find itself still referenced at exit (and skip cleanup).
        let pool = sh.server().pool.submitter();
        pool.submit(Box::new(move || close(sh)));
    }
}

/// Whether the connection's last holder closes it itself rather than on
/// the pool.  On the pool: the close callbacks may block, and the loop
/// (which may be the one letting go) must not hold up other clients.
/// Unless nothing in the stack can block, or its handshake steps are
/// quick and this is the only client, and no TLS goodbye waits for the
/// client: then a hand-off would cost more than the close.
fn closes_on_this_thread(sh: &Shared) -> bool {
    let srv = sh.server();
    let conns = srv.open_conns.load(std::sync::atomic::Ordering::Relaxed);
    srv.inline.handshake_on_loop(conns) && !sh.is_tls() && super::outbox::on_loop()
}

/// Whether letting go of `shared` now closes its socket before this call
/// returns (nothing else holds the connection, and it closes here).
pub fn closes_now(shared: &Arc<Shared>) -> bool {
    Arc::strong_count(shared) == 1 && closes_on_this_thread(shared)
}

/// Close the export (finalize, then close each layer, under the
/// thread-model lock), say goodbye on the socket, and drop the rest.
fn close(mut sh: Shared) {
    sh.close_export();
    sh.say_goodbye(TLS_CLOSE_WAIT_MS);
    // Dropping `sh` closes the socket, then lets go of the server.
}

#[cfg(test)]
mod tests {
    use super::super::server::Event;
    use super::super::testing;
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn the_last_holder_closes_the_connection_once() {
        let (srv, rx) = testing::server();
        let (sh, mut client) = testing::shared(&srv);
        let worker = sh.clone();
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        // The loop lets go first: a worker still holds the connection,
        // so the socket stays open and nothing is reported.
        release(sh);
        let mut buf = [0u8; 8];
        let e = client.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "still open");
        assert!(rx.0.try_recv().is_err());
        // The worker lets go last: the socket is shut, the loop told once,
        // and the server no longer waits for the connection.
        release(worker);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client.read(&mut buf).unwrap(), 0, "end of stream");
        let ev = rx.0.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(ev, Event::Closed));
        srv.live.wait_none();
        assert!(rx.0.recv_timeout(Duration::from_millis(100)).is_err());
    }
}
