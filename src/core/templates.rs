//! Every sentence a customer reads. Texts are Italian and formal ("Lei"), as the agency
//! writes to its customers; code and logs stay English.
//!
//! Each function returns `(subject, body)`; headers are built in `mail::compose`, which
//! also encodes the subject, so nothing here can inject a header.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Europe::Rome;

use super::address::{Address, SubjectProblem};
use super::ticket::TicketCode;

/// What the acknowledgement of a new ticket needs.
pub struct AckText<'a> {
    pub code: &'a TicketCode,
    pub requester: &'a Address,
    /// Set when a colleague wrote on the requester's behalf.
    pub sender: Option<&'a Address>,
    pub greeting_name: Option<&'a str>,
    pub summary: &'a str,
    pub support_address: &'a Address,
    pub signature: &'a str,
}

/// The acknowledgement: the request is taken in charge, with its code.
pub fn ack(t: &AckText<'_>) -> (String, String) {
    let subject = format!("[{}] Richiesta di assistenza presa in carico", t.code);
    let mut body = String::new();
    body.push_str(&greeting(t.greeting_name));
    body.push_str("\n\nla sua richiesta di assistenza è stata presa in carico con il codice\n\n");
    body.push_str(&format!("    {}\n\n", t.code));
    if let Some(sender) = t.sender {
        body.push_str(&format!(
            "La richiesta è stata inviata da {sender} per conto di {}, che riceve questa conferma.\n\n",
            t.requester
        ));
    }
    body.push_str("Riepilogo della richiesta:\n\n");
    for line in t.summary.lines() {
        body.push_str("> ");
        body.push_str(line);
        body.push('\n');
    }
    body.push_str(&format!(
        "\n{}\n\n\
         Per aggiungere informazioni risponda a questo messaggio lasciando il codice [{}] \
         nell'oggetto. La preghiamo di non contattare gli operatori direttamente (telefono, \
         sms, WhatsApp o email personali): tutta la corrispondenza passa da {}.\n\n\
         Se ha altri interventi da richiedere, la invitiamo a raggrupparli in un'unica \
         richiesta: un solo ticket per più interventi ci permette di seguirla meglio e più \
         in fretta.\n\n",
        OFFICE_HOURS, t.code, t.support_address
    ));
    body.push_str(&signature(t.signature, t.support_address));
    (subject, body)
}

/// Office hours as the seed states them; the exact next opening comes with the calendar.
const OFFICE_HOURS: &str = "Orari: l'assistenza è attiva dal lunedì al venerdì dalle 9:00 alle \
18:00, esclusi i festivi. La richiesta sarà esaminata in questa fascia oraria: l'incaricato la \
contatterà indicando i tempi di realizzazione e, se ci sono costi aggiuntivi, il preventivo.";

/// Why a request was refused, with what the rejection must say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectionText {
    Subject(SubjectProblem),
    AddressNotEnabled {
        requester: Address,
    },
    SenderNotEnabled {
        sender: Address,
        requester: Address,
    },
    ContractExpired {
        requester: Address,
        until: NaiveDate,
    },
    ContractNotYetValid {
        requester: Address,
        from: NaiveDate,
    },
    ContractDisabled {
        requester: Address,
    },
    MissingReference,
    EmptyRequest,
    TooLarge {
        size: u64,
        limit: u64,
    },
    UnknownTicket {
        code: TicketCode,
    },
}

/// What every rejection needs besides its reason.
pub struct RejectionContext<'a> {
    pub to: &'a Address,
    pub original_subject: &'a str,
    pub received_at: DateTime<Utc>,
    pub support_address: &'a Address,
    pub signature: &'a str,
}

/// A polite refusal: what was wrong, how to write a correct request, and an example.
pub fn rejection(reason: &RejectionText, c: &RejectionContext<'_>) -> (String, String) {
    let subject = "Richiesta di assistenza non accettata".to_string();
    let mut body = String::new();
    body.push_str(&greeting(None));
    body.push_str(&format!(
        "\n\nabbiamo ricevuto il suo messaggio del {} con oggetto «{}», ma non possiamo aprire \
         un ticket di assistenza:\n\n",
        italian_datetime(c.received_at),
        printable(c.original_subject)
    ));
    body.push_str(&explain(reason));
    body.push_str("\n\n");
    body.push_str(&how_to_write(c.to, c.support_address));
    body.push('\n');
    body.push_str(&signature(c.signature, c.support_address));
    (subject, body)
}

