//! The pure core: every rule of the support procedure, as plain functions of their
//! inputs. Nothing here performs I/O, reads the clock or draws random numbers — no
//! tokio, rusqlite, lettre or async-imap — so every rule is tested in milliseconds with a
//! fixed time. `tests/core_is_pure.rs` keeps it so.
//!
//! Map: `decide` is the entry for every inbound message and dispatches to `request` (new
//! requests), `customer` (replies on a ticket) and `operators` (commands and answers,
//! after `auth`); `timers` is the entry for the scheduler. `commands` is the operators'
//! grammar, `calendar` the office hours, `ticket` the states, `templates` every text.

pub mod address;
pub mod auth;
pub mod body;
pub mod bounce;
pub mod calendar;
pub mod commands;
pub mod contract;
pub mod customer;
pub mod decide;
pub mod inbound;
pub mod operators;
pub mod request;
pub mod templates;
pub mod ticket;
pub mod timers;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod lifecycle_tests;
