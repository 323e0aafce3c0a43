//! The reply rate limit (SPEC "No backscatter, no loops"): at most so many mails an hour
//! to one customer address. Every way a mail to a customer is decided goes through it —
//! `decide` for inbound messages, `request::confirmation` for the portal's confirmation
//! mail — so no channel can be used to flood an address.

use super::address::Address;
use super::decision::Effect;

/// Flood and loop protection: at most `limit` mails an hour to one customer address,
/// whatever their kind and whoever wrote (rotating `From:` among a contract's addresses
/// gains nothing when the mail goes to the requester). A mail to any address already at
/// the limit stays in `effects`, marked held: it is recorded and never sent. Mail to
/// operators only is not limited (`queued` lists only customer addresses). Returns what
/// the log should say when anything was held.
pub fn limit_replies(
    effects: &mut [Effect],
    queued: &[(Address, u32)],
    limit: u32,
) -> Option<String> {
    let mut counts = queued.to_vec();
    let (mut n, mut held): (usize, Vec<Address>) = (0, Vec::new());
    for effect in effects {
        let Effect::Send(mail) = effect else { continue };
        let mut over = None;
        for (address, n) in &mut counts {
            if mail.to.contains(address) || mail.cc.contains(address) {
                if *n >= limit && over.is_none() {
                    over = Some(address.clone());
                }
                *n += 1;
            }
        }
        if let Some(address) = over {
            mail.held = Some(format!(
                "rate limit: {limit} mails an hour to {address} already queued"
            ));
            n += 1;
            if !held.contains(&address) {
                held.push(address);
            }
        }
    }
    (n > 0).then(|| {
        let to: Vec<String> = held.iter().map(|a| a.to_string()).collect();
        format!(
            "{n} mail(s) to {} held, not sent: {limit} an hour already queued",
            to.join(", ")
        )
    })
}
