//! The texts rendered whole, the portal's pages and the GDPR export's LEGGIMI.txt: the
//! values each receives, and the situations a set of texts must render before it is put
//! in force (an empty form, one sent back with every error and a customer's hostile text,
//! each state of a confirmation link, each error page, an export with and without
//! tickets). Pages are HTML: what a customer typed is escaped by the template set.

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use super::super::decision::Settings;
use super::super::texts::{TextProblem, Texts};
use super::{context, italian_datetime, variables_of};

/// A page of the portal, by its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Form,
    Received,
    Confirm,
    Confirmed,
    Error,
    Style,
    /// Not served by the portal: the LEGGIMI.txt of `gdpr export`.
    Leggimi,
}

impl Page {
    pub const ALL: [Page; 7] = [
        Page::Form,
        Page::Received,
        Page::Confirm,
        Page::Confirmed,
        Page::Error,
        Page::Style,
        Page::Leggimi,
    ];

    pub fn template(self) -> &'static str {
        match self {
            Page::Form => "form.html.j2",
            Page::Received => "received.html.j2",
            Page::Confirm => "confirm.html.j2",
            Page::Confirmed => "confirmed.html.j2",
            Page::Error => "error.html.j2",
            Page::Style => "style.css.j2",
            Page::Leggimi => "leggimi.txt.j2",
        }
    }
}

/// What the customer typed, as the form shows it back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormValues {
    pub email: String,
    pub nome: String,
    pub riferimento: String,
    pub richiesta: String,
    pub urgente: bool,
    pub privacy: bool,
}

/// The longest text each field takes, and the files' limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormLimits {
    pub email: usize,
    pub nome: usize,
    pub riferimento: usize,
    pub richiesta: usize,
    pub files: usize,
    pub upload_bytes: u64,
}

/// The form as one page shows it.
#[derive(Clone, Debug)]
pub struct FormView<'a> {
    pub token: &'a str,
    pub values: &'a FormValues,
    /// Field and why it is to be corrected, in the form's order.
    pub errors: &'a [(&'static str, &'static str)],
    /// `resend`, or none.
    pub notice: Option<&'static str>,
    pub limits: FormLimits,
    pub privacy_url: &'a str,
    pub confirmation: bool,
}

/// Megabytes as the pages write them: `10`, `2,5`.
pub fn megabytes(bytes: u64) -> String {
    let tenths = (bytes * 10).div_ceil(1024 * 1024);
    if tenths % 10 == 0 {
        (tenths / 10).to_string()
    } else {
        format!("{},{}", tenths / 10, tenths % 10)
    }
}

pub fn form(settings: &Settings, view: &FormView<'_>) -> minijinja::Value {
    let v = view.values;
    let errors: serde_json::Map<String, Json> = view
        .errors
        .iter()
        .map(|(field, why)| (field.to_string(), json!(why)))
        .collect();
    let l = view.limits;
    context(
        settings,
        json!({
            "root": "",
            "token": view.token,
            "values": {
                "email": v.email, "nome": v.nome, "riferimento": v.riferimento,
                "richiesta": v.richiesta, "urgente": v.urgente, "privacy": v.privacy,
            },
            "errors": errors,
            "first_error": view.errors.first().map(|(field, _)| *field),
            "notice": view.notice,
            "limits": {
                "email": l.email, "nome": l.nome, "riferimento": l.riferimento,
                "richiesta": l.richiesta, "files": l.files,
                "upload_mb": megabytes(l.upload_bytes),
            },
            "privacy_url": view.privacy_url,
            "confirmation": view.confirmation,
        }),
    )
}

pub fn received(settings: &Settings, confirmation: bool) -> minijinja::Value {
    context(
        settings,
        json!({ "root": "", "confirmation": confirmation }),
    )
}

/// A confirmation link's page: `state` is ready, used, expired or unknown.
pub fn confirm(
    settings: &Settings,
    state: &str,
    valid_until: Option<DateTime<Utc>>,
) -> minijinja::Value {
    context(
        settings,
        json!({
            "root": "../",
            "state": state,
            "valid_until": valid_until.map(italian_datetime),
        }),
    )
}

/// After Conferma: shown at the form's folder (`confermata`), not under the link's.
pub fn confirmed(settings: &Settings) -> minijinja::Value {
    context(settings, json!({ "root": "" }))
}

/// What an error page says: its status and reason, and the figure it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPage {
    BadRequest,
    NotFound,
    TooLarge { limit_bytes: u64 },
    TooMany { retry_secs: u64 },
    Unavailable,
}

