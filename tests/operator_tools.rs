//! The operators' tools by email on the real Dovecot and Postfix, as the customer and the
//! operators see them: time recorded, a quote accepted by reply, waiting for the customer
//! (reminder, then closure), merging two tickets, and colleagues in copy. Time is moved by
//! giving mail an older INTERNALDATE (as after downtime), never by sleeping.

mod support;

use std::time::{Duration as Wait, Instant};

use chrono::{DateTime, Duration, Utc};

use support::*;

const REQUEST: &str = "Buongiorno, sono Mario Rossi.\r\nSito: https://www.rossi-impianti.it\r\n\
Il modulo contatti non invia più i messaggi.";

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// A desk with staff and Mario, under contract, whose request Giulia has taken.
struct Case {
    desk: Desk,
    staff: Staff,
    mario: String,
    code: String,
}

impl Case {
    fn taken(tag: &str) -> Case {
        let (desk, staff) = Desk::with_staff(tag);
        let mario = desk.customer_with_contract("mario");
        desk.send_request(&mario, &mario, REQUEST);
        desk.handle(1);
        let (code, _) = desk.only_ticket();
        let case = Case {
            desk,
            staff,
            mario,
            code,
        };
        case.giulia("#prendo");
        case
    }

    /// `what` behind the ticket's code, as subjects start.
    fn subject(&self, what: &str) -> String {
        format!("[{}] {what}", self.code)
    }

    /// Giulia writes on the ticket (a reply to its notice); the desk handles it.
    fn giulia(&self, text: &str) {
        self.giulia_with(text, None);
    }

    fn giulia_with(&self, text: &str, pdf: Option<&[u8]>) {
        let subject = format!("Re: {}", self.subject("Nuovo ticket"));
        operator_sends(&self.staff.giulia, &self.desk.support, &subject, text, pdf);
        self.desk.handle(1);
    }

    /// Mario answers `mail`, which he received; the desk handles it.
    fn mario_replies(&self, mail: &[u8], text: &str) {
        reply_to(&self.desk, &self.mario, mail, text);
        self.desk.handle(1);
    }

    fn state(&self) -> String {
        state_of(&self.desk, &self.code)
    }

    fn shown(&self) -> String {
        self.desk.ok(&["tickets", "show", &self.code])
    }
}

/// `from` answers `mail` with `text`, as a mail client does: "Re:" and In-Reply-To.
fn reply_to(desk: &Desk, from: &str, mail: &[u8], text: &str) {
    let subject = format!("Re: {}", subject_and_text(mail).0);
    let raw = reply_mail(from, &desk.support, &subject, &message_id(mail), text);
    send(from, &desk.support, &raw);
}

/// What Gmail writes: the answer on top, the mail answered quoted below it.
fn gmail_reply(answer: &str, answered: &[u8]) -> String {
    let from = header(answered, "From").unwrap_or_default();
    let quoted: Vec<String> = subject_and_text(answered)
        .1
        .lines()
        .map(|l| format!("> {l}"))
        .collect();
    format!(
        "{answer}\r\n\r\nIl giorno gio 3 dic 2026 alle ore 10:00 {from} ha scritto:\r\n\r\n{}",
        quoted.join("\r\n")
    )
}

fn state_of(desk: &Desk, code: &str) -> String {
    let shown = desk.ok(&["tickets", "show", code, "--json"]);
    let show: serde_json::Value = serde_json::from_str(&shown).expect("json");
    show["state"].as_str().unwrap_or_default().to_string()
}

/// The lines of the History section of `tickets show` for `event`.
fn history<'a>(shown: &'a str, event: &str) -> Vec<&'a str> {
    let word = format!("  {event} ");
    shown
        .lines()
        .skip_while(|l| *l != "History:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.contains(&word))
        .collect()
}

/// The subjects in `user`'s inbox once Postfix has delivered all it holds: what a person
/// finally sees, a late or duplicate mail included.
fn settled(user: &str) -> Vec<String> {
    postfix_drained();
    fetch_all(user, "INBOX")
        .iter()
        .map(|m| subject_and_text(m).0)
        .collect()
}

