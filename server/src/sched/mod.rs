//! Where backend calls run: on the thread that read the request, or on
//! the worker pool, and the thread-model locks around them.

pub mod inline;
pub mod pool;
