//! Serving files from a directory: path containment, MIME types, and the
//! `DirServer` helper handlers call.

pub mod dir_server;
pub mod encoding;
pub mod mime;
pub mod path;
pub mod range;
