//! What the core knows of an inbound message: the few facts the rules look at, already
//! decoded by the shell (`mail::parse` for mail, the portal's form handler for the web).
//! No parsing happens here.

use chrono::{DateTime, Utc};

use super::address::Address;

/// A parsed inbound message.
#[derive(Clone, Debug, Default)]
pub struct Inbound {
    /// `Message-ID` without angle brackets, when present.
    pub message_id: Option<String>,
    /// The first mailbox of `From`, when it is a valid address.
    pub from: Option<Address>,
    /// The valid addresses of `To` and `Cc`, in order, each once: colleagues a customer
    /// copied (the support address among them).
    pub recipients: Vec<Address>,
    /// The display name of `From`, used only to greet people by name.
    pub from_name: Option<String>,
    /// True when `Return-Path` is `<>`: a bounce or another automatic notice.
    pub null_sender: bool,
    /// The subject with RFC 2047 encoded words decoded.
    pub subject: String,
    /// The text of the body: the text/plain part, or the HTML part turned into text.
    pub text: String,
    /// Message-IDs from `In-Reply-To` then `References`, without angle brackets.
    pub refs: Vec<String>,
    /// The `Auto-Submitted` value (RFC 3834), lower-cased.
    pub auto_submitted: Option<String>,
    /// The `Precedence` value, lower-cased.
    pub precedence: Option<String>,
    /// True when a `List-Id` header is present.
    pub list_id: bool,
    /// True when our own loop marker header is present: the message is one of ours.
    pub loop_marker: bool,
    /// Size of the raw message in bytes (from the server, or the file).
    pub size: u64,
    /// When the support mailbox received it (IMAP INTERNALDATE), never the `Date` header.
    pub received_at: DateTime<Utc>,
    /// Set when the message could not be parsed as MIME at all.
    pub malformed: Option<String>,
    /// The values of every `Authentication-Results` header, topmost first.
    pub auth_results: Vec<String>,
    /// Files attached (quotes, screenshots), relayed with the text.
    pub attachments: Vec<Attachment>,
    /// When the message is a delivery status notification (RFC 3464): what it reports.
    pub bounce: Option<Bounce>,
    /// How it reached the desk. The rules are the same; the few that read a mail's own
    /// parts (its subject, its quotes, its thread) read the form's fields instead.
    pub channel: Channel,
}

/// How a message reached the desk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    #[default]
    Email,
    Web(FormFields),
}

/// What the customer typed in the portal's form, already trimmed and length-checked by the
/// shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormFields {
    /// The requester's address: it plays the part of an emailed request's subject.
    pub email: String,
    pub name: String,
    /// The site (its URL) or the software the request is about.
    pub reference: String,
    pub request: String,
    /// The form's "urgente" checkbox, in place of `URGENTE` on a mail's first line.
    pub urgent: bool,
}

impl FormFields {
    /// The request's text as the ticket keeps it: the reference first, so the body rule
    /// finds the site in it, then what was asked, as typed. The shell gives the same as
    /// `Inbound::text`.
    pub fn text(&self) -> String {
        format!(
            "Riferimento: {}\n\n{}",
            unix_lines(&self.reference),
            unix_lines(&self.request)
        )
    }
}

/// Line ends as a mail's text has them: browsers send a text area's lines ended by CR LF.
pub fn unix_lines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

impl Channel {
    /// The name templates receive as `channel`.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Web(_) => "web",
        }
    }
}

impl Inbound {
    /// The field the subject rule reads: a mail's subject, or the address typed in the
    /// form (a single address, so the rule parses it as it is).
    pub fn requester_field(&self) -> &str {
        match &self.channel {
            Channel::Email => &self.subject,
            Channel::Web(fields) => &fields.email,
        }
    }

    /// Whether it came from the portal's form: no mail to reply to, no thread to join.
    pub fn is_web(&self) -> bool {
        matches!(self.channel, Channel::Web(_))
    }
}

/// What a delivery status notification says about one undelivered mail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the mail that was not delivered, when the report returns its
    /// header (without angle brackets).
    pub original_message_id: Option<String>,
    /// `Final-Recipient`, without its `rfc822;` type.
    pub recipient: Option<String>,
    /// `Action`: `failed`, `delayed`, `delivered`, …, lower-cased.
    pub action: Option<String>,
    /// `Status`, e.g. `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, without its `smtp;` type.
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// The mail will not be delivered: the report says failed, or gives a 5.x.x status.
    pub fn failed(&self) -> bool {
        self.action.as_deref() == Some("failed")
            || self.status.as_deref().is_some_and(|s| s.starts_with('5'))
    }
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// `type/subtype`, e.g. `application/pdf`.
    pub content_type: String,
    pub data: Vec<u8>,
}
