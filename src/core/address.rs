//! Email addresses and the subject rule: the subject of a new request must be only and
//! exclusively the requester's address.
//!
//! Addresses are normalised once, here, so that every comparison elsewhere is a plain
//! string equality: the local part is lower-cased (the seed procedure and every customer
//! treat it as case-insensitive) and the domain is lower-cased and converted to its ASCII
//! (punycode) form, so `dolci@università.it` and `dolci@xn--universit-y1a.it` are one.

use std::fmt;

use regex::Regex;
use std::sync::LazyLock;

/// A syntactically valid, normalised mailbox address (`local@domain`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

impl Address {
    /// Parses a bare address (no display name, no angle brackets) and normalises it.
    /// Returns `None` for anything that is not exactly one valid address.
    pub fn parse(text: &str) -> Option<Address> {
        let (local, domain) = text.rsplit_once('@')?;
        if !valid_local(local) {
            return None;
        }
        let domain = normalise_domain(domain)?;
        Some(Address(format!(
            "{}@{}",
            local.to_ascii_lowercase(),
            domain
        )))
    }

    /// The normalised text of the address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map(|(l, _)| l).unwrap_or("")
    }

    /// The domain, in ASCII (punycode) form.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a subject is not exactly one address. Each variant gets its own explanation in
/// the rejection, because "you wrote two addresses" helps more than "invalid subject".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectProblem {
    /// Nothing but white space.
    Empty,
    /// More than one address.
    SeveralAddresses,
    /// One address plus other words (a name, `Re:`, punctuation …).
    ExtraText,
    /// No address at all (for example a description of the problem).
    NoAddress,
}

/// Applies the subject rule to an already decoded subject (RFC 2047 words decoded).
/// Surrounding white space is ignored and a lone `<address>` is accepted; anything else
/// besides the address is a problem.
pub fn subject_address(subject: &str) -> Result<Address, SubjectProblem> {
    let trimmed = subject.trim();
    if trimmed.is_empty() {
        return Err(SubjectProblem::Empty);
    }
    let candidate = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .map(str::trim)
        .unwrap_or(trimmed);
    if let Some(address) = Address::parse(candidate) {
        return Ok(address);
    }
    match ADDRESS_LIKE.find_iter(trimmed).count() {
        0 => Err(SubjectProblem::NoAddress),
        1 => Err(SubjectProblem::ExtraText),
        _ => Err(SubjectProblem::SeveralAddresses),
    }
}

/// Something with an `@` between non-separator characters: good enough to tell "two
/// addresses" from "one address and words" when explaining a rejection.
static ADDRESS_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"[^\s<>,;:"()\[\]]+@[^\s<>,;:"()\[\]]+"#).expect("static regex"));

/// RFC 5321 dot-atom local part, ASCII only: quoted local parts and SMTPUTF8 local parts
/// are rare enough in customer mailboxes that refusing them is safer than guessing.
fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-.";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
}

