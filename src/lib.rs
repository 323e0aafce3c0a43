//! `assistenza`: an email-driven support desk.
pub mod core;
