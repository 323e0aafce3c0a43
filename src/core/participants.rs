//! Colleagues in copy: the addresses a customer put in `To` or `Cc` of a request or a
//! reply. Those of the ticket's contract become participants and are copied on the
//! ticket's mail to the customer; any other is never written to (no backscatter), only
//! named to the operators so that a person decides.

use super::address::Address;
use super::contract::Contract;
use super::decision::Settings;
use super::inbound::Inbound;

/// The recipients of `msg` that the contract lists: colleagues to copy.
pub fn colleagues(msg: &Inbound, contract: &Contract, settings: &Settings) -> Vec<Address> {
    others(msg, settings)
        .filter(|a| contract.enables(a))
        .cloned()
        .collect()
}

/// The recipients of `msg` that the contract does not list: named to operators, never
/// written to.
pub fn strangers(msg: &Inbound, contract: &Contract, settings: &Settings) -> Vec<Address> {
    others(msg, settings)
        .filter(|a| !contract.enables(a))
        .cloned()
        .collect()
}

/// Recipients other than the desk itself, its operators and the sender.
fn others<'m>(msg: &'m Inbound, settings: &'m Settings) -> impl Iterator<Item = &'m Address> {
    msg.recipients.iter().filter(move |a| {
        !settings.own_addresses.contains(a)
            && settings.operator_by_address(a).is_none()
            && msg.from.as_ref() != Some(*a)
    })
}
