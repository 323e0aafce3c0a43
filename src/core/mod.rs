//! The pure core: every rule of the support procedure, as plain functions of their
//! inputs. Nothing here performs I/O, reads the clock or draws random numbers — no
//! tokio, rusqlite, lettre or async-imap — so every rule is tested in milliseconds with a
//! fixed time. `tests/core_is_pure.rs` keeps it so.
//!
//! Map, from the bottom up: `address`, `auth`, `body`, `calendar`, `commands`,
//! `contract` and `inbound` are the leaves, with `approval` (a customer's ACCETTO or
//! RIFIUTO) just above `body`; `ticket` holds the states and the state
//! machine (`Moves`, the only code that changes a ticket's state); `decision` is the
//! vocabulary every rule speaks (settings, facts, outcomes, effects, outgoing mail);
//! `templates` holds every text; `participants` (colleagues in copy) reads the contract
//! for the rule files above it. The rule files `request` (new requests, by mail or by the
//! portal's form), `customer` (replies on a ticket), `operators` (commands and answers),
//! `bounce` (delivery reports), `timers` (deadlines) and `failed` (a message set aside
//! after a failure) read facts, call the state machine and return effects; `digest` (the
//! morning digest of open tickets) and `expiry` (contract expiry notices to the
//! administration) read them and return mail; `limit` (the
//! reply rate limit) is applied to what they send to customers; `decide` only dispatches
//! an inbound message to one of them. Imports run only in that order, downwards.

pub mod address;
pub mod approval;
pub mod auth;
pub mod body;
pub mod bounce;
pub mod calendar;
pub mod commands;
pub mod contract;
pub mod customer;
pub mod decide;
pub mod decision;
pub mod digest;
pub mod expiry;
pub mod failed;
pub mod inbound;
pub mod limit;
pub mod operators;
pub mod participants;
pub mod report;
pub mod request;
pub mod templates;
pub mod texts;
pub mod ticket;
pub mod timers;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tools_tests;
