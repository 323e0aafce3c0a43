//! The one place outgoing mail is built: `core::decision::OutgoingMail` to RFC 5322 bytes
//! with lettre. Every mail carries a stable `Message-ID` (derived from the inbound message
//! that caused it, so a retry sends the same id), threading headers, `Auto-Submitted`
//! (RFC 3834) and our loop marker. lettre encodes every header value, so nothing a sender
//! wrote can inject a header.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::core::address::Address;
use crate::core::decision::OutgoingMail;

use super::parse::LOOP_HEADER;

/// A composed mail: its stable id, its envelope and its bytes, as the outbox queues it
/// and SMTP sends it.
#[derive(Clone, Debug)]
pub struct Composed {
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
}

/// Builds outgoing mail as the support address.
#[derive(Clone, Debug)]
pub struct Composer {
    from_name: String,
    from_address: Address,
}

impl Composer {
    /// Cannot fail: the support address goes into lettre's form with each mail, as the
    /// recipients do, and config validation has made sure lettre takes it.
    pub fn new(from_name: &str, from_address: &Address) -> Composer {
        Composer {
            from_name: from_name.to_string(),
            from_address: from_address.clone(),
        }
    }

    /// The stable Message-ID (without brackets) of the `index`-th mail of one cause (an
    /// inbound message's row id, or `timer`): the same inputs always give the same id, so
    /// a mail queued twice would be recognisable, and replies find their ticket by it.
    pub fn message_id(&self, mail: &OutgoingMail, cause: &str, index: usize) -> String {
        let ticket = mail
            .ticket
            .as_ref()
            .map(|c| format!("{c}."))
            .unwrap_or_default();
        format!(
            "{ticket}{}.{cause}.{index}@{}",
            mail.kind.name(),
            self.from_address.domain()
        )
    }

    /// Composes the mail with the given id and date.
    pub fn compose(
        &self,
        mail: &OutgoingMail,
        message_id: &str,
        date: DateTime<Utc>,
    ) -> Result<Composed> {
        let from = Mailbox::new(Some(self.from_name.clone()), email(&self.from_address)?);
        let mut builder = Message::builder().from(from);
        builder = if mail.subject.contains("=?") {
            builder.header(EncodedSubject(mail.subject.clone()))
        } else {
            builder.subject(mail.subject.clone())
        };
        let mut builder = builder
            .date(date.into())
            .message_id(Some(format!("<{message_id}>")))
            .header(AutoSubmitted("auto-replied".into()))
            .header(LoopMarker(self.from_address.to_string()));
        for to in &mail.to {
            builder = builder.to(mailbox(to)?);
        }
        for cc in &mail.cc {
            builder = builder.cc(mailbox(cc)?);
        }
        if let Some(id) = mail.in_reply_to.as_deref().and_then(safe_id) {
            builder = builder.in_reply_to(format!("<{id}>"));
        }
        let refs: Vec<String> = mail
            .references
            .iter()
            .filter_map(|r| safe_id(r))
            .map(|r| format!("<{r}>"))
            .collect();
        if !refs.is_empty() {
            builder = builder.references(refs.join(" "));
        }
        let message = if mail.attachments.is_empty() {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
            for a in &mail.attachments {
                let kind = ContentType::parse(&a.content_type)
                    .or_else(|_| ContentType::parse("application/octet-stream"))
                    .context("attachment content type")?;
                // Always base64: lettre would send an all-ASCII file as 7bit, and MTAs turn
                // its bare line feeds into CRLF, changing the customer's file.
                let body = Body::new_with_encoding(a.data.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| anyhow::anyhow!("encoding attachment {:?}", a.filename))?;
                parts = parts.singlepart(Attachment::new(a.filename.clone()).body(body, kind));
            }
            builder.multipart(parts)
        }
        .context("composing outgoing mail")?;
        let envelope = message.envelope();
        Ok(Composed {
            message_id: message_id.to_string(),
            envelope_from: self.from_address.to_string(),
            recipients: envelope.to().iter().map(|a| a.to_string()).collect(),
            raw: message.formatted(),
        })
    }
}

fn mailbox(address: &Address) -> Result<Mailbox> {
    Ok(Mailbox::new(None, email(address)?))
}

fn email(address: &Address) -> Result<lettre::Address> {
    address
        .as_str()
        .parse()
        .with_context(|| format!("address {address} is not usable by lettre"))
}

/// A Message-ID from someone else's mail, kept only if it is plain printable ASCII of a
/// sane length: anything else is dropped from our threading headers rather than risked.
fn safe_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    ok.then_some(id)
}

/// A subject holding `=?`, written as RFC 2047 encoded words from end to end. lettre
/// writes ASCII words as they are, so text that looks like an encoded word — a customer
/// can put `=?utf-8?B?…?=` in the first line of a request, which the queue notice's
/// subject quotes — would be decoded by the reader's mail client into whatever it hides:
/// control characters, line breaks, other words. Encoded whole, the subject reads back
/// exactly as the core wrote it.
#[derive(Clone)]
struct EncodedSubject(String);

impl Header for EncodedSubject {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Subject")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.0.clone(), q_words(&self.0))
    }
}

/// `text` as Q encoded words (RFC 2047), each short enough that every line holding one
/// stays within 76 characters, folded between words (decoders drop the white space
/// between encoded words, so nothing is added to the text).
fn q_words(text: &str) -> String {
    const MAX: usize = 76 - "Subject: =?utf-8?q?".len() - "?=".len();
    let mut words = vec![String::new()];
    for c in text.chars() {
        let mut utf8 = [0u8; 4];
        let encoded: String = c
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
                b' ' => "_".to_string(),
                _ => format!("={b:02X}"),
            })
            .collect();
        if words.last().is_some_and(|w| w.len() + encoded.len() > MAX) {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.push_str(&encoded);
        }
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?q?{w}?="))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// RFC 3834: tells auto-responders not to answer us.
#[derive(Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Our own loop marker: a message carrying it is ours and is never answered.
#[derive(Clone)]
struct LoopMarker(String);

