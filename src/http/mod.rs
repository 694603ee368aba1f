//! HTTP/1.x codecs: pure functions and types over byte slices, no sockets.

pub mod body;
pub mod date;
pub mod head;
pub mod query;
pub mod request;
pub mod response;
pub mod status;
pub mod write;
