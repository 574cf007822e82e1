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
//! A connection holds the server through a [`ServerHold`], dropped after
//! everything else the connection owns (the socket included).  Letting go
//! of it tells the loop (a descriptor is free; another connection may be
//! admitted), then counts the connection gone in [`Live`], on which the
//! server waits at exit.

use super::shared::Shared;
use super::{Event, Server};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

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
        let pool = sh.server.pool.submitter();
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
    let srv = &sh.server;
    let conns = srv.open_conns.load(Ordering::Relaxed);
    srv.inline.handshake_on_loop(conns) && !sh.stream.is_tls() && super::outbox::on_loop()
}

/// Whether letting go of `shared` now closes its socket before this call
/// returns (nothing else holds the connection, and it closes here).
pub fn closes_now(shared: &Arc<Shared>) -> bool {
    Arc::strong_count(shared) == 1 && closes_on_this_thread(shared)
}

/// Close the export (finalize, then close each layer, under the
/// thread-model lock), say goodbye on the socket, and drop the rest.
fn close(mut sh: Shared) {
    if let Some(session) = sh.session.take() {
        sh.retire_workers();
        let _g = sh.server.locks.enter(&sh.req_lock);
        crate::logging::with_context(&sh.ctx, || session.close());
    }
    // Flush what the client can still take; it may be gone.
    if let Some(bye) = sh.stream.bye() {
        let _ = sh.outbox.send_raw(&sh.stream, &bye);
        let _ = sh.outbox.flush(&sh.stream);
        sh.stream.await_peer_close(TLS_CLOSE_WAIT_MS);
    }
    let _ = sh.outbox.flush(&sh.stream);
    sh.stream.shutdown();
    // Dropping `sh` closes the socket, then lets go of the server.
}

/// A connection's reference to the server, let go of last.
pub struct ServerHold(Option<Arc<Server>>);

impl ServerHold {
    /// Counts the connection open (`Server::open_conns`) until dropped.
    pub fn new(server: Arc<Server>) -> ServerHold {
        server.live.enter();
        server.open_conns.fetch_add(1, Ordering::SeqCst);
        ServerHold(Some(server))
    }
}

impl std::ops::Deref for ServerHold {
    type Target = Arc<Server>;
    fn deref(&self) -> &Arc<Server> {
        self.0.as_ref().expect("held until dropped")
    }
}

impl Drop for ServerHold {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            let live = server.live.clone();
            // The socket is closed by now: the loop may accept again.  The
            // count drops here, not when the loop hears of it, so that a
            // client connecting meanwhile is not taken for a second one.
            server.open_conns.fetch_sub(1, Ordering::SeqCst);
            server.notify(Event::Closed);
            drop(server);
            live.leave();
        }
    }
}

/// Connections whose state still exists (each holds the server).
#[derive(Default)]
pub struct Live {
    count: Mutex<LiveCount>,
    none: Condvar,
}

#[derive(Default)]
struct LiveCount {
    conns: usize,
    /// Someone waits in `wait_none` (only then does the last connection
    /// leaving make a wake-up call).
    waiting: bool,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveCount> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(&self) {
        self.lock().conns += 1;
    }

    fn leave(&self) {
        let mut n = self.lock();
        n.conns -= 1;
        if n.conns == 0 && n.waiting {
            self.none.notify_all();
        }
    }

    /// Wait until every connection's state is gone, and with it every
    /// reference a connection held to the server.
    pub fn wait_none(&self) {
        let mut n = self.lock();
        while n.conns > 0 {
            n.waiting = true;
            n = self.none.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waiting_ends_when_the_last_connection_leaves() {
        let live = Arc::new(Live::default());
        live.enter();
        live.enter();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let l = live.clone();
        std::thread::spawn(move || {
            l.wait_none();
            let _ = tx.send(());
        });
        live.leave();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        live.leave();
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
    }
}
