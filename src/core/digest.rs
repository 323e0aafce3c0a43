//! The morning digest: at the first office hour of each working day every operator gets
//! one mail with the tickets in their charge, soonest deadline first, and the first-level
//! queue one with the tickets nobody has taken. Nobody with nothing open gets anything.
//!
//! It is owed like any other deadline, but by the calendar instead of by a ticket: once a
//! day, never on a day the desk is closed, and never late. The shell records the last day
//! a digest went out, in the same transaction that queues it; `due` reads that day and
//! the clock. A digest whose first office hour passed while the daemon was stopped is not
//! sent in the afternoon or the next day: by then it would say what the operators have
//! already seen for themselves.

use chrono::{DateTime, NaiveDate, Utc};

use super::address::Address;
use super::calendar::rome;
use super::decision::{MailKind, Operator, OutgoingMail, Settings};
use super::templates::{self, DigestLine};
use super::ticket::{Deadline, TicketCode, TicketFacts, TicketState, TicketStatus};

/// A ticket still being worked on (open, taken, waiting for the customer or for a quote's
/// answer), with what the digest says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenTicket {
    pub code: TicketCode,
    /// The customer's name on the contract.
    pub customer: String,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    /// State, operator, team, level, urgency and deadlines.
    pub status: TicketStatus,
    /// Time recorded on it, in minutes.
    pub time_minutes: i64,
}

impl OpenTicket {
    /// What the digest needs of a ticket the store loaded.
    pub fn of(ticket: &TicketFacts) -> OpenTicket {
        OpenTicket {
            code: ticket.code.clone(),
            customer: ticket.contract.customer.clone(),
            summary: ticket.summary.clone(),
            opened_at: ticket.opened_at,
            status: ticket.status.clone(),
            time_minutes: ticket.time_minutes,
        }
    }

    /// Nobody has taken it, and the time to do so has passed.
    fn late(&self, now: DateTime<Utc>) -> bool {
        self.status.state == TicketState::Open
            && self.status.first_contact_at.is_none()
            && self
                .status
                .first_contact_due_at
                .is_some_and(|due| due < now)
    }

    /// What the digest orders it by: when it must be taken, or when the customer the desk
    /// waits for is reminded or the ticket closed. The first-contact time stays after the
    /// queue was reminded of it: it is still the time the ticket is late since.
    fn deadline(&self) -> Option<Deadline> {
        let st = &self.status;
        match st.state {
            TicketState::Open if st.first_contact_at.is_none() => {
                st.first_contact_due_at.map(Deadline::FirstContact)
            }
            TicketState::Waiting | TicketState::AwaitingApproval => st.next_deadline(),
            _ => None,
        }
    }

    /// Whether `operator` has it in hand: in their charge, or escalated to their team and
    /// not taken by anyone of it yet.
    fn in_hand_of(&self, operator: &Operator) -> bool {
        let st = &self.status;
        match st.state {
            TicketState::Taken | TicketState::Waiting | TicketState::AwaitingApproval => st
                .operator
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(&operator.name)),
            TicketState::Open => {
                operator.level == 2
                    && st.level == 2
                    && st
                        .team
                        .as_deref()
                        .is_some_and(|team| team.eq_ignore_ascii_case(&operator.team))
            }
            TicketState::Resolved | TicketState::Closed | TicketState::Merged => false,
        }
    }
}

