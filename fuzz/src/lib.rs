//! The server's pure modules, built here from their own source files (the
//! server is a binary crate), plus a scripted stand-in for the layer that
//! `backend::extents` asks for extents.

#![allow(dead_code)]

#[path = "../../server/src/protocol/mod.rs"]
pub mod protocol;

#[path = "../../server/src/parse.rs"]
pub mod parse;

#[path = "../../server/src/error.rs"]
pub mod error;

pub mod backend;
