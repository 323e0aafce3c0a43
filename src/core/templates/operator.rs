//! What operators read: the notice of a new ticket with a short help of the commands,
//! the on-call alert, customers' replies forwarded, assignments, escalations with the
//! whole thread, reminders, and why a message of theirs was not applied.

use chrono::{DateTime, Utc};

use super::super::commands::{CommandError, MAX_REOPEN_HOURS};
use super::super::decision::{Refusal, Settings};
use super::super::ticket::{NotNow, TicketCode, TicketFacts};
use super::{
    italian_date, italian_datetime, italian_when, printable, CustomerReplyText, OperatorText,
    TicketBrief,
};

/// To the first-level queue: a new ticket, what it asks, and how to act on it.
pub fn queue_notice(t: &TicketBrief<'_>, support: &super::Address) -> (String, String) {
    let urgent = if t.urgent { "URGENTE " } else { "" };
    let subject = format!(
        "[{}] {urgent}Nuovo ticket: {} — {}",
        t.code,
        printable(t.customer),
        first_line(t.text)
    );
    let mut body = brief(t);
    body.push_str(&format!(
        "Da prendere in carico entro {} (ore di ufficio).\n\n",
        italian_when(t.first_contact_due)
    ));
    body.push_str(&help(Some(t.code), support, None));
    (subject, body)
}

/// To the on-call person: an urgent request arrived outside office hours.
pub fn oncall_notice(t: &TicketBrief<'_>, support: &super::Address) -> (String, String) {
    let subject = format!(
        "[{}] URGENTE fuori orario: {} — {}",
        t.code,
        printable(t.customer),
        first_line(t.text)
    );
    let mut body = String::from(
        "Richiesta URGENTE arrivata fuori dall'orario di assistenza: è da valutare subito. \
         Se si interviene, può essere conteggiata come intervento extra fatturato a parte \
         (il ticket è già segnato come urgente).\n\n",
    );
    body.push_str(&brief(t));
    body.push_str(&help(Some(t.code), support, None));
    (subject, body)
}

fn brief(t: &TicketBrief<'_>) -> String {
    let mut s = format!(
        "Ticket:      {}\nCliente:     {} (contratto valido fino al {})\nRichiedente: {}\n",
        t.code,
        printable(t.customer),
        italian_date(t.contract_until),
        t.requester
    );
    if t.sender != t.requester {
        s.push_str(&format!("Inviata da:  {} (collega)\n", t.sender));
    }
    s.push_str(&format!(
        "Ricevuta:    {}{}\n",
        italian_datetime(t.received_at),
        if t.open_now { "" } else { " (fuori orario)" }
    ));
    if t.urgent {
        s.push_str("Urgente:     sì (possibile intervento extra fatturato a parte)\n");
    }
    s.push_str("\nRichiesta:\n\n");
    s.push_str(&quote(t.text));
    s.push('\n');
    s
}

/// To whoever handles the ticket: the customer wrote.
pub fn forward(t: &CustomerReplyText<'_>) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Risposta del cliente {}", t.sender);
    let body = format!(
        "{} ha risposto sul ticket {code} ({}) il {}:\n\n{}\n\
         Rispondendo a questa email (con il codice [{code}] nell'oggetto) il testo va al \
         cliente dall'indirizzo di assistenza.\n",
        t.sender,
        printable(&t.ticket.contract.customer),
        italian_datetime(t.received_at),
        quote(t.text)
    );
    (subject, body)
}

/// To whoever handles the ticket: the customer reopened it.
pub fn reopen_notice(t: &CustomerReplyText<'_>) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Ticket riaperto dal cliente");
    let body = format!(
        "{} ha riaperto il ticket {code} ({}) rispondendo alla chiusura il {}:\n\n{}\n\
         Il ticket è di nuovo aperto{}.\n",
        t.sender,
        printable(&t.ticket.contract.customer),
        italian_datetime(t.received_at),
        quote(t.text),
        t.ticket
            .status
            .operator
            .as_deref()
            .map(|o| format!(", in carico a {o}"))
            .unwrap_or_default()
    );
    (subject, body)
}

