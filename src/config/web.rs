//! `[web]`: the portal's form. Without the section the daemon opens no listener. Every
//! value is checked here, so the form never meets a limit of zero or a public address
//! its links could not be built on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::Problem;

/// `[web]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// Plain HTTP, for the agency's web server to proxy (TLS is the proxy's job).
    pub listen: SocketAddr,
    /// The form's address as customers see it, ending with `/`: links in mails start here.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Network>,
    /// Clients (as `trusted_proxies` make them out) that may read `/metrics`; empty, the
    /// default, answers 404 to everyone.
    pub metrics_allow: Vec<Network>,
    pub privacy_url: String,
    /// The whole submission, attachments included.
    pub max_upload_bytes: u64,
    /// The address must confirm a link before its ticket opens.
    pub require_confirmation: bool,
    pub per_ip: Limit,
    pub per_address: Limit,
    /// A form sent sooner than this after it was served is taken for a bot's.
    pub min_fill: Duration,
    /// A request's headers and body must have arrived within this.
    pub timeout: Duration,
}

/// At most `count` submissions within `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window: Duration,
}

/// An IP network (address and prefix length) (a proxy we run, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// Host bits cleared, so equal networks compare equal however they were written.
    network: IpAddr,
    prefix: u8,
}

impl Network {
    /// `"127.0.0.1"`, `"::1"`, `"10.0.0.0/8"`, `"fd00::/8"`. Host bits below the prefix
    /// are ignored (`"10.1.2.3/8"` is `"10.0.0.0/8"`). `Err` is a short English reason.
    pub fn parse(s: &str) -> Result<Network, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "not an IP address or network".to_string())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => {
                return Err("prefix length is not a number".into());
            }
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| format!("prefix longer than {max}"))?,
        };
        if prefix > max {
            return Err(format!("prefix longer than {max}"));
        }
        Ok(Network {
            network: masked(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in the network. An IPv4 address (or IPv4-mapped IPv6 one) is also
    /// in an IPv6 network holding its mapped form, so `::ffff:0:0/96` covers all of IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(_), v4 @ IpAddr::V4(_)) => masked(v4, self.prefix) == self.network,
            (IpAddr::V6(_), IpAddr::V4(v4)) => {
                masked(IpAddr::V6(v4.to_ipv6_mapped()), self.prefix) == self.network
            }
            (IpAddr::V6(_), v6 @ IpAddr::V6(_)) => masked(v6, self.prefix) == self.network,
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    listen: Option<String>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    metrics_allow: Option<Vec<String>>,
    privacy_url: Option<String>,
    max_upload_bytes: Option<u64>,
    require_confirmation: Option<bool>,
    per_ip_limit: Option<u32>,
    per_ip_window_minutes: Option<u64>,
    per_address_limit: Option<u32>,
    per_address_window_minutes: Option<u64>,
    min_fill_secs: Option<u64>,
    timeout_secs: Option<u64>,
}

/// Collects the problems of one section, each at its key.
struct Checks(Vec<Problem>);

impl Checks {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem {
            key: format!("web.{key}"),
            message: message.into(),
        });
    }

    /// `value` or `default`, refused outside `range` (written as `bounds` in the message).
    fn within(&mut self, key: &str, value: Option<u64>, default: u64, range: (u64, u64)) -> u64 {
        let v = value.unwrap_or(default);
        if !(range.0..=range.1).contains(&v) {
            self.problem(
                key,
                format!("{v}: must be between {} and {}", range.0, range.1),
            );
        }
        v
    }

    fn url(&mut self, key: &str, value: Option<String>) -> String {
        let Some(v) = value.map(|v| v.trim().to_string()) else {
            self.problem(key, "missing: required when [web] is present");
            return String::new();
        };
        let scheme_ok = v.starts_with("https://") || v.starts_with("http://");
        let host = v.split("://").nth(1).unwrap_or("");
        if !scheme_ok || host.is_empty() || host.starts_with('/') || v.contains(char::is_whitespace)
        {
            self.problem(
                key,
                format!("{v:?}: must be an http:// or https:// address"),
            );
        }
        v
    }
}

const MIB: u64 = 1024 * 1024;

/// Validates `[web]`; the problems name their `web.` keys.
pub(super) fn validate(raw: RawWeb) -> Result<WebConfig, Vec<Problem>> {
    let mut c = Checks(vec![]);
    let listen = c.listen(raw.listen);
    let public_url = c.url("public_url", raw.public_url);
    if !public_url.is_empty() && !public_url.ends_with('/') {
        c.problem(
            "public_url",
            format!("{public_url:?}: must end with / (the form's own folder)"),
        );
    }
    let privacy_url = c.url("privacy_url", raw.privacy_url);
    let trusted_proxies = c.networks(
        "trusted_proxies",
        raw.trusted_proxies
            .unwrap_or_else(|| vec!["127.0.0.1".into(), "::1".into()]),
    );
    let metrics_allow = c.networks("metrics_allow", raw.metrics_allow.unwrap_or_default());
    let per_ip = c.limit(
        "per_ip",
        raw.per_ip_limit,
        raw.per_ip_window_minutes,
        (10, 10),
    );
    let per_address = c.limit(
        "per_address",
        raw.per_address_limit,
        raw.per_address_window_minutes,
        (5, 60),
    );
    let upload = (64 * 1024, 1024 * MIB);
    let web = WebConfig {
        listen,
        public_url,
        trusted_proxies,
        metrics_allow,
        privacy_url,
        max_upload_bytes: c.within("max_upload_bytes", raw.max_upload_bytes, 10 * MIB, upload),
        require_confirmation: raw.require_confirmation.unwrap_or(false),
        per_ip,
        per_address,
        min_fill: Duration::from_secs(c.within("min_fill_secs", raw.min_fill_secs, 3, (0, 60))),
        timeout: Duration::from_secs(c.within("timeout_secs", raw.timeout_secs, 30, (5, 600))),
    };
    if c.0.is_empty() {
        Ok(web)
    } else {
        Err(c.0)
    }
}

