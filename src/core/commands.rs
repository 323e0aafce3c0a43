//! The grammar of operator commands: lines starting with `#` at the top of an operator's
//! message (`#prendo`, `#assegna NAME`, `#secondo-livello TEAM`, `#urgente`, `#nota`,
//! `#chiudi [Nh]`, `#tempo 1h30`, `#extra`, `#non-extra`, `#preventivo 250,00`,
//! `#attesa [Ng]`, `#unisci CODE`, `#copia ADDRESS`, `#nocopia ADDRESS`), then free text. Only the form is checked here; whether a name or a
//! team exists, and whether the ticket allows the command, is `decide`'s business.

use super::address::Address;

/// One command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `#prendo`: the sender takes the ticket.
    Take,
    /// `#assegna NAME`: hand the ticket to another operator.
    Assign(String),
    /// `#secondo-livello TEAM`: escalate to a second-level team.
    Escalate(String),
    /// `#urgente`: flag the ticket urgent (a possible extra-billed intervention).
    Urgent,
    /// `#nota`: the text is an internal note, not relayed.
    Note,
    /// `#chiudi` or `#chiudi 72h`: close, with a reopen window other than the default.
    Close { hours: Option<u32> },
    /// `#tempo 1h30`, `#tempo -30m`: minutes spent (negative to correct an entry). Several
    /// lines of one message add up.
    Time(i32),
    /// `#extra`: an extra intervention, billed apart.
    Extra,
    /// `#non-extra`: not an extra intervention after all.
    NotExtra,
    /// `#preventivo 250,00`: a quote, in euro cents, with the text below it, for the
    /// customer to accept or refuse.
    Quote(u64),
    /// `#attesa` or `#attesa 5g`: the ticket waits for the customer, for that many office
    /// days (the default when absent) before a reminder.
    Wait(Option<u32>),
    /// `#unisci KZ-2026-00012`: merge into that ticket (the code as written; its prefix is
    /// checked by the rule, which knows it).
    Merge(String),
    /// `#copia indirizzo`: add a participant.
    Copy(Address),
    /// `#nocopia indirizzo`: remove a participant.
    NoCopy(Address),
}

impl Command {
    /// The command as an operator writes it, for replies and the history.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Take => "#prendo",
            Command::Assign(_) => "#assegna",
            Command::Escalate(_) => "#secondo-livello",
            Command::Urgent => "#urgente",
            Command::Note => "#nota",
            Command::Close { .. } => "#chiudi",
            Command::Time(_) => "#tempo",
            Command::Extra => "#extra",
            Command::NotExtra => "#non-extra",
            Command::Quote(_) => "#preventivo",
            Command::Wait(_) => "#attesa",
            Command::Merge(_) => "#unisci",
            Command::Copy(_) => "#copia",
            Command::NoCopy(_) => "#nocopia",
        }
    }
}

/// An operator's message split into its commands and its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorMessage {
    pub commands: Vec<Command>,
    /// Everything after the command lines, trimmed.
    pub text: String,
}

impl OperatorMessage {
    pub fn has(&self, pred: impl Fn(&Command) -> bool) -> bool {
        self.commands.iter().any(pred)
    }
}

/// Why the commands of a message were not accepted; nothing is done and the operator is
/// told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// `#boh`: not a command we know (the word as written).
    Unknown(String),
    /// `#assegna` or `#secondo-livello` without its argument.
    MissingArgument(&'static str),
    /// An argument where none is allowed, or a bad `#chiudi` window (the line as written).
    BadArgument(String),
    /// The same command twice, or two that contradict each other.
    Conflict(&'static str, &'static str),
}

/// Longest reopen window `#chiudi Nh` accepts: 30 days.
pub const MAX_REOPEN_HOURS: u32 = 720;

/// Longest wait `#attesa Ng` (and the config) accepts, in office days: about three months.
pub const MAX_WAIT_DAYS: u32 = 60;