/// How many of `subjects` contain `needle`.
fn counted(subjects: &[String], needle: &str) -> usize {
    subjects.iter().filter(|s| s.contains(needle)).count()
}

/// The `n` mails of `user`'s inbox whose subject contains `needle`, waiting for them.
fn mails_with(user: &str, needle: &str, n: usize) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let found: Vec<Vec<u8>> = fetch_all(user, "INBOX")
            .into_iter()
            .filter(|m| subject_and_text(m).0.contains(needle))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < Wait::from_secs(20),
            "{} of {n} mails with {needle:?} for {user}",
            found.len()
        );
        std::thread::sleep(Wait::from_millis(100));
    }
}

/// Codes of the desk's tickets, newest first.
fn codes(desk: &Desk) -> Vec<String> {
    let list = desk.tickets_json();
    let rows = list.as_array().expect("array");
    rows.iter()
        .map(|r| r["code"].as_str().expect("code").to_string())
        .collect()
}

#[test]
fn time_is_recorded_over_two_messages_and_shown_in_the_history() {
    let case = Case::taken("tempo");
    case.giulia("#tempo 1h30\nGentile cliente, il modulo contatti ora invia i messaggi.");
    let answer = mail_with_subject(&case.mario, "INBOX", &case.subject("Risposta"));
    let (_, text) = subject_and_text(&answer);
    assert!(text.contains("il modulo contatti ora invia"), "{text}");
    assert!(!text.contains("#tempo"), "commands stay with us: {text}");
    case.giulia("#tempo 45m\n#nota\nControllati anche i log del server di posta.");

    let shown = case.shown();
    let times = history(&shown, "time");
    assert_eq!(times.len(), 2, "{shown}");
    assert!(times[0].ends_with("by giulia: 1h30"), "{shown}");
    assert!(times[1].ends_with("by giulia: 45m"), "{shown}");
    let notes = history(&shown, "note");
    assert!(
        notes.iter().any(|l| l.contains("Controllati anche i log")),
        "{shown}"
    );
    assert_eq!(case.state(), "taken");
    // The note stayed internal: Mario has the ack and the one answer.
    let subjects = settled(&case.mario);
    assert_eq!(subjects.len(), 2, "{subjects:?}");
}

/// `tickets show --json` adds the time up (`time_minutes`) and lists each entry
/// (`time_entries`). Those keys are being added on another branch: until it is merged
/// this test fails on them, and only on them.
#[test]
fn time_totals_in_json() {
    let case = Case::taken("tempo-json");
    case.giulia("#tempo 1h30\nGentile cliente, il modulo contatti ora invia i messaggi.");
    case.giulia("#tempo 45m\n#nota\nControllati anche i log del server di posta.");
    let shown = case.desk.ok(&["tickets", "show", &case.code, "--json"]);
    let show: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(show["time_minutes"], 135, "time_minutes in {show:#}");
    let entries = show["time_entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no time_entries array in {show:#}"));
    let minutes: Vec<Option<i64>> = entries.iter().map(|e| e["minutes"].as_i64()).collect();
    assert_eq!(minutes, [Some(90), Some(45)], "{entries:#?}");
    assert!(
        entries.iter().all(|e| e["operator"] == "giulia"),
        "{entries:#?}"
    );
}

