//! The settings that shape how connections are served (from the command
//! line), read by the loop, the handshake steps and the request side.

/// Settings that shape how connections are served.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub readonly: bool,
    pub export_name: String,
    pub no_sr: bool,
    /// `--tls`: what option negotiation offers and requires.
    pub tls: crate::protocol::negotiate::TlsMode,
    pub mask_handshake: u16,
    pub oldstyle: bool,
    /// Requests in flight per connection (`-t`).
    pub max_inflight: usize,
    /// `--memory-limit`: bytes requests in flight may hold (see `budget`).
    pub memory_limit: u64,
    /// Which plugins' large structured reads may send zeroes as holes
    /// (`--sparse-reads`).
    pub sparse_reads: crate::sparse_read::SparseReads,
    /// `--send-error-messages`: error chunks carry the reason.
    pub error_messages: bool,
    /// `--enforce-block-size`: requests breaking a plugin's advertised
    /// block sizes get EINVAL without reaching it.
    pub enforce_block_size: bool,
    /// A client must finish negotiating within this (`--timeout`; `None`:
    /// no limit).
    pub handshake_timeout: Option<std::time::Duration>,
    /// `--keepalive`: SO_KEEPALIVE on each accepted socket.
    pub keepalive: bool,
    /// `--no-meta-contexts`: refuse the meta context options.
    pub no_mc: bool,
}
