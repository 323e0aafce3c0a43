//! Office hours of the support desk: which days it works (weekdays from the config, minus
//! Italian national holidays and company closures), whether it is open at an instant, when
//! it next opens, and how much wall-clock time a span of office time takes. Hours are
//! Europe/Rome local times, so the desk opens at 09:00 whatever the season; instants come
//! in and go out as UTC, and every computation takes its "now" as an argument.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::{Europe::Rome, Tz};

/// How many local days the searches look ahead. Three years of days, so a config that
/// leaves no working day at all ends the search instead of looping for ever.
const SEARCH_DAYS: u32 = 3 * 366;

/// A company closure from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closure {
    /// One day: "2026-12-24".
    Day(NaiveDate),
    /// Inclusive range: "2026-08-10..2026-08-21".
    Range(NaiveDate, NaiveDate),
    /// Every year on this month and day: "06-29" (a local patron saint's feast).
    Yearly { month: u32, day: u32 },
}

const EXPECTED_CLOSURE: &str = "expected a day \"YYYY-MM-DD\" (e.g. 2026-12-24), \
     a range \"YYYY-MM-DD..YYYY-MM-DD\" (e.g. 2026-08-10..2026-08-21) \
     or a yearly day \"MM-DD\" (e.g. 06-29)";

impl Closure {
    /// Parses the three forms above (surrounding whitespace ignored); Err(message in English
    /// saying what form is expected) otherwise. A range whose end is before its start is an error.
    pub fn parse(text: &str) -> Result<Closure, String> {
        let text = text.trim();
        if let Some((start, end)) = text.split_once("..") {
            let start = parse_full_date(start.trim())
                .map_err(|why| format!("closure \"{text}\": start {why}; {EXPECTED_CLOSURE}"))?;
            let end = parse_full_date(end.trim())
                .map_err(|why| format!("closure \"{text}\": end {why}; {EXPECTED_CLOSURE}"))?;
            if end < start {
                return Err(format!(
                    "closure \"{text}\": the range ends before it starts; {EXPECTED_CLOSURE}"
                ));
            }
            return Ok(Closure::Range(start, end));
        }
        match text.len() {
            10 => parse_full_date(text)
                .map(Closure::Day)
                .map_err(|why| format!("closure \"{text}\": {why}; {EXPECTED_CLOSURE}")),
            5 => parse_month_day(text)
                .map(|(month, day)| Closure::Yearly { month, day })
                .map_err(|why| format!("closure \"{text}\": {why}; {EXPECTED_CLOSURE}")),
            _ => Err(format!(
                "closure \"{text}\" is not in a known form: {EXPECTED_CLOSURE}"
            )),
        }
    }

    pub fn covers(&self, day: NaiveDate) -> bool {
        match self {
            Closure::Day(date) => *date == day,
            Closure::Range(start, end) => *start <= day && day <= *end,
            Closure::Yearly { month, day: dom } => day.month() == *month && day.day() == *dom,
        }
    }
}

/// Reads a number made only of ASCII digits; chrono's own parser would also take signs,
/// spaces and one-digit months, which in a config file are more likely typos than intent.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_full_date(text: &str) -> Result<NaiveDate, String> {
    let mut parts = text.split('-');
    let (Some(year), Some(month), Some(day), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("\"{text}\" is not a date YYYY-MM-DD"));
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(format!("\"{text}\" is not a date YYYY-MM-DD"));
    }
    let (Some(y), Some(m), Some(d)) = (digits(year), digits(month), digits(day)) else {
        return Err(format!("\"{text}\" is not a date YYYY-MM-DD"));
    };
    // Four digits always fit an i32.
    let y = i32::try_from(y).map_err(|_| format!("\"{text}\" is not a date YYYY-MM-DD"))?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("\"{text}\" is not a real date"))
}