#[test]
fn a_quote_with_a_pdf_is_accepted_by_a_reply_saying_accetto() {
    let case = Case::taken("preventivo");
    case.giulia_with(
        "#preventivo 250,00\nGentile cliente, per il nuovo modulo servono due ore di lavoro.",
        Some(PDF),
    );
    let quote = mail_with_subject(
        &case.mario,
        "INBOX",
        &case.subject("Preventivo per la sua richiesta di assistenza"),
    );
    let parsed = assistenza::mail::parse::parse(&quote, quote.len() as u64, Utc::now());
    for words in ["servono due ore", "250,00 €", "ACCETTO", "RIFIUTO"] {
        assert!(parsed.text.contains(words), "{words}: {}", parsed.text);
    }
    assert!(!parsed.text.contains("#preventivo"), "{}", parsed.text);
    let files: Vec<(&str, &str, &[u8])> = parsed
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str(), &a.data[..]))
        .collect();
    assert_eq!(files, [("preventivo.pdf", "application/pdf", PDF)]);
    assert_eq!(case.state(), "awaiting_approval");

    let answer = gmail_reply("Accetto il preventivo, procedete pure.", &quote);
    assert!(
        answer.contains("> ") && answer.contains("RIFIUTO"),
        "{answer}"
    );
    case.mario_replies(&quote, &answer);
    let recorded = mail_with_subject(&case.mario, "INBOX", &case.subject("Preventivo accettato"));
    assert!(subject_and_text(&recorded).1.contains("250,00 €"));
    let notice = mail_with_subject(
        &case.staff.giulia,
        "INBOX",
        &case.subject("Preventivo ACCETTATO dal cliente"),
    );
    let (_, text) = subject_and_text(&notice);
    assert!(
        text.contains("Accetto il preventivo, procedete pure."),
        "{text}"
    );
    assert!(
        text.contains(&case.mario) && text.contains("250,00 €"),
        "{text}"
    );
    assert_eq!(case.state(), "taken");
    let shown = case.shown();
    assert_eq!(history(&shown, "quote").len(), 1, "{shown}");
    assert_eq!(history(&shown, "quote_accepted").len(), 1, "{shown}");
    assert!(history(&shown, "quote_refused").is_empty(), "{shown}");
}

#[test]
fn non_accetto_on_a_second_quote_is_an_ordinary_reply() {
    let case = Case::taken("preventivo-no");
    case.giulia("#preventivo 250,00\nPrimo intervento: il modulo contatti.");
    let quote = case.subject("Preventivo per la sua richiesta di assistenza");
    let first = mail_with_subject(&case.mario, "INBOX", &quote);
    case.mario_replies(&first, "ACCETTO");
    mail_with_subject(&case.mario, "INBOX", &case.subject("Preventivo accettato"));
    case.giulia("#preventivo 80\nSecondo intervento: il certificato del sito.");
    let second = mails_with(&case.mario, &quote, 2).remove(1);
    assert!(subject_and_text(&second).1.contains("80,00 €"));
    assert_eq!(case.state(), "awaiting_approval");

    let answer = gmail_reply("Non accetto queste condizioni, mi chiamate?", &second);
    case.mario_replies(&second, &answer);
    let forward = mail_with_subject(
        &case.staff.giulia,
        "INBOX",
        &case.subject("Risposta del cliente"),
    );
    let (_, text) = subject_and_text(&forward);
    assert!(text.contains("Non accetto queste condizioni"), "{text}");
    assert_eq!(case.state(), "awaiting_approval");
    let shown = case.shown();
    assert_eq!(history(&shown, "quote").len(), 2, "{shown}");
    assert_eq!(history(&shown, "quote_accepted").len(), 1, "{shown}");
    assert!(history(&shown, "quote_refused").is_empty(), "{shown}");
    assert_eq!(history(&shown, "customer_reply").len(), 1, "{shown}");
    let subjects = settled(&case.mario);
    assert_eq!(
        counted(&subjects, "Preventivo accettato"),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        counted(&subjects, "Preventivo rifiutato"),
        0,
        "{subjects:?}"
    );
}

/// Mario's request as it arrived at `at`, handled: its code.
fn request_at(desk: &Desk, mario: &str, at: DateTime<Utc>) -> String {
    let raw = request(mario, &desk.support, mario, REQUEST);
    append_at(&desk.support, "INBOX", &raw, at);
    desk.ok(&["run", "--once"]);
    desk.only_ticket().0
}