impl ErrorPage {
    pub fn status(self) -> u16 {
        match self {
            ErrorPage::BadRequest => 400,
            ErrorPage::NotFound => 404,
            ErrorPage::TooLarge { .. } => 413,
            ErrorPage::TooMany { .. } => 429,
            ErrorPage::Unavailable => 503,
        }
    }
}

/// An error page; `root` is the way back to the form from where it is shown.
pub fn error(settings: &Settings, root: &str, page: ErrorPage) -> minijinja::Value {
    let reason = match page {
        ErrorPage::BadRequest => "bad_request",
        ErrorPage::NotFound => "not_found",
        ErrorPage::TooLarge { .. } => "too_large",
        ErrorPage::TooMany { .. } => "too_many",
        ErrorPage::Unavailable => "unavailable",
    };
    let limit_mb = match page {
        ErrorPage::TooLarge { limit_bytes } => Some(megabytes(limit_bytes)),
        _ => None,
    };
    let retry_minutes = match page {
        ErrorPage::TooMany { retry_secs } => Some(retry_secs.div_ceil(60).max(1)),
        _ => None,
    };
    context(
        settings,
        json!({
            "root": root, "status": page.status(), "reason": reason,
            "limit_mb": limit_mb, "retry_minutes": retry_minutes,
        }),
    )
}

pub fn style(settings: &Settings) -> minijinja::Value {
    context(settings, json!({}))
}

/// The LEGGIMI.txt of a person's export: their address, when, how many mails, which tickets.
pub fn leggimi(
    settings: &Settings,
    address: &str,
    at: DateTime<Utc>,
    mails: usize,
    tickets: &[String],
) -> minijinja::Value {
    context(
        settings,
        json!({
            "address": address,
            "extracted_at": italian_datetime(at),
            "mails": mails,
            "tickets": tickets,
        }),
    )
}

/// Every page in every shape, with a label for the problems.
pub fn situations(settings: &Settings) -> Vec<(Page, String, minijinja::Value)> {
    let mut all = forms(settings);
    let mut push = |page, label: &str, values| all.push((page, label.to_string(), values));
    push(Page::Received, "received", received(settings, false));
    push(
        Page::Received,
        "received, to confirm",
        received(settings, true),
    );
    push(Page::Confirmed, "confirmed", confirmed(settings));
    push(Page::Style, "stylesheet", style(settings));
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 8, 9, 5, 0)
        .single()
        .unwrap_or_default();
    let codes = ["KZ-2026-00001".to_string(), "KZ-2026-00007".to_string()];
    let who = "mario.rossi@example.it";
    push(
        Page::Leggimi,
        "export",
        leggimi(settings, who, at, 12, &codes),
    );
    push(
        Page::Leggimi,
        "export of nothing",
        leggimi(settings, who, at, 0, &[]),
    );
    let until = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 11, 9, 5, 0).single();
    for state in ["ready", "used", "expired", "unknown"] {
        let valid_until = until.filter(|_| state == "ready");
        push(Page::Confirm, state, confirm(settings, state, valid_until));
    }
    for page in [
        ErrorPage::BadRequest,
        ErrorPage::NotFound,
        ErrorPage::TooLarge {
            limit_bytes: 10 << 20,
        },
        ErrorPage::TooMany { retry_secs: 59 },
        ErrorPage::TooMany { retry_secs: 600 },
        ErrorPage::Unavailable,
    ] {
        let label = format!("error {} {page:?}", page.status());
        push(Page::Error, &label, error(settings, "", page));
    }
    all
}

/// The form empty, and sent back with every error and a customer's hostile text.
fn forms(settings: &Settings) -> Vec<(Page, String, minijinja::Value)> {
    let limits = FormLimits {
        email: 254,
        nome: 200,
        riferimento: 300,
        richiesta: 20_000,
        files: 10,
        upload_bytes: 10 * 1024 * 1024,
    };
    let typed = FormValues {
        email: "mario.rossi@example".into(),
        nome: "Mario \"Rossi\" <b>".into(),
        riferimento: "{{ 7*7 }} www.example.it".into(),
        richiesta: "</textarea><script>alert(1)</script>\r\n{% for %}".into(),
        urgente: true,
        privacy: false,
    };
    let every_error: &[(&str, &str)] = &[
        ("email", "invalid_address"),
        ("nome", "too_long"),
        ("riferimento", "required"),
        ("richiesta", "too_long"),
        ("allegati", "too_many_files"),
        ("privacy", "consent"),
    ];
    let empty = FormValues::default();
    let view = |values, errors, notice, confirmation| FormView {
        token: "1767000000.0123456789abcdef0123456789abcdef.mac",
        values,
        errors,
        notice,
        limits,
        privacy_url: "https://www.example.it/privacy/",
        confirmation,
    };
    let too_large: &[(&str, &str)] = &[("allegati", "file_too_large")];
    [
        ("empty form", view(&empty, &[], None, false)),
        (
            "every error, hostile text",
            view(&typed, every_error, Some("resend"), true),
        ),
        ("file too large", view(&typed, too_large, None, false)),
    ]
    .into_iter()
    .map(|(label, v)| (Page::Form, label.to_string(), form(settings, &v)))
    .collect()
}

