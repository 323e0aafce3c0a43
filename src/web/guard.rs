//! Defences of the portal's form against bots, floods and forgery, kept free of I/O so
//! that each rule can be tested on its own: the handler asks the clock and the request,
//! and these functions decide.
//!
//! - [`Limiter`]: how many submissions one key (an IP, an address) may make in a window,
//!   with memory that stays bounded however many distinct keys a flood brings.
//! - [`client_ip`]: which address to hold responsible, believing `X-Forwarded-For` only
//!   as far as it was written by proxies we run.
//! - [`Signer`] and [`random_hex`]: HMAC-SHA256 over unambiguously joined parts, for the
//!   form token and the confirmation links.
//! - [`FormToken`]: the hidden field tying a submission to the browser's cookie (double
//!   submit), to the moment the form was served (too fast is a bot, too old is stale)
//!   and to an idempotency key (a double click opens one ticket, not two).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ring::hmac;

use crate::config::Network;
use ring::rand::{SecureRandom, SystemRandom};

/// At most `limit` hits within any `span`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub span: Duration,
}

/// Sliding-window rate limits per key, safe to share between request handlers.
///
/// Memory is bounded: each key keeps at most `limit` timestamps and at most `max_keys`
/// keys are remembered. When a new key finds the table full, keys whose hits have all
/// expired are dropped first; if that frees less than an eighth of the table, the keys
/// inserted longest ago are evicted until an eighth is free. Freeing a batch at once is
/// what keeps the cost per hit O(1) amortized: the O(n) sweep runs at most once every
/// `max_keys / 8` new keys.
///
/// Trade-off: under a flood of distinct keys, an evicted key that was being limited
/// starts afresh. Refusing new keys instead would let one flood lock out everybody, and
/// a fresh start costs the flooder as much as it gains them.
pub struct Limiter {
    window: Window,
    max_keys: usize,
    state: Mutex<State>,
}

struct State {
    hits: HashMap<Arc<str>, VecDeque<Instant>>,
    /// Exactly the keys of `hits`, oldest inserted first: keys leave only in `make_room`,
    /// which brings both back in step.
    order: VecDeque<Arc<str>>,
    #[cfg(test)]
    sweeps: usize,
}

impl Limiter {
    /// At most `window.limit` hits per key within any `window.span`; at most `max_keys`
    /// keys remembered (a `max_keys` of 0 is taken as 1).
    pub fn new(window: Window, max_keys: usize) -> Limiter {
        Limiter {
            window,
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                hits: HashMap::new(),
                order: VecDeque::new(),
                #[cfg(test)]
                sweeps: 0,
            }),
        }
    }

    /// Counts one hit for `key` at `now`. `Err(retry_after)` when the key already had
    /// `limit` hits within the span: the hit is not counted then, and `retry_after` is
    /// how long until the oldest counted hit leaves the window, in whole seconds rounded
    /// up, at least one. A `limit` of 0 refuses every hit for a whole span.
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Window { limit, span } = self.window;
        if limit == 0 {
            return Err(whole_seconds(span));
        }
        let mut state = self.lock();
        if let Some(hits) = state.hits.get_mut(key) {
            return record(hits, now, limit, span);
        }
        if state.hits.len() >= self.max_keys {
            state.make_room(self.max_keys, span, now);
        }
        let key: Arc<str> = Arc::from(key);
        state.order.push_back(Arc::clone(&key));
        state.hits.insert(key, VecDeque::from([now]));
        Ok(())
    }

    /// Number of keys remembered now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().hits.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the table worse than stale counts: keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn make_room(&mut self, max_keys: usize, span: Duration, now: Instant) {
        #[cfg(test)]
        {
            self.sweeps += 1;
        }
        self.hits
            .retain(|_, hits| hits.back().is_some_and(|&t| live(t, now, span)));
        self.order.retain(|key| self.hits.contains_key(key));
        let target = max_keys - (max_keys / 8).max(1);
        while self.hits.len() > target {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.hits.remove(&oldest);
        }
    }
}