/// Reads the command lines at the top of `own_text` (the operator's text without quotes):
/// blank lines before and between commands are skipped; the first other line starts the
/// text. A `#` further down is text (`#1 della lista`).
pub fn parse(own_text: &str) -> Result<OperatorMessage, CommandError> {
    let mut commands = Vec::new();
    let mut lines = own_text.lines().peekable();
    while let Some(line) = lines.peek() {
        let line = line.trim();
        if line.is_empty() {
            lines.next();
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        let command = parse_line(rest, line)?;
        for earlier in &commands {
            check_conflict(earlier, &command)?;
        }
        commands.push(command);
        lines.next();
    }
    let text: Vec<&str> = lines.collect();
    Ok(OperatorMessage {
        commands,
        text: text.join("\n").trim().to_string(),
    })
}

fn parse_line(rest: &str, line: &str) -> Result<Command, CommandError> {
    let (word, arg) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (rest, ""),
    };
    let word = word.trim_end_matches([':', '.', ',']).to_lowercase();
    let no_arg = |c: Command| {
        if arg.is_empty() {
            Ok(c)
        } else {
            Err(CommandError::BadArgument(line.to_string()))
        }
    };
    match word.as_str() {
        "prendo" => no_arg(Command::Take),
        "urgente" => no_arg(Command::Urgent),
        "nota" => no_arg(Command::Note),
        "assegna" if arg.is_empty() => Err(CommandError::MissingArgument("#assegna")),
        "assegna" => Ok(Command::Assign(arg.to_string())),
        "secondo-livello" | "secondolivello" | "secondo_livello" if arg.is_empty() => {
            Err(CommandError::MissingArgument("#secondo-livello"))
        }
        "secondo-livello" | "secondolivello" | "secondo_livello" => {
            Ok(Command::Escalate(arg.to_string()))
        }
        "chiudi" if arg.is_empty() => Ok(Command::Close { hours: None }),
        "chiudi" => match reopen_hours(arg) {
            Some(h) => Ok(Command::Close { hours: Some(h) }),
            None => Err(CommandError::BadArgument(line.to_string())),
        },
        _ => {
            tool(&word, arg, line).unwrap_or_else(|| Err(CommandError::Unknown(format!("#{word}"))))
        }
    }
}

/// The operators' working tools (time, extra, quote, waiting, merge, copies); None for a
/// word that is none of them.
fn tool(word: &str, arg: &str, line: &str) -> Option<Result<Command, CommandError>> {
    let bad = || CommandError::BadArgument(line.to_string());
    let no_arg = |c: Command| if arg.is_empty() { Ok(c) } else { Err(bad()) };
    Some(match word {
        "tempo" if arg.is_empty() => Err(CommandError::MissingArgument("#tempo")),
        "tempo" => minutes(arg).map(Command::Time).ok_or_else(bad),
        "extra" => no_arg(Command::Extra),
        "non-extra" | "nonextra" | "non_extra" => no_arg(Command::NotExtra),
        "preventivo" if arg.is_empty() => Err(CommandError::MissingArgument("#preventivo")),
        "preventivo" => cents(arg).map(Command::Quote).ok_or_else(bad),
        "attesa" if arg.is_empty() => Ok(Command::Wait(None)),
        "attesa" => wait_days(arg)
            .map(|d| Command::Wait(Some(d)))
            .ok_or_else(bad),
        "unisci" if arg.is_empty() => Err(CommandError::MissingArgument("#unisci")),
        "unisci" if arg.contains(char::is_whitespace) => Err(bad()),
        "unisci" => Ok(Command::Merge(arg.trim_matches(['[', ']']).to_string())),
        "copia" | "nocopia" | "no-copia" if arg.is_empty() => {
            Err(CommandError::MissingArgument(if word == "copia" {
                "#copia"
            } else {
                "#nocopia"
            }))
        }
        "copia" | "nocopia" | "no-copia" => match Address::parse(arg.trim_matches(['<', '>'])) {
            Some(address) if word == "copia" => Ok(Command::Copy(address)),
            Some(address) => Ok(Command::NoCopy(address)),
            None => Err(bad()),
        },
        _ => return None,
    })
}

