//! The body rule: a request must name the site (its URL or domain) or the software
//! concerned, and describe what is wanted. Quoted replies and signatures do not count.

use regex::Regex;
use std::sync::LazyLock;

/// What is wrong with a body, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProblem {
    /// No text, or fewer words than a request can be made of.
    EmptyRequest,
    /// No URL, domain or contract reference.
    MissingReference,
}

/// Fewer words than this (references left out) cannot describe an intervention: the
/// seed asks for "il messaggio dettagliato di richiesta intervento".
pub const MIN_REQUEST_WORDS: usize = 3;

/// The customer's own text: quoted lines (`>`), the "Il giorno … ha scritto:" /
/// "On … wrote:" / Outlook "-----Messaggio originale-----" headers (also Gmail's wrapped
/// over two lines, and Outlook's "Da: … / Inviato: …" block without a separator line),
/// a phone's "Inviato da iPhone" and everything after a `-- ` signature separator are
/// dropped; white space is tidied.
pub fn own_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed_end = line.trim_end_matches(['\r', ' ', '\t']);
        if trimmed_end == "--" || line.trim_end_matches('\r') == "-- " {
            break;
        }
        if ends_own_text(line.trim(), lines.get(i + 1).map_or("", |l| l.trim())) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        kept.push(trimmed_end);
    }
    // Blank lines at either end go. Found by index, not by removing from the front one at
    // a time, which is quadratic: a 2 MB message of empty lines held the intake for minutes.
    let blank = |l: &&str| l.trim().is_empty();
    let start = kept.iter().position(|l| !blank(l)).unwrap_or(kept.len());
    let end = kept
        .iter()
        .rposition(|l| !blank(l))
        .map_or(start, |i| i + 1);
    kept[start..end].join("\n")
}

/// Whether `line` (with `next` after it) starts what the customer did not write: a quote
/// header, one wrapped over two lines, an Outlook header block, or a phone's sign-off.
fn ends_own_text(line: &str, next: &str) -> bool {
    if QUOTE_HEADER.is_match(line) || SENT_FROM_PHONE.is_match(line) {
        return true;
    }
    let wrapped = (line.len() < 200 && !line.is_empty())
        && QUOTE_HEADER.is_match(&format!("{line} {next}"))
        && (line.to_lowercase().starts_with("il ") || line.to_lowercase().starts_with("on "));
    wrapped || (OUTLOOK_FROM.is_match(line) && OUTLOOK_NEXT.is_match(next))
}

/// Checks the body rule on the customer's own text against the contract's references.
pub fn check(own_text: &str, references: &[String]) -> Result<(), BodyProblem> {
    if own_text.trim().is_empty() {
        return Err(BodyProblem::EmptyRequest);
    }
    if !has_reference(own_text, references) {
        return Err(BodyProblem::MissingReference);
    }
    if words_without_references(own_text, references) < MIN_REQUEST_WORDS {
        return Err(BodyProblem::EmptyRequest);
    }
    Ok(())
}

/// True when the text names a URL, a domain not part of an email address, or one of the
/// contract's references (case-insensitive).
pub fn has_reference(text: &str, references: &[String]) -> bool {
    let lower = text.to_lowercase();
    if references
        .iter()
        .map(|r| r.trim().to_lowercase())
        .any(|r| !r.is_empty() && lower.contains(&r))
    {
        return true;
    }
    let without_emails = EMAIL.replace_all(&lower, " ");
    URL.is_match(&without_emails) || domains(&without_emails).next().is_some()
}

/// Bare domains in the text, without file names such as `preventivo.pdf`.
fn domains(text: &str) -> impl Iterator<Item = regex::Match<'_>> {
    const FILE_ENDINGS: &[&str] = &[
        "pdf", "doc", "docx", "xls", "xlsx", "ods", "odt", "ppt", "pptx", "txt", "csv", "jpg",
        "jpeg", "png", "gif", "zip", "rar", "eml", "msg", "html", "htm", "php", "js",
    ];
    DOMAIN.find_iter(text).filter(|m| {
        let ending = m.as_str().rsplit('.').next().unwrap_or("");
        !FILE_ENDINGS.iter().any(|e| ending.eq_ignore_ascii_case(e))
    })
}