fn record(
    hits: &mut VecDeque<Instant>,
    now: Instant,
    limit: u32,
    span: Duration,
) -> Result<(), Duration> {
    while hits.front().is_some_and(|&t| !live(t, now, span)) {
        hits.pop_front();
    }
    if let Some(&oldest) = hits.front().filter(|_| hits.len() >= limit as usize) {
        return Err(whole_seconds(
            span.saturating_sub(now.saturating_duration_since(oldest)),
        ));
    }
    hits.push_back(now);
    Ok(())
}

/// A hit at `t` still counts at `now`. Instants from the caller may go backwards
/// (another thread read the clock first); such a hit counts as just made.
fn live(t: Instant, now: Instant, span: Duration) -> bool {
    now.saturating_duration_since(t) < span
}

/// `Retry-After` takes whole seconds, and 0 would invite an immediate, refused retry.
fn whole_seconds(d: Duration) -> Duration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// The address to hold responsible for a request: the peer, unless the peer is a
/// trusted proxy; then `X-Forwarded-For` is read right to left, skipping trusted proxies,
/// and the first untrusted entry is the client. Entries left of it were written by the
/// client itself and prove nothing. A malformed entry (anything but a bare address,
/// including an empty one) stops the walk and the last trusted hop seen, or the peer,
/// is used. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is treated as IPv4.
/// `forwarded_for` is every `X-Forwarded-For` header value in order.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    let mut last = peer.to_canonical();
    if !is_trusted(last) {
        return last;
    }
    let entries = forwarded_for.iter().rev().flat_map(|h| h.rsplit(','));
    for entry in entries {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        last = ip.to_canonical();
        if !is_trusted(last) {
            break;
        }
    }
    last
}

/// HMAC-SHA256 with the daemon's secret.
pub struct Signer {
    key: hmac::Key,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Lowercase hex MAC over the parts. Each part is prefixed by its length, so no two
    /// lists of parts sign the same bytes: `("ab", "c")` and `("a", "bc")` differ.
    pub fn sign(&self, parts: &[&str]) -> String {
        hex(self.tag(parts).as_ref())
    }

    /// Constant-time check of a lowercase hex MAC made by [`Signer::sign`]; false for
    /// malformed hex. Only lowercase is accepted, so each MAC has one spelling.
    pub fn verify(&self, parts: &[&str], mac_hex: &str) -> bool {
        let Some(mac) = unhex(mac_hex) else {
            return false;
        };
        hmac::verify(&self.key, &joined(parts), &mac).is_ok()
    }

    fn tag(&self, parts: &[&str]) -> hmac::Tag {
        hmac::sign(&self.key, &joined(parts))
    }
}

fn joined(parts: &[&str]) -> Vec<u8> {
    let mut message = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
    for part in parts {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part.as_bytes());
    }
    message
}

/// `bytes` random bytes from the system RNG, as lowercase hex (16 → 32 characters).
pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the system random number generator failed".to_string())?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if text.len() % 2 != 0 {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// What a valid form token says: when the form was served and the submission's
/// idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormToken {
    /// Unix seconds.
    pub issued_at: i64,
    /// The idempotency key, `[0-9a-f]{32}`.
    pub key: String,
}

/// Why a form token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Malformed, or not signed by us for this browser's cookie.
    Forged,
    /// Submitted sooner after serving than a person can fill the form.
    TooFast,
    /// Too old, or dated too far in the future.
    Expired,
}

/// Far longer than any token we issue (at most 20 + 1 + 32 + 1 + 64 characters), so a
/// longer value is refused before any parsing or hashing.
const MAX_TOKEN_LEN: usize = 200;
/// Clock adjustments between serving and submitting the form are forgiven up to this.
const MAX_FUTURE_SECS: i64 = 60;

