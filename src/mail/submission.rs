//! A form submission as the desk keeps it: a MIME message, written here once, so that
//! `tickets show`, `purge` and backups treat it like any mail; and the core's inbound
//! message made of it, channel web. The same two functions serve a submission handled at
//! once and one held until its link is confirmed.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde_json::json;

use crate::core::address::Address;
use crate::core::inbound::{Attachment, Channel, FormFields, Inbound};

use super::parse::parse;

/// The header that marks the stored message as the form's, with the client's address.
const FORM_HEADER: &str = "X-Assistenza-Modulo";

/// The Message-ID of the submission with idempotency key `key`: the same form sent
/// twice has the same one, and the second is a duplicate.
pub fn message_id(key: &str, desk: &Address) -> String {
    format!("form.{key}@{}", desk.domain())
}

/// The submission as a message from the requester to the desk, its fields in the text
/// and its files attached.
pub fn raw(
    fields: &FormFields,
    files: &[Attachment],
    desk: &Address,
    message_id: &str,
    client: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>> {
    let mailbox = |name: Option<String>, a: &str| -> Result<Mailbox> {
        Ok(Mailbox::new(name, a.parse().context("a form address")?))
    };
    let text = format!(
        "Nome: {}\nEmail: {}\nRiferimento: {}\nUrgente: {}\n\n{}\n",
        fields.name,
        fields.email,
        fields.reference,
        if fields.urgent { "sì" } else { "no" },
        fields.request
    );
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for f in files {
        let kind = ContentType::parse(&f.content_type)
            .unwrap_or(ContentType::parse("application/octet-stream").context("a MIME type")?);
        parts =
            parts.singlepart(MimeAttachment::new(f.filename.clone()).body(f.data.clone(), kind));
    }
    let message = Message::builder()
        .from(mailbox(Some(fields.name.clone()), &fields.email)?)
        .to(mailbox(None, desk.as_str())?)
        .subject(format!("Modulo web: {}", fields.reference))
        .message_id(Some(format!("<{message_id}>")))
        .date(at.into())
        .header(FormMarker(format!("web; client={client}")))
        .multipart(parts)
        .context("writing the form submission as a message")?;
    Ok(message.formatted())
}

/// The core's message of a stored submission: its files as parsed from `raw`, its fields
/// as typed, received `at` (when it was confirmed).
pub fn inbound(raw: &[u8], fields: &FormFields, at: DateTime<Utc>) -> Inbound {
    let parsed = parse(raw, raw.len() as u64, at);
    let id = parsed.message_id.unwrap_or_default();
    message(fields, parsed.attachments, &id, raw.len(), at)
}

/// The core's message of a submission just written as `raw` (`size` bytes, Message-ID
/// `message_id`), with the files it came with: nothing to parse back.
pub fn message(
    fields: &FormFields,
    files: Vec<Attachment>,
    message_id: &str,
    size: usize,
    at: DateTime<Utc>,
) -> Inbound {
    Inbound {
        message_id: Some(message_id.to_string()).filter(|id| !id.is_empty()),
        from: Address::parse(&fields.email),
        from_name: Some(fields.name.clone()).filter(|n| !n.is_empty()),
        subject: format!("Modulo web: {}", fields.reference),
        text: fields.text(),
        size: size as u64,
        received_at: at,
        attachments: files,
        channel: Channel::Web(fields.clone()),
        ..Inbound::default()
    }
}

/// The fields as JSON, to hold a submission until it is confirmed.
pub fn fields_json(fields: &FormFields) -> String {
    json!({
        "email": fields.email, "name": fields.name, "reference": fields.reference,
        "request": fields.request, "urgent": fields.urgent,
    })
    .to_string()
}

/// The fields held by `fields_json`.
pub fn fields_from_json(text: &str) -> Result<FormFields> {
    let v: serde_json::Value = serde_json::from_str(text).context("held form fields")?;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    Ok(FormFields {
        email: s("email"),
        name: s("name"),
        reference: s("reference"),
        request: s("request"),
        urgent: v["urgent"].as_bool().unwrap_or(false),
    })
}

#[derive(Clone)]
struct FormMarker(String);

impl Header for FormMarker {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(FORM_HEADER)
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(FormMarker(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_submission_is_kept_as_mail_and_read_back_as_the_same_request() {
        let fields = FormFields {
            email: "mario@rossi.it".into(),
            name: "Mario Rossi Bcc: x@y.it".into(),
            reference: "www.rossi.it".into(),
            request: "Il modulo contatti non invia.\n> riga che inizia con >".into(),
            urgent: true,
        };
        let files = [Attachment {
            filename: "schermata.png".into(),
            content_type: "image/png".into(),
            data: vec![0x89, b'P', b'N', b'G', 0, 1, 2],
        }];
        let desk = Address::parse("assistenza@kzweb.it").expect("address");
        let at = Utc
            .with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("time");
        let id = message_id("0123456789abcdef0123456789abcdef", &desk);
        let raw = raw(&fields, &files, &desk, &id, "203.0.113.7", at).expect("raw");
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("X-Assistenza-Modulo: web; client=203.0.113.7"),
            "{text}"
        );
        assert!(!text.contains("\r\nBcc:"), "{text}");
        let msg = inbound(&raw, &fields, at);
        assert_eq!(
            message(&fields, files.to_vec(), &id, raw.len(), at).text,
            msg.text
        );
        assert_eq!(msg.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(msg.attachments, files);
        assert_eq!(msg.channel, Channel::Web(fields.clone()));
        assert_eq!(
            fields_from_json(&fields_json(&fields)).expect("json"),
            fields
        );
    }
}