fn parse_month_day(text: &str) -> Result<(u32, u32), String> {
    let Some((month, day)) = text.split_once('-') else {
        return Err(format!("\"{text}\" is not a day of the year MM-DD"));
    };
    if month.len() != 2 || day.len() != 2 {
        return Err(format!("\"{text}\" is not a day of the year MM-DD"));
    }
    let (Some(m), Some(d)) = (digits(month), digits(day)) else {
        return Err(format!("\"{text}\" is not a day of the year MM-DD"));
    };
    // A leap year, so that 02-29 is accepted: it simply closes only in leap years.
    if NaiveDate::from_ymd_opt(2000, m, d).is_none() {
        return Err(format!("\"{text}\" is not a real day of the year"));
    }
    Ok((m, d))
}

/// Office hours in Europe/Rome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// Local opening time; default 09:00.
    pub opens: NaiveTime,
    /// Local closing time; default 18:00. Must be after `opens` (the caller validates).
    pub closes: NaiveTime,
    /// Weekdays the desk works; default Monday to Friday.
    pub days: Vec<Weekday>,
    pub closures: Vec<Closure>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            opens: NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a valid time"),
            closes: NaiveTime::from_hms_opt(18, 0, 0).expect("18:00 is a valid time"),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            closures: Vec::new(),
        }
    }
}

/// Easter Sunday (Gregorian, anonymous/Meeus algorithm) of a year.
///
/// Years beyond what chrono can represent are clamped to its range, so that any `i32` gives
/// a date instead of a panic; no real calendar gets near those years.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let year = year.clamp(NaiveDate::MIN.year(), NaiveDate::MAX.year());
    // Euclidean division keeps every intermediate in its usual range for negative years
    // too, and with it the result between 22 March and 25 April.
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n / 31).expect("the Easter month is 3 or 4");
    let day = u32::try_from(n % 31 + 1).expect("the Easter day of month is positive");
    NaiveDate::from_ymd_opt(year, month, day)
        .expect("Easter falls between 22 March and 25 April of a year chrono can represent")
}

/// The Italian national holiday falling on `day`, by its Italian name, if any:
/// 1 Jan "Capodanno", 6 Jan "Epifania", Easter Monday "Lunedì dell'Angelo" (computed),
/// 25 Apr "Festa della Liberazione", 1 May "Festa del Lavoro", 2 Jun "Festa della Repubblica",
/// 15 Aug "Ferragosto", 1 Nov "Ognissanti", 8 Dec "Immacolata Concezione", 25 Dec "Natale",
/// 26 Dec "Santo Stefano".
///
/// When Easter Monday falls on 25 April (as in 2011) the fixed feast's name is given.
pub fn italian_holiday(day: NaiveDate) -> Option<&'static str> {
    let fixed = match (day.month(), day.day()) {
        (1, 1) => Some("Capodanno"),
        (1, 6) => Some("Epifania"),
        (4, 25) => Some("Festa della Liberazione"),
        (5, 1) => Some("Festa del Lavoro"),
        (6, 2) => Some("Festa della Repubblica"),
        (8, 15) => Some("Ferragosto"),
        (11, 1) => Some("Ognissanti"),
        (12, 8) => Some("Immacolata Concezione"),
        (12, 25) => Some("Natale"),
        (12, 26) => Some("Santo Stefano"),
        _ => None,
    };
    fixed.or_else(|| {
        (day.pred_opt() == Some(easter_sunday(day.year()))).then_some("Lunedì dell'Angelo")
    })
}

/// The UTC instant of a Rome wall-clock time. In the autumn hour that happens twice the
/// first occurrence wins, since that is when the clock first shows the time. A time inside
/// the spring-forward gap never happens; the first instant after the gap stands in for it,
/// which is also the first instant `is_open` reports as past that time.
fn rome_instant(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    if let Some(instant) = earliest_in_rome(naive) {
        return instant;
    }
    // Transitions happen on whole minutes, so stepping minute by minute from the start of
    // the skipped minute lands exactly on the end of the gap. Rome's gap is one hour; a day
    // bounds the search should the rules ever change.
    let minute = date
        .and_hms_opt(time.hour(), time.minute(), 0)
        .expect("the hour and minute of a valid time make a valid time");
    for step in 1..=24 * 60 {
        let later = minute.checked_add_signed(Duration::minutes(step));
        if let Some(instant) = later.and_then(earliest_in_rome) {
            return instant;
        }
    }
    // Unreachable with any real zone rules: read the time as UTC rather than fail.
    naive.and_utc()
}

