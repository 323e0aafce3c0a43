//! Contract expiry notices: the administration hears of each contract `notify_before_days`
//! before its last day, and once more when it lapses, with its addresses and the last
//! twelve months' use, so it can ask the customer to renew.
//!
//! A notice is owed by the calendar and by the contract, like the morning digest: `owed`
//! reads the contracts, the notices already sent and the clock. A notice is identified by
//! contract, kind and the end date it is about, so it goes out once, and a renewal (a
//! later `valid_until`) arms the next one by itself. It is sent when the scheduler first
//! sees it owed during office hours of a working day, so somebody reads it the day it
//! arrives. A disabled contract is nobody's concern here. A contract already lapsed when
//! the feature is turned on gets the lapsed notice only if it lapsed within the window:
//! a contract over for years is not news.

use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

use super::address::Address;
use super::calendar::{rome_day, Calendar};
use super::contract::Contract;
use super::decision::{MailKind, OutgoingMail, Settings};
use super::templates::{self, ExpiryText};

/// `[contracts]`: who gets the notices and how long before the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// `contracts.notify_to`: the administration's address.
    pub to: Address,
    /// `contracts.notify_before_days`.
    pub before_days: u32,
}

/// Which of a contract's two notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoticeKind {
    /// The contract ends within the window.
    Before,
    /// The contract's last day has passed.
    Lapsed,
}

impl NoticeKind {
    /// As the store and Message-IDs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Before => "before",
            NoticeKind::Lapsed => "lapsed",
        }
    }

    pub fn parse(text: &str) -> Option<NoticeKind> {
        match text {
            "before" => Some(NoticeKind::Before),
            "lapsed" => Some(NoticeKind::Lapsed),
            _ => None,
        }
    }
}

/// One notice: sent once per contract, kind and end date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notice {
    pub contract_id: i64,
    pub kind: NoticeKind,
    /// The end date it is about: a renewal changes it, and so arms a new notice.
    pub valid_until: NaiveDate,
}

/// What a contract was used for in the twelve months before a notice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tickets opened since `since`.
    pub tickets: i64,
    /// Minutes recorded on the contract's tickets on days since `since`.
    pub minutes: i64,
}

/// Days from `now`'s Rome day to the contract's last day: 0 on the last day, negative
/// once it has lapsed.
pub fn days_left(contract: &Contract, now: DateTime<Utc>) -> i64 {
    (contract.valid_until - rome_day(now)).num_days()
}

/// The notice a contract is in the window of at `now`, sent or not: `Before` from
/// `before_days` days before its last day to that day, `Lapsed` for as many days after.
pub fn window(contract: &Contract, now: DateTime<Utc>, before_days: u32) -> Option<NoticeKind> {
    let days = days_left(contract, now);
    let span = i64::from(before_days);
    match days {
        d if (0..=span).contains(&d) => Some(NoticeKind::Before),
        d if (-span..0).contains(&d) => Some(NoticeKind::Lapsed),
        _ => None,
    }
}

/// Whether any notice may go at `now`: only while the desk is open, so it is read.
pub fn may_notify(now: DateTime<Utc>, calendar: &Calendar) -> bool {
    calendar.is_open(now)
}

/// The notices owed at `now`: none outside office hours; otherwise one for each enabled
/// contract in a window whose notice for its present end date has not gone out.
pub fn owed<'a>(
    contracts: &'a [Contract],
    sent: &[Notice],
    now: DateTime<Utc>,
    notify: &Notify,
    calendar: &Calendar,
) -> Vec<(&'a Contract, Notice)> {
    if !may_notify(now, calendar) {
        return vec![];
    }
    contracts
        .iter()
        .filter(|c| !c.disabled)
        .filter_map(|c| {
            let kind = window(c, now, notify.before_days)?;
            let notice = Notice {
                contract_id: c.id,
                kind,
                valid_until: c.valid_until,
            };
            (!sent.contains(&notice)).then_some((c, notice))
        })
        .collect()
}