fn explain(reason: &RejectionText) -> String {
    const ONLY: &str = "deve contenere solo ed esclusivamente l'indirizzo email di chi richiede \
                        l'assistenza.";
    match reason {
        RejectionText::Subject(SubjectProblem::Empty) => {
            format!("l'oggetto del messaggio è vuoto: {ONLY}")
        }
        RejectionText::Subject(SubjectProblem::SeveralAddresses) => {
            "l'oggetto contiene più di un indirizzo email: deve contenere solo quello di chi \
             richiede l'assistenza."
                .to_string()
        }
        RejectionText::Subject(SubjectProblem::ExtraText) => format!(
            "l'oggetto contiene altro testo oltre all'indirizzo email (ad esempio un nome, \
             «Re:» o una descrizione): {ONLY}"
        ),
        RejectionText::Subject(SubjectProblem::NoAddress) => format!(
            "l'oggetto non contiene un indirizzo email: {ONLY} La descrizione del problema va \
             nel testo del messaggio."
        ),
        RejectionText::AddressNotEnabled { requester } => format!(
            "l'indirizzo {requester} indicato nell'oggetto non è abilitato all'apertura di \
             ticket. Se ritiene che debba esserlo, contatti la nostra amministrazione."
        ),
        RejectionText::SenderNotEnabled { sender, requester } => format!(
            "il messaggio è stato inviato da {sender}, che non è abilitato ad aprire ticket per \
             conto di {requester}. Scriva dall'indirizzo indicato nell'oggetto o da un altro \
             indirizzo abilitato sullo stesso contratto."
        ),
        RejectionText::ContractExpired { requester, until } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} è scaduto il \
             {}. Per rinnovarlo contatti la nostra amministrazione.",
            italian_date(*until)
        ),
        RejectionText::ContractNotYetValid { requester, from } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} sarà in \
             vigore dal {}: fino ad allora non è possibile aprire ticket.",
            italian_date(*from)
        ),
        RejectionText::ContractDisabled { requester } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} non è attivo. \
             Per informazioni contatti la nostra amministrazione."
        ),
        RejectionText::MissingReference => {
            "nel testo manca il riferimento del sito (il suo indirizzo, ad esempio \
             https://www.example.it) o il nome del software su cui è richiesta assistenza."
                .to_string()
        }
        RejectionText::EmptyRequest => {
            "il testo del messaggio non contiene una richiesta: descriva nel dettaglio \
             l'intervento richiesto."
                .to_string()
        }
        RejectionText::TooLarge { size, limit } => format!(
            "il messaggio è troppo grande ({} MB; il limite è {} MB). Invii la richiesta senza \
             allegati pesanti: potrà inviarli in seguito all'operatore incaricato, oppure \
             condividerli con un link.",
            megabytes(*size),
            megabytes(*limit)
        ),
        RejectionText::UnknownTicket { code } => format!(
            "il codice {code} indicato nell'oggetto non corrisponde a nessun ticket aperto dal \
             suo indirizzo. Per aggiungere informazioni a un ticket risponda all'email che ha \
             ricevuto mantenendo il codice nell'oggetto; per una nuova richiesta scriva un \
             nuovo messaggio come indicato qui sotto."
        ),
    }
}

/// The seed's instructions and a filled-in example, addressed to the person who wrote.
fn how_to_write(to: &Address, support: &Address) -> String {
    format!(
        "Come scrivere una richiesta di assistenza:\n\
         - destinatario: {support}\n\
         - oggetto: solo ed esclusivamente l'indirizzo email di chi richiede l'assistenza \
         (abilitato sul contratto di assistenza)\n\
         - testo: il nome di chi richiede l'assistenza, il riferimento del sito (il suo \
         indirizzo) o il nome del software, e la descrizione dettagliata dell'intervento. \
         Se gli interventi sono più d'uno, li raggruppi nella stessa richiesta.\n\n\
         Esempio:\n\n\
         \x20   A: {support}\n\
         \x20   Oggetto: {to}\n\n\
         \x20   Nome: Mario Rossi\n\
         \x20   Sito: https://www.example.it\n\
         \x20   Richiesta: nella pagina Contatti il modulo non invia i messaggi;\n\
         \x20   inoltre vorrei aggiornare gli orari di apertura nel piè di pagina.\n"
    )
}

fn greeting(name: Option<&str>) -> String {
    match name.map(printable).filter(|n| !n.is_empty()) {
        Some(n) => format!("Gentile {n},"),
        None => "Gentile cliente,".to_string(),
    }
}

fn signature(name: &str, support: &Address) -> String {
    format!(
        "Cordiali saluti,\n{name}\n{support}\n\n-- \nQuesto è un messaggio automatico del \
         servizio di assistenza.\n"
    )
}

/// Text from the sender shown back in a body: control characters removed and length
/// capped, so a hostile subject cannot reshape the message.
fn printable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > 120 {
        let cut: String = clean.chars().take(120).collect();
        format!("{cut}…")
    } else {
        clean.to_string()
    }
}

fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    format!("{mb:.1}").replace('.', ",")
}

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

