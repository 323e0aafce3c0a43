//! What a browser sent: the multipart body read field by field within its limits, and
//! each field checked. A field that is wrong comes back with why, beside what was typed;
//! nothing is cut silently. Single-line fields lose their line breaks and control
//! characters here, so no value can reach a header as more than one line.

use axum::extract::multipart::{Field, Multipart, MultipartError};

use crate::core::address::Address;
use crate::core::inbound::{Attachment, FormFields};
use crate::core::templates::pages::{FormLimits, FormValues};

/// The longest text each field takes, in characters, and the most files.
pub const LIMITS: FormLimits = FormLimits {
    email: 254,
    nome: 200,
    riferimento: 300,
    richiesta: 20_000,
    files: 10,
    upload_bytes: 0,
};

/// More parts than this is not a browser sending our form.
const MAX_PARTS: usize = 40;

/// The form as sent, before it is judged.
#[derive(Debug, Default)]
pub struct Sent {
    pub token: String,
    pub values: FormValues,
    /// The field people never see: a bot fills it.
    pub honeypot: String,
    pub files: Vec<Attachment>,
    /// Fields that were over their limit while reading.
    pub too_long: Vec<&'static str>,
    pub too_many_files: bool,
}

/// Why the body could not be read at all.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Over the size limit: 413.
    TooLarge,
    /// Not our form (not multipart, too many parts, broken): 400.
    Malformed,
}

/// A submission that passed every check: what the core and the store are given.
#[derive(Clone, Debug)]
pub struct Submission {
    pub requester: Address,
    pub fields: FormFields,
    pub files: Vec<Attachment>,
}

/// Reads every part of the body.
pub async fn read(mut multipart: Multipart) -> Result<Sent, Unreadable> {
    let mut sent = Sent::default();
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Unreadable::Malformed);
        }
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "allegati" => file(&mut sent, field).await?,
            "token" => sent.token = text(field, 256).await?.unwrap_or_default(),
            "website" => sent.honeypot = text(field, 256).await?.unwrap_or_else(|| "x".into()),
            "urgente" => sent.values.urgente = text(field, 16).await?.is_some(),
            "privacy" => sent.values.privacy = text(field, 16).await?.is_some(),
            "email" | "nome" | "riferimento" | "richiesta" => {
                let (key, limit) = field_limit(&name);
                // Read past the limit by a margin, so "too long" is said of what was typed.
                match text(field, limit * 4 + 16).await? {
                    Some(v) if v.chars().count() <= limit => *value_of(&mut sent.values, key) = v,
                    // Shown back whole, for the customer to shorten.
                    Some(v) => {
                        *value_of(&mut sent.values, key) = v;
                        sent.too_long.push(key);
                    }
                    None => sent.too_long.push(key),
                }
            }
            _ => drain(field).await?,
        }
    }
    Ok(sent)
}

fn field_limit(name: &str) -> (&'static str, usize) {
    match name {
        "email" => ("email", LIMITS.email),
        "nome" => ("nome", LIMITS.nome),
        "riferimento" => ("riferimento", LIMITS.riferimento),
        _ => ("richiesta", LIMITS.richiesta),
    }
}

fn value_of<'v>(values: &'v mut FormValues, key: &str) -> &'v mut String {
    match key {
        "email" => &mut values.email,
        "nome" => &mut values.nome,
        "riferimento" => &mut values.riferimento,
        _ => &mut values.richiesta,
    }
}

fn unreadable(e: MultipartError) -> Unreadable {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Unreadable::TooLarge
    } else {
        Unreadable::Malformed
    }
}

/// A text field as UTF-8 (invalid bytes replaced), or None when over `max_bytes` (the
/// rest is still read, so the body stays in step).
async fn text(mut field: Field<'_>, max_bytes: usize) -> Result<Option<String>, Unreadable> {
    let mut bytes = Vec::new();
    let mut over = false;
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > max_bytes {
            over = true;
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok((!over).then(|| String::from_utf8_lossy(&bytes).into_owned()))
}

async fn drain(mut field: Field<'_>) -> Result<(), Unreadable> {
    while field.chunk().await.map_err(unreadable)?.is_some() {}
    Ok(())
}

/// One file of `allegati`; the browser sends an empty part when none was chosen.
async fn file(sent: &mut Sent, mut field: Field<'_>) -> Result<(), Unreadable> {
    let filename = clean_filename(field.file_name().unwrap_or(""));
    let content_type = field
        .content_type()
        .filter(|t| t.len() < 100 && t.contains('/') && !t.contains(char::is_control))
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        data.extend_from_slice(&chunk);
    }
    if filename.is_empty() && data.is_empty() {
        return Ok(());
    }
    if sent.files.len() >= LIMITS.files {
        sent.too_many_files = true;
        return Ok(());
    }
    let filename = if filename.is_empty() {
        format!("allegato-{}", sent.files.len() + 1)
    } else {
        filename
    };
    sent.files.push(Attachment {
        filename,
        content_type,
        data,
    });
    Ok(())
}

