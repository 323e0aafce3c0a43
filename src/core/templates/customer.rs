//! What customers read: the acknowledgement, rejections, an operator's answer, the
//! closure with its reopen deadline, the reopen acknowledgement and the refusal of a late
//! reply. Formal Italian ("Lei"), as the agency writes to its customers.

use chrono::{DateTime, Utc};

use super::super::address::{Address, SubjectProblem};
use super::super::decision::Rejection;
use super::super::ticket::TicketCode;
use super::{
    greeting, italian_date, italian_datetime, italian_when, megabytes, printable, signature,
    CustomerReplyText, OperatorText,
};

/// What the acknowledgement of a new ticket needs.
pub struct AckText<'a> {
    pub code: &'a TicketCode,
    pub requester: &'a Address,
    /// Set when a colleague wrote on the requester's behalf.
    pub sender: Option<&'a Address>,
    pub greeting_name: Option<&'a str>,
    pub summary: &'a str,
    /// The office hours in words (`super::office_hours`).
    pub office_hours: &'a str,
    pub examined: Examined,
    /// `URGENTE` outside office hours: passed to the on-call person, possibly billed.
    pub urgent_after_hours: bool,
    pub support_address: &'a Address,
    pub signature: &'a str,
}

/// When a new request will be looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Examined {
    /// The desk is open.
    Now,
    /// The next opening.
    From(DateTime<Utc>),
}

/// The acknowledgement: the request is taken in charge, with its code, and when it will
/// be examined.
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
    body.push('\n');
    if t.urgent_after_hours {
        body.push_str(
            "La richiesta è segnalata come URGENTE ed è arrivata fuori dall'orario di \
             assistenza: l'abbiamo inoltrata subito al tecnico reperibile, che la valuterà. \
             Le ricordiamo che gli interventi urgenti fuori orario possono essere conteggiati \
             come interventi extra e fatturati a parte.\n\n",
        );
    }
    match t.examined {
        Examined::Now => body.push_str(
            "La richiesta sarà esaminata a breve, nell'orario di assistenza in corso.\n\n",
        ),
        Examined::From(at) => body.push_str(&format!(
            "La richiesta è arrivata fuori dall'orario di assistenza: sarà esaminata a partire \
             da {}.\n\n",
            italian_when(at)
        )),
    }
    body.push_str(&format!(
        "Orari: l'assistenza è attiva {}, esclusi i festivi. L'incaricato la contatterà in \
         questa fascia oraria indicando i tempi di realizzazione e, se ci sono costi \
         aggiuntivi, il preventivo.\n\n\
         Per aggiungere informazioni risponda a questo messaggio lasciando il codice [{}] \
         nell'oggetto. La preghiamo di non contattare gli operatori direttamente (telefono, \
         sms, WhatsApp o email personali): tutta la corrispondenza passa da {}.\n\n\
         Se ha altri interventi da richiedere, la invitiamo a raggrupparli in un'unica \
         richiesta: un solo ticket per più interventi ci permette di seguirla meglio e più \
         in fretta.\n\n",
        t.office_hours, t.code, t.support_address
    ));
    body.push_str(&signature(t.signature, t.support_address));
    (subject, body)
}

/// An operator's answer, sent to the customer from the support address.
pub fn relay(t: &OperatorText<'_>) -> (String, String) {
    let subject = format!(
        "[{}] Risposta alla sua richiesta di assistenza",
        t.ticket.code
    );
    let mut body = String::new();
    body.push_str(t.text.trim());
    body.push_str("\n\n");
    body.push_str(&operator_signature(t));
    (subject, body)
}

/// The closure: the operator's text, the reopen deadline and how to reopen.
pub fn closure(t: &OperatorText<'_>, reopen_until: DateTime<Utc>) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Chiusura della richiesta di assistenza");
    let mut body = String::new();
    if !t.text.trim().is_empty() {
        body.push_str(t.text.trim());
        body.push_str("\n\n");
    } else {
        body.push_str(&greeting(None));
        body.push_str("\n\nl'intervento richiesto è stato completato.\n\n");
    }
    body.push_str(&format!(
        "Il ticket {code} è chiuso. Se qualcosa non è risolto può riaprirlo semplicemente \
         rispondendo a questa email entro {} (ora italiana). Trascorso questo termine senza \
         risposta il ticket sarà chiuso definitivamente e non potrà più essere riaperto: per \
         un nuovo problema occorrerà inviare una nuova richiesta.\n\n",
        italian_when(reopen_until)
    ));
    body.push_str(&operator_signature(t));
    (subject, body)
}