/// The Rome day whose digest is owed at `now`, given the last day one went out: today,
/// when it is a working day, the desk opened less than an hour ago (or, with shorter
/// hours, is still open) and today's has not gone out. Otherwise none: that is what
/// makes a digest never late and never twice.
pub fn due(
    last_sent: Option<NaiveDate>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Option<NaiveDate> {
    let calendar = &settings.calendar;
    let local = rome(now);
    let today = local.date_naive();
    // A day after today's means the clock went back: today's went out, or is past.
    if !calendar.is_working_day(today) || last_sent.is_some_and(|day| day >= today) {
        return None;
    }
    calendar.in_first_office_hour(now).then_some(today)
}

/// The digests of `now`'s day: one to each operator with something in hand, in config
/// order, then one to the queue with the tickets no operator has (untaken, among them
/// the late ones, and any whose operator or team is no longer in the config). A ticket
/// goes to the queue only when no operator's digest lists it.
pub fn digests(
    tickets: &[OpenTicket],
    now: DateTime<Utc>,
    settings: &Settings,
) -> Vec<OutgoingMail> {
    let day = rome(now).date_naive();
    let mut active: Vec<&OpenTicket> = tickets
        .iter()
        .filter(|t| t.status.state.is_active())
        .collect();
    active.sort_by_key(|t| order(t));
    let reachable: Vec<&Operator> = settings
        .operators
        .iter()
        .filter(|o| o.address().is_some())
        .collect();
    let mut mails = vec![];
    for operator in &reachable {
        let theirs: Vec<&OpenTicket> = active
            .iter()
            .copied()
            .filter(|t| t.in_hand_of(operator))
            .collect();
        let to: Vec<_> = operator.address().cloned().into_iter().collect();
        mails.extend(mail(Some(&operator.name), &theirs, to, day, now, settings));
    }
    let nobodys: Vec<&OpenTicket> = active
        .iter()
        .copied()
        .filter(|t| !reachable.iter().any(|o| t.in_hand_of(o)))
        .collect();
    mails.extend(mail(
        None,
        &nobodys,
        settings.queue_addresses(),
        day,
        now,
        settings,
    ));
    mails
}

/// Soonest deadline first; those without one after, oldest first.
fn order(t: &OpenTicket) -> (bool, Option<DateTime<Utc>>, DateTime<Utc>, String) {
    let at = t.deadline().map(Deadline::at);
    (at.is_none(), at, t.opened_at, t.code.to_string())
}

/// One digest, unless there is nothing to list or nobody to send it to.
fn mail(
    operator: Option<&str>,
    tickets: &[&OpenTicket],
    to: Vec<Address>,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Option<OutgoingMail> {
    if tickets.is_empty() || to.is_empty() {
        return None;
    }
    let lines: Vec<DigestLine<'_>> = tickets
        .iter()
        .map(|t| DigestLine {
            code: &t.code,
            customer: &t.customer,
            summary: &t.summary,
            status: &t.status,
            opened_at: t.opened_at,
            time_minutes: t.time_minutes,
            late: t.late(now),
            deadline: t.deadline(),
        })
        .collect();
    let text = templates::digest(operator, &lines, day, settings);
    Some(OutgoingMail::new(MailKind::Digest, None, to, text))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

    use super::*;
    use crate::core::calendar::Closure;
    use crate::core::decide_tests::settings;
    use crate::core::ticket::Extra;

    fn rome_at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Rome.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("a time that happens once")
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    /// Monday 7 December 2026, 09:10 in Rome.
    fn monday() -> DateTime<Utc> {
        rome_at(2026, 12, 7, 9, 10)
    }

    #[test]
    fn the_digest_is_owed_only_in_the_first_office_hour_of_a_working_day() {
        let s = settings();
        let today = Some(day(2026, 12, 7));
        assert_eq!(due(None, monday(), &s), today);
        assert_eq!(due(None, rome_at(2026, 12, 7, 9, 0), &s), today);
        assert_eq!(due(None, rome_at(2026, 12, 7, 9, 59), &s), today);
        assert_eq!(due(None, rome_at(2026, 12, 7, 8, 59), &s), None, "early");
        assert_eq!(due(None, rome_at(2026, 12, 7, 10, 0), &s), None, "late");
        assert_eq!(
            due(None, rome_at(2026, 12, 7, 15, 0), &s),
            None,
            "afternoon"
        );
        // Summer time: 09:10 in Rome is 07:10 UTC.
        let june = Utc.with_ymd_and_hms(2026, 6, 8, 7, 10, 0).single();
        assert_eq!(due(None, june.expect("valid"), &s), Some(day(2026, 6, 8)));
    }

    #[test]
    fn no_digest_on_sundays_holidays_or_closures() {
        let mut s = settings();
        assert_eq!(due(None, rome_at(2026, 12, 6, 9, 10), &s), None, "Sunday");
        assert_eq!(due(None, rome_at(2026, 12, 5, 9, 10), &s), None, "Saturday");
        assert_eq!(
            due(None, rome_at(2026, 12, 8, 9, 10), &s),
            None,
            "Immacolata"
        );
        assert_eq!(
            due(None, rome_at(2027, 3, 29, 9, 10), &s),
            None,
            "Easter Monday"
        );
        s.calendar.closures = vec![Closure::Day(day(2026, 12, 7))];
        assert_eq!(due(None, monday(), &s), None, "a company closure");
    }

    #[test]
    fn a_day_gets_one_digest_and_a_clock_gone_back_none() {
        let s = settings();
        assert_eq!(due(Some(day(2026, 12, 7)), monday(), &s), None);
        assert_eq!(
            due(Some(day(2026, 12, 4)), monday(), &s),
            Some(day(2026, 12, 7))
        );
        assert_eq!(due(Some(day(2026, 12, 9)), monday(), &s), None);
    }

    #[test]
    fn with_office_hours_shorter_than_an_hour_the_digest_waits_no_longer_than_they_last() {
        let mut s = settings();
        s.calendar.closes = chrono::NaiveTime::from_hms_opt(9, 30, 0).expect("time");
        assert_eq!(
            due(None, rome_at(2026, 12, 7, 9, 29), &s),
            Some(day(2026, 12, 7))
        );
        assert_eq!(due(None, rome_at(2026, 12, 7, 9, 30), &s), None);
    }

    fn ticket(number: u32, opened_hours_ago: i64) -> OpenTicket {
        let opened_at = monday() - Duration::hours(opened_hours_ago);
        OpenTicket {
            code: TicketCode {
                prefix: "KZ".into(),
                year: 2026,
                number,
            },
            customer: format!("Cliente {number}"),
            summary: format!("Richiesta {number}"),
            opened_at,
            status: TicketStatus::new(false, Extra::No, opened_at + Duration::hours(4)),
            time_minutes: 0,
        }
    }

    fn taken(number: u32, hours: i64, by: &str) -> OpenTicket {
        let mut t = ticket(number, hours);
        t.status.state = TicketState::Taken;
        t.status.operator = Some(by.into());
        t.status.first_contact_at = Some(t.opened_at);
        t
    }

    fn to(mail: &OutgoingMail) -> String {
        mail.to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The codes in a digest's body, in the order it lists them.
    fn listed(mail: &OutgoingMail) -> Vec<u32> {
        mail.body
            .lines()
            .filter_map(|l| l.split(". [KZ-2026-").nth(1))
            .filter_map(|rest| rest.get(..5)?.parse().ok())
            .collect()
    }

    #[test]
    fn each_operator_gets_their_tickets_soonest_deadline_first_with_the_marks() {
        let s = settings();
        let mut waiting = taken(1, 100, "giulia");
        waiting.status.state = TicketState::Waiting;
        waiting.status.customer_reminder_at = Some(monday() + Duration::days(3));
        waiting.status.auto_close_at = Some(monday() + Duration::days(6));
        let mut quote = taken(2, 50, "Giulia");
        quote.status.state = TicketState::AwaitingApproval;
        quote.status.customer_reminder_at = Some(monday() + Duration::days(1));
        let old = taken(3, 300, "Giulia");
        let newer = taken(4, 10, "Giulia");
        let tickets = [newer, waiting, old, quote];
        let mails = digests(&tickets, monday(), &s);
        assert_eq!(mails.len(), 1, "nothing for anyone else: {mails:?}");
        let mail = &mails[0];
        assert_eq!(
            (mail.kind, mail.ticket.as_ref(), to(mail).as_str()),
            (MailKind::Digest, None, "giulia@kzweb.it")
        );
        assert_eq!(listed(mail), vec![2, 1, 3, 4], "{}", mail.body);
        assert_eq!(
            mail.subject,
            "Riepilogo di lunedì 7 dicembre 2026: 4 ticket aperti"
        );
        assert!(
            mail.body
                .contains("[KZ-2026-00002] Cliente 2 — preventivo in attesa di approvazione\n"),
            "{}",
            mail.body
        );
        assert!(mail
            .body
            .contains("[KZ-2026-00001] Cliente 1 — in attesa del cliente\n"));
        assert!(mail
            .body
            .contains("Sollecito al cliente: martedì 8 dicembre 2026 alle 9:10."));
    }

    #[test]
    fn the_queue_gets_the_untaken_late_ones_marked_and_the_orphans() {
        let s = settings();
        let late = ticket(1, 30);
        let fresh = ticket(2, 1);
        let orphan = taken(3, 200, "Ugo");
        let mine = taken(4, 5, "Marco");
        let mails = digests(&[fresh, orphan, late, mine], monday(), &s);
        assert_eq!(mails.len(), 2, "{mails:?}");
        assert_eq!(to(&mails[0]), "marco@kzweb.it");
        assert_eq!(listed(&mails[0]), vec![4]);
        let queue = &mails[1];
        assert_eq!(to(queue), "operatori@kzweb.it");
        assert_eq!(listed(queue), vec![1, 2, 3], "{}", queue.body);
        assert!(
            queue
                .body
                .contains("[KZ-2026-00001] Cliente 1 — presa in carico in ritardo\n"),
            "{}",
            queue.body
        );
        assert!(!queue
            .body
            .contains("Cliente 2 — presa in carico in ritardo"));
        assert!(queue.body.contains("in carico a Ugo"), "{}", queue.body);
        assert!(queue
            .subject
            .starts_with("Riepilogo della coda di lunedì 7 dicembre 2026"));
    }

    #[test]
    fn an_escalated_ticket_nobody_took_goes_to_its_team_not_to_the_queue() {
        let s = settings();
        let mut escalated = ticket(1, 30);
        escalated.status.level = 2;
        escalated.status.team = Some("sistemisti".into());
        escalated.status.first_contact_at = Some(escalated.opened_at);
        let mails = digests(&[escalated], monday(), &s);
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(to(&mails[0]), "sergio@kzweb.it");
        assert!(!mails[0].body.contains("ritardo"), "{}", mails[0].body);
    }

    #[test]
    fn nobody_with_nothing_open_gets_a_digest() {
        let mut s = settings();
        assert_eq!(digests(&[], monday(), &s), vec![]);
        let mut closed = taken(1, 10, "Giulia");
        closed.status.state = TicketState::Resolved;
        assert_eq!(digests(&[closed], monday(), &s), vec![]);
        // No queue address and no first-level operator: the queue's digest has nowhere to go.
        s.queue = vec![];
        s.operators.retain(|o| o.level == 2);
        assert_eq!(digests(&[ticket(2, 1)], monday(), &s), vec![]);
    }
}
