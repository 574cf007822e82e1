//! A connection's hold on the server, dropped after everything else the
//! connection owns (the socket included).  Letting go of it tells the loop
//! (a descriptor is free; another connection may be admitted), then
//! counts the connection gone in [`Live`], on which the server waits at
//! exit.

use super::{Event, Server};
use std::sync::{Arc, Condvar, Mutex};

/// A connection's reference to the server, let go of last.
pub struct ServerHold(Option<Arc<Server>>);

impl ServerHold {
    pub fn new(server: Arc<Server>) -> ServerHold {
        server.live.enter();
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
            // The socket is closed by now: the loop may accept again.
            server.notify(Event::Closed);
            drop(server);
            live.leave();
        }
    }
}

/// Connections whose state still exists (each holds the server).
#[derive(Default)]
pub struct Live {
    count: Mutex<usize>,
    none: Condvar,
}

impl Live {
    fn enter(&self) {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    fn leave(&self) {
        let mut n = self.count.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == 0 {
            self.none.notify_all();
        }
    }

    /// Wait until every connection's state is gone, and with it every
    /// reference a connection held to the server.
    pub fn wait_none(&self) {
        let mut n = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
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