/// To the customer whose reply reopened the ticket.
pub fn reopened(t: &CustomerReplyText<'_>) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Ticket riaperto");
    let body = format!(
        "{}\n\nabbiamo ricevuto la sua risposta del {}: il ticket {code} è stato riaperto e \
         l'incaricato ne è stato informato. La ricontatteremo nell'orario di assistenza.\n\n{}",
        greeting(None),
        italian_datetime(t.received_at),
        signature(t.signature, t.support_address)
    );
    (subject, body)
}

/// To the customer replying after the ticket was closed for good.
pub fn reopen_refused(t: &CustomerReplyText<'_>) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Ticket chiuso definitivamente");
    let until = t
        .ticket
        .status
        .reopen_until
        .map(|u| format!(" il termine per riaprirlo è scaduto {}", italian_when(u)))
        .unwrap_or_default();
    let body = format!(
        "{}\n\nabbiamo ricevuto il suo messaggio del {}, ma il ticket {code} è chiuso \
         definitivamente:{until} e non può più essere riaperto.\n\n\
         Se ha ancora bisogno di assistenza, la preghiamo di inviare una nuova richiesta: \
         riceverà un nuovo codice.\n\n{}\n{}",
        greeting(None),
        italian_datetime(t.received_at),
        how_to_write(t.sender, t.support_address),
        signature(t.signature, t.support_address)
    );
    (subject, body)
}