impl FormToken {
    /// The hidden field's value: `"{issued_at}.{key}.{mac}"`, the MAC covering
    /// `"form"`, `issued_at`, `key` and `cookie`. `key` must be 32 lowercase hex digits
    /// (see [`random_hex`]), or [`FormToken::check`] refuses the token as forged.
    pub fn issue(signer: &Signer, cookie: &str, key: &str, issued_at: i64) -> String {
        let at = issued_at.to_string();
        let mac = signer.sign(&["form", &at, key, cookie]);
        format!("{at}.{key}.{mac}")
    }

    /// Checks a submitted `value` against the browser's `cookie` at `now` (unix seconds).
    /// `Forged` when malformed or the MAC does not match (another cookie, an empty
    /// cookie); `TooFast` when `now - issued_at < min_fill_secs`; `Expired` when older
    /// than `max_age_secs` or issued more than 60 s in the future.
    pub fn check(
        signer: &Signer,
        value: &str,
        cookie: &str,
        now: i64,
        min_fill_secs: i64,
        max_age_secs: i64,
    ) -> Result<FormToken, TokenProblem> {
        if value.len() > MAX_TOKEN_LEN || cookie.is_empty() {
            return Err(TokenProblem::Forged);
        }
        let mut fields = value.split('.');
        let (Some(at), Some(key), Some(mac), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(TokenProblem::Forged);
        };
        // The MAC covers `at` as written, so only our own spelling of the number passes.
        let issued_at: i64 = at.parse().map_err(|_| TokenProblem::Forged)?;
        if !is_idempotency_key(key) || !signer.verify(&["form", at, key, cookie], mac) {
            return Err(TokenProblem::Forged);
        }
        let age = now.checked_sub(issued_at).ok_or(TokenProblem::Expired)?;
        if age < -MAX_FUTURE_SECS || age > max_age_secs {
            return Err(TokenProblem::Expired);
        }
        if age < min_fill_secs {
            return Err(TokenProblem::TooFast);
        }
        Ok(FormToken {
            issued_at,
            key: key.to_string(),
        })
    }
}

