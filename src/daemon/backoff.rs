//! How long the tasks wait: capped exponential backoff with jitter while a server is
//! away, the outbox's doubling retry delay, and the sleep until the next due time.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Capped exponential backoff with jitter for reconnects.
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    /// Failures since the last success; 0 means all is well (callers log the first).
    pub(super) failures: u32,
}

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Counts a failure; the wait before the next try.
    pub(super) fn next(&mut self) -> Duration {
        self.failures += 1;
        let base = retry_delay(self.failures, self.initial, self.max);
        // Jitter from the clock's sub-second part: enough to keep several daemons apart,
        // without pulling in a random number generator.
        let jitter_ms =
            u64::from(Utc::now().timestamp_subsec_millis()) % (base.as_millis() as u64 / 4 + 1);
        base + Duration::from_millis(jitter_ms)
    }
}

/// Exponential: `initial × 2^(attempts-1)`, capped at `max`.
pub(super) fn retry_delay(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// How long to sleep until `next` (now if past), kept within `min..=max`; `max` when
/// nothing is due.
pub(super) fn until(next: Option<DateTime<Utc>>, min: Duration, max: Duration) -> Duration {
    next.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(max)
        .clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_until_the_next_deadline_within_bounds() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(60));
        assert_eq!(until(None, min, max), max);
        let past = Utc::now() - chrono::Duration::seconds(5);
        assert_eq!(until(Some(past), min, max), min);
        let far = Utc::now() + chrono::Duration::hours(3);
        assert_eq!(until(Some(far), min, max), max);
        let soon = until(Some(Utc::now() + chrono::Duration::seconds(10)), min, max);
        assert!(soon > Duration::from_secs(9) && soon <= Duration::from_secs(10));
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(retry_delay(1, s(5), s(3600)), s(5));
        assert_eq!(retry_delay(2, s(5), s(3600)), s(10));
        assert_eq!(retry_delay(5, s(5), s(3600)), s(80));
        assert_eq!(retry_delay(40, s(5), s(3600)), s(3600));
    }

    #[test]
    fn backoff_grows_with_jitter_and_starts_over_after_a_reset() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(60));
        let first = b.next();
        assert!(
            first >= s(1) && first <= Duration::from_millis(1250),
            "{first:?}"
        );
        let second = b.next();
        assert!(
            second >= s(2) && second <= Duration::from_millis(2500),
            "{second:?}"
        );
        for _ in 0..10 {
            b.next();
        }
        assert!(b.next() <= s(75), "capped at max plus a quarter of jitter");
        assert_eq!(b.failures, 13);
        b.reset();
        assert_eq!(b.failures, 0);
        assert!(b.next() <= Duration::from_millis(1250));
    }
}