/// Giulia's `text` on ticket `code`, as it arrived at `at`, waiting in the support inbox.
fn giulia_at(desk: &Desk, staff: &Staff, code: &str, text: &str, at: DateTime<Utc>) {
    let subject = format!("Re: [{code}] Nuovo ticket");
    let raw = operator_mail(
        &staff.giulia,
        &desk.support,
        &subject,
        None,
        AUTHSERV_ID,
        text,
        None,
    );
    append_at(&desk.support, "INBOX", &raw, at);
}

const QUESTION: &str = "#attesa 1g\nGentile cliente, ci può mandare le credenziali FTP del sito?";

/// `#attesa 1g` received ten days ago: by the one pass that handles it, both the reminder
/// and the closure for no answer are owed, and that pass sends them; the next sends nothing.
#[test]
fn a_wait_reminds_the_customer_once_then_closes_the_ticket() {
    let (desk, staff) = Desk::with_staff("attesa");
    let mario = desk.customer_with_contract("mario");
    let ten_days_ago = Utc::now() - Duration::days(10);
    let code = request_at(&desk, &mario, ten_days_ago - Duration::hours(1));
    giulia_at(&desk, &staff, &code, QUESTION, ten_days_ago);
    desk.ok(&["run", "--once"]);

    // The reminder was owed nine days ago: it goes now, and gives the customer the time
    // to answer it promised rather than a date already gone.
    let subject = |what: &str| format!("[{code}] {what}");
    let question = mail_with_subject(&mario, "INBOX", &subject("Risposta"));
    assert!(subject_and_text(&question).1.contains("credenziali FTP"));
    let reminder = subject("Promemoria: attendiamo una sua risposta");
    let (_, text) = subject_and_text(&mail_with_subject(&mario, "INBOX", &reminder));
    assert!(text.contains("Se non la riceviamo entro"), "{text}");
    assert_eq!(state_of(&desk, &code), "waiting");
    let closure = subject("Chiusura della richiesta di assistenza");
    assert_eq!(counted(&settled(&mario), &closure), 0, "not yet closed");

    // A week later, still no answer: the closure, once.
    let week_later = Utc::now() + Duration::days(7);
    support::clock::run_once_at(&desk, week_later);
    let (_, text) = subject_and_text(&mail_with_subject(&mario, "INBOX", &closure));
    assert!(text.contains("non avendo ricevuto risposta"), "{text}");
    assert!(text.contains("rispondendo a questa email entro"), "{text}");
    assert_eq!(state_of(&desk, &code), "resolved");
    mail_with_subject(
        &staff.giulia,
        "INBOX",
        &subject("Chiuso senza risposta del cliente"),
    );
    let seen = settled(&mario);
    for what in [
        &subject("Richiesta di assistenza presa"),
        &reminder,
        &closure,
    ] {
        assert_eq!(counted(&seen, what), 1, "{what}: {seen:?}");
    }
    assert_eq!(seen.len(), 4, "ack, question, reminder, closure: {seen:?}");
    support::clock::run_once_at(&desk, week_later + Duration::minutes(5));
    assert_eq!(settled(&mario), seen, "a second pass sends nothing more");
    let shown = desk.ok(&["tickets", "show", &code]);
    for event in ["waiting", "customer_reminded", "closed"] {
        assert_eq!(history(&shown, event).len(), 1, "{event}: {shown}");
    }
}

