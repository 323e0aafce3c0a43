//! A customer's answer to a quote ("preventivo"). The quote mail asks for ACCETTO or
//! RIFIUTO on the first line of the reply, so only a reply that does exactly that is a
//! decision. Anything else — "non accetto", a greeting first, a question, both words —
//! is an ordinary reply that a person reads: a wrong "accepted" starts work the customer
//! is billed for, while a missed one only costs an operator a read.

use super::body;

/// The customer's answer to a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The first word was ACCETTO, ACCETTATO or ACCETTIAMO.
    Accepted,
    /// The first word was RIFIUTO, RIFIUTATO or RIFIUTIAMO.
    Refused,
}

impl Answer {
    /// The answer as logs and the history record it, the same whatever the customer wrote.
    pub fn name(self) -> &'static str {
        match self {
            Answer::Accepted => "accepted",
            Answer::Refused => "refused",
        }
    }

    /// The answer a single word gives, already lower case and without punctuation. Only
    /// the forms a customer writes to decide are listed: "accettabile" or "rifiutare" ask
    /// or discuss, they do not decide.
    fn of_word(word: &str) -> Option<Answer> {
        match word {
            "accetto" | "accettato" | "accettiamo" => Some(Answer::Accepted),
            "rifiuto" | "rifiutato" | "rifiutiamo" => Some(Answer::Refused),
            _ => None,
        }
    }
}

/// The answer a reply gives, if it gives one. `text` is the reply's whole decoded
/// text/plain body as it arrived, quotes and signature included: the quote being answered
/// contains both ACCETTO and RIFIUTO, so only the customer's own text (`body::own_text`)
/// is read, and of that only the first non-blank line, where the quote asked for the word.
pub fn read(text: &str) -> Option<Answer> {
    let own = body::own_text(text);
    let line = own.lines().find(|l| !l.trim().is_empty())?;
    let first = line.split_whitespace().next()?;
    let answer = Answer::of_word(&bare(first))?;
    // "accetto? rifiuto?" names both answers: whatever it means, it is not a decision.
    let contradicted = line
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(|w| Answer::of_word(&w.to_lowercase()))
        .any(|other| other != answer);
    (!contradicted).then_some(answer)
}

