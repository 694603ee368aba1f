//! The network edge: the listening socket and the threads that accept on it.

pub mod accept;
pub mod activation;
pub mod listener;