/// "Giulia — Assistenza KZweb" and the support address: the customer answers the desk,
/// never the operator directly.
fn operator_signature(t: &OperatorText<'_>) -> String {
    format!(
        "{} — {}\n{}\n\nPer rispondere usi \"Rispondi\" lasciando il codice [{}] \
         nell'oggetto.\n",
        t.operator, t.signature, t.support_address, t.ticket.code
    )
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
pub fn rejection(reason: &Rejection, c: &RejectionContext<'_>) -> (String, String) {
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

fn explain(reason: &Rejection) -> String {
    const ONLY: &str = "deve contenere solo ed esclusivamente l'indirizzo email di chi richiede \
                        l'assistenza.";
    match reason {
        Rejection::SubjectNotAddress(SubjectProblem::Empty) => {
            format!("l'oggetto del messaggio è vuoto: {ONLY}")
        }
        Rejection::SubjectNotAddress(SubjectProblem::SeveralAddresses) => {
            "l'oggetto contiene più di un indirizzo email: deve contenere solo quello di chi \
             richiede l'assistenza."
                .to_string()
        }
        Rejection::SubjectNotAddress(SubjectProblem::ExtraText) => format!(
            "l'oggetto contiene altro testo oltre all'indirizzo email (ad esempio un nome, \
             «Re:» o una descrizione): {ONLY}"
        ),
        Rejection::SubjectNotAddress(SubjectProblem::NoAddress) => format!(
            "l'oggetto non contiene un indirizzo email: {ONLY} La descrizione del problema va \
             nel testo del messaggio."
        ),
        Rejection::AddressNotEnabled { requester } => format!(
            "l'indirizzo {requester} indicato nell'oggetto non è abilitato all'apertura di \
             ticket. Se ritiene che debba esserlo, contatti la nostra amministrazione."
        ),
        Rejection::SenderNotEnabled { sender, requester } => format!(
            "il messaggio è stato inviato da {sender}, che non è abilitato ad aprire ticket per \
             conto di {requester}. Scriva dall'indirizzo indicato nell'oggetto o da un altro \
             indirizzo abilitato sullo stesso contratto."
        ),
        Rejection::ContractExpired { requester, until } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} è scaduto il \
             {}. Per rinnovarlo contatti la nostra amministrazione.",
            italian_date(*until)
        ),
        Rejection::ContractNotYetValid { requester, from } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} sarà in \
             vigore dal {}: fino ad allora non è possibile aprire ticket.",
            italian_date(*from)
        ),
        Rejection::ContractDisabled { requester } => format!(
            "il contratto di assistenza a cui è associato l'indirizzo {requester} non è attivo. \
             Per informazioni contatti la nostra amministrazione."
        ),
        Rejection::MissingReference => {
            "nel testo manca il riferimento del sito (il suo indirizzo, ad esempio \
             https://www.example.it) o il nome del software su cui è richiesta assistenza."
                .to_string()
        }
        Rejection::EmptyRequest => {
            "il testo del messaggio non contiene una richiesta: descriva nel dettaglio \
             l'intervento richiesto."
                .to_string()
        }
        Rejection::TooLarge { size, limit } => format!(
            "il messaggio è troppo grande ({} MB; il limite è {} MB). Invii la richiesta senza \
             allegati pesanti: potrà inviarli in seguito all'operatore incaricato, oppure \
             condividerli con un link.",
            megabytes(*size),
            megabytes(*limit)
        ),
        Rejection::UnknownTicket { code } => format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

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
            office_hours: "dal lunedì al venerdì dalle 9:00 alle 18:00",
            examined: Examined::Now,
            urgent_after_hours: false,
            support_address: &addr("assistenza@kzweb.it"),
            signature: "Assistenza KZweb",
        });
        assert!(subject.starts_with("[KZ-2026-00001] "));
        assert!(body.starts_with("Gentile Mario Rossi,"));
        assert!(body.contains("    KZ-2026-00001\n"));
        assert!(body.contains("> Il modulo non invia\n> www.example.it\n"));
        assert!(body.contains("dal lunedì al venerdì dalle 9:00 alle 18:00"));
        assert!(body.contains("sarà esaminata a breve"));
        assert!(!body.contains("URGENTE"));
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
            office_hours: "dal lunedì al venerdì dalle 9:00 alle 18:00",
            examined: Examined::From(
                Rome.with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
                    .single()
                    .expect("valid")
                    .with_timezone(&Utc),
            ),
            urgent_after_hours: true,
            support_address: &addr("assistenza@kzweb.it"),
            signature: "Assistenza KZweb",
        });
        assert!(body.starts_with("Gentile cliente,"));
        assert!(body.contains("inviata da anna@example.it per conto di mario@example.it"));
        assert!(
            body.contains("sarà esaminata a partire da lunedì 7 dicembre 2026 alle 9:00"),
            "{body}"
        );
        assert!(
            body.contains("URGENTE") && body.contains("fatturati a parte"),
            "{body}"
        );
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
        let d = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        let reasons = [
            (Rejection::SubjectNotAddress(SubjectProblem::Empty), "vuoto"),
            (
                Rejection::SubjectNotAddress(SubjectProblem::SeveralAddresses),
                "più di un indirizzo",
            ),
            (
                Rejection::SubjectNotAddress(SubjectProblem::ExtraText),
                "altro testo",
            ),
            (
                Rejection::SubjectNotAddress(SubjectProblem::NoAddress),
                "non contiene un indirizzo",
            ),
            (
                Rejection::AddressNotEnabled {
                    requester: to.clone(),
                },
                "non è abilitato",
            ),
            (
                Rejection::SenderNotEnabled {
                    sender: to.clone(),
                    requester: to.clone(),
                },
                "per conto di",
            ),
            (
                Rejection::ContractExpired {
                    requester: to.clone(),
                    until: d,
                },
                "scaduto il 31 dicembre 2025",
            ),
            (
                Rejection::ContractNotYetValid {
                    requester: to.clone(),
                    from: d,
                },
                "sarà in vigore dal",
            ),
            (
                Rejection::ContractDisabled {
                    requester: to.clone(),
                },
                "non è attivo",
            ),
            (Rejection::MissingReference, "manca il riferimento del sito"),
            (Rejection::EmptyRequest, "non contiene una richiesta"),
            (
                Rejection::TooLarge {
                    size: 31_457_280,
                    limit: 20_971_520,
                },
                "30,0 MB; il limite è 20,0 MB",
            ),
            (Rejection::UnknownTicket { code }, "KZ-2026-00999"),
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
            &Rejection::EmptyRequest,
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