/// The first day of the twelve months a notice at `now` reports the use of.
pub fn usage_since(now: DateTime<Utc>) -> NaiveDate {
    let today = rome_day(now);
    today.checked_sub_months(Months::new(12)).unwrap_or(today)
}

/// The instant `day` starts in Rome (midnight; the first one, should a clock change
/// ever fall on it).
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    Rome.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

/// The notice's mail to the administration.
pub fn mail(
    contract: &Contract,
    notice: Notice,
    usage: Usage,
    now: DateTime<Utc>,
    notify: &Notify,
    settings: &Settings,
) -> OutgoingMail {
    let text = templates::contract_expiry(
        &ExpiryText {
            contract,
            lapsed: notice.kind == NoticeKind::Lapsed,
            days: days_left(contract, now).abs(),
            since: usage_since(now),
            tickets: usage.tickets,
            minutes: usage.minutes,
        },
        settings,
    );
    OutgoingMail::new(
        MailKind::ContractExpiry,
        None,
        vec![notify.to.clone()],
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide_tests::settings;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn rome_at(d: NaiveDate, h: u32, min: u32) -> DateTime<Utc> {
        Rome.from_local_datetime(&d.and_hms_opt(h, min, 0).expect("time"))
            .single()
            .expect("a time that happens once")
            .with_timezone(&Utc)
    }

    fn contract(id: i64, until: NaiveDate) -> Contract {
        Contract {
            id,
            customer: format!("Cliente {id}"),
            addresses: vec![Address::parse("mario@rossi.it").expect("address")],
            valid_from: day(2026, 1, 1),
            valid_until: until,
            references: vec!["www.rossi.it".into()],
            disabled: false,
        }
    }

    fn notify() -> Notify {
        Notify {
            to: Address::parse("amministrazione@kzweb.it").expect("address"),
            before_days: 30,
        }
    }

    fn kinds(owed: &[(&Contract, Notice)]) -> Vec<(i64, NoticeKind)> {
        owed.iter().map(|(c, n)| (c.id, n.kind)).collect()
    }

    /// Wednesday 2 December 2026, 10:00 in Rome: a working day, the desk open.
    fn wednesday() -> DateTime<Utc> {
        rome_at(day(2026, 12, 2), 10, 0)
    }

    #[test]
    fn a_contract_is_notified_from_thirty_days_before_its_last_day() {
        let s = settings();
        let contracts = [
            contract(1, day(2027, 1, 1)),   // 30 days left
            contract(2, day(2027, 1, 2)),   // 31: not yet
            contract(3, day(2026, 12, 2)),  // its last day
            contract(4, day(2026, 12, 1)),  // lapsed yesterday
            contract(5, day(2026, 11, 2)),  // lapsed 30 days ago
            contract(6, day(2026, 11, 1)),  // lapsed 31 days ago: old news
            contract(7, day(2020, 12, 31)), // lapsed years ago
        ];
        let owed = owed(&contracts, &[], wednesday(), &notify(), &s.calendar);
        assert_eq!(
            kinds(&owed),
            vec![
                (1, NoticeKind::Before),
                (3, NoticeKind::Before),
                (4, NoticeKind::Lapsed),
                (5, NoticeKind::Lapsed),
            ]
        );
        assert_eq!(owed[0].1.valid_until, day(2027, 1, 1));
    }

    #[test]
    fn notices_go_out_only_in_office_hours_of_a_working_day() {
        let s = settings();
        let contracts = [contract(1, day(2026, 12, 20))];
        let n = notify();
        let at = |d, h| owed(&contracts, &[], rome_at(d, h, 0), &n, &s.calendar).len();
        assert_eq!(at(day(2026, 12, 2), 8), 0, "before opening");
        assert_eq!(at(day(2026, 12, 2), 9), 1, "at opening");
        assert_eq!(at(day(2026, 12, 2), 18), 0, "after closing");
        assert_eq!(at(day(2026, 12, 6), 10), 0, "a Sunday");
        assert_eq!(at(day(2026, 12, 8), 10), 0, "Immacolata");
        assert_eq!(at(day(2026, 12, 9), 10), 1, "the next working day");
    }

    /// The notices owed, without the contracts they are about.
    fn owed_at(c: &Contract, sent: &[Notice], at: DateTime<Utc>) -> Vec<Notice> {
        let s = settings();
        owed(std::slice::from_ref(c), sent, at, &notify(), &s.calendar)
            .into_iter()
            .map(|(_, n)| n)
            .collect()
    }

    #[test]
    fn a_notice_sent_is_never_owed_again_but_a_renewal_arms_the_next() {
        let mut c = contract(1, day(2026, 12, 20));
        let sent = owed_at(&c, &[], wednesday());
        assert_eq!(sent.len(), 1);
        assert_eq!(owed_at(&c, &sent, wednesday()), vec![]);
        // Renewed for a year: out of the window now, in it again 25 days before the end.
        c.valid_until = day(2027, 12, 20);
        assert_eq!(owed_at(&c, &sent, wednesday()), vec![]);
        let later = owed_at(&c, &sent, rome_at(day(2027, 11, 25), 10, 0));
        assert_eq!(
            later,
            vec![Notice {
                contract_id: 1,
                kind: NoticeKind::Before,
                valid_until: day(2027, 12, 20)
            }]
        );
    }

    #[test]
    fn the_lapsed_notice_follows_the_one_before() {
        let c = contract(1, day(2026, 12, 2));
        let mut sent = owed_at(&c, &[], wednesday());
        let thursday = rome_at(day(2026, 12, 3), 10, 0);
        let lapsed = owed_at(&c, &sent, thursday);
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].kind, NoticeKind::Lapsed);
        sent.extend(lapsed);
        assert_eq!(owed_at(&c, &sent, thursday), vec![]);
    }

    #[test]
    fn a_disabled_contract_is_not_notified() {
        let s = settings();
        let mut c = contract(1, day(2026, 12, 20));
        c.disabled = true;
        assert!(owed(&[c], &[], wednesday(), &notify(), &s.calendar).is_empty());
    }

    #[test]
    fn the_notice_names_the_contract_its_end_and_its_use() {
        let s = settings();
        let c = contract(1, day(2026, 12, 20));
        let notice = owed_at(&c, &[], wednesday())[0];
        let usage = Usage {
            tickets: 4,
            minutes: 330,
        };
        let m = mail(&c, notice, usage, wednesday(), &notify(), &s);
        assert_eq!(
            (m.kind, m.to[0].as_str()),
            (MailKind::ContractExpiry, "amministrazione@kzweb.it")
        );
        assert_eq!(
            m.subject,
            "Contratto in scadenza: Cliente 1, il 20 dicembre 2026 (tra 18 giorni)"
        );
        for part in [
            "mario@rossi.it",
            "4 ticket",
            "5h30",
            "dal 2 dicembre 2025",
            "assistenza contracts import",
        ] {
            assert!(m.body.contains(part), "{part}:\n{}", m.body);
        }
        let lapsed = Notice {
            kind: NoticeKind::Lapsed,
            ..notice
        };
        let later = rome_at(day(2026, 12, 21), 10, 0);
        let m = mail(&c, lapsed, Usage::default(), later, &notify(), &s);
        assert_eq!(
            m.subject,
            "Contratto scaduto: Cliente 1, il 20 dicembre 2026"
        );
        assert!(m.body.contains("nessun ticket"), "{}", m.body);
    }

    #[test]
    fn usage_covers_the_twelve_months_before_the_day() {
        assert_eq!(usage_since(wednesday()), day(2025, 12, 2));
        assert_eq!(
            usage_since(rome_at(day(2028, 2, 29), 10, 0)),
            day(2027, 2, 28)
        );
    }
}