/// To an operator a ticket was assigned to, with the thread.
pub fn assignment(t: &OperatorText<'_>, to: &str) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!("[{code}] Ticket assegnato a {to}");
    let mut body = format!(
        "{} ha assegnato a {to} il ticket {code} ({}).\n\n",
        t.operator,
        printable(&t.ticket.contract.customer)
    );
    if !t.text.trim().is_empty() {
        body.push_str(&format!("Nota:\n\n{}\n", quote(t.text)));
    }
    body.push_str(&transcript(t.ticket));
    body.push_str(&help(Some(code), t.support_address, None));
    (subject, body)
}

/// To a second-level team: the ticket, the whole thread, and that they contact the
/// customer.
pub fn escalation(t: &OperatorText<'_>, team: &str) -> (String, String) {
    let code = &t.ticket.code;
    let subject = format!(
        "[{code}] Secondo livello ({team}): {}",
        printable(&t.ticket.contract.customer)
    );
    let mut body = format!(
        "{} ha passato il ticket {code} al secondo livello ({team}).\n\
         Cliente: {} — richiedente {}.\n\
         Contattate voi il cliente: scrivete #prendo per prenderlo in carico, e rispondete a \
         questa email per scrivergli dall'indirizzo di assistenza.\n\n",
        t.operator,
        printable(&t.ticket.contract.customer),
        t.ticket.requester
    );
    if !t.text.trim().is_empty() {
        body.push_str(&format!("Nota di {}:\n\n{}\n", t.operator, quote(t.text)));
    }
    body.push_str(&transcript(t.ticket));
    body.push_str(&help(Some(code), t.support_address, None));
    (subject, body)
}

/// To whoever handles the ticket: a mail of it could not be delivered, so the customer
/// has not read it; what the receiving server said, and what to do.
pub fn bounce_notice(
    ticket: &TicketFacts,
    bounce: &super::super::inbound::Bounce,
    signature: &str,
) -> (String, String) {
    let code = &ticket.code;
    let subject = format!("[{code}] Mancata consegna di una email al cliente");
    let recipient = bounce
        .recipient
        .as_deref()
        .map(printable)
        .unwrap_or_else(|| ticket.requester.to_string());
    let mut reason = String::new();
    if let Some(status) = &bounce.status {
        reason.push_str(&format!("Esito: {}\n", printable(status)));
    }
    if let Some(diagnostic) = &bounce.diagnostic {
        reason.push_str(&format!("Risposta del server: {}\n", printable(diagnostic)));
    }
    let body = format!(
        "Una email del ticket {code} di {} non è stata consegnata a {recipient}: il \
         cliente non l'ha ricevuta.\n\n{reason}\n\
         Verificate l'indirizzo e, se serve, contattate il cliente per altra via. \
         L'evento è registrato nella storia del ticket; a questa segnalazione non è \
         stata inviata alcuna risposta.\n\n-- \n{signature}\n",
        printable(&ticket.contract.customer),
    );
    (subject, body)
}

/// To the queue (or team): nobody has taken the ticket in time.
pub fn reminder(ticket: &TicketFacts, due_at: DateTime<Utc>, signature: &str) -> (String, String) {
    let code = &ticket.code;
    let subject = format!(
        "[{code}] Promemoria: ticket non ancora preso in carico{}",
        if ticket.status.urgent {
            " (URGENTE)"
        } else {
            ""
        }
    );
    let body = format!(
        "Il ticket {code} di {} (richiedente {}), aperto il {}, doveva essere preso in \
         carico entro {} e nessuno lo ha ancora fatto.\n\n\
         Per prenderlo rispondete a questa email con #prendo sulla prima riga.\n\n\
         Richiesta:\n\n{}\n-- \n{signature}\n",
        printable(&ticket.contract.customer),
        ticket.requester,
        italian_datetime(ticket.opened_at),
        italian_when(due_at),
        quote(&ticket.summary)
    );
    (subject, body)
}

