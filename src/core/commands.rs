//! The grammar of operator commands: lines starting with `#` at the top of an operator's
//! message (`#prendo`, `#assegna NAME`, `#secondo-livello TEAM`, `#urgente`, `#nota`,
//! `#chiudi [Nh]`), then free text. Only the form is checked here; whether a name or a
//! team exists, and whether the ticket allows the command, is `decide`'s business.

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
        _ => Err(CommandError::Unknown(format!("#{word}"))),
    }
}

/// `72h`, `72 h`, `72 ore`, `72`: whole hours from 1 to `MAX_REOPEN_HOURS`.
fn reopen_hours(arg: &str) -> Option<u32> {
    let arg = arg.to_lowercase();
    let digits = arg.trim_end_matches("ore").trim_end_matches('h').trim();
    let hours: u32 = digits.parse().ok()?;
    (1..=MAX_REOPEN_HOURS).contains(&hours).then_some(hours)
}

/// Who handles the ticket can be said once; a closure cannot also hand it on; a note
/// cannot be the closing text.
fn check_conflict(a: &Command, b: &Command) -> Result<(), CommandError> {
    use Command::*;
    let routing = |c: &Command| matches!(c, Take | Assign(_) | Escalate(_));
    let clash = std::mem::discriminant(a) == std::mem::discriminant(b)
        || (routing(a) && routing(b))
        || matches!((a, b), (Close { .. }, Assign(_) | Escalate(_) | Note))
        || matches!((b, a), (Close { .. }, Assign(_) | Escalate(_) | Note));
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
}