/// A word without the punctuation around it (`ACCETTO.`, `accetto,`) and the `*`/`_`
/// that HTML-to-text conversion leaves for bold and italics (`*ACCETTO*`), lower case.
fn bare(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the quote mail says, as it comes back quoted below a reply.
    const INSTRUCTION: &str = "Per accettarlo risponda a questa email scrivendo ACCETTO \
        sulla prima riga; per rifiutarlo scriva RIFIUTO.";

    #[test]
    fn outlook_reply_with_crlf_above_the_original_message_is_accepted() {
        let text = format!(
            "ACCETTO\r\n\r\nCordiali saluti\r\nMario Rossi\r\n\r\n\
             -----Messaggio originale-----\r\n\
             Da: Assistenza KZweb <assistenza@kzweb.it>\r\n\
             Inviato: lunedì 7 dicembre 2026 10:15\r\n\
             A: mario.rossi@rossi-impianti.it\r\n\
             Oggetto: [AS-2026-0042] Preventivo per la sua richiesta di assistenza\r\n\r\n\
             Gentile cliente,\r\n\r\nImporto del preventivo: 1.250,00 €.\r\n\r\n\
             Può confermare rispondendo ACCETTO oppure RIFIUTO.\r\n{INSTRUCTION}\r\n"
        );
        assert_eq!(read(&text), Some(Answer::Accepted));
    }

    #[test]
    fn gmail_reply_with_more_words_after_the_decision_is_accepted() {
        let text = format!(
            "Accetto il preventivo, procedete pure.\n\nGrazie\nMario\n\n\
             Il giorno lun 7 dic 2026 alle ore 10:15 Assistenza <assistenza@kzweb.it> \
             ha scritto:\n\n> Gentile cliente,\n>\n> Importo del preventivo: 1.250,00 €.\n\
             >\n> {INSTRUCTION}\n> RIFIUTO\n"
        );
        assert_eq!(read(&text), Some(Answer::Accepted));
    }

    #[test]
    fn phone_reply_is_refused_with_or_without_the_quote() {
        assert_eq!(read("Rifiuto\n\nInviato da iPhone"), Some(Answer::Refused));
        let text = format!(
            "Rifiuto\r\n\r\nInviato da iPhone\r\n\r\n\
             > Il giorno 7 dic 2026, alle ore 10:15, Assistenza <assistenza@kzweb.it> \
             ha scritto:\r\n> \r\n> ACCETTO\r\n> {INSTRUCTION}\r\n"
        );
        assert_eq!(read(&text), Some(Answer::Refused));
    }

    #[test]
    fn the_instruction_quoted_below_an_ordinary_reply_is_not_a_decision() {
        let text = format!(
            "Scusate, l'IVA è compresa?\n\n> ACCETTO\n> {INSTRUCTION}\n\
             >ACCETTO\n"
        );
        assert_eq!(read(&text), None);
        let text = format!("RIFIUTO grazie\n\n> {INSTRUCTION}\n> ACCETTO\n");
        assert_eq!(read(&text), Some(Answer::Refused));
    }

    #[test]
    fn a_reply_that_is_only_the_quote_is_not_a_decision() {
        // Some clients quote with ">" and no space: the quoted word must not count.
        let text = format!("\n\n>ACCETTO\n>\n>{INSTRUCTION}\n");
        assert_eq!(read(&text), None);
        let text = format!(
            "\r\n\r\n-----Messaggio originale-----\r\nDa: Assistenza <a@kzweb.it>\r\n\
             ACCETTO\r\n{INSTRUCTION}\r\n"
        );
        assert_eq!(read(&text), None);
        let text = format!(
            "\nIl giorno lun 7 dic 2026 alle ore 10:15 Assistenza <a@kzweb.it> ha scritto:\n\
             ACCETTO\n{INSTRUCTION}\n"
        );
        assert_eq!(read(&text), None);
    }

    #[test]
    fn nothing_typed_above_a_phones_sign_off_or_a_reply_header_is_not_a_decision() {
        // `body::own_text` stops at these: what the quoted mail says is never the
        // customer's answer.
        let iphone = "\n\nInviato da iPhone\n\n> Il giorno 7 dic 2026, alle ore 10:15, \
            Assistenza <a@kzweb.it> ha scritto:\n> \n> ACCETTO";
        let outlook_without_separator = "\r\n\r\nDa: Assistenza <a@kzweb.it>\r\n\
            Inviato: lunedì 7 dicembre 2026 10:15\r\nOggetto: Preventivo\r\n\r\nACCETTO";
        let gmail_wrapped = "\nIl giorno lun 7 dic 2026 alle ore 10:15 Assistenza KZweb <\n\
            assistenza@kzweb.it> ha scritto:\nACCETTO";
        for text in [iphone, outlook_without_separator, gmail_wrapped] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }

    #[test]
    fn every_listed_form_in_any_case_decides() {
        for (word, answer) in [
            ("accetto", Answer::Accepted),
            ("Accettato", Answer::Accepted),
            ("ACCETTIAMO", Answer::Accepted),
            ("rifiuto", Answer::Refused),
            ("Rifiutato", Answer::Refused),
            ("RIFIUTIAMO", Answer::Refused),
        ] {
            assert_eq!(read(word), Some(answer), "{word}");
        }
    }

    #[test]
    fn punctuation_and_emphasis_around_the_word_are_ignored() {
        for text in [
            "ACCETTO.",
            "Accetto!",
            "accetto, procedete",
            "*ACCETTO*",
            "**ACCETTO**",
            "_Accetto_ il preventivo",
            "  ACCETTO  ",
            "\u{a0}ACCETTO\r",
        ] {
            assert_eq!(read(text), Some(Answer::Accepted), "{text:?}");
        }
        assert_eq!(read("*RIFIUTO*"), Some(Answer::Refused));
    }

    #[test]
    fn a_negation_or_the_word_not_first_is_not_a_decision() {
        for text in [
            "Non accetto queste condizioni",
            "Ho letto. ACCETTO",
            "Buongiorno, accetto",
            "Accettabile?",
            "Rifiutare sarebbe un peccato, ci penso",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_decision_must_be_on_the_first_line() {
        assert_eq!(read("Buongiorno,\nACCETTO\n\nMario Rossi"), None);
        assert_eq!(read("\n\n  \nACCETTO\nMario Rossi"), Some(Answer::Accepted));
    }

    #[test]
    fn both_answers_on_the_first_line_are_not_a_decision() {
        assert_eq!(read("accetto? rifiuto?"), None);
        assert_eq!(read("RIFIUTO/ACCETTO, non so"), None);
        assert_eq!(
            read("Accetto\nRifiuto la seconda parte"),
            Some(Answer::Accepted)
        );
    }

    #[test]
    fn an_empty_reply_is_not_a_decision() {
        assert_eq!(read(""), None);
        assert_eq!(read(" \r\n\r\n\t"), None);
        assert_eq!(read("-- \nMario Rossi\nACCETTO"), None);
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(Answer::Accepted.name(), "accepted");
        assert_eq!(Answer::Refused.name(), "refused");
    }
}