fn is_idempotency_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn limiter(limit: u32, span: Duration, max_keys: usize) -> Limiter {
        Limiter::new(Window { limit, span }, max_keys)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn eleventh_submission_from_one_ip_in_ten_minutes_is_refused_with_retry_after() {
        let l = limiter(10, 10 * MINUTE, 100);
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(l.hit("203.0.113.7", t0 + secs(i * 30)), Ok(()), "hit {i}");
        }
        // The first hit, at t0, leaves the window at t0 + 600 s; it is now t0 + 300 s.
        assert_eq!(l.hit("203.0.113.7", t0 + secs(300)), Err(secs(300)));
    }

    #[test]
    fn refused_hit_is_not_counted() {
        let l = limiter(2, MINUTE, 100);
        let t0 = Instant::now();
        l.hit("k", t0).expect("under the limit");
        l.hit("k", t0 + secs(10)).expect("under the limit");
        for _ in 0..5 {
            assert!(l.hit("k", t0 + secs(20)).is_err());
        }
        // Had the refusals counted, the window would still be full at t0 + 60 s.
        assert_eq!(l.hit("k", t0 + secs(60)), Ok(()));
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds_and_at_least_one() {
        let l = limiter(1, MINUTE, 100);
        let t0 = Instant::now();
        l.hit("k", t0).expect("under the limit");
        let just_before = t0 + MINUTE - Duration::from_millis(1);
        assert_eq!(l.hit("k", just_before), Err(secs(1)));
        assert_eq!(l.hit("k", t0 + Duration::from_millis(500)), Err(secs(60)));
        assert_eq!(l.hit("k", t0 + Duration::from_millis(1500)), Err(secs(59)));
    }

    #[test]
    fn window_slides_as_old_hits_expire_one_by_one() {
        let l = limiter(3, MINUTE, 100);
        let t0 = Instant::now();
        l.hit("k", t0).expect("under the limit");
        l.hit("k", t0 + secs(20)).expect("under the limit");
        l.hit("k", t0 + secs(40)).expect("under the limit");
        assert_eq!(l.hit("k", t0 + secs(59)), Err(secs(1)));
        assert_eq!(l.hit("k", t0 + secs(60)), Ok(()), "the t0 hit has left");
        assert_eq!(
            l.hit("k", t0 + secs(61)),
            Err(secs(19)),
            "the t0+20 hit is now oldest"
        );
        assert_eq!(l.hit("k", t0 + secs(80)), Ok(()));
    }

    #[test]
    fn distinct_keys_are_limited_independently() {
        let l = limiter(1, MINUTE, 100);
        let t0 = Instant::now();
        l.hit("a", t0).expect("under the limit");
        assert!(l.hit("a", t0).is_err());
        assert_eq!(l.hit("b", t0), Ok(()));
        assert!(l.hit("b", t0).is_err());
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn zero_limit_refuses_every_hit_and_remembers_nothing() {
        let l = limiter(0, MINUTE, 100);
        assert_eq!(l.hit("k", Instant::now()), Err(MINUTE));
        assert!(l.is_empty());
    }

    #[test]
    fn flood_of_distinct_keys_stays_within_max_keys_at_amortized_constant_cost() {
        let l = limiter(5, 10 * MINUTE, 10_000);
        let t0 = Instant::now();
        let started = Instant::now();
        for i in 0..50_000u32 {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
            assert_eq!(l.hit(&ip, t0 + Duration::from_millis(u64::from(i))), Ok(()));
            assert!(l.len() <= 10_000, "{} keys after {i} hits", l.len());
        }
        // An O(n) sweep per hit would mean ~40,000 sweeps; batching allows one per 1,250.
        let sweeps = l.lock().sweeps;
        assert!(sweeps <= 40_000 / 1_250 + 1, "{sweeps} sweeps");
        assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn full_table_drops_expired_keys_before_live_ones() {
        let l = limiter(2, MINUTE, 4);
        let t0 = Instant::now();
        l.hit("limited", t0).expect("under the limit");
        for k in ["a", "b", "c"] {
            l.hit(k, t0 + secs(1)).expect("under the limit");
        }
        l.hit("limited", t0 + secs(50)).expect("under the limit");
        // At t0 + 70 a, b and c have expired; "limited" is the oldest inserted but live.
        l.hit("d", t0 + secs(70)).expect("under the limit");
        assert_eq!(l.len(), 2);
        l.hit("limited", t0 + secs(70)).expect("under the limit");
        assert!(
            l.hit("limited", t0 + secs(70)).is_err(),
            "its t0+50 hit was kept"
        );
    }

    #[test]
    fn full_table_of_live_keys_evicts_the_oldest_inserted() {
        let l = limiter(1, MINUTE, 8);
        let t0 = Instant::now();
        for i in 0..8 {
            l.hit(&format!("k{i}"), t0).expect("under the limit");
        }
        assert_eq!(
            l.hit("new", t0),
            Ok(()),
            "a flood must not lock out newcomers"
        );
        assert_eq!(l.len(), 8);
        assert_eq!(l.hit("k0", t0), Ok(()), "evicted, so it starts afresh");
        assert!(l.hit("k2", t0).is_err(), "still remembered");
    }

    #[test]
    fn limiter_can_be_shared_between_threads() {
        let l = Arc::new(limiter(1_000, MINUTE, 100));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || (0..250).all(|_| l.hit("k", t0).is_ok()))
            })
            .collect();
        assert!(handles
            .into_iter()
            .all(|h| h.join().expect("a hitting thread")));
        assert!(l.hit("k", t0).is_err(), "exactly 1,000 hits were counted");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP address")
    }

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter()
            .map(|s| Network::parse(s).expect("a network"))
            .collect()
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let trusted = nets(&["127.0.0.1"]);
        let got = client_ip(ip("198.51.100.9"), &["127.0.0.1, 203.0.113.7"], &trusted);
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn peer_without_forwarded_for_is_the_client_even_if_trusted() {
        assert_eq!(
            client_ip(ip("127.0.0.1"), &[], &nets(&["127.0.0.1"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn trusted_chain_is_walked_right_to_left_to_the_first_untrusted_entry() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // The client spoofed 198.51.100.1; our edge proxy appended its real address.
        let xff = ["198.51.100.1, 203.0.113.7, 10.0.0.5"];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &xff, &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn several_forwarded_for_headers_read_as_one_list() {
        let trusted = nets(&["10.0.0.0/8"]);
        let xff = ["198.51.100.1", "203.0.113.7,10.0.0.5", "10.0.0.6"];
        assert_eq!(client_ip(ip("10.0.0.7"), &xff, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn all_hops_trusted_gives_the_leftmost_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = client_ip(ip("10.0.0.1"), &["10.0.0.3, 10.0.0.2"], &trusted);
        assert_eq!(got, ip("10.0.0.3"));
    }

    #[test]
    fn malformed_entry_stops_the_walk_at_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let last_hop = client_ip(peer, &["203.0.113.7, garbage, 10.0.0.5"], &trusted);
        assert_eq!(last_hop, ip("10.0.0.5"));
        for xff in [
            "203.0.113.7, unknown",
            "203.0.113.7,",
            "203.0.113.7:8080",
            "[::1]",
        ] {
            assert_eq!(client_ip(peer, &[xff], &trusted), peer, "{xff:?}");
        }
    }

    #[test]
    fn ipv6_peers_and_entries_are_followed() {
        let trusted = nets(&["::1", "fd00::/8"]);
        let got = client_ip(ip("::1"), &["2001:db8::1, fd12::3"], &trusted);
        assert_eq!(got, ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let trusted = nets(&["127.0.0.1"]);
        let peer = ip("::ffff:127.0.0.1");
        assert_eq!(
            client_ip(peer, &["::ffff:203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(ip("::ffff:198.51.100.9"), &[], &trusted),
            ip("198.51.100.9")
        );
        assert!(Network::parse("::ffff:0:0/96")
            .expect("a network")
            .contains(ip("192.0.2.1")));
    }

    #[test]
    fn network_contains_exactly_its_prefix() {
        let ten = Network::parse("10.0.0.0/8").expect("a network");
        assert!(ten.contains(ip("10.0.0.0")) && ten.contains(ip("10.255.255.255")));
        assert!(!ten.contains(ip("11.0.0.0")) && !ten.contains(ip("9.255.255.255")));
        let fd = Network::parse("fd00::/8").expect("a network");
        assert!(fd.contains(ip("fdff:ffff::1")) && !fd.contains(ip("fe00::")));
        let host = Network::parse("192.0.2.1").expect("a network");
        assert!(host.contains(ip("192.0.2.1")) && !host.contains(ip("192.0.2.2")));
        let host6 = Network::parse("2001:db8::1/128").expect("a network");
        assert!(host6.contains(ip("2001:db8::1")) && !host6.contains(ip("2001:db8::2")));
        let any4 = Network::parse("0.0.0.0/0").expect("a network");
        assert!(any4.contains(ip("255.255.255.255")) && !any4.contains(ip("2001:db8::1")));
        assert!(Network::parse("::/0")
            .expect("a network")
            .contains(ip("2001:db8::1")));
        let odd = Network::parse("192.0.2.0/25").expect("a network");
        assert!(odd.contains(ip("192.0.2.127")) && !odd.contains(ip("192.0.2.128")));
    }

    #[test]
    fn ipv4_network_does_not_contain_ipv6_addresses() {
        assert!(!Network::parse("0.0.0.0/0")
            .expect("a network")
            .contains(ip("::1")));
    }

    #[test]
    fn host_bits_below_the_prefix_are_ignored() {
        assert_eq!(Network::parse("10.1.2.3/8"), Network::parse("10.0.0.0/8"));
        assert_eq!(Network::parse("fd12::1/8"), Network::parse("fd00::/8"));
    }

    #[test]
    fn bad_networks_are_refused_with_a_reason() {
        let err = |s: &str| Network::parse(s).unwrap_err();
        assert_eq!(err("10.0.0.0/33"), "prefix longer than 32");
        assert_eq!(err("::/129"), "prefix longer than 128");
        assert_eq!(err("10.0.0.0/999"), "prefix longer than 32");
        assert_eq!(err("::/100000000000"), "prefix longer than 128");
        for s in ["", "abc", "/8", "10.0.0", "010.0.0.1", "[::1]"] {
            assert_eq!(err(s), "not an IP address or network", "{s:?}");
        }
        for s in [
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "::/0x8",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(err(s), "prefix length is not a number", "{s:?}");
        }
    }

    #[test]
    fn signature_is_lowercase_hex_and_verifies() {
        let s = Signer::new(b"secret");
        let mac = s.sign(&["confirm", "42"]);
        assert_eq!(mac.len(), 64);
        assert!(mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert!(s.verify(&["confirm", "42"], &mac));
        assert!(!s.verify(&["confirm", "43"], &mac));
        assert!(!Signer::new(b"other").verify(&["confirm", "42"], &mac));
    }

    #[test]
    fn parts_are_joined_unambiguously() {
        let s = Signer::new(b"secret");
        assert_ne!(s.sign(&["ab", "c"]), s.sign(&["a", "bc"]));
        assert_ne!(s.sign(&["abc"]), s.sign(&["abc", ""]));
        assert!(!s.verify(&["a", "bc"], &s.sign(&["ab", "c"])));
    }

    #[test]
    fn malformed_mac_never_verifies() {
        let s = Signer::new(b"secret");
        let mac = s.sign(&["x"]);
        let upper = mac.to_uppercase();
        let flipped = format!(
            "{}{}",
            if mac.starts_with('0') { "1" } else { "0" },
            &mac[1..]
        );
        for bad in ["", "0", &mac[1..], &mac[..62], &upper, "zz", &flipped] {
            assert!(!s.verify(&["x"], bad), "{bad:?}");
        }
        assert!(!s.verify(&["x"], &format!("{mac}00")));
    }

    #[test]
    fn random_hex_has_two_digits_per_byte_and_differs_each_time() {
        let a = random_hex(16).expect("random bytes");
        assert_eq!(a.len(), 32);
        assert!(is_idempotency_key(&a));
        assert_ne!(a, random_hex(16).expect("random bytes"));
        assert_eq!(random_hex(0).expect("random bytes"), "");
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const COOKIE: &str = "c00k1e";
    const T: i64 = 1_700_000_000;

    fn check(value: &str, cookie: &str, now: i64) -> Result<FormToken, TokenProblem> {
        FormToken::check(&Signer::new(b"secret"), value, cookie, now, 3, 3600)
    }

    fn issue(key: &str, issued_at: i64) -> String {
        FormToken::issue(&Signer::new(b"secret"), COOKIE, key, issued_at)
    }

    #[test]
    fn issued_token_checks_back_to_its_time_and_key() {
        let value = issue(KEY, T);
        assert_eq!(value, format!("{T}.{KEY}.{}", &value[value.len() - 64..]));
        let token = FormToken {
            issued_at: T,
            key: KEY.into(),
        };
        assert_eq!(check(&value, COOKIE, T + 3), Ok(token.clone()));
        assert_eq!(check(&value, COOKIE, T + 3600), Ok(token));
    }

    #[test]
    fn submission_sooner_than_min_fill_is_too_fast() {
        assert_eq!(
            check(&issue(KEY, T), COOKIE, T + 2),
            Err(TokenProblem::TooFast)
        );
        assert_eq!(check(&issue(KEY, T), COOKIE, T), Err(TokenProblem::TooFast));
        assert_eq!(
            check(&issue(KEY, T + 60), COOKIE, T),
            Err(TokenProblem::TooFast)
        );
    }

    #[test]
    fn token_older_than_max_age_or_from_the_far_future_is_expired() {
        assert_eq!(
            check(&issue(KEY, T), COOKIE, T + 3601),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            check(&issue(KEY, T + 61), COOKIE, T),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            check(&issue(KEY, i64::MIN), COOKIE, T),
            Err(TokenProblem::Expired)
        );
    }

    #[test]
    fn token_for_another_cookie_or_no_cookie_is_forged() {
        assert_eq!(
            check(&issue(KEY, T), "other", T + 10),
            Err(TokenProblem::Forged)
        );
        assert_eq!(check(&issue(KEY, T), "", T + 10), Err(TokenProblem::Forged));
        let signer = Signer::new(b"secret");
        let cookieless = FormToken::issue(&signer, "", KEY, T);
        let got = FormToken::check(&signer, &cookieless, "", T + 10, 3, 3600);
        assert_eq!(got, Err(TokenProblem::Forged));
    }

    #[test]
    fn tampering_with_any_part_is_forged() {
        let value = issue(KEY, T);
        let mac = &value[value.len() - 64..];
        let other_key = "f".repeat(32);
        let other_mac = issue(KEY, T + 1)[value.len() - 64..].to_string();
        for bad in [
            format!("{}.{KEY}.{mac}", T - 100),
            format!("0{T}.{KEY}.{mac}"),
            format!("+{T}.{KEY}.{mac}"),
            format!("{T}.{other_key}.{mac}"),
            format!("{T}.{KEY}.{other_mac}"),
            format!("{T}.{KEY}.{}", mac.to_uppercase()),
        ] {
            assert_eq!(
                check(&bad, COOKIE, T + 200),
                Err(TokenProblem::Forged),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_values_are_forged() {
        let value = issue(KEY, T);
        let mac = &value[value.len() - 64..];
        for bad in [
            String::new(),
            format!("{T}.{KEY}"),
            format!("{value}."),
            format!("{value}.x"),
            format!(" {value}"),
            format!("now.{KEY}.{mac}"),
            "..".to_string(),
        ] {
            assert_eq!(
                check(&bad, COOKIE, T + 10),
                Err(TokenProblem::Forged),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn key_that_is_not_32_lowercase_hex_is_forged_even_when_signed() {
        let upper = KEY.to_uppercase();
        let short = &KEY[..31];
        let long = format!("{KEY}0");
        for key in [
            upper.as_str(),
            short,
            long.as_str(),
            "g123456789abcdef0123456789abcdef",
            "",
        ] {
            assert_eq!(
                check(&issue(key, T), COOKIE, T + 10),
                Err(TokenProblem::Forged),
                "{key:?}"
            );
        }
    }

    #[test]
    fn value_over_200_characters_is_forged_even_when_signed() {
        // Only we sign, and we never pad the time; a padded one shows the length alone refuses.
        let signer = Signer::new(b"secret");
        let padded = |zeros: usize| {
            let at = format!("{}{T}", "0".repeat(zeros));
            let mac = signer.sign(&["form", &at, KEY, COOKIE]);
            format!("{at}.{KEY}.{mac}")
        };
        let check = |value: &str| FormToken::check(&signer, value, COOKIE, T + 10, 3, 3600);
        assert_eq!(padded(92).len(), 200);
        assert!(check(&padded(92)).is_ok());
        assert_eq!(check(&padded(93)), Err(TokenProblem::Forged));
        assert_eq!(check(&"x".repeat(1_000_000)), Err(TokenProblem::Forged));
    }
}
