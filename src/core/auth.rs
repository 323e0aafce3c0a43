//! Whether an operator's mail really comes from the operator: the `Authentication-Results`
//! header (RFC 8601) written by the organisation's own mail server.
//!
//! Anyone can put `From: giulia@kzweb.it` on a mail, so commands count only when a server
//! we trust vouches for the sender's domain. Only the topmost header whose authserv-id is
//! trusted is read: the trusted server prepends its own header as it accepts the mail, so
//! anything below it was written by someone earlier on the path, possibly the sender. The
//! server must also drop headers that claim its authserv-id from incoming mail (RFC 8601
//! section 5; OpenDKIM, OpenDMARC, Rspamd and Postfix's milters do).

use super::address::Address;

/// What the check found; logged so a sysadmin can see why a command was not honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthVerdict {
    /// A trusted server says DKIM or SPF passed for the operator's domain.
    Pass { method: &'static str },
    /// No `Authentication-Results` header from a trusted server.
    NoTrustedHeader,
    /// The trusted header has no DKIM or SPF pass for the operator's domain.
    NotPassed,
}

impl AuthVerdict {
    pub fn passed(&self) -> bool {
        matches!(self, AuthVerdict::Pass { .. })
    }
}

/// Checks `headers` (the raw values of every `Authentication-Results` header, topmost first)
/// for `sender`, trusting only `trusted_ids` (compared without case).
pub fn check(headers: &[String], trusted_ids: &[String], sender: &Address) -> AuthVerdict {
    let Some(results) = headers.iter().find_map(|h| {
        let (id, results) = split_authserv_id(h)?;
        trusted_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(id))
            .then_some(results)
    }) else {
        return AuthVerdict::NoTrustedHeader;
    };
    let domain = sender.domain();
    for result in results.split(';') {
        let words: Vec<&str> = result.split_whitespace().collect();
        let Some((method, verdict)) = words.first().and_then(|w| w.split_once('=')) else {
            continue;
        };
        if !verdict.eq_ignore_ascii_case("pass") {
            continue;
        }
        let method = method.to_ascii_lowercase();
        let props = words[1..].iter().filter_map(|w| w.split_once('='));
        let aligned = match method.as_str() {
            "dkim" => props
                .filter(|(k, _)| {
                    k.eq_ignore_ascii_case("header.d") || k.eq_ignore_ascii_case("header.i")
                })
                .any(|(_, v)| aligned(domain, v)),
            "spf" => props
                .filter(|(k, _)| {
                    k.eq_ignore_ascii_case("smtp.mailfrom") || k.eq_ignore_ascii_case("smtp.from")
                })
                .any(|(_, v)| aligned(domain, v)),
            _ => false,
        };
        if aligned {
            return AuthVerdict::Pass {
                method: if method == "dkim" { "dkim" } else { "spf" },
            };
        }
    }
    AuthVerdict::NotPassed
}

/// `mx.kzweb.it 1; dkim=pass …` to (`mx.kzweb.it`, `dkim=pass …`). A header without
/// results (`mx.kzweb.it; none`) gives its id and `none`.
fn split_authserv_id(header: &str) -> Option<(&str, &str)> {
    let header = strip_comments_start(header);
    let (head, rest) = header.split_once(';').unwrap_or((header, ""));
    let id = head.split_whitespace().next()?;
    Some((id, rest))
}

/// Drops a leading `(comment)` some servers put before the authserv-id.
fn strip_comments_start(text: &str) -> &str {
    let t = text.trim_start();
    if let Some(rest) = t.strip_prefix('(') {
        if let Some(end) = rest.find(')') {
            return rest[end + 1..].trim_start();
        }
    }
    t
}