/// `72h`, `72 h`, `72 ore`, `72`: whole hours from 1 to `MAX_REOPEN_HOURS`.
fn reopen_hours(arg: &str) -> Option<u32> {
    let arg = arg.to_lowercase();
    let digits = arg.trim_end_matches("ore").trim_end_matches('h').trim();
    let hours: u32 = digits.parse().ok()?;
    (1..=MAX_REOPEN_HOURS).contains(&hours).then_some(hours)
}

/// Most time one `#tempo` line records: 100 hours.
pub const MAX_TIME_MINUTES: i32 = 100 * 60;

/// Largest quote `#preventivo` accepts, in cents: one million euro.
pub const MAX_QUOTE_CENTS: u64 = 100_000_000;

/// `1h30`, `1h 30m`, `45m`, `45 min`, `2h`, `2 ore`, `1,5h`, `1.5 ore`, with `-` to
/// correct: minutes, never zero, at most `MAX_TIME_MINUTES` either way. A bare number says
/// no unit and is refused.
fn minutes(arg: &str) -> Option<i32> {
    let arg = arg.to_lowercase().replace(' ', "");
    let (sign, rest) = match arg.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, arg.strip_prefix('+').unwrap_or(&arg)),
    };
    let (hours_part, after) = match rest.split_once('h').or_else(|| rest.split_once("ore")) {
        Some((h, after)) => (Some(h), after),
        None => (None, rest),
    };
    let hours = hours_part.map_or(Some(0), decimal_hours)?;
    let with_unit = rest.ends_with('m') || rest.ends_with("min");
    let mins = match after.trim_end_matches("min").trim_end_matches('m') {
        "" if hours_part.is_some() => 0,
        m if hours_part.is_some() || with_unit => {
            let m: i32 = m.parse().ok()?;
            (hours_part.is_none() || (0..60).contains(&m)).then_some(m)?
        }
        _ => return None,
    };
    let total = hours.checked_add(mins)?;
    (1..=MAX_TIME_MINUTES)
        .contains(&total)
        .then_some(sign * total)
}

/// The hours part of a duration, in minutes: `2`, `1,5`, `1.5`; a fraction that is no
/// whole number of minutes (`1,01`) is refused.
fn decimal_hours(text: &str) -> Option<i32> {
    let text = text.replace(',', ".");
    let hours: f64 = text.parse().ok()?;
    let minutes = hours * 60.0;
    (hours.is_finite() && hours >= 0.0 && minutes.fract() == 0.0 && minutes <= 1e6)
        .then_some(minutes as i32)
}

