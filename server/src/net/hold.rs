//! A connection's hold on the server, dropped after everything else the
//! connection owns (the socket included).  Letting go of it tells the loop
//! (a descriptor is free; another connection may be admitted), then
//! counts the connection gone in [`Live`], on which the server waits at
//! exit.

use super::{Event, Server};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

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