/// Counts the words left once URLs, domains, email addresses and contract references
/// are taken out: what remains is the request itself (and the requester's name).
fn words_without_references(text: &str, references: &[String]) -> usize {
    let mut rest = text.to_lowercase();
    for r in references {
        let r = r.trim().to_lowercase();
        if !r.is_empty() {
            rest = rest.replace(&r, " ");
        }
    }
    let rest = EMAIL.replace_all(&rest, " ");
    let rest = URL.replace_all(&rest, " ");
    let mut without_domains = String::with_capacity(rest.len());
    let mut last = 0;
    for m in domains(&rest) {
        without_domains.push_str(&rest[last..m.start()]);
        without_domains.push(' ');
        last = m.end();
    }
    without_domains.push_str(&rest[last..]);
    without_domains
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count()
}

/// A short summary of the request for the acknowledgement: the first lines, cut at a
/// sensible length so a long message does not become a long acknowledgement.
pub fn summary(own_text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for line in own_text.lines() {
        if out.chars().count() + line.chars().count() > max_chars {
            let room = max_chars.saturating_sub(out.chars().count());
            let cut: String = line.chars().take(room).collect();
            out.push_str(cut.trim_end());
            out.push('…');
            return out;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

static QUOTE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(il giorno .+ ha scritto:?|.+ ha scritto:$|on .+ wrote:$|-{2,}\s*(messaggio originale|original message)\s*-{2,}|_{10,})$",
    )
    .expect("static regex")
});

/// "Inviato da iPhone", "Inviato dal mio smartphone Samsung Galaxy.", "Sent from my
/// iPhone", "Inviato da Outlook per Android": a phone's automatic sign-off.
static SENT_FROM_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(inviato|inviata|sent|get)\s+(da|dal|dalla|from|outlook)\s+(il\s+)?(mio\s+|my\s+)?(iphone|ipad|android|samsung|galaxy|outlook|huawei|xiaomi|mobile|smartphone|cellulare|tablet|dispositivo|tim|libero|yahoo|gmail|posta)\b.{0,60}$",
    )
    .expect("static regex")
});

/// The first line of Outlook's header block of the mail replied to, and the one after.
static OUTLOOK_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(da|from):\s+\S").expect("static regex"));
static OUTLOOK_NEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(inviato|data|sent|date|a|to|oggetto|subject):\s+\S").expect("static regex")
});

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+'-]+@[\w.-]+").expect("static regex"));

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(https?://[^\s<>]+|www\.[\w-]+(\.[\w-]+)+)").expect("static regex")
});