/// To an operator whose message changed nothing: why, and the help.
pub fn command_refused(
    refusal: &Refusal,
    code: Option<&TicketCode>,
    operator: &str,
    settings: &Settings,
) -> (String, String) {
    let subject = match code {
        Some(c) => format!("[{c}] Messaggio non eseguito"),
        None => "Messaggio non eseguito".to_string(),
    };
    let why = refusal_reason(refusal, operator, settings);
    let body = format!(
        "Ciao {operator},\n\nil tuo messaggio non è stato eseguito e il ticket non è \
         cambiato: {why}\n\n{}",
        help(code, &settings.support_address, Some(settings))
    );
    (subject, body)
}

/// Why an operator's message changed nothing, as a sentence.
fn refusal_reason(refusal: &Refusal, operator: &str, settings: &Settings) -> String {
    match refusal {
        Refusal::NoTicket => "l'oggetto non contiene il codice di un ticket (per esempio \
            [KZ-2026-00042]) e il messaggio non risponde a un'email di un ticket."
            .to_string(),
        Refusal::UnknownTicket(c) => format!("il ticket {c} non esiste."),
        Refusal::TooLarge => format!(
            "il messaggio supera il limite di {} byte. Condivida gli allegati pesanti con un \
             link.",
            settings.max_message_bytes
        ),
        Refusal::BadCommand(e) => bad_command(e),
        Refusal::NotNow { command, why } => not_now(command, why, operator),
        Refusal::UnknownOperator(name) => format!(
            "non c'è un operatore «{}». Operatori: {}.",
            printable(name),
            settings
                .operators
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Refusal::UnknownTeam(team) => {
            let teams = settings.teams();
            format!(
                "non c'è una squadra di secondo livello «{}». Squadre: {}.",
                printable(team),
                if teams.is_empty() {
                    "nessuna configurata".to_string()
                } else {
                    teams.join(", ")
                }
            )
        }
        Refusal::Empty => {
            "il messaggio non contiene comandi né testo da inoltrare al cliente.".to_string()
        }
    }
}

fn bad_command(e: &CommandError) -> String {
    match e {
        CommandError::Unknown(word) => {
            format!("il comando {word} non esiste.")
        }
        CommandError::MissingArgument(word) => {
            format!("il comando {word} vuole un argomento (vedi sotto).")
        }
        CommandError::BadArgument(line) => format!(
            "la riga «{}» non è valida: #chiudi accetta solo un numero di ore da 1 a \
             {MAX_REOPEN_HOURS} (per esempio #chiudi 72h), gli altri comandi senza argomento \
             non ne vogliono.",
            printable(line)
        ),
        CommandError::Conflict(a, b) => {
            format!("i comandi {a} e {b} non possono stare nello stesso messaggio.")
        }
    }
}

fn not_now(command: &str, why: &NotNow, operator: &str) -> String {
    match why {
        NotNow::ClosedForGood => format!(
            "il ticket è chiuso definitivamente, quindi {command} non è possibile. Se il \
             cliente ha bisogno di altro deve aprire una nuova richiesta."
        ),
        NotNow::Resolved { reopen_until } => format!(
            "il ticket è chiuso e attende un'eventuale risposta del cliente{}: {command} \
             non è possibile. Per lavorarci ancora lo riapra con #prendo.",
            reopen_until
                .map(|u| format!(" fino a {}", italian_when(u)))
                .unwrap_or_default()
        ),
        NotNow::TakenBy(other) => format!(
            "il ticket è già in carico a {other}. Per passarlo a sé usi #assegna \
             {operator}."
        ),
        // Moves of customers and of the scheduler: an operator's command never meets
        // them, but the sentence stays true if one ever does.
        NotNow::NotClosed | NotNow::WindowPassed { .. } | NotNow::NotDue => {
            format!("{command} non è possibile nello stato attuale del ticket.")
        }
    }
}

/// The commands, in short.
fn help(
    code: Option<&TicketCode>,
    support: &super::Address,
    settings: Option<&Settings>,
) -> String {
    let code = code.map_or("CODICE".to_string(), |c| c.to_string());
    let mut s = format!(
        "Comandi: ognuno su una riga, in cima al messaggio a {support}, con [{code}] \
         nell'oggetto (basta rispondere a questa email):\n\
         \x20 #prendo                   prendi in carico il ticket\n\
         \x20 #assegna NOME             assegnalo a un altro operatore (il testo sotto è una nota per lui)\n\
         \x20 #secondo-livello SQUADRA  passalo al secondo livello: la squadra riceve tutta la corrispondenza\n\
         \x20 #urgente                  segnalo urgente (possibile intervento extra fatturato a parte)\n\
         \x20 #nota                     il testo sotto resta una nota interna\n\
         \x20 #chiudi [72h]             chiudilo: il testo sotto va al cliente; può riaprirlo rispondendo entro 48 ore (o le ore indicate)\n\
         Qualsiasi altro testo va al cliente dall'indirizzo di assistenza, con gli allegati.\n"
    );
    if let Some(settings) = settings {
        let names: Vec<&str> = settings.operators.iter().map(|o| o.name.as_str()).collect();
        s.push_str(&format!("Operatori: {}.\n", names.join(", ")));
        let teams = settings.teams();
        if !teams.is_empty() {
            s.push_str(&format!(
                "Squadre di secondo livello: {}.\n",
                teams.join(", ")
            ));
        }
    }
    s
}

/// The thread for an operator who did not follow it: every message received and every
/// answer sent to the customer, oldest first.
fn transcript(ticket: &TicketFacts) -> String {
    let mut s = String::from("Corrispondenza del ticket:\n");
    for e in &ticket.thread {
        let shown = !e.outgoing
            || matches!(
                e.kind.as_str(),
                "relay" | "closure" | "reopened" | "reopen-refused"
            );
        if !shown {
            continue;
        }
        let arrow = if e.outgoing { "inviata a" } else { "da" };
        s.push_str(&format!(
            "\n--- {} {arrow} {} ---\n{}\n",
            italian_datetime(e.at),
            e.who,
            e.text.trim()
        ));
    }
    s.push('\n');
    s
}

/// Text quoted with `> `, as mail clients do.
fn quote(text: &str) -> String {
    let mut s = String::new();
    for line in text.trim().lines() {
        s.push_str("> ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.eq_ignore_ascii_case("urgente"))
        .unwrap_or("");
    let line = printable(line);
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line
    }
}

/// To the first-level queue: a message could not be handled and was set aside in the
/// quarantine folder, unanswered; `reason` is the technical cause, as recorded.
pub fn failure_notice(
    sender: Option<&super::Address>,
    subject: &str,
    received_at: DateTime<Utc>,
    reason: &str,
    folder: &str,
    signature: &str,
) -> (String, String) {
    let from = sender.map_or_else(|| "mittente sconosciuto".to_string(), |a| a.to_string());
    let subject_line = format!(
        "Messaggio non elaborato da {from}, spostato in {}",
        printable(folder)
    );
    let body = format!(
        "Un messaggio arrivato all'indirizzo di assistenza non è stato elaborato ed è stato \
         spostato nella cartella {folder}. Al mittente non è stata inviata alcuna risposta.\n\n\
         Mittente:  {from}\nOggetto:   {}\nRicevuto:  {}\nMotivo:    {}\n\n\
         Verificate il messaggio e, se serve, contattate il mittente. Risolto il problema, \
         riportatelo nella posta in arrivo: sarà elaborato di nuovo.\n\n-- \n{signature}\n",
        printable(subject),
        italian_datetime(received_at),
        reason.replace(char::is_control, " "),
        folder = printable(folder),
    );
    (subject_line, body)
}