impl Checks {
    fn listen(&mut self, value: Option<String>) -> SocketAddr {
        let text = value.unwrap_or_else(|| "127.0.0.1:8026".into());
        text.parse::<SocketAddr>().unwrap_or_else(|_| {
            self.problem(
                "listen",
                format!("{text:?}: must be an IP address and port, like 127.0.0.1:8026"),
            );
            SocketAddr::from(([127, 0, 0, 1], 8026))
        })
    }

    /// A list of networks at `key` (`trusted_proxies`, `metrics_allow`).
    fn networks(&mut self, key: &str, value: Vec<String>) -> Vec<Network> {
        let mut networks = vec![];
        for (i, p) in value.iter().enumerate() {
            match Network::parse(p) {
                Ok(n) => networks.push(n),
                Err(e) => self.problem(&format!("{key}[{i}]"), e),
            }
        }
        networks
    }

    /// `{name}_limit` submissions in `{name}_window_minutes`, with their defaults.
    fn limit(
        &mut self,
        name: &str,
        count: Option<u32>,
        minutes: Option<u64>,
        defaults: (u64, u64),
    ) -> Limit {
        let count = self.within(
            &format!("{name}_limit"),
            count.map(u64::from),
            defaults.0,
            (1, 100_000),
        );
        let day = 24 * 60;
        let minutes = self.within(
            &format!("{name}_window_minutes"),
            minutes,
            defaults.1,
            (1, day),
        );
        Limit {
            count: count as u32,
            window: Duration::from_secs(minutes * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(toml_text: &str) -> Result<WebConfig, Vec<Problem>> {
        validate(toml::from_str(toml_text).expect("toml"))
    }

    const MINIMAL: &str = r#"
public_url = "https://www.kzweb.it/assistenza/"
privacy_url = "https://www.kzweb.it/privacy/"
"#;

    #[test]
    fn a_minimal_section_gets_the_documented_defaults() {
        let w = web(MINIMAL).expect("valid");
        assert_eq!(w.listen, "127.0.0.1:8026".parse().expect("addr"));
        assert_eq!(w.max_upload_bytes, 10 * MIB);
        assert!(!w.require_confirmation);
        assert_eq!(w.per_ip.count, 10);
        assert_eq!(w.per_ip.window, Duration::from_secs(600));
        assert_eq!(w.per_address.count, 5);
        assert_eq!(w.per_address.window, Duration::from_secs(3600));
        assert_eq!(w.min_fill, Duration::from_secs(3));
        assert!(w.trusted_proxies[0].contains("127.0.0.1".parse().expect("ip")));
        assert!(w.trusted_proxies[1].contains("::1".parse().expect("ip")));
        assert!(
            w.metrics_allow.is_empty(),
            "/metrics is for no one unless told"
        );
    }

    #[test]
    fn metrics_allow_takes_addresses_and_networks_and_names_a_bad_one() {
        let w = web(&format!(
            "{MINIMAL}metrics_allow = [\"127.0.0.1\", \"10.20.0.0/16\"]\n"
        ))
        .expect("valid");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(w.metrics_allow[0].contains(ip("127.0.0.1")));
        assert!(w.metrics_allow[1].contains(ip("10.20.3.4")));
        assert!(!w.metrics_allow[1].contains(ip("10.21.0.1")));
        let problems = web(&format!(
            "{MINIMAL}metrics_allow = [\"::1\", \"prometheus\"]\n"
        ))
        .expect_err("invalid");
        assert_eq!(problems[0].key, "web.metrics_allow[1]");
    }

    #[test]
    fn each_bad_value_is_named_by_its_key() {
        let text = r#"
listen = "localhost"
public_url = "https://www.kzweb.it/assistenza"
trusted_proxies = ["10.0.0.0/33", "proxy"]
per_ip_limit = 0
timeout_secs = 1
"#;
        let problems = web(text).expect_err("invalid");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "web.listen",
                "web.public_url",
                "web.privacy_url",
                "web.trusted_proxies[0]",
                "web.trusted_proxies[1]",
                "web.per_ip_limit",
                "web.timeout_secs",
            ]
        );
        assert!(
            problems[1].message.contains("must end with /"),
            "{problems:?}"
        );
    }
}