/// A bare domain: labels of letters, digits and hyphens and an alphabetic top-level label
/// of 2–24 letters, for example `rossi-impianti.it` or `negozio.example.com`. File names
/// such as `preventivo.pdf` match too: `domains` filters them out.
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b[\p{L}\d](?:[\p{L}\d-]*[\p{L}\d])?(?:\.[\p{L}\d](?:[\p{L}\d-]*[\p{L}\d])?)*\.(?:[a-z]{2,24})\b",
    )
    .expect("static regex")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_around_the_text_go_however_many() {
        assert_eq!(
            own_text("\n \n\tciao\n\n  a tutti\n \n"),
            "\tciao\n\n  a tutti"
        );
        assert_eq!(own_text(" \n\n"), "");
        assert_eq!(own_text(""), "");
        let flood = format!(
            "{}Sito www.example.it: il modulo non va{}",
            "\r\n".repeat(300_000),
            "\n".repeat(300_000)
        );
        assert_eq!(own_text(&flood), "Sito www.example.it: il modulo non va");
    }

    fn refs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn request_with_url_and_words_passes() {
        let text = "Sono Mario Rossi, il modulo contatti di https://www.rossi.it non invia";
        assert_eq!(check(text, &[]), Ok(()));
    }

    #[test]
    fn bare_domain_counts_as_reference() {
        assert_eq!(
            check("Mario Rossi: rossi-impianti.it è lento da ieri", &[]),
            Ok(())
        );
    }

    #[test]
    fn www_without_scheme_counts_as_reference() {
        assert!(has_reference("il sito www.caffeverdi.it è giù", &[]));
    }

    #[test]
    fn contract_software_name_counts_as_reference_case_insensitively() {
        let r = refs(&["Gestionale Magazzino"]);
        assert_eq!(
            check(
                "Mario Rossi. Il GESTIONALE magazzino non stampa le bolle",
                &r
            ),
            Ok(())
        );
    }

    #[test]
    fn domain_inside_an_email_address_is_not_a_reference() {
        let text = "Sono Mario, scrivetemi a mario@rossi.it, non funziona niente";
        assert_eq!(check(text, &[]), Err(BodyProblem::MissingReference));
    }

    #[test]
    fn a_file_name_is_not_a_site_reference() {
        assert!(!has_reference(
            "vi allego preventivo.pdf e foto.JPG per il lavoro",
            &[]
        ));
    }

    #[test]
    fn empty_body_is_an_empty_request() {
        assert_eq!(check("  \n\n ", &[]), Err(BodyProblem::EmptyRequest));
    }

    #[test]
    fn only_a_url_is_an_empty_request() {
        assert_eq!(
            check("https://www.rossi.it", &[]),
            Err(BodyProblem::EmptyRequest)
        );
        assert_eq!(
            check("Mario www.rossi.it", &[]),
            Err(BodyProblem::EmptyRequest)
        );
    }

    #[test]
    fn text_without_any_reference_is_missing_reference() {
        assert_eq!(
            check("Buongiorno, il sito non funziona più da stamattina", &[]),
            Err(BodyProblem::MissingReference)
        );
    }

    #[test]
    fn quoted_lines_and_signature_are_not_the_customers_text() {
        let text = "Il sito è lento\n\n-- \nMario Rossi\nwww.rossi.it\n";
        assert_eq!(own_text(text), "Il sito è lento");
        let text = "Ecco i dettagli\n> www.rossi.it era giù\n> ieri\nGrazie";
        assert_eq!(own_text(text), "Ecco i dettagli\nGrazie");
    }

    #[test]
    fn gmail_and_outlook_quote_headers_end_the_customers_text() {
        let gmail = "Va bene\n\nIl giorno lun 9 mar 2026 alle 10:00 Assistenza <a@b.it> ha scritto:\n> testo";
        assert_eq!(own_text(gmail), "Va bene");
        let outlook = "Ok\n-----Messaggio originale-----\nDa: x";
        assert_eq!(own_text(outlook), "Ok");
        let english = "Fine\nOn Mon, 9 Mar 2026 at 10:00, Support <a@b.it> wrote:\n> x";
        assert_eq!(own_text(english), "Fine");
    }

    #[test]
    fn summary_is_cut_at_the_limit_with_an_ellipsis() {
        let s = summary("prima riga\nseconda riga molto lunga", 15);
        assert_eq!(s, "prima riga\nseco…");
        assert_eq!(summary("breve", 100), "breve");
    }

    #[test]
    fn a_phones_sign_off_an_outlook_block_and_a_wrapped_attribution_are_not_the_customers() {
        for (text, own) in [
            ("Il modulo non va.\n\nInviato da iPhone", "Il modulo non va."),
            (
                "Il modulo non va.\nInviato dal mio smartphone Samsung Galaxy.",
                "Il modulo non va.",
            ),
            ("ACCETTO\r\n\r\nSent from my iPhone\r\n", "ACCETTO"),
            (
                "Ok, procedete.\n\nDa: Assistenza <assistenza@kzweb.it>\nInviato: lunedì 7 dicembre 2026 10:15\nA: mario@rossi.it\nOggetto: preventivo\n\nRisponda ACCETTO",
                "Ok, procedete.",
            ),
            (
                "Grazie.\n\nIl giorno lun 7 dic 2026 alle ore 10:15 Assistenza KZweb <\nassistenza@kzweb.it> ha scritto:\n\nTesto",
                "Grazie.",
            ),
        ] {
            assert_eq!(own_text(text), own, "{text:?}");
        }
        // A customer's own sentences that merely look alike stay.
        for text in [
            "Da: domani il sito deve essere online.\nGrazie",
            "Il sito è stato inviato da noi al vostro server ieri.",
        ] {
            assert_eq!(own_text(text), text, "{text:?}");
        }
    }
}
