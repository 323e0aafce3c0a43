//! The mail shell: bytes in (`parse`), bytes out (`compose`), and the protocols that carry
//! them (`imap`, `smtp`, over `tls`). No business rule lives here.

pub mod compose;
pub mod imap;
pub mod parse;
pub mod smtp;
pub mod submission;
pub mod tls;