fn earliest_in_rome(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match Rome.from_local_datetime(&naive) {
        LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// This instant as the agency's clocks show it. Every date and time a rule judges or a
/// person reads is Europe/Rome's, whatever zone the machine is set to: this is the one
/// place that says so.
pub fn rome(at: DateTime<Utc>) -> DateTime<Tz> {
    at.with_timezone(&Rome)
}

/// `2026-03-10 10:05`: an instant in Rome, to the minute, for listings and logs that
/// administrators read.
pub fn rome_stamp(at: DateTime<Utc>) -> String {
    rome(at).format("%Y-%m-%d %H:%M").to_string()
}

/// The calendar day in Europe/Rome that contains `at`: contract dates and holidays are
/// Italian dates, so a request received at 00:30 Rome time on 1 January belongs to the
/// new year.
pub fn rome_day(at: DateTime<Utc>) -> NaiveDate {
    rome(at).date_naive()
}

/// The Rome local days from the one containing `at` onwards, as far as the search guard.
fn days_from(at: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
    rome_day(at)
        .iter_days()
        .take(usize::try_from(SEARCH_DAYS).expect("a few thousand days fit a usize") + 1)
}

impl Calendar {
    /// A working day: one of `days`, not a national holiday, not covered by a closure.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        self.days.contains(&day.weekday())
            && italian_holiday(day).is_none()
            && !self.closures.iter().any(|closure| closure.covers(day))
    }

    /// True when `at` (converted to Europe/Rome) is on a working day and opens <= local time < closes.
    /// So Friday 17:59:59 is open and Friday 18:00:00 is closed.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = rome(at);
        let time = local.time();
        self.is_working_day(local.date_naive()) && self.opens <= time && time < self.closes
    }

    /// `at` itself when open; otherwise the next instant the desk opens (the `opens` time of the
    /// next working day, or of today if today is a working day and it is before `opens`).
    /// Search at most 3 years ahead; if there is no working day in that span (e.g. days is empty
    /// or everything closed), return `at` unchanged (the caller validates config so this is only a guard).
    pub fn next_opening(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(at) {
            return at;
        }
        days_from(at)
            .filter(|day| self.is_working_day(*day))
            .map(|day| rome_instant(day, self.opens))
            .find(|opening| *opening >= at)
            .unwrap_or(at)
    }

    /// Within the first office hour of `at`'s day (or, with hours shorter than that,
    /// while open): when the desk's scheduled mails (the digest, the monthly report) go,
    /// never later. Whether the day is a working day is the caller's question.
    pub fn in_first_office_hour(&self, at: DateTime<Utc>) -> bool {
        let since_opening = rome(at).time().signed_duration_since(self.opens);
        let window = Duration::hours(1).min(self.closes.signed_duration_since(self.opens));
        since_opening >= Duration::zero() && since_opening < window
    }

    /// `days` office days after `at`: the same time of day on the `days`-th working day
    /// after it. Counted from the next opening when the desk is closed at `at`, so a wait
    /// of one office day asked on Friday at 20:00 ends on Tuesday at 9:00 (the customer
    /// had all of Monday) and one asked on Friday at 15:00 ends on Monday at 15:00. Same
    /// guard as `next_opening`.
    pub fn after_office_days(&self, at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let start = self.next_opening(at);
        days_from(start)
            .skip(1)
            .filter(|day| self.is_working_day(*day))
            .nth(days.saturating_sub(1) as usize)
            .map_or(at, |day| rome_instant(day, rome(start).time()))
    }

    /// The instant reached after `amount` of open time has passed, counting from `at`
    /// (only time inside office hours counts). E.g. with 09–18 Mon–Fri, 4 hours from Friday
    /// 16:00 is Monday 11:00 (Rome), and from Saturday 10:00 it is Monday 13:00. A zero (or
    /// negative) amount returns `at` unchanged. When the amount runs out exactly at closing
    /// time, the closing instant is returned, not the next opening.
    /// Same 3-year guard as `next_opening`: `at` unchanged if the amount is not used up within it.
    pub fn add_office_time(&self, at: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return at;
        }
        let mut remaining = amount;
        for day in days_from(at).filter(|day| self.is_working_day(*day)) {
            // Differences of UTC instants are real elapsed time, so a day whose opening hours
            // straddle a clock change counts what actually passed.
            let opening = rome_instant(day, self.opens);
            let closing = rome_instant(day, self.closes);
            let start = opening.max(at);
            if start >= closing {
                continue;
            }
            let available = closing - start;
            if remaining <= available {
                return start + remaining;
            }
            remaining -= available;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rome(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Rome.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("an unambiguous Rome time")
            .with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("a valid UTC time")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("a valid time")
    }

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    #[test]
    fn easter_sunday_matches_the_published_dates_from_2025_to_2030() {
        assert_eq!(easter_sunday(2025), date(2025, 4, 20));
        assert_eq!(easter_sunday(2026), date(2026, 4, 5));
        assert_eq!(easter_sunday(2027), date(2027, 3, 28));
        assert_eq!(easter_sunday(2028), date(2028, 4, 16));
        assert_eq!(easter_sunday(2029), date(2029, 4, 1));
        assert_eq!(easter_sunday(2030), date(2030, 4, 21));
    }

    #[test]
    fn easter_sunday_always_falls_on_a_sunday_between_22_march_and_25_april() {
        for year in 1583..=2400 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sun, "{year}");
            assert!(
                easter >= date(year, 3, 22) && easter <= date(year, 4, 25),
                "{year}"
            );
        }
    }

    #[test]
    fn easter_sunday_does_not_panic_for_any_year() {
        for year in [i32::MIN, -1, 0, 1, i32::MAX] {
            let _ = easter_sunday(year);
        }
    }

    #[test]
    fn easter_monday_is_a_holiday_from_2025_to_2030() {
        let calendar = Calendar::default();
        for year in 2025..=2030 {
            let monday = easter_sunday(year).succ_opt().expect("a next day");
            assert_eq!(monday.weekday(), Weekday::Mon);
            assert_eq!(italian_holiday(monday), Some("Lunedì dell'Angelo"));
            assert!(!calendar.is_working_day(monday), "{monday}");
        }
    }

    #[test]
    fn easter_sunday_itself_is_not_a_national_holiday_but_is_not_worked() {
        let calendar = Calendar::default();
        for year in 2025..=2030 {
            let easter = easter_sunday(year);
            assert_eq!(italian_holiday(easter), None);
            assert!(!calendar.is_working_day(easter));
        }
    }

    #[test]
    fn every_fixed_national_holiday_has_its_italian_name() {
        let expected = [
            ((1, 1), "Capodanno"),
            ((1, 6), "Epifania"),
            ((4, 25), "Festa della Liberazione"),
            ((5, 1), "Festa del Lavoro"),
            ((6, 2), "Festa della Repubblica"),
            ((8, 15), "Ferragosto"),
            ((11, 1), "Ognissanti"),
            ((12, 8), "Immacolata Concezione"),
            ((12, 25), "Natale"),
            ((12, 26), "Santo Stefano"),
        ];
        for year in [2026, 2027, 2028] {
            for ((month, day), name) in expected {
                assert_eq!(italian_holiday(date(year, month, day)), Some(name));
            }
        }
    }

    #[test]
    fn an_ordinary_weekday_is_not_a_holiday_and_is_worked() {
        let day = date(2026, 3, 10);
        assert_eq!(day.weekday(), Weekday::Tue);
        assert_eq!(italian_holiday(day), None);
        assert!(Calendar::default().is_working_day(day));
    }

    #[test]
    fn easter_monday_on_liberation_day_is_still_a_holiday() {
        // 2011: Easter Sunday 24 April.
        assert_eq!(easter_sunday(2011), date(2011, 4, 24));
        assert_eq!(
            italian_holiday(date(2011, 4, 25)),
            Some("Festa della Liberazione")
        );
    }

    #[test]
    fn fixed_holidays_on_weekdays_are_not_working_days() {
        let calendar = Calendar::default();
        for day in [
            date(2026, 1, 1),
            date(2026, 1, 6),
            date(2026, 5, 1),
            date(2026, 6, 2),
            date(2026, 12, 8),
            date(2026, 12, 25),
            date(2027, 11, 1),
        ] {
            assert!(
                !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
                "{day}"
            );
            assert!(!calendar.is_working_day(day), "{day}");
        }
    }

    #[test]
    fn a_request_on_republic_day_waits_for_wednesday_morning() {
        let calendar = Calendar::default();
        assert_eq!(date(2026, 6, 2).weekday(), Weekday::Tue);
        let at = rome(2026, 6, 2, 10, 0, 0);
        assert!(!calendar.is_open(at));
        assert_eq!(calendar.next_opening(at), rome(2026, 6, 3, 9, 0, 0));
    }

    #[test]
    fn a_request_on_the_immacolata_waits_for_wednesday_morning() {
        let calendar = Calendar::default();
        assert_eq!(date(2026, 12, 8).weekday(), Weekday::Tue);
        let at = rome(2026, 12, 8, 11, 30, 0);
        assert!(!calendar.is_open(at));
        assert_eq!(calendar.next_opening(at), rome(2026, 12, 9, 9, 0, 0));
    }

    #[test]
    fn friday_one_second_before_closing_is_open_and_at_closing_is_closed() {
        let calendar = Calendar::default();
        assert_eq!(date(2026, 5, 15).weekday(), Weekday::Fri);
        assert!(calendar.is_open(rome(2026, 5, 15, 17, 59, 0)));
        assert!(calendar.is_open(rome(2026, 5, 15, 17, 59, 59)));
        assert!(!calendar.is_open(rome(2026, 5, 15, 18, 0, 0)));
    }

    #[test]
    fn opening_time_itself_is_open() {
        let calendar = Calendar::default();
        assert!(calendar.is_open(rome(2026, 5, 15, 9, 0, 0)));
        assert!(!calendar.is_open(rome(2026, 5, 15, 8, 59, 59)));
    }

    #[test]
    fn next_opening_when_open_is_the_same_instant() {
        let at = rome(2026, 5, 13, 12, 34, 56);
        assert_eq!(Calendar::default().next_opening(at), at);
    }

    #[test]
    fn next_opening_from_friday_closing_is_monday_morning() {
        let at = rome(2026, 5, 15, 18, 0, 0);
        assert_eq!(
            Calendar::default().next_opening(at),
            rome(2026, 5, 18, 9, 0, 0)
        );
    }

    #[test]
    fn next_opening_just_before_monday_opening_is_the_same_morning() {
        let at = rome(2026, 5, 18, 8, 59, 0);
        assert_eq!(
            Calendar::default().next_opening(at),
            rome(2026, 5, 18, 9, 0, 0)
        );
    }

    #[test]
    fn next_opening_from_saturday_is_monday_morning() {
        let at = rome(2026, 5, 16, 10, 0, 0);
        assert_eq!(
            Calendar::default().next_opening(at),
            rome(2026, 5, 18, 9, 0, 0)
        );
    }

    #[test]
    fn next_opening_from_christmas_eve_2027_evening_skips_the_christmas_weekend() {
        assert_eq!(date(2027, 12, 24).weekday(), Weekday::Fri);
        let at = rome(2027, 12, 24, 19, 0, 0);
        assert_eq!(
            Calendar::default().next_opening(at),
            rome(2027, 12, 27, 9, 0, 0)
        );
    }

    #[test]
    fn next_opening_across_the_spring_clock_change_is_monday_nine_local() {
        let at = rome(2026, 3, 28, 10, 0, 0);
        let opening = Calendar::default().next_opening(at);
        assert_eq!(opening, rome(2026, 3, 30, 9, 0, 0));
        assert_eq!(opening, utc(2026, 3, 30, 7, 0));
    }

    #[test]
    fn next_opening_across_the_autumn_clock_change_is_monday_nine_local() {
        let at = rome(2026, 10, 24, 10, 0, 0);
        let opening = Calendar::default().next_opening(at);
        assert_eq!(opening, rome(2026, 10, 26, 9, 0, 0));
        assert_eq!(opening, utc(2026, 10, 26, 8, 0));
    }

    #[test]
    fn four_office_hours_from_friday_afternoon_before_spring_change_end_monday_eleven() {
        let at = rome(2026, 3, 27, 16, 0, 0);
        let end = Calendar::default().add_office_time(at, hours(4));
        assert_eq!(end, rome(2026, 3, 30, 11, 0, 0));
        assert_eq!(end, utc(2026, 3, 30, 9, 0));
    }

    #[test]
    fn four_office_hours_from_friday_afternoon_before_autumn_change_end_monday_eleven() {
        let at = rome(2026, 10, 23, 16, 0, 0);
        let end = Calendar::default().add_office_time(at, hours(4));
        assert_eq!(end, rome(2026, 10, 26, 11, 0, 0));
        assert_eq!(end, utc(2026, 10, 26, 10, 0));
    }

    #[test]
    fn office_time_across_a_clock_change_counts_real_elapsed_time() {
        // Open every day 00:30–05:00: on 29 March 2026 the clocks jump 02:00 -> 03:00, so
        // that day holds three and a half real hours, not four and a half.
        let calendar = Calendar {
            opens: time(0, 30),
            closes: time(5, 0),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            closures: Vec::new(),
        };
        let at = rome(2026, 3, 29, 0, 30, 0);
        let short = calendar.add_office_time(at, Duration::minutes(210));
        assert_eq!(short, rome(2026, 3, 29, 5, 0, 0));
        let longer = calendar.add_office_time(at, hours(4));
        assert_eq!(longer, rome(2026, 3, 30, 1, 0, 0));
    }

    #[test]
    fn an_opening_inside_the_spring_gap_starts_when_the_clocks_resume() {
        let calendar = Calendar {
            opens: time(2, 30),
            closes: time(10, 0),
            days: vec![Weekday::Sun],
            closures: Vec::new(),
        };
        let at = rome(2026, 3, 28, 20, 0, 0);
        // 03:00 CEST, the first instant the local clock is past 02:30.
        assert_eq!(calendar.next_opening(at), utc(2026, 3, 29, 1, 0));
        assert!(calendar.is_open(utc(2026, 3, 29, 1, 0)));
        assert!(!calendar.is_open(utc(2026, 3, 29, 0, 59)));
    }

    #[test]
    fn an_opening_in_the_repeated_autumn_hour_is_its_first_occurrence() {
        let calendar = Calendar {
            opens: time(2, 30),
            closes: time(10, 0),
            days: vec![Weekday::Sun],
            closures: Vec::new(),
        };
        let at = rome(2026, 10, 24, 20, 0, 0);
        // 02:30 CEST, before the clocks go back.
        assert_eq!(calendar.next_opening(at), utc(2026, 10, 25, 0, 30));
    }

    #[test]
    fn four_office_hours_within_a_day() {
        assert_eq!(date(2026, 5, 12).weekday(), Weekday::Tue);
        let at = rome(2026, 5, 12, 10, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 12, 14, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_across_an_evening_end_the_next_morning() {
        let at = rome(2026, 5, 12, 16, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 13, 11, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_across_a_weekend_end_monday_morning() {
        let at = rome(2026, 5, 15, 16, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 18, 11, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_from_saturday_end_monday_at_one() {
        let at = rome(2026, 5, 16, 10, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 18, 13, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_from_before_opening_count_from_opening() {
        let at = rome(2026, 5, 12, 7, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 12, 13, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_from_after_closing_count_from_the_next_opening() {
        let at = rome(2026, 5, 12, 20, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 5, 13, 13, 0, 0)
        );
    }

    #[test]
    fn four_office_hours_before_liberation_day_weekend_end_monday_eleven() {
        assert_eq!(date(2026, 4, 24).weekday(), Weekday::Fri);
        let at = rome(2026, 4, 24, 16, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 4, 27, 11, 0, 0)
        );
    }

    #[test]
    fn office_time_skips_a_weekday_holiday() {
        // Monday 1 June 16:00 + 4h: Tuesday 2 June is Festa della Repubblica.
        let at = rome(2026, 6, 1, 16, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(4)),
            rome(2026, 6, 3, 11, 0, 0)
        );
    }

    #[test]
    fn a_full_office_day_from_monday_opening_ends_exactly_at_closing() {
        let at = rome(2026, 5, 18, 9, 0, 0);
        assert_eq!(
            Calendar::default().add_office_time(at, hours(9)),
            rome(2026, 5, 18, 18, 0, 0)
        );
    }

    #[test]
    fn zero_office_time_leaves_the_instant_unchanged_even_outside_hours() {
        let calendar = Calendar::default();
        let saturday = rome(2026, 5, 16, 10, 0, 0);
        assert_eq!(
            calendar.add_office_time(saturday, Duration::zero()),
            saturday
        );
        assert_eq!(calendar.add_office_time(saturday, hours(-3)), saturday);
    }

    #[test]
    fn a_calendar_without_working_days_leaves_the_instant_unchanged() {
        let calendar = Calendar {
            days: Vec::new(),
            ..Calendar::default()
        };
        let at = rome(2026, 5, 16, 10, 0, 0);
        assert_eq!(calendar.next_opening(at), at);
        assert_eq!(calendar.add_office_time(at, hours(4)), at);
    }

    #[test]
    fn a_day_closure_makes_its_weekday_non_working() {
        let calendar = Calendar {
            closures: vec![Closure::Day(date(2026, 12, 24))],
            ..Calendar::default()
        };
        assert_eq!(date(2026, 12, 24).weekday(), Weekday::Thu);
        assert!(!calendar.is_working_day(date(2026, 12, 24)));
        assert!(calendar.is_working_day(date(2026, 12, 23)));
        // Thursday 24 closed, 25 and 26 holidays, then the weekend.
        assert_eq!(
            calendar.next_opening(rome(2026, 12, 23, 18, 30, 0)),
            rome(2026, 12, 28, 9, 0, 0)
        );
    }

    #[test]
    fn a_range_closure_makes_every_day_in_it_non_working() {
        let calendar = Calendar {
            closures: vec![Closure::Range(date(2026, 8, 10), date(2026, 8, 21))],
            ..Calendar::default()
        };
        assert!(calendar.is_working_day(date(2026, 8, 7)));
        assert!(!calendar.is_working_day(date(2026, 8, 10)));
        assert!(!calendar.is_working_day(date(2026, 8, 12)));
        assert!(!calendar.is_working_day(date(2026, 8, 21)));
        assert!(calendar.is_working_day(date(2026, 8, 24)));
        assert_eq!(
            calendar.next_opening(rome(2026, 8, 12, 10, 0, 0)),
            rome(2026, 8, 24, 9, 0, 0)
        );
    }

    #[test]
    fn a_yearly_closure_makes_its_day_non_working_every_year() {
        let calendar = Calendar {
            closures: vec![Closure::Yearly { month: 6, day: 29 }],
            ..Calendar::default()
        };
        assert_eq!(date(2026, 6, 29).weekday(), Weekday::Mon);
        assert!(!calendar.is_working_day(date(2026, 6, 29)));
        assert_eq!(date(2027, 6, 29).weekday(), Weekday::Tue);
        assert!(!calendar.is_working_day(date(2027, 6, 29)));
        assert!(calendar.is_working_day(date(2027, 6, 30)));
    }

    #[test]
    fn closure_parse_accepts_a_day_a_range_and_a_yearly_day() {
        assert_eq!(
            Closure::parse("2026-12-24"),
            Ok(Closure::Day(date(2026, 12, 24)))
        );
        assert_eq!(
            Closure::parse(" 2026-08-10..2026-08-21 "),
            Ok(Closure::Range(date(2026, 8, 10), date(2026, 8, 21)))
        );
        assert_eq!(
            Closure::parse("06-29"),
            Ok(Closure::Yearly { month: 6, day: 29 })
        );
        assert_eq!(
            Closure::parse("2026-08-10..2026-08-10"),
            Ok(Closure::Range(date(2026, 8, 10), date(2026, 8, 10)))
        );
    }

    #[test]
    fn closure_parse_rejects_impossible_reversed_and_unknown_forms() {
        for text in [
            "2026-13-01",
            "2026-08-21..2026-08-10",
            "tomorrow",
            "",
            "   ",
            "02-30",
            "2026-02-29",
            "2026-8-1",
            "+2026-08-01",
            "2026-08-10..",
            "..2026-08-10",
            "2026-08-10..2026-08-21..2026-08-30",
        ] {
            assert!(Closure::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn closure_parse_errors_say_which_forms_are_expected() {
        let message = Closure::parse("tomorrow").expect_err("not a closure");
        assert!(message.contains("tomorrow"), "{message}");
        assert!(message.contains("YYYY-MM-DD"), "{message}");
        assert!(message.contains("MM-DD"), "{message}");
        let reversed = Closure::parse("2026-08-21..2026-08-10").expect_err("reversed");
        assert!(reversed.contains("ends before it starts"), "{reversed}");
    }

    #[test]
    fn a_yearly_closure_on_29_february_is_accepted_and_covers_leap_years_only() {
        let closure = Closure::parse("02-29").expect("a leap day");
        assert!(closure.covers(date(2028, 2, 29)));
        assert!(!closure.covers(date(2027, 2, 28)));
        assert!(!closure.covers(date(2027, 3, 1)));
    }

    #[test]
    fn custom_hours_and_days_open_saturday_morning() {
        let calendar = Calendar {
            opens: time(8, 30),
            closes: time(12, 30),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
            ],
            closures: Vec::new(),
        };
        assert_eq!(date(2026, 5, 16).weekday(), Weekday::Sat);
        assert!(calendar.is_open(rome(2026, 5, 16, 10, 0, 0)));
        assert!(!calendar.is_open(rome(2026, 5, 16, 12, 30, 0)));
        assert!(!calendar.is_open(rome(2026, 5, 16, 8, 29, 0)));
        assert_eq!(
            calendar.next_opening(rome(2026, 5, 16, 13, 0, 0)),
            rome(2026, 5, 18, 8, 30, 0)
        );
        // Saturday 11:30 + 2h: one hour on Saturday, one on Monday.
        assert_eq!(
            calendar.add_office_time(rome(2026, 5, 16, 11, 30, 0), hours(2)),
            rome(2026, 5, 18, 9, 30, 0)
        );
    }

    #[test]
    fn office_days_keep_the_time_of_day_and_start_at_the_next_opening() {
        let c = Calendar::default();
        let rome_at = |d: u32, h: u32, m: u32| {
            Rome.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .single()
                .expect("valid")
                .with_timezone(&Utc)
        };
        // Friday 27 November 2026.
        assert_eq!(
            c.after_office_days(rome_at(27, 15, 0), 1),
            rome_at(30, 15, 0)
        );
        assert_eq!(
            c.after_office_days(rome_at(27, 20, 0), 1),
            Rome.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
                .single()
                .expect("valid")
                .with_timezone(&Utc)
        );
        assert_eq!(
            c.after_office_days(rome_at(28, 11, 0), 1),
            Rome.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
                .single()
                .expect("valid")
                .with_timezone(&Utc)
        );
        // Five office days from Friday 4 December skip the weekend and 8 December.
        let friday = Rome
            .with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc);
        let friday_after = Rome
            .with_ymd_and_hms(2026, 12, 14, 10, 0, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(c.after_office_days(friday, 5), friday_after);
    }
}
