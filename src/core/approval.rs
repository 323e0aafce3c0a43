//! A customer's answer to a quote: ACCETTO or RIFIUTO on the first line of their own
//! text, as the quote asks. Anything else is an ordinary reply a person reads.

use super::body;

/// The customer's answer to a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    Refused,
}

/// The answer `text` (a reply's whole text, quotes included) gives, if it gives one.
pub fn read(text: &str) -> Option<Answer> {
    let own = body::own_text(text);
    let line = own.lines().map(str::trim).find(|l| !l.is_empty())?;
    let word = line
        .split_whitespace()
        .next()?
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    match word.as_str() {
        "accetto" => Some(Answer::Accepted),
        "rifiuto" => Some(Answer::Refused),
        _ => None,
    }
}