/// The file's own name: no folders (old browsers send the whole path), no control
/// characters, at most 200 characters.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    one_line(base)
        .chars()
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Line breaks, tabs and other control characters become spaces; runs of white space
/// one space.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A long text as typed: line ends made `\n`, control characters other than tabs and
/// line breaks dropped, blank lines at either end trimmed.
fn multi_line(text: &str) -> String {
    let unix = text.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = unix
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    kept.trim_matches(|c: char| c == '\n' || c == ' ' || c == '\t')
        .to_string()
}

impl Sent {
    /// Cleans what was typed and judges each field. The errors are in the form's order.
    pub fn check(&mut self) -> Result<Submission, Vec<(&'static str, &'static str)>> {
        let v = &mut self.values;
        v.email = one_line(&v.email);
        v.nome = one_line(&v.nome);
        v.riferimento = one_line(&v.riferimento);
        v.richiesta = multi_line(&v.richiesta);
        let mut errors = vec![];
        let too_long = |k: &str| self.too_long.contains(&k);
        let requester = Address::parse(&v.email).filter(|_| !v.email.contains(' '));
        for (key, value) in [
            ("email", &v.email),
            ("nome", &v.nome),
            ("riferimento", &v.riferimento),
            ("richiesta", &v.richiesta),
        ] {
            if too_long(key) {
                errors.push((key, "too_long"));
            } else if value.is_empty() {
                errors.push((key, "required"));
            } else if key == "email" && requester.is_none() {
                errors.push((key, "invalid_address"));
            }
        }
        if self.too_many_files {
            errors.push(("allegati", "too_many_files"));
        }
        if !v.privacy {
            errors.push(("privacy", "consent"));
        }
        match requester {
            Some(requester) if errors.is_empty() => Ok(Submission {
                fields: FormFields {
                    email: requester.to_string(),
                    name: v.nome.clone(),
                    reference: v.riferimento.clone(),
                    request: v.richiesta.clone(),
                    urgent: v.urgente,
                },
                requester,
                files: std::mem::take(&mut self.files),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(email: &str, nome: &str, riferimento: &str, richiesta: &str) -> Sent {
        Sent {
            values: FormValues {
                email: email.into(),
                nome: nome.into(),
                riferimento: riferimento.into(),
                richiesta: richiesta.into(),
                urgente: false,
                privacy: true,
            },
            ..Sent::default()
        }
    }

    #[test]
    fn every_field_is_required_and_the_address_must_be_one_address() {
        let mut s = sent(" ", "", "", "\r\n");
        s.values.privacy = false;
        let errors = s.check().expect_err("refused");
        assert_eq!(
            errors,
            [
                ("email", "required"),
                ("nome", "required"),
                ("riferimento", "required"),
                ("richiesta", "required"),
                ("privacy", "consent"),
            ]
        );
        for bad in [
            "mario",
            "mario@rossi.it, anna@rossi.it",
            "Mario <mario@rossi.it>",
            "a b@c.it",
        ] {
            let errors = sent(bad, "Mario", "www.rossi.it", "x")
                .check()
                .expect_err(bad);
            assert_eq!(errors, [("email", "invalid_address")], "{bad}");
        }
    }

    #[test]
    fn line_breaks_and_nul_never_survive_in_single_line_fields() {
        let mut s = sent(
            "mario@rossi.it",
            "Mario\r\nBcc: x@y.it\0",
            "www.rossi.it\nX-Evil: 1",
            "riga uno\r\n\0riga due\r\n> citata",
        );
        let ok = s.check().expect("valid");
        assert_eq!(ok.fields.name, "Mario Bcc: x@y.it");
        assert_eq!(ok.fields.reference, "www.rossi.it X-Evil: 1");
        assert_eq!(ok.fields.request, "riga uno\nriga due\n> citata");
        assert_eq!(ok.requester.as_str(), "mario@rossi.it");
    }

    #[test]
    fn a_field_over_its_limit_is_refused_never_cut() {
        let mut s = sent("mario@rossi.it", "Mario", "www.rossi.it", "x");
        s.too_long.push("richiesta");
        assert_eq!(s.check().expect_err("refused"), [("richiesta", "too_long")]);
    }

    #[test]
    fn file_names_lose_their_folders_and_control_characters() {
        assert_eq!(
            clean_filename("C:\\Users\\mario\\schermata 1.png"),
            "schermata 1.png"
        );
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\r\nb.pdf"), "a b.pdf");
    }
}