/// Lower-cases and converts to ASCII (IDNA); checks the label syntax a mail domain must
/// have (at least two labels, letters/digits/hyphens, a non-numeric top-level label).
fn normalise_domain(domain: &str) -> Option<String> {
    // IDNA silently drops some invisible characters (zero-width space …); refuse them
    // first, so what the customer sees is what we compare.
    if domain.is_empty()
        || domain.len() > 253
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
    {
        return None;
    }
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return None;
    }
    let tld = labels.last()?;
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(subject: &str, expected: &str) {
        assert_eq!(
            subject_address(subject).map(|a| a.to_string()),
            Ok(expected.to_string()),
            "subject {subject:?}"
        );
    }

    fn bad(subject: &str, problem: SubjectProblem) {
        assert_eq!(
            subject_address(subject),
            Err(problem),
            "subject {subject:?}"
        );
    }

    #[test]
    fn plain_address_is_accepted() {
        ok("mario.rossi@example.it", "mario.rossi@example.it");
    }

    #[test]
    fn surrounding_white_space_is_ignored() {
        ok("   mario.rossi@example.it  ", "mario.rossi@example.it");
        ok("\tmario.rossi@example.it\r\n", "mario.rossi@example.it");
        ok(
            "\u{a0}mario.rossi@example.it\u{a0}",
            "mario.rossi@example.it",
        );
    }

    #[test]
    fn upper_case_is_folded() {
        ok("Mario.Rossi@Example.IT", "mario.rossi@example.it");
        ok("MARIO@EXAMPLE.COM", "mario@example.com");
    }

    #[test]
    fn lone_angle_brackets_are_accepted() {
        ok("<mario@example.it>", "mario@example.it");
        ok("  < mario@example.it >  ", "mario@example.it");
    }

    #[test]
    fn plus_and_hyphen_and_digits_are_valid_local_parts() {
        ok("mario+support@example.it", "mario+support@example.it");
        ok(
            "ufficio-tecnico.2@sub.example.co.uk",
            "ufficio-tecnico.2@sub.example.co.uk",
        );
    }

    #[test]
    fn idn_domain_is_normalised_to_punycode() {
        ok("dolci@università.it", "dolci@xn--universit-y1a.it");
        ok("dolci@XN--UNIVERSIT-Y1A.IT", "dolci@xn--universit-y1a.it");
        ok("dolci@UNIVERSITÀ.it", "dolci@xn--universit-y1a.it");
    }

    #[test]
    fn empty_subject_is_empty() {
        bad("", SubjectProblem::Empty);
        bad("   \t ", SubjectProblem::Empty);
    }

    #[test]
    fn display_name_is_extra_text() {
        bad("Mario Rossi <mario@example.it>", SubjectProblem::ExtraText);
        bad(
            "\"Rossi, Mario\" <mario@example.it>",
            SubjectProblem::ExtraText,
        );
    }

    #[test]
    fn reply_prefix_is_extra_text() {
        bad("Re: mario@example.it", SubjectProblem::ExtraText);
        bad("R: mario@example.it", SubjectProblem::ExtraText);
        bad("Fwd: mario@example.it", SubjectProblem::ExtraText);
    }

    #[test]
    fn trailing_words_or_punctuation_are_extra_text() {
        bad(
            "mario@example.it richiesta urgente",
            SubjectProblem::ExtraText,
        );
        bad("mario@example.it.", SubjectProblem::ExtraText);
        bad("mario@example.it;", SubjectProblem::ExtraText);
        bad("assistenza per mario@example.it", SubjectProblem::ExtraText);
    }

    #[test]
    fn two_addresses_are_several() {
        bad(
            "mario@example.it, anna@example.it",
            SubjectProblem::SeveralAddresses,
        );
        bad(
            "mario@example.it anna@example.it",
            SubjectProblem::SeveralAddresses,
        );
        bad(
            "mario@example.it;anna@example.it",
            SubjectProblem::SeveralAddresses,
        );
        bad(
            "<mario@example.it> <anna@example.it>",
            SubjectProblem::SeveralAddresses,
        );
    }

    #[test]
    fn text_without_address_is_no_address() {
        bad("Il sito non funziona", SubjectProblem::NoAddress);
        bad("Richiesta assistenza", SubjectProblem::NoAddress);
        bad("mario at example dot it", SubjectProblem::NoAddress);
    }

    #[test]
    fn malformed_addresses_are_not_addresses() {
        bad("mario@", SubjectProblem::NoAddress);
        bad("@example.it", SubjectProblem::NoAddress);
        bad("mario@example", SubjectProblem::ExtraText);
        bad("mario..rossi@example.it", SubjectProblem::ExtraText);
        bad("mario@example..it", SubjectProblem::ExtraText);
        bad("mario@-example.it", SubjectProblem::ExtraText);
        bad("mario@example.123", SubjectProblem::ExtraText);
        bad("mario rossi@example.it", SubjectProblem::ExtraText);
    }

    #[test]
    fn a_header_injection_attempt_is_not_an_address() {
        bad(
            "mario@example.it\r\nBcc: victim@example.com",
            SubjectProblem::SeveralAddresses,
        );
        bad("mario@example.it\nX-Evil: 1", SubjectProblem::ExtraText);
    }

    #[test]
    fn zero_width_characters_are_extra_text() {
        bad("mario@example.it\u{200b}", SubjectProblem::ExtraText);
    }

    #[test]
    fn mailto_prefix_is_extra_text() {
        bad("mailto:mario@example.it", SubjectProblem::ExtraText);
    }

    #[test]
    fn non_ascii_local_part_is_refused() {
        bad("màrio@example.it", SubjectProblem::ExtraText);
    }

    #[test]
    fn address_parts_are_exposed() {
        let a = Address::parse("Anna@Example.IT").expect("valid");
        assert_eq!(a.local_part(), "anna");
        assert_eq!(a.domain(), "example.it");
    }
}
