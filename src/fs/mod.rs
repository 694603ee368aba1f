//! Files: serving a directory (path containment, MIME types, and the
//! `DirServer` helper handlers call), and writing uploads (`BodyFile`).

pub mod body_file;
pub mod dir_server;
pub mod encoding;
pub mod mime;
pub mod path;
pub mod range;
