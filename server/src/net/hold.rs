//! A connection's hold on the server, dropped after everything else the
//! connection owns (the socket included).  Letting go of it tells the loop
//! (a descriptor is free; another connection may be admitted), then
//! counts the connection gone in `server::Live`, on which the server waits
//! at exit.

use super::server::{Event, Server};
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[test]
    fn a_hold_counts_its_connection_until_let_go_then_tells_the_loop() {
        let (srv, rx) = testing::server();
        let hold = ServerHold::new(srv.clone());
        let second = ServerHold::new(srv.clone());
        assert_eq!(srv.open_conns.load(Ordering::SeqCst), 2);
        assert!(Arc::ptr_eq(&hold, &srv));
        drop(hold);
        assert_eq!(srv.open_conns.load(Ordering::SeqCst), 1);
        assert!(matches!(rx.0.try_recv(), Ok(Event::Closed)));
        assert!(rx.0.try_recv().is_err(), "one event per connection");
        drop(second);
        assert_eq!(srv.open_conns.load(Ordering::SeqCst), 0);
        // No connection state is left: waiting for none returns at once.
        srv.live.wait_none();
    }
}