/// DKIM `d=` (or `i=@domain`) and SPF mail-from values are aligned with the operator's
/// domain when they name it or a parent of it (relaxed alignment, as DMARC does): a
/// signature by `kzweb.it` vouches for `giulia@mail.kzweb.it`.
fn aligned(operator_domain: &str, value: &str) -> bool {
    let value = value.trim_matches(|c| c == '"' || c == ';' || c == ',');
    let value = value
        .rsplit('@')
        .next()
        .unwrap_or(value)
        .to_ascii_lowercase();
    if value.is_empty() {
        return false;
    }
    operator_domain == value || operator_domain.ends_with(&format!(".{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn giulia() -> Address {
        Address::parse("giulia@kzweb.it").expect("valid")
    }

    fn trusted() -> Vec<String> {
        vec!["mx.kzweb.it".into()]
    }

    fn h(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dkim_pass_from_a_trusted_server_for_the_operators_domain_passes() {
        let v = check(
            &h(&["mx.kzweb.it; dkim=pass (2048-bit key) header.d=kzweb.it header.i=@kzweb.it header.b=abc; spf=none"]),
            &trusted(),
            &giulia(),
        );
        assert_eq!(v, AuthVerdict::Pass { method: "dkim" });
    }

    #[test]
    fn spf_pass_for_the_envelope_domain_passes() {
        let v = check(
            &h(&["MX.KZWEB.IT 1; spf=pass smtp.mailfrom=giulia@kzweb.it; dkim=none"]),
            &trusted(),
            &giulia(),
        );
        assert_eq!(v, AuthVerdict::Pass { method: "spf" });
    }

    #[test]
    fn a_parent_domain_signature_vouches_for_a_subdomain_address() {
        let sub = Address::parse("giulia@uffici.kzweb.it").expect("valid");
        let v = check(
            &h(&["mx.kzweb.it; dkim=pass header.d=kzweb.it"]),
            &trusted(),
            &sub,
        );
        assert!(v.passed());
    }

    #[test]
    fn a_pass_from_an_untrusted_server_is_ignored() {
        let v = check(
            &h(&["mx.attacker.example; dkim=pass header.d=kzweb.it"]),
            &trusted(),
            &giulia(),
        );
        assert_eq!(v, AuthVerdict::NoTrustedHeader);
    }

    #[test]
    fn a_failed_or_neutral_result_does_not_pass() {
        for r in [
            "mx.kzweb.it; dkim=fail header.d=kzweb.it; spf=softfail smtp.mailfrom=kzweb.it",
            "mx.kzweb.it; dkim=neutral header.d=kzweb.it",
            "mx.kzweb.it; none",
            "mx.kzweb.it",
        ] {
            assert_eq!(
                check(&h(&[r]), &trusted(), &giulia()),
                AuthVerdict::NotPassed,
                "{r}"
            );
        }
    }

    #[test]
    fn a_pass_for_another_domain_does_not_pass() {
        for r in [
            "mx.kzweb.it; dkim=pass header.d=gmail.com",
            "mx.kzweb.it; spf=pass smtp.mailfrom=someone@evil-kzweb.it",
            "mx.kzweb.it; dkim=pass header.d=notkzweb.it",
        ] {
            assert_eq!(
                check(&h(&[r]), &trusted(), &giulia()),
                AuthVerdict::NotPassed,
                "{r}"
            );
        }
    }

    #[test]
    fn missing_header_is_no_trusted_header() {
        assert_eq!(
            check(&[], &trusted(), &giulia()),
            AuthVerdict::NoTrustedHeader
        );
    }

    #[test]
    fn with_several_headers_only_the_topmost_trusted_one_counts() {
        // The trusted server's own header (top) says fail; a forged one below says pass.
        let v = check(
            &h(&[
                "mx.attacker.example; dkim=pass header.d=kzweb.it",
                "mx.kzweb.it; dkim=fail header.d=kzweb.it",
                "mx.kzweb.it; dkim=pass header.d=kzweb.it",
            ]),
            &trusted(),
            &giulia(),
        );
        assert_eq!(v, AuthVerdict::NotPassed);
        let v = check(
            &h(&[
                "relay.example.net; dkim=fail",
                "mx.kzweb.it; dkim=pass header.d=kzweb.it",
            ]),
            &trusted(),
            &giulia(),
        );
        assert!(v.passed());
    }

    #[test]
    fn a_leading_comment_before_the_authserv_id_is_skipped() {
        let v = check(
            &h(&["(from relay) mx.kzweb.it; dkim=pass header.d=kzweb.it"]),
            &trusted(),
            &giulia(),
        );
        assert!(v.passed());
    }
}
