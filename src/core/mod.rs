//! The pure core: every rule of the support procedure, as plain functions of their
//! inputs. Nothing here performs I/O, reads the clock or draws random numbers — no
//! tokio, rusqlite, lettre or async-imap — so every rule is tested in milliseconds with a
//! fixed time. `tests/core_is_pure.rs` keeps it so.

pub mod address;
pub mod auth;
pub mod body;
pub mod calendar;
pub mod commands;
pub mod contract;
pub mod decide;
pub mod inbound;
pub mod templates;
pub mod ticket;

#[cfg(test)]
mod decide_tests;
