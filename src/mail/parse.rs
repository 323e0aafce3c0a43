//! Raw RFC 5322 bytes to `core::inbound::Inbound`, with mail-parser. Lenient on purpose:
//! a message we cannot make sense of becomes an `Inbound` marked malformed (the core
//! quarantines it), never an error that would stop the intake.

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};

use crate::core::address::Address;
use crate::core::inbound::{Attachment, Bounce, Inbound};

/// Header the daemon puts on every mail it sends; finding it on an inbound message
/// means one of our own mails came back.
pub const LOOP_HEADER: &str = "X-Assistenza-Loop";

/// Most recipients read from `To` and `Cc`: a request copied to a whole mailing list is
/// no reason to hold hundreds of addresses.
const MAX_RECIPIENTS: usize = 50;

/// The valid addresses of `To` then `Cc`, each once.
fn recipients(msg: &mail_parser::Message<'_>) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    let listed = [msg.to(), msg.cc()].into_iter().flatten();
    for addr in listed.flat_map(|list| list.iter()) {
        let Some(a) = addr.address().and_then(|a| Address::parse(a.trim())) else {
            continue;
        };
        if !out.contains(&a) && out.len() < MAX_RECIPIENTS {
            out.push(a);
        }
    }
    out
}

/// Parses `raw`, recording `size` (from the server) and `received_at` (INTERNALDATE).
pub fn parse(raw: &[u8], size: u64, received_at: DateTime<Utc>) -> Inbound {
    let blank = Inbound {
        size,
        received_at,
        ..Inbound::default()
    };
    // mail-parser is not proven against every input: some nested multiparts with an empty
    // boundary trip one of its internal checks (a debug build panics on
    // fixtures/hostile/malformed-mime-empty-boundary-nested-rfc822.eml). A panic here
    // would poison the store lock the intake holds and stop the whole daemon, with the
    // same message first in the mailbox after a restart: it makes the message malformed.
    let fallback = blank.clone();
    std::panic::catch_unwind(move || read(raw, blank)).unwrap_or_else(|_| Inbound {
        malformed: Some("the MIME parser gave up on it".into()),
        ..fallback
    })
}

fn read(raw: &[u8], mut inbound: Inbound) -> Inbound {
    let Some(msg) = MessageParser::default().parse(raw) else {
        inbound.malformed = Some("not a MIME message".into());
        return inbound;
    };
    if let Some(problem) = header_problem(&msg) {
        inbound.malformed = Some(problem);
        return inbound;
    }
    inbound.message_id = msg
        .message_id()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty());
    if let Some(first) = msg.from().and_then(|a| a.first()) {
        inbound.from = first.address().and_then(|a| Address::parse(a.trim()));
        inbound.from_name = first
            .name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
    }
    inbound.recipients = recipients(&msg);
    let header = |name: &str| raw_header(&msg, raw, name);
    inbound.null_sender = header("Return-Path").is_some_and(|v| v.trim() == "<>");
    inbound.subject = msg.subject().unwrap_or("").to_string();
    inbound.text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    inbound.refs = message_ids(msg.in_reply_to());
    for id in message_ids(msg.references()) {
        if !inbound.refs.contains(&id) {
            inbound.refs.push(id);
        }
    }
    inbound.bounce = delivery_report(&msg);
    inbound.auto_submitted = header("Auto-Submitted").as_deref().map(first_token);
    inbound.precedence = header("Precedence").as_deref().map(first_token);
    inbound.list_id = header("List-Id").is_some();
    inbound.loop_marker = header(LOOP_HEADER).is_some();
    inbound.auth_results = auth_results(&msg, raw);
    inbound.attachments = attachments(&msg);
    inbound
}

/// Why the header makes the message unreadable, if it does.
fn header_problem(msg: &Message<'_>) -> Option<String> {
    if msg.headers().is_empty() {
        return Some("no header".into());
    }
    // RFC 5322 allows one of each. With two, mail clients show one and we would read
    // another (mail-parser keeps the last): who wrote, or for whom, is not known.
    ["From", "Subject"].into_iter().find_map(|name| {
        let n = msg
            .headers()
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .count();
        (n > 1).then(|| format!("{n} {name} headers"))
    })
}

/// Every `Authentication-Results` header, unfolded, topmost first.
fn auth_results(msg: &Message<'_>, raw: &[u8]) -> Vec<String> {
    msg.headers()
        .iter()
        .filter(|h| {
            h.name
                .as_str()
                .eq_ignore_ascii_case("Authentication-Results")
        })
        .filter_map(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
        .map(|v| unfold(&String::from_utf8_lossy(v)))
        .collect()
}

/// The attached files (not attached messages), each with a safe name.
fn attachments(msg: &Message<'_>) -> Vec<Attachment> {
    msg.attachments()
        .filter(|part| !part.is_message())
        .enumerate()
        .map(|(i, part)| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            Attachment {
                filename: part
                    .attachment_name()
                    .map(safe_filename)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("allegato-{}", i + 1)),
                content_type,
                data: part.contents().to_vec(),
            }
        })
        .collect()
}