#[test]
fn a_customer_answer_ends_the_wait_and_no_reminder_follows() {
    let (desk, staff) = Desk::with_staff("attesa-fine");
    let mario = desk.customer_with_contract("mario");
    let ten_days_ago = Utc::now() - Duration::days(10);
    let code = request_at(&desk, &mario, ten_days_ago - Duration::hours(1));
    let ack = mail_with_subject(&mario, "INBOX", &format!("[{code}] Richiesta"));
    giulia_at(&desk, &staff, &code, QUESTION, ten_days_ago);
    // Two hours later, long before the reminder was due, Mario wrote again on the ticket.
    let subject = format!("Re: {}", subject_and_text(&ack).0);
    let text = "Ecco le credenziali: utente rossi, la password per telefono.";
    let answer = reply_mail(&mario, &desk.support, &subject, &message_id(&ack), text);
    append_at(
        &desk.support,
        "INBOX",
        &answer,
        ten_days_ago + Duration::hours(2),
    );
    desk.ok(&["run", "--once"]);

    let forward = format!("[{code}] Risposta del cliente");
    let forward = mail_with_subject(&staff.giulia, "INBOX", &forward);
    assert!(subject_and_text(&forward).1.contains("Ecco le credenziali"));
    assert_eq!(state_of(&desk, &code), "taken");
    desk.ok(&["run", "--once"]);
    let seen = settled(&mario);
    assert_eq!(counted(&seen, &format!("[{code}] Risposta")), 1, "{seen:?}");
    assert_eq!(counted(&seen, "Promemoria"), 0, "{seen:?}");
    assert_eq!(counted(&seen, "Chiusura"), 0, "{seen:?}");
    assert_eq!(state_of(&desk, &code), "taken");
    let shown = desk.ok(&["tickets", "show", &code]);
    assert_eq!(history(&shown, "wait_over").len(), 1, "{shown}");
    assert!(history(&shown, "customer_reminded").is_empty(), "{shown}");
}

#[test]
fn a_reply_to_a_merged_tickets_mail_reaches_the_ticket_it_was_merged_into() {
    let case = Case::taken("unisci");
    let (desk, older) = (&case.desk, case.code.clone());
    let again = "Sito: www.rossi-impianti.it\r\nIl modulo è sempre fermo.";
    desk.send_request(&case.mario, &case.mario, again);
    desk.handle(1);
    let newer = codes(desk)[0].clone();
    assert_ne!(newer, older);
    let newer_ack = mail_with_subject(&case.mario, "INBOX", &format!("[{newer}] Richiesta"));
    let merge = format!("#unisci {older}\nStesso problema del ticket precedente.");
    let on_newer = format!("Re: [{newer}] Nuovo ticket");
    operator_sends(&case.staff.giulia, &desk.support, &on_newer, &merge, None);
    desk.handle(1);

    let told = format!("[{older}] La sua richiesta prosegue con il ticket {older}");
    let (_, text) = subject_and_text(&mail_with_subject(&case.mario, "INBOX", &told));
    assert!(text.contains(&newer) && text.contains(&older), "{text}");
    assert!(
        !text.contains("Stesso problema"),
        "the note is internal: {text}"
    );
    assert_eq!(state_of(desk, &newer), "merged");
    assert_eq!(state_of(desk, &older), "taken");

    case.mario_replies(&newer_ack, "Vi allego anche lo screenshot dell'errore.");
    let forward = format!("[{older}] Risposta del cliente");
    let forward = mail_with_subject(&case.staff.giulia, "INBOX", &forward);
    assert!(subject_and_text(&forward)
        .1
        .contains("screenshot dell'errore"));
    let shown = desk.ok(&["tickets", "show", &older]);
    let replies = history(&shown, "customer_reply");
    assert_eq!(replies.len(), 1, "{shown}");
    assert_eq!(history(&shown, "merged_from").len(), 1, "{shown}");
    assert!(shown.contains("screenshot dell'errore"), "{shown}");
    assert_eq!(state_of(desk, &newer), "merged");
}