/// Every problem of the pages of `texts`: each situation rendered, and every variable a
/// page names that no situation of it gives (the layout is held to any page's).
pub fn check(texts: &Texts, settings: &Settings) -> Vec<TextProblem> {
    let situations = situations(settings);
    let mut problems: Vec<TextProblem> = vec![];
    for (page, label, values) in &situations {
        if let Err(mut p) = texts.render_page(page.template(), values) {
            p.message = format!("{} (rendering \"{label}\")", p.message);
            if !problems
                .iter()
                .any(|q| q.file == p.file && q.line == p.line)
            {
                problems.push(p);
            }
        }
    }
    let given = |page: Option<Page>| -> Vec<String> {
        let mut keys: Vec<String> = situations
            .iter()
            .filter(|(p, _, _)| page.is_none_or(|page| page == *p))
            .flat_map(|(_, _, values)| variables_of(values))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    for name in super::super::texts::names().filter(|n| super::super::texts::is_page(n)) {
        let page = Page::ALL.into_iter().find(|p| p.template() == name);
        let known = given(page);
        for variable in texts.variables(name) {
            if !known.contains(&variable) && !problems.iter().any(|p| p.file == texts.file(name)) {
                problems.push(texts.unknown_variable(name, &variable));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide_tests::settings;

    fn page(page: Page, label: &str) -> String {
        let s = settings();
        let (_, _, values) = situations(&s)
            .into_iter()
            .find(|(p, l, _)| *p == page && l == label)
            .expect("situation");
        Texts::builtin()
            .render_page(page.template(), &values)
            .expect("renders")
    }

    #[test]
    fn every_built_in_page_renders_every_situation_and_passes_the_check() {
        assert_eq!(check(&Texts::builtin(), &settings()), vec![]);
    }

    #[test]
    fn what_a_customer_typed_comes_back_escaped_never_as_markup_or_template() {
        let html = page(Page::Form, "every error, hostile text");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;&#x2f;textarea&gt;&lt;script&gt;")
                || html.contains("&lt;/textarea&gt;&lt;script&gt;"),
            "{html}"
        );
        assert!(html.contains("{{ 7*7 }} www.example.it"), "{html}");
        assert!(html.contains("Mario &quot;Rossi&quot; &lt;b&gt;"), "{html}");
    }

    #[test]
    fn each_error_is_beside_its_field_and_the_first_one_gets_the_focus() {
        let html = page(Page::Form, "every error, hostile text");
        assert!(html.contains("id=\"errore-riferimento\""), "{html}");
        assert!(html.contains("Campo obbligatorio"), "{html}");
        let email = html.find("id=\"email\"").expect("email field");
        let autofocus = html.find("autofocus").expect("autofocus");
        assert!(autofocus > email && autofocus < html.find("id=\"nome\"").expect("nome"));
        assert_eq!(html.matches("autofocus").count(), 1);
        assert!(page(Page::Form, "empty form").find("autofocus").is_none());
    }

    #[test]
    fn the_received_page_never_names_the_address_or_says_whether_it_has_a_contract() {
        let html = page(Page::Received, "received");
        assert!(
            html.contains("Se l'indirizzo è abilitato all'apertura dei ticket"),
            "{html}"
        );
        assert!(!html.contains("@example"), "{html}");
    }

    #[test]
    fn the_leggimi_names_the_tickets_or_says_there_are_none() {
        let text = page(Page::Leggimi, "export");
        assert!(text.starts_with("Dati personali relativi all'indirizzo mario.rossi@example.it\n"));
        assert!(
            text.contains("Estratti dal sistema di assistenza l'8 marzo 2026 alle 10:05"),
            "{text}"
        );
        assert!(text.contains("(12 in tutto)"), "{text}");
        assert!(
            text.contains("Ticket interessati: KZ-2026-00001, KZ-2026-00007.\n"),
            "{text}"
        );
        let none = page(Page::Leggimi, "export of nothing");
        assert!(none.contains("Ticket interessati: nessuno.\n"), "{none}");
    }

    #[test]
    fn megabytes_are_written_the_italian_way() {
        assert_eq!(megabytes(10 * 1024 * 1024), "10");
        assert_eq!(megabytes(5 * 1024 * 1024 / 2), "2,5");
    }
}