impl Header for LoopMarker {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(LOOP_HEADER)
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::MailKind;
    use crate::core::ticket::TicketCode;
    use chrono::TimeZone;

    fn addr(s: &str) -> Address {
        Address::parse(s).expect("valid")
    }

    fn ack() -> OutgoingMail {
        OutgoingMail {
            kind: MailKind::Ack,
            ticket: Some(TicketCode {
                prefix: "KZ".into(),
                year: 2026,
                number: 1,
            }),
            to: vec![addr("mario@example.it")],
            cc: vec![addr("anna@example.it")],
            subject: "[KZ-2026-00001] Richiesta di assistenza presa in carico".into(),
            body: "Gentile Mario,\nè tutto a posto.\n".into(),
            in_reply_to: Some("orig@example.it".into()),
            references: vec!["older@example.it".into(), "orig@example.it".into()],
            attachments: vec![],
            held: None,
            trouble: None,
        }
    }

    fn composer() -> Composer {
        Composer::new("Assistenza KZweb", &addr("assistenza@kzweb.it"))
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn message_id_is_stable_and_names_ticket_kind_and_source() {
        let c = composer();
        assert_eq!(
            c.message_id(&ack(), "17", 0),
            "KZ-2026-00001.ack.17.0@kzweb.it"
        );
        assert_eq!(c.message_id(&ack(), "17", 0), c.message_id(&ack(), "17", 0));
    }

    #[test]
    fn composed_mail_threads_and_marks_itself_automatic() {
        let c = composer();
        let out = c
            .compose(&ack(), "KZ-2026-00001.ack.17.0@kzweb.it", at())
            .expect("composed");
        let text = String::from_utf8(out.raw).expect("utf-8");
        assert!(
            text.contains("Message-ID: <KZ-2026-00001.ack.17.0@kzweb.it>"),
            "{text}"
        );
        assert!(text.contains("In-Reply-To: <orig@example.it>"), "{text}");
        assert!(
            text.contains("References: <older@example.it> <orig@example.it>"),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
        assert!(
            text.contains("X-Assistenza-Loop: assistenza@kzweb.it"),
            "{text}"
        );
        assert!(text.contains("Cc: anna@example.it"), "{text}");
        assert_eq!(out.envelope_from, "assistenza@kzweb.it");
        assert_eq!(
            out.recipients,
            vec![
                "mario@example.it".to_string(),
                "anna@example.it".to_string()
            ]
        );
    }

    #[test]
    fn composed_mail_parses_back_with_its_text() {
        let c = composer();
        let out = c.compose(&ack(), "x.1.0@kzweb.it", at()).expect("composed");
        let back = crate::mail::parse::parse(&out.raw, out.raw.len() as u64, at());
        assert_eq!(back.subject, ack().subject);
        assert!(back.text.contains("è tutto a posto."));
        assert!(back.loop_marker);
        assert_eq!(back.auto_submitted.as_deref(), Some("auto-replied"));
    }

    #[test]
    fn attachments_travel_with_the_text() {
        let mut mail = ack();
        mail.attachments = vec![crate::core::inbound::Attachment {
            filename: "preventivo.pdf".into(),
            content_type: "application/pdf".into(),
            data: b"%PDF-1.4\n".to_vec(),
        }];
        let out = composer()
            .compose(&mail, "x.1.0@kzweb.it", at())
            .expect("composed");
        let text = String::from_utf8_lossy(&out.raw);
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK"),
            "a file travels base64 even when it looks like text: {text}"
        );
        let back = crate::mail::parse::parse(&out.raw, out.raw.len() as u64, at());
        assert!(back.text.contains("è tutto a posto."));
        assert_eq!(back.attachments, mail.attachments);
    }

    #[test]
    fn text_that_looks_like_an_encoded_word_reads_back_as_written() {
        let mut mail = ack();
        mail.subject = format!(
            "[KZ-2026-00001] Nuovo ticket: Rossi — =?utf-8?b?4oCuDQpCY2M6IHhAZXZpbC5leGFtcGxl?= {}",
            "lungo ".repeat(30)
        );
        let out = composer()
            .compose(&mail, "x.1.0@kzweb.it", at())
            .expect("composed");
        let back = crate::mail::parse::parse(&out.raw, out.raw.len() as u64, at());
        assert_eq!(back.subject, mail.subject);
        let text = String::from_utf8(out.raw).expect("ascii");
        let header = &text[..text.find("\r\n\r\n").expect("header")];
        assert!(header.lines().all(|l| l.len() <= 76), "{header}");
        assert!(!header.contains("Bcc"), "{header}");
    }

    #[test]
    fn hostile_reference_ids_are_dropped_not_injected() {
        let mut mail = ack();
        mail.in_reply_to = Some("x@y\r\nBcc: victim@example.com".into());
        mail.references = vec!["a b@c".into()];
        let out = composer()
            .compose(&mail, "x.1.0@kzweb.it", at())
            .expect("composed");
        let text = String::from_utf8(out.raw).expect("utf-8");
        assert!(!text.contains("Bcc"), "{text}");
        assert!(!text.contains("In-Reply-To"), "{text}");
        assert!(!text.contains("References"), "{text}");
    }
}