#[test]
fn merging_a_ticket_into_itself_or_across_contracts_is_refused() {
    let (desk, staff) = Desk::with_staff("unisci-no");
    let mario = desk.customer_with_contract("mario");
    let luca = desk.customer_with_contract("luca");
    desk.send_request(&mario, &mario, REQUEST);
    desk.handle(1);
    let certificate = "Sito: www.rossi-impianti.it\r\nIl certificato è scaduto.";
    desk.send_request(&luca, &luca, certificate);
    desk.handle(1);
    let codes = codes(&desk);
    let (lucas, marios) = (&codes[0], &codes[1]);
    let on_marios = format!("Re: [{marios}] Nuovo ticket");
    for target in [marios, lucas] {
        let text = format!("#unisci {target}");
        operator_sends(&staff.giulia, &desk.support, &on_marios, &text, None);
        desk.handle(1);
    }

    let refused = format!("[{marios}] Messaggio non eseguito");
    let texts: Vec<String> = mails_with(&staff.giulia, &refused, 2)
        .iter()
        .map(|m| subject_and_text(m).1)
        .collect();
    let said = |words: &str| texts.iter().filter(|t| t.contains(words)).count();
    assert_eq!(said("non si può unire a sé stesso"), 1, "{texts:#?}");
    assert_eq!(
        said(&format!("{lucas} è di un altro contratto")),
        1,
        "{texts:#?}"
    );
    for code in [marios, lucas] {
        assert_eq!(state_of(&desk, code), "open", "{code}");
        let shown = desk.ok(&["tickets", "show", code]);
        assert!(history(&shown, "merged_into").is_empty(), "{shown}");
        assert!(history(&shown, "merged_from").is_empty(), "{shown}");
    }
    for customer in [&mario, &luca] {
        let seen = settled(customer);
        assert_eq!(seen.len(), 1, "only the ack: {seen:?}");
    }
}

#[test]
fn a_colleague_in_cc_is_copied_on_ack_and_closure_and_a_stranger_gets_nothing() {
    let stranger = format!("{}@example.net", unique("stranger"));
    let (desk, staff) = Desk::with_staff_and_users("copia", std::slice::from_ref(&stranger));
    let people = desk.customers(&["mario", "anna"]);
    let (mario, anna) = (&people[0], &people[1]);
    let contract = contract_row("Rossi Impianti", &[mario, anna], "www.rossi-impianti.it");
    desk.contracts(&contract);
    // Mario's client hands the request to our MX only: whatever reaches the stranger's
    // mailbox would come from the desk.
    let cc = [anna.as_str(), stranger.as_str()];
    let raw = request_with_cc(mario, &desk.support, &cc, mario, REQUEST);
    send(mario, &desk.support, &raw);
    desk.handle(1);
    let (code, _) = desk.only_ticket();

    let ack_subject = format!("[{code}] Richiesta di assistenza presa");
    let ack = mail_with_subject(mario, "INBOX", &ack_subject);
    let cc_of = |m: &[u8]| header(m, "Cc").unwrap_or_default();
    assert!(header(&ack, "To")
        .unwrap_or_default()
        .contains(mario.as_str()));
    assert!(cc_of(&ack).contains(anna.as_str()), "{:?}", cc_of(&ack));
    assert!(!cc_of(&ack).contains(&stranger), "{:?}", cc_of(&ack));
    mail_with_subject(anna, "INBOX", &ack_subject);
    let notice = mail_with_subject(&staff.queue, "INBOX", &format!("[{code}] Nuovo ticket"));
    let (_, text) = subject_and_text(&notice);
    assert!(text.contains(&format!("In copia:    {anna}")), "{text}");
    assert!(
        text.contains(&format!("Non in copia: {stranger}")),
        "{text}"
    );

    let subject = format!("Re: {}", subject_and_text(&notice).0);
    let close = "#chiudi\nAbbiamo sistemato il modulo contatti.";
    operator_sends(&staff.giulia, &desk.support, &subject, close, None);
    desk.handle(1);
    let closure_subject = format!("[{code}] Chiusura della richiesta di assistenza");
    let closure = mail_with_subject(mario, "INBOX", &closure_subject);
    assert!(
        cc_of(&closure).contains(anna.as_str()),
        "{:?}",
        cc_of(&closure)
    );
    assert!(
        !cc_of(&closure).contains(&stranger),
        "{:?}",
        cc_of(&closure)
    );
    let to_anna = mail_with_subject(anna, "INBOX", &closure_subject);
    assert!(subject_and_text(&to_anna)
        .1
        .contains("Abbiamo sistemato il modulo"));
    assert_eq!(state_of(&desk, &code), "resolved");

    assert_eq!(settled(anna).len(), 2, "anna: the ack and the closure");
    assert_eq!(settled(&stranger), Vec::<String>::new(), "the stranger");
}
