//! The network side: one mio `Poll` owning every socket, a state machine
//! per connection, and the hand-off to the worker pool.
//!
//! The loop (`event_loop`) reads and parses; workers call the backend and
//! write replies themselves (see `outbox`).  Workers talk back to the
//! loop only when it asked them to (a throttled connection, a finished
//! handshake step, a closed connection), through `server::Event`.

pub mod admission;
pub mod closing;
pub mod config;
pub mod conn;
pub mod cork;
pub mod event_loop;
pub mod handoff;
pub mod hold;
pub mod jobs;
pub mod listen;
pub mod outbox;
pub mod placement;
pub mod relay;
pub mod server;
pub mod shared;
pub mod spin;
pub mod stream;
pub mod transport;

#[cfg(test)]
pub(crate) mod testing;

pub use config::ServeConfig;
pub use event_loop::serve;
pub use server::Server;