/// `10 marzo 2026`.
pub fn italian_date(d: NaiveDate) -> String {
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// `10 marzo 2026 alle 10:05`, in Europe/Rome.
pub fn italian_datetime(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Rome);
    format!(
        "{} alle {}",
        italian_date(local.date_naive()),
        local.format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn addr(s: &str) -> Address {
        Address::parse(s).expect("valid")
    }

    #[test]
    fn ack_names_the_code_in_subject_and_body_and_gives_the_rules() {
        let code = TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 1,
        };
        let (subject, body) = ack(&AckText {
            code: &code,
            requester: &addr("mario@example.it"),
            sender: None,
            greeting_name: Some("Mario Rossi"),
            summary: "Il modulo non invia\nwww.example.it",
            support_address: &addr("assistenza@kzweb.it"),
            signature: "Assistenza KZweb",
        });
        assert!(subject.starts_with("[KZ-2026-00001] "));
        assert!(body.starts_with("Gentile Mario Rossi,"));
        assert!(body.contains("    KZ-2026-00001\n"));
        assert!(body.contains("> Il modulo non invia\n> www.example.it\n"));
        assert!(body.contains("dal lunedì al venerdì dalle 9:00 alle 18:00"));
        assert!(body.contains("lasciando il codice [KZ-2026-00001] nell'oggetto"));
        assert!(body.contains("raggrupparli in un'unica richiesta"));
    }

    #[test]
    fn ack_for_a_colleague_says_who_wrote_for_whom() {
        let code = TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 2,
        };
        let (_, body) = ack(&AckText {
            code: &code,
            requester: &addr("mario@example.it"),
            sender: Some(&addr("anna@example.it")),
            greeting_name: None,
            summary: "x",
            support_address: &addr("assistenza@kzweb.it"),
            signature: "Assistenza KZweb",
        });
        assert!(body.starts_with("Gentile cliente,"));
        assert!(body.contains("inviata da anna@example.it per conto di mario@example.it"));
    }

    #[test]
    fn every_rejection_explains_and_shows_an_example_with_the_senders_address() {
        let to = addr("mario@example.it");
        let support = addr("assistenza@kzweb.it");
        let at = Utc
            .with_ymd_and_hms(2026, 3, 10, 9, 5, 0)
            .single()
            .expect("valid");
        let code = TicketCode {
            prefix: "KZ".into(),
            year: 2026,
            number: 999,
        };
        let d = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        let reasons = [
            (RejectionText::Subject(SubjectProblem::Empty), "vuoto"),
            (
                RejectionText::Subject(SubjectProblem::SeveralAddresses),
                "più di un indirizzo",
            ),
            (
                RejectionText::Subject(SubjectProblem::ExtraText),
                "altro testo",
            ),
            (
                RejectionText::Subject(SubjectProblem::NoAddress),
                "non contiene un indirizzo",
            ),
            (
                RejectionText::AddressNotEnabled {
                    requester: to.clone(),
                },
                "non è abilitato",
            ),
            (
                RejectionText::SenderNotEnabled {
                    sender: to.clone(),
                    requester: to.clone(),
                },
                "per conto di",
            ),
            (
                RejectionText::ContractExpired {
                    requester: to.clone(),
                    until: d,
                },
                "scaduto il 31 dicembre 2025",
            ),
            (
                RejectionText::ContractNotYetValid {
                    requester: to.clone(),
                    from: d,
                },
                "sarà in vigore dal",
            ),
            (
                RejectionText::ContractDisabled {
                    requester: to.clone(),
                },
                "non è attivo",
            ),
            (
                RejectionText::MissingReference,
                "manca il riferimento del sito",
            ),
            (RejectionText::EmptyRequest, "non contiene una richiesta"),
            (
                RejectionText::TooLarge {
                    size: 31_457_280,
                    limit: 20_971_520,
                },
                "30,0 MB; il limite è 20,0 MB",
            ),
            (RejectionText::UnknownTicket { code }, "KZ-2026-00999"),
        ];
        for (reason, phrase) in reasons {
            let (subject, body) = rejection(
                &reason,
                &RejectionContext {
                    to: &to,
                    original_subject: "Aiuto",
                    received_at: at,
                    support_address: &support,
                    signature: "Assistenza KZweb",
                },
            );
            assert_eq!(subject, "Richiesta di assistenza non accettata");
            assert!(body.contains(phrase), "{reason:?}: {body}");
            assert!(body.contains("10 marzo 2026 alle 10:05"), "{reason:?}");
            assert!(body.contains("Oggetto: mario@example.it"), "{reason:?}");
        }
    }

    #[test]
    fn a_hostile_subject_is_shown_without_control_characters() {
        let (_, body) = rejection(
            &RejectionText::EmptyRequest,
            &RejectionContext {
                to: &addr("m@example.it"),
                original_subject: "a\r\nBcc: x@y.it",
                received_at: Utc
                    .with_ymd_and_hms(2026, 3, 10, 9, 5, 0)
                    .single()
                    .expect("valid"),
                support_address: &addr("assistenza@kzweb.it"),
                signature: "S",
            },
        );
        assert!(body.contains("«a  Bcc: x@y.it»"));
    }
}