/// The raw value of the last `name` header (the one mail-parser's own getters read), any
/// bytes that are not UTF-8 replaced. mail-parser's `header_raw` returns nothing for such
/// a value, and then an auto-reply or a list message with a Latin-1 comment in its
/// `Auto-Submitted` or `List-Id` would be answered as if it were a person's.
fn raw_header(msg: &Message<'_>, raw: &[u8], name: &str) -> Option<String> {
    msg.headers()
        .iter()
        .rev()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| {
            let value = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            String::from_utf8_lossy(value).into_owned()
        })
}

/// A header value on one line: folding white space becomes one space.
fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An attachment's name without any path or control characters, so relaying it cannot
/// suggest a path to the recipient's mail client.
fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string()
}

/// `auto-replied; comment` or `Bulk (x)` to `auto-replied` / `bulk`.
fn first_token(value: &str) -> String {
    value
        .trim()
        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .map(|ids| {
            ids.iter()
                .map(|id| {
                    id.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                })
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The facts of a delivery status notification (RFC 3464: `multipart/report;
/// report-type=delivery-status`): the first recipient's `Final-Recipient`, `Action`,
/// `Status` and `Diagnostic-Code`, and the Message-ID of the returned mail (from its
/// `message/rfc822` or `text/rfc822-headers` part). `None` for any other message.
fn delivery_report(msg: &mail_parser::Message<'_>) -> Option<Bounce> {
    let ct = msg.content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut bounce = Bounce::default();
    for part in msg.parts.iter().skip(1) {
        let Some(pct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            pct.ctype().to_ascii_lowercase(),
            pct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match kind.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                let text = String::from_utf8_lossy(part.contents()).into_owned();
                read_status_fields(&text, &mut bounce);
            }
            "message/rfc822" | "message/global" | "text/rfc822-headers"
                if bounce.original_message_id.is_none() =>
            {
                let id = match part.message() {
                    Some(returned) => returned.message_id().map(str::to_string),
                    None => MessageParser::default()
                        .parse(part.contents())
                        .and_then(|m| m.message_id().map(str::to_string)),
                };
                bounce.original_message_id = id
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty());
            }
            _ => {}
        }
    }
    Some(bounce)
}

/// Reads the per-recipient fields of a delivery-status body (the first recipient's).
fn read_status_fields(text: &str, bounce: &mut Bounce) {
    // Fields may be folded onto several lines: join continuation lines first.
    let mut fields: Vec<String> = Vec::new();
    for line in text.lines() {
        match fields.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => fields.push(line.trim_end().to_string()),
        }
    }
    for line in &fields {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        // `rfc822; someone@example.it`, `smtp; 550 5.1.1 …`: drop the type.
        let typed = || {
            value
                .split_once(';')
                .map_or(value, |(_, v)| v.trim())
                .to_string()
        };
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" => &mut bounce.recipient,
            "action" => &mut bounce.action,
            "status" => &mut bounce.status,
            "diagnostic-code" => &mut bounce.diagnostic,
            _ => continue,
        };
        if slot.is_none() {
            let v = match name.trim().to_ascii_lowercase().as_str() {
                "action" => value.to_ascii_lowercase(),
                "status" => value.to_string(),
                _ => typed(),
            };
            *slot = Some(v.chars().take(500).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_delivery_report_gives_the_returned_mail_and_why_it_failed() {
        let raw = b"From: MAILER-DAEMON@mail.kzweb.it (Mail Delivery System)\r\n\
To: assistenza@kzweb.it\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-Id: <b1@mail.kzweb.it>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n\
--XX\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mail.kzweb.it\r\n\r\n\
Final-Recipient: rfc822; old.user@example.it\r\nOriginal-Recipient: rfc822;old.user@example.it\r\n\
Action: Failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <old.user@example.it>: Recipient address\r\n\
\t rejected: User unknown\r\n\
--XX\r\nContent-Type: text/rfc822-headers\r\n\r\n\
From: assistenza@kzweb.it\r\nMessage-ID: <KZ-2026-00001.ack.1.2@kzweb.it>\r\n\
Subject: [KZ-2026-00001] Richiesta presa in carico\r\n\r\n--XX--\r\n";
        let m = parse(raw, raw.len() as u64, at());
        let b = m.bounce.expect("a delivery report");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("KZ-2026-00001.ack.1.2@kzweb.it")
        );
        assert_eq!(b.recipient.as_deref(), Some("old.user@example.it"));
        assert_eq!(b.action.as_deref(), Some("failed"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("550 5.1.1 <old.user@example.it>: Recipient address rejected: User unknown")
        );
        assert!(b.failed());
        let plain = parse(b"From: a@example.it\r\n\r\nciao\r\n", 20, at());
        assert!(plain.bounce.is_none());
    }

    #[test]
    fn encoded_subject_and_display_name_are_decoded() {
        let raw = b"From: =?utf-8?Q?Niccol=C3=B2_Bianchi?= <Nicco@Example.IT>\r\n\
Subject: =?utf-8?B?bmljY29AZXhhbXBsZS5pdA==?=\r\n\
Message-ID: <a1@example.it>\r\n\r\nCiao, il sito www.example.it non va\r\n";
        let m = parse(raw, raw.len() as u64, at());
        assert_eq!(m.subject, "nicco@example.it");
        assert_eq!(
            m.from.map(|a| a.to_string()).as_deref(),
            Some("nicco@example.it")
        );
        assert_eq!(m.from_name.as_deref(), Some("Niccolò Bianchi"));
        assert_eq!(m.message_id.as_deref(), Some("a1@example.it"));
        assert!(m.text.contains("www.example.it"));
        assert_eq!(m.received_at, at());
    }

    #[test]
    fn automation_headers_are_read_as_lower_case_tokens() {
        let raw = b"From: a@example.it\r\nAuto-Submitted: Auto-Replied (vacation)\r\n\
Precedence: Bulk\r\nList-Id: <news.example.it>\r\nReturn-Path: <>\r\n\
X-Assistenza-Loop: assistenza@kzweb.it\r\nSubject: x\r\n\r\nbody\r\n";
        let m = parse(raw, 10, at());
        assert_eq!(m.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(m.precedence.as_deref(), Some("bulk"));
        assert!(m.list_id && m.null_sender && m.loop_marker);
    }

    #[test]
    fn automation_headers_count_even_with_bytes_that_are_not_utf8() {
        let raw =
            b"From: a@example.it\r\nAuto-Submitted: auto-replied (Abwesenheitsnotiz f\xfcr)\r\n\
Precedence: bulk (f\xfcr Kunden)\r\nList-Id: Liste f\xfcr Kunden <kunden.example.de>\r\n\
Return-Path: <>\r\nX-Assistenza-Loop: assistenza@kzweb.it \xff\r\nSubject: x\r\n\r\nbody\r\n";
        let m = parse(raw, 10, at());
        assert_eq!(m.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(m.precedence.as_deref(), Some("bulk"));
        assert!(m.list_id && m.null_sender && m.loop_marker);
    }

    #[test]
    fn in_reply_to_and_references_are_merged_without_duplicates() {
        let raw = b"From: a@example.it\r\nIn-Reply-To: <KZ-2026-00001.ack.1.0@kzweb.it>\r\n\
References: <orig@example.it> <KZ-2026-00001.ack.1.0@kzweb.it>\r\nSubject: Re: x\r\n\r\nok\r\n";
        let m = parse(raw, 10, at());
        assert_eq!(
            m.refs,
            vec![
                "KZ-2026-00001.ack.1.0@kzweb.it".to_string(),
                "orig@example.it".to_string()
            ]
        );
    }

    #[test]
    fn html_only_message_gives_text() {
        let raw = b"From: a@example.it\r\nSubject: a@example.it\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Il sito <b>www.example.it</b> &egrave; lento</p><script>alert(1)</script></body></html>\r\n";
        let m = parse(raw, 10, at());
        assert!(m.text.contains("www.example.it"), "{}", m.text);
        assert!(m.text.contains("è lento"), "{}", m.text);
    }

    #[test]
    fn authentication_results_are_kept_unfolded_topmost_first() {
        let raw = b"Authentication-Results: mx.kzweb.it;\r\n\tdkim=pass header.d=kzweb.it\r\n\
Authentication-Results: relay.example.net; spf=fail\r\nFrom: a@kzweb.it\r\nSubject: x\r\n\r\nok\r\n";
        let m = parse(raw, 10, at());
        assert_eq!(
            m.auth_results,
            vec![
                "mx.kzweb.it; dkim=pass header.d=kzweb.it".to_string(),
                "relay.example.net; spf=fail".to_string()
            ]
        );
    }

    #[test]
    fn attachments_keep_name_type_and_bytes() {
        let raw = b"From: a@kzweb.it\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
Ecco il preventivo.\r\n--b\r\nContent-Type: application/pdf; name=\"../preventivo.pdf\"\r\n\
Content-Disposition: attachment; filename=\"../preventivo.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let m = parse(raw, raw.len() as u64, at());
        assert!(m.text.contains("Ecco il preventivo."));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].filename, "preventivo.pdf");
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].data, b"%PDF-1.4\n");
    }

    #[test]
    fn garbage_is_marked_malformed_not_an_error() {
        assert!(parse(b"", 0, at()).malformed.is_some());
    }

    #[test]
    fn missing_from_gives_no_sender() {
        let m = parse(b"Subject: hello\r\n\r\nbody\r\n", 10, at());
        assert!(m.from.is_none());
        assert!(m.malformed.is_none());
    }
}