/// `250`, `250,00`, `250.00`, `1.250,00`, `1250,5`, `€ 250`, `250 euro`: cents, more
/// than zero and at most `MAX_QUOTE_CENTS`. A dot followed by three digits groups
/// thousands, as Italians write them; otherwise it is the decimal point.
fn cents(arg: &str) -> Option<u64> {
    let lower = arg.to_lowercase();
    let number = lower
        .trim_start_matches('€')
        .trim_end_matches("euro")
        .trim_end_matches('€')
        .trim();
    let (whole, decimals) = match number.rsplit_once(',') {
        Some((whole, decimals)) => (whole.replace('.', ""), decimals.to_string()),
        None => match number.rsplit_once('.') {
            Some((whole, decimals)) if decimals.len() != 3 => {
                (whole.to_string(), decimals.to_string())
            }
            _ => (number.replace('.', ""), String::new()),
        },
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(&whole) || !(decimals.is_empty() || (digits(&decimals) && decimals.len() <= 2)) {
        return None;
    }
    let euros: u64 = whole.parse().ok()?;
    let fraction: u64 = format!("{decimals:0<2}").parse().ok()?;
    let total = euros.checked_mul(100)?.checked_add(fraction)?;
    (1..=MAX_QUOTE_CENTS).contains(&total).then_some(total)
}

/// `5g`, `5 g`, `5 giorni`, `5`: office days from 1 to `MAX_WAIT_DAYS`.
fn wait_days(arg: &str) -> Option<u32> {
    let arg = arg.to_lowercase();
    let digits = arg
        .trim_end_matches("giorni")
        .trim_end_matches("giorno")
        .trim_end_matches('g')
        .trim();
    let days: u32 = digits.parse().ok()?;
    (1..=MAX_WAIT_DAYS).contains(&days).then_some(days)
}

/// Who handles the ticket can be said once; a closure cannot also hand it on; a note
/// cannot be the closing text.
fn check_conflict(a: &Command, b: &Command) -> Result<(), CommandError> {
    use Command::*;
    // Said several times, these add up (time) or name several addresses.
    let repeatable = |c: &Command| matches!(c, Time(_) | Copy(_) | NoCopy(_));
    let routing = |c: &Command| matches!(c, Take | Assign(_) | Escalate(_));
    // Each says what happens next with the customer; a message says one of them.
    let next = |c: &Command| matches!(c, Close { .. } | Quote(_) | Wait(_) | Merge(_));
    let handing_on = |c: &Command| matches!(c, Assign(_) | Escalate(_) | Note);
    let pair = |x: &Command, y: &Command| {
        (next(x) && (next(y) || handing_on(y)))
            || (matches!(x, Merge(_)) && !matches!(y, Time(_)))
            || matches!((x, y), (Extra, NotExtra))
    };
    let same = std::mem::discriminant(a) == std::mem::discriminant(b);
    let clash = (same && !repeatable(a)) || (routing(a) && routing(b)) || pair(a, b) || pair(b, a);
    if clash {
        Err(CommandError::Conflict(a.word(), b.word()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> OperatorMessage {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    #[test]
    fn a_message_without_commands_is_all_text() {
        let m = ok("Buongiorno,\nil modulo ora funziona.\n");
        assert!(m.commands.is_empty());
        assert_eq!(m.text, "Buongiorno,\nil modulo ora funziona.");
    }

    #[test]
    fn every_command_is_read_with_its_argument() {
        assert_eq!(ok("#prendo").commands, vec![Command::Take]);
        assert_eq!(ok("#urgente").commands, vec![Command::Urgent]);
        assert_eq!(
            ok("#nota\nchiamato il cliente").commands,
            vec![Command::Note]
        );
        assert_eq!(
            ok("#assegna Marco").commands,
            vec![Command::Assign("Marco".into())]
        );
        assert_eq!(
            ok("#secondo-livello sistemisti").commands,
            vec![Command::Escalate("sistemisti".into())]
        );
        assert_eq!(ok("#chiudi").commands, vec![Command::Close { hours: None }]);
        for form in [
            "#chiudi 72h",
            "#chiudi 72 h",
            "#chiudi 72 ore",
            "#chiudi 72",
            "#CHIUDI 72H",
        ] {
            assert_eq!(
                ok(form).commands,
                vec![Command::Close { hours: Some(72) }],
                "{form}"
            );
        }
    }

    #[test]
    fn commands_are_case_insensitive_and_may_be_followed_by_text() {
        let m = ok("\n  #Prendo\n#URGENTE\n\nBuongiorno, me ne occupo io.\n#1 della lista: fatto");
        assert_eq!(m.commands, vec![Command::Take, Command::Urgent]);
        assert_eq!(
            m.text,
            "Buongiorno, me ne occupo io.\n#1 della lista: fatto"
        );
    }

    #[test]
    fn an_unknown_command_is_an_error_naming_it() {
        assert_eq!(
            parse("#prendi"),
            Err(CommandError::Unknown("#prendi".into()))
        );
        assert_eq!(
            parse("#prendo\n#boh\ntesto"),
            Err(CommandError::Unknown("#boh".into()))
        );
    }

    #[test]
    fn a_missing_or_unexpected_argument_is_an_error() {
        assert_eq!(
            parse("#assegna"),
            Err(CommandError::MissingArgument("#assegna"))
        );
        assert_eq!(
            parse("#secondo-livello  "),
            Err(CommandError::MissingArgument("#secondo-livello"))
        );
        assert_eq!(
            parse("#prendo subito"),
            Err(CommandError::BadArgument("#prendo subito".into()))
        );
    }

    #[test]
    fn a_reopen_window_must_be_whole_hours_from_1_to_720() {
        for bad in [
            "#chiudi 0h",
            "#chiudi 721h",
            "#chiudi domani",
            "#chiudi -5h",
            "#chiudi 1.5h",
        ] {
            assert_eq!(
                parse(bad),
                Err(CommandError::BadArgument(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            ok("#chiudi 1h").commands,
            vec![Command::Close { hours: Some(1) }]
        );
        assert_eq!(
            ok("#chiudi 720h").commands,
            vec![Command::Close { hours: Some(720) }]
        );
    }

    #[test]
    fn contradicting_or_repeated_commands_are_refused() {
        assert_eq!(
            parse("#prendo\n#assegna Marco"),
            Err(CommandError::Conflict("#prendo", "#assegna"))
        );
        assert_eq!(
            parse("#chiudi\n#nota"),
            Err(CommandError::Conflict("#chiudi", "#nota"))
        );
        assert_eq!(
            parse("#urgente\n#urgente"),
            Err(CommandError::Conflict("#urgente", "#urgente"))
        );
        assert_eq!(
            parse("#secondo-livello sistemisti\n#chiudi"),
            Err(CommandError::Conflict("#secondo-livello", "#chiudi"))
        );
        // Taking and closing at once is a normal thing to do.
        assert_eq!(
            ok("#prendo\n#chiudi 24h\nFatto.").commands,
            vec![Command::Take, Command::Close { hours: Some(24) }]
        );
    }

    fn one(text: &str) -> Command {
        let mut commands = ok(text).commands;
        assert_eq!(commands.len(), 1, "{text}");
        commands.remove(0)
    }

    #[test]
    fn time_is_read_in_the_ways_operators_write_it() {
        for (form, minutes) in [
            ("#tempo 1h30", 90),
            ("#tempo 1h 30m", 90),
            ("#tempo 1h30m", 90),
            ("#tempo 45m", 45),
            ("#tempo 45 min", 45),
            ("#tempo 2h", 120),
            ("#tempo 2 ore", 120),
            ("#tempo 1,5h", 90),
            ("#tempo 1.5h", 90),
            ("#tempo 0,25h", 15),
            ("#tempo -30m", -30),
            ("#TEMPO 100h", 6000),
        ] {
            assert_eq!(one(form), Command::Time(minutes), "{form}");
        }
    }

    #[test]
    fn a_time_that_is_zero_too_long_or_without_unit_is_refused() {
        for bad in [
            "#tempo 0",
            "#tempo 0m",
            "#tempo 0h",
            "#tempo 99999h",
            "#tempo 101h",
            "#tempo 90",
            "#tempo un'ora",
            "#tempo 1h75",
            "#tempo 1,01h",
            "#tempo -",
        ] {
            assert_eq!(
                parse(bad),
                Err(CommandError::BadArgument(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse("#tempo"),
            Err(CommandError::MissingArgument("#tempo"))
        );
    }

    #[test]
    fn several_time_lines_add_up_and_combine_with_any_command() {
        let m = ok("#tempo 1h\n#tempo 30m\n#chiudi\nFatto.");
        assert_eq!(
            m.commands,
            vec![
                Command::Time(60),
                Command::Time(30),
                Command::Close { hours: None }
            ]
        );
        assert_eq!(m.text, "Fatto.");
    }

    #[test]
    fn a_quote_amount_is_euro_in_italian_or_plain_decimals() {
        for (form, cents) in [
            ("#preventivo 250,00", 25_000),
            ("#preventivo 250", 25_000),
            ("#preventivo 250.00", 25_000),
            ("#preventivo 250,5", 25_050),
            ("#preventivo 1.250,00", 125_000),
            ("#preventivo 1.250", 125_000),
            ("#preventivo 1250.99", 125_099),
            ("#preventivo € 80", 8_000),
            ("#preventivo 80 euro", 8_000),
            ("#preventivo 80€", 8_000),
        ] {
            assert_eq!(one(form), Command::Quote(cents), "{form}");
        }
        for bad in [
            "#preventivo -5",
            "#preventivo abc",
            "#preventivo 0",
            "#preventivo 0,00",
            "#preventivo 12,345",
            "#preventivo 2.000.000,00",
            "#preventivo 10 20",
        ] {
            assert_eq!(
                parse(bad),
                Err(CommandError::BadArgument(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse("#preventivo"),
            Err(CommandError::MissingArgument("#preventivo"))
        );
    }

    #[test]
    fn waiting_takes_office_days_or_the_default() {
        assert_eq!(one("#attesa"), Command::Wait(None));
        for form in ["#attesa 5g", "#attesa 5 g", "#attesa 5 giorni", "#attesa 5"] {
            assert_eq!(one(form), Command::Wait(Some(5)), "{form}");
        }
        for bad in ["#attesa 0g", "#attesa 61g", "#attesa domani"] {
            assert_eq!(
                parse(bad),
                Err(CommandError::BadArgument(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn merge_copy_and_extra_read_their_arguments() {
        assert_eq!(
            one("#unisci KZ-2026-00012"),
            Command::Merge("KZ-2026-00012".into())
        );
        assert_eq!(
            one("#unisci [KZ-2026-00012]"),
            Command::Merge("KZ-2026-00012".into())
        );
        assert_eq!(
            parse("#unisci"),
            Err(CommandError::MissingArgument("#unisci"))
        );
        let anna = Address::parse("anna@rossi.it").expect("address");
        assert_eq!(one("#copia anna@rossi.it"), Command::Copy(anna.clone()));
        assert_eq!(one("#nocopia <Anna@Rossi.it>"), Command::NoCopy(anna));
        assert_eq!(
            parse("#copia anna"),
            Err(CommandError::BadArgument("#copia anna".into()))
        );
        assert_eq!(one("#extra"), Command::Extra);
        assert_eq!(one("#non-extra"), Command::NotExtra);
        assert_eq!(
            parse("#extra subito"),
            Err(CommandError::BadArgument("#extra subito".into()))
        );
    }

    #[test]
    fn what_happens_next_with_the_customer_is_said_once() {
        for (text, a, b) in [
            ("#preventivo 100\n#chiudi", "#preventivo", "#chiudi"),
            ("#attesa\n#preventivo 100", "#attesa", "#preventivo"),
            ("#attesa\n#nota", "#attesa", "#nota"),
            ("#unisci KZ-2026-00001\n#prendo", "#unisci", "#prendo"),
            ("#extra\n#non-extra", "#extra", "#non-extra"),
            (
                "#preventivo 100\n#preventivo 200",
                "#preventivo",
                "#preventivo",
            ),
        ] {
            assert_eq!(parse(text), Err(CommandError::Conflict(a, b)), "{text}");
        }
        // These go together.
        ok("#prendo\n#attesa 3g\nCi manda le credenziali?");
        ok("#tempo 20m\n#unisci KZ-2026-00001");
        ok("#copia anna@rossi.it\n#copia luca@rossi.it\n#preventivo 90\nEcco.");
        ok("#extra\n#tempo 2h\n#chiudi");
    }
}
