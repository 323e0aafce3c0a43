//! A message the daemon could not handle, and will not try again (a permanent failure,
//! or a transient one that lasted past `intake.give_up_after`): it is set aside in the
//! quarantine folder with its reason, and the first-level queue is told once, so a person
//! looks at it. Nothing else is decided about it: no ticket is touched and the sender gets
//! no reply, since the rules never got to judge it.

use super::decision::{Effect, MailKind, OutgoingMail, Settings};
use super::inbound::Inbound;
use super::templates;

/// The notice to the queue about `msg`, set aside in `folder` for `reason`; none when
/// there is no one to tell.
pub fn set_aside(msg: &Inbound, reason: &str, folder: &str, settings: &Settings) -> Vec<Effect> {
    let queue = settings.queue_addresses();
    if queue.is_empty() {
        return vec![];
    }
    let text = templates::failure_notice(
        msg.from.as_ref(),
        &msg.subject,
        msg.received_at,
        reason,
        folder,
        settings,
    );
    let notice = OutgoingMail::new(MailKind::FailureNotice, None, queue, text);
    vec![Effect::Send(notice)]
}

#[cfg(test)]
mod tests {
    use super::super::decide_tests::{addr, now, settings};
    use super::*;

    fn broken() -> Inbound {
        Inbound {
            from: Some(addr("mario@rossi.it")),
            subject: "mario@rossi.it".into(),
            received_at: now(),
            ..Inbound::default()
        }
    }

    #[test]
    fn the_queue_is_told_once_with_the_reason_and_the_sender_gets_nothing() {
        let effects = set_aside(
            &broken(),
            "permanent failure: no such contract",
            "Quarantine",
            &settings(),
        );
        let [Effect::Send(mail)] = effects.as_slice() else {
            panic!("one mail expected: {effects:?}");
        };
        assert_eq!(mail.kind, MailKind::FailureNotice);
        assert_eq!(mail.to, settings().queue_addresses());
        assert!(!mail.to.contains(&addr("mario@rossi.it")));
        assert!(mail.body.contains("permanent failure: no such contract"));
        assert!(mail.body.contains("Quarantine"));
    }

    #[test]
    fn with_no_queue_and_no_first_level_operator_nobody_is_told() {
        let mut s = settings();
        s.queue.clear();
        s.operators.retain(|o| o.level != 1);
        assert!(set_aside(&broken(), "x", "Quarantine", &s).is_empty());
    }
}
