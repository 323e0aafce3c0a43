//! The desk's texts as MiniJinja templates: the built-in set (the files of the
//! repository's `templates/` folder, embedded in the binary) with whatever files the
//! agency put in `[templates] dir` in their place. A message template reads like a mail:
//! an optional `{# … #}` comment, a line `Subject: …`, a blank line, the body. Files
//! named `_….j2` are parts other templates include.
//!
//! This file compiles and renders; it reads no file (the shell hands it the sources) and
//! knows nothing of tickets: `templates` builds the values and says which situations a
//! set must survive before it is put in force.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

/// Every template the desk has, by file name, with its built-in source.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "confirmation.j2",
        include_str!("../../templates/confirmation.j2"),
    ),
    ("ack.j2", include_str!("../../templates/ack.j2")),
    ("rejection.j2", include_str!("../../templates/rejection.j2")),
    ("relay.j2", include_str!("../../templates/relay.j2")),
    ("quote.j2", include_str!("../../templates/quote.j2")),
    (
        "quote_answered.j2",
        include_str!("../../templates/quote_answered.j2"),
    ),
    (
        "customer_reminder.j2",
        include_str!("../../templates/customer_reminder.j2"),
    ),
    ("merged.j2", include_str!("../../templates/merged.j2")),
    ("closure.j2", include_str!("../../templates/closure.j2")),
    ("reopened.j2", include_str!("../../templates/reopened.j2")),
    (
        "reopen_refused.j2",
        include_str!("../../templates/reopen_refused.j2"),
    ),
    (
        "queue_notice.j2",
        include_str!("../../templates/queue_notice.j2"),
    ),
    (
        "oncall_notice.j2",
        include_str!("../../templates/oncall_notice.j2"),
    ),
    ("forward.j2", include_str!("../../templates/forward.j2")),
    (
        "reopen_notice.j2",
        include_str!("../../templates/reopen_notice.j2"),
    ),
    (
        "assignment.j2",
        include_str!("../../templates/assignment.j2"),
    ),
    (
        "escalation.j2",
        include_str!("../../templates/escalation.j2"),
    ),
    ("reminder.j2", include_str!("../../templates/reminder.j2")),
    (
        "unanswered_notice.j2",
        include_str!("../../templates/unanswered_notice.j2"),
    ),
    (
        "quote_notice.j2",
        include_str!("../../templates/quote_notice.j2"),
    ),
    (
        "bounce_notice.j2",
        include_str!("../../templates/bounce_notice.j2"),
    ),
    (
        "command_refused.j2",
        include_str!("../../templates/command_refused.j2"),
    ),
    (
        "failure_notice.j2",
        include_str!("../../templates/failure_notice.j2"),
    ),
    ("digest.j2", include_str!("../../templates/digest.j2")),
    ("report.j2", include_str!("../../templates/report.j2")),
    (
        "contract_expiry.j2",
        include_str!("../../templates/contract_expiry.j2"),
    ),
    (
        "_signature.j2",
        include_str!("../../templates/_signature.j2"),
    ),
    (
        "_operator_signature.j2",
        include_str!("../../templates/_operator_signature.j2"),
    ),
    (
        "_how_to_write.j2",
        include_str!("../../templates/_how_to_write.j2"),
    ),
    ("_brief.j2", include_str!("../../templates/_brief.j2")),
    ("_commands.j2", include_str!("../../templates/_commands.j2")),
    ("_thread.j2", include_str!("../../templates/_thread.j2")),
    ("_refusal.j2", include_str!("../../templates/_refusal.j2")),
    // The portal's pages and their stylesheet.
    ("form.html.j2", include_str!("../../templates/form.html.j2")),
    (
        "received.html.j2",
        include_str!("../../templates/received.html.j2"),
    ),
    (
        "confirm.html.j2",
        include_str!("../../templates/confirm.html.j2"),
    ),
    (
        "confirmed.html.j2",
        include_str!("../../templates/confirmed.html.j2"),
    ),
    (
        "error.html.j2",
        include_str!("../../templates/error.html.j2"),
    ),
    (
        "_page.html.j2",
        include_str!("../../templates/_page.html.j2"),
    ),
    ("style.css.j2", include_str!("../../templates/style.css.j2")),
    (
        "leggimi.txt.j2",
        include_str!("../../templates/leggimi.txt.j2"),
    ),
];

/// Instructions one rendering of an edited set may take: far more than any built-in
/// needs for a long thread, far less than a loop that runs away.
pub const FUEL: u64 = 500_000;

/// The suffix of the subject line's template inside the environment.
const SUBJECT: &str = "#subject";

/// Where a template in force came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// The file, as the shell named it.
    File(String),
}

/// What is wrong with one template: the file, the line when known, and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextProblem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// One template as loaded: where from, and where its body starts in the file.
#[derive(Clone, Debug)]
struct Loaded {
    origin: Origin,
    /// The file line of the subject (message templates).
    subject_line: usize,
    /// Lines of the file before the body's first line.
    body_offset: usize,
}

/// A compiled set of texts, every name of `BUILTIN` present.
#[derive(Clone)]
pub struct Texts {
    env: Arc<Environment<'static>>,
    loaded: Arc<HashMap<&'static str, Loaded>>,
    edited: bool,
}

impl fmt::Debug for Texts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Texts")
            .field("edited", &self.edited)
            .finish_non_exhaustive()
    }
}

/// A rendered mail text, and what went wrong on the way if anything did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub subject: String,
    pub body: String,
    pub trouble: Option<Trouble>,
}

impl From<(String, String)> for Text {
    /// A text written out in full (tests, and mails no template makes).
    fn from((subject, body): (String, String)) -> Text {
        Text {
            subject,
            body,
            trouble: None,
        }
    }
}

/// Why a text is not what the set in force would have given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// The edited template failed on this mail; the built-in one was used.
    FellBack(TextProblem),
    /// Even the built-in failed: the mail must not go out.
    Unrenderable(TextProblem),
}

impl Texts {
    /// The built-in set.
    pub fn builtin() -> Texts {
        static BUILT: OnceLock<Texts> = OnceLock::new();
        BUILT
            .get_or_init(|| {
                // The built-ins are checked by the tests against every sample situation.
                Texts::compile(vec![]).unwrap_or_else(|problems| {
                    unreachable!("the built-in templates do not compile: {problems:?}")
                })
            })
            .clone()
    }

    /// The built-in set with `files` (name, source, origin) in place of the built-ins of
    /// the same name. Every problem is reported, none is left for rendering to find.
    pub fn compile(files: Vec<(String, String, Origin)>) -> Result<Texts, Vec<TextProblem>> {
        let mut problems = vec![];
        let mut chosen: HashMap<&'static str, (String, Origin)> = BUILTIN
            .iter()
            .map(|(name, source)| (*name, (source.to_string(), Origin::BuiltIn)))
            .collect();
        let edited = !files.is_empty();
        for (name, source, origin) in files {
            match BUILTIN.iter().find(|(known, _)| *known == name) {
                Some((known, _)) => {
                    chosen.insert(known, (normalize(&source), origin));
                }
                None => problems.push(TextProblem {
                    file: file_of(&origin, &name),
                    line: None,
                    message: format!(
                        "not a template of the desk; the names are: {}",
                        names().collect::<Vec<_>>().join(", ")
                    ),
                }),
            }
        }
        let mut env = environment(edited);
        let mut loaded = HashMap::new();
        for (name, (source, origin)) in chosen {
            match add(&mut env, name, source, &origin) {
                Ok((subject_line, body_offset)) => {
                    loaded.insert(
                        name,
                        Loaded {
                            origin,
                            subject_line,
                            body_offset,
                        },
                    );
                }
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() {
            problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(problems);
        }
        Ok(Texts {
            env: Arc::new(env),
            loaded: Arc::new(loaded),
            edited,
        })
    }

    /// Every template and where the one in force came from, in `BUILTIN` order.
    pub fn origins(&self) -> Vec<(&'static str, Origin)> {
        names()
            .map(|name| {
                let origin = self
                    .loaded
                    .get(name)
                    .map_or(Origin::BuiltIn, |l| l.origin.clone());
                (name, origin)
            })
            .collect()
    }

    /// The templates whose file of `[templates] dir` is in force, in `BUILTIN` order.
    pub fn edited(&self) -> Vec<&'static str> {
        self.origins()
            .into_iter()
            .filter(|(_, origin)| matches!(origin, Origin::File(_)))
            .map(|(name, _)| name)
            .collect()
    }

    /// Renders message template `name` with `ctx`: the subject made one line, the body.
    pub fn render(&self, name: &str, ctx: &Value) -> Result<(String, String), TextProblem> {
        let subject = self.run(&format!("{name}{SUBJECT}"), ctx)?;
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return Err(TextProblem {
                file: self.file(name),
                line: self.loaded.get(name).map(|l| l.subject_line),
                message: "the subject renders empty".into(),
            });
        }
        let body = self.run(name, ctx)?;
        Ok((subject, body))
    }

    /// The mail text: this set's, or the built-in one if this set's fails on `ctx`.
    pub fn mail(&self, name: &str, ctx: &Value) -> Text {
        let problem = match self.render(name, ctx) {
            Ok((subject, body)) => {
                return Text {
                    subject,
                    body,
                    trouble: None,
                }
            }
            Err(problem) => problem,
        };
        if !self.edited {
            return unrenderable(problem);
        }
        match Texts::builtin().render(name, ctx) {
            Ok((subject, body)) => Text {
                subject,
                body,
                trouble: Some(Trouble::FellBack(problem)),
            },
            Err(problem) => unrenderable(problem),
        }
    }

    /// Renders page template `name` with `ctx` (HTML escaped; the stylesheet as it is).
    pub fn render_page(&self, name: &str, ctx: &Value) -> Result<String, TextProblem> {
        self.run(name, ctx)
    }

    /// The page: this set's, or the built-in one (with the problem) if this set's fails.
    pub fn page(&self, name: &str, ctx: &Value) -> (String, Option<TextProblem>) {
        match self.render_page(name, ctx) {
            Ok(page) => (page, None),
            Err(problem) if self.edited => match Texts::builtin().render_page(name, ctx) {
                Ok(page) => (page, Some(problem)),
                Err(_) => (String::new(), Some(problem)),
            },
            Err(problem) => (String::new(), Some(problem)),
        }
    }

    /// Variables template `name` (with its parts) uses that it does not set itself,
    /// `ticket.code` style: `templates` compares them with what it gives.
    pub fn variables(&self, name: &str) -> Vec<String> {
        let mut found: Vec<String> = [name.to_string(), format!("{name}{SUBJECT}")]
            .iter()
            .filter_map(|n| self.env.get_template(n).ok())
            .flat_map(|t| t.undeclared_variables(true))
            .collect();
        let globals: Vec<&str> = self.env.globals().map(|(name, _)| name).collect();
        found.retain(|v| !globals.contains(&v.split('.').next().unwrap_or("")));
        found.sort();
        found.dedup();
        found
    }

    /// The problem of template `name` using `variable`, which its mail does not give;
    /// at the first line of the file that names it.
    pub fn unknown_variable(&self, name: &str, variable: &str) -> TextProblem {
        // Its whole name where written so, else its last part (`{{ t.cliente }}` inside a
        // `{% with t = ticket %}`).
        let last = variable.rsplit('.').next().unwrap_or(variable);
        let offset = self.loaded.get(name).map_or(0, |l| l.body_offset);
        let subject = self
            .env
            .get_template(&format!("{name}{SUBJECT}"))
            .ok()
            .filter(|t| t.source().contains(variable))
            .and_then(|_| self.loaded.get(name).map(|l| l.subject_line));
        let body = self.env.get_template(name).ok().and_then(|t| {
            let lines: Vec<&str> = t.source().lines().collect();
            let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
            at(variable).or_else(|| at(last)).map(|i| i + 1 + offset)
        });
        TextProblem {
            file: self.file(name),
            line: subject.or(body),
            message: format!("unknown variable `{variable}`: this mail does not give it"),
        }
    }

    /// The source in force of `name` as the file reads (for export and line lookups).
    pub fn file(&self, name: &str) -> String {
        match self.loaded.get(name).map(|l| &l.origin) {
            Some(Origin::File(file)) => file.clone(),
            _ => name.to_string(),
        }
    }

    fn run(&self, name: &str, ctx: &Value) -> Result<String, TextProblem> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| self.problem(&e))
    }

    /// The innermost error (an include's own), named by the file and line it is at.
    fn problem(&self, error: &minijinja::Error) -> TextProblem {
        let mut inner = error;
        while let Some(next) =
            std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
        {
            inner = next;
        }
        let internal = inner.name().unwrap_or("");
        let (name, is_subject) = match internal.strip_suffix(SUBJECT) {
            Some(name) => (name, true),
            None => (internal, false),
        };
        let loaded = self.loaded.get(name);
        let line = inner.line().map(|l| match (loaded, is_subject) {
            (Some(loaded), true) => loaded.subject_line,
            (Some(loaded), false) => l + loaded.body_offset,
            (None, _) => l,
        });
        TextProblem {
            file: self.file(name),
            line,
            message: describe(inner),
        }
    }
}

fn unrenderable(problem: TextProblem) -> Text {
    Text {
        subject: String::new(),
        body: String::new(),
        trouble: Some(Trouble::Unrenderable(problem)),
    }
}

/// Every template name, in `BUILTIN` order.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

/// Whether `name` is a part other templates include, not a mail of its own.
pub fn is_part(name: &str) -> bool {
    name.starts_with('_')
}

/// Whether `name` is rendered whole, with no subject line: one of the portal's pages (or
/// their layout, or their stylesheet), or a document such as the GDPR export's LEGGIMI.txt.
pub fn is_page(name: &str) -> bool {
    name.ends_with(".html.j2") || name.ends_with(".css.j2") || name.ends_with(".txt.j2")
}

fn file_of(origin: &Origin, name: &str) -> String {
    match origin {
        Origin::File(file) => file.clone(),
        Origin::BuiltIn => name.to_string(),
    }
}

/// Line ends as Unix writes them, without a byte-order mark: a file saved on Windows
/// renders as the same mail.
fn normalize(source: &str) -> String {
    source
        .strip_prefix('\u{feff}')
        .unwrap_or(source)
        .replace("\r\n", "\n")
}

/// What the problem is, in a sentence; minijinja's own words with its kind.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.kind() {
        ErrorKind::UndefinedError => "unknown variable or attribute",
        ErrorKind::OutOfFuel => "the template runs too long (a loop that does not end?)",
        ErrorKind::SyntaxError => "syntax error",
        ErrorKind::UnknownFilter => "unknown filter",
        ErrorKind::UnknownFunction => "unknown function",
        ErrorKind::TemplateNotFound => "includes a template that does not exist",
        _ => "",
    };
    match (what, e.detail()) {
        ("", Some(detail)) => format!("{}: {detail}", e.kind()),
        ("", None) => e.kind().to_string(),
        (what, Some(detail)) => format!("{what}: {detail}"),
        (what, None) => what.to_string(),
    }
}

/// The Jinja dialect of every set: block tags on their own line leave no blank line,
/// the final newline stays, anything undefined is an error, `.html` auto-escapes.
fn environment(edited: bool) -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default();
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(edited.then_some(FUEL));
    env.add_filter("quote", quote);
    env.add_filter("il", |date: &str| article(date, "il ", "l'"));
    env.add_filter("del", |date: &str| article(date, "del ", "dell'"));
    env.add_filter("al", |date: &str| article(date, "al ", "all'"));
    env.add_filter("dal", |date: &str| article(date, "dal ", "dall'"));
    env
}

/// A date as the texts write it (`10 marzo 2026`, `10 marzo 2026 alle 10:05`) after an
/// article or articulated preposition: `il 10 marzo`, but `l'8 marzo`, `l'11 marzo` and
/// `l'1 marzo` (and `dall'8/12`), since otto, undici and uno start with a vowel. `full` is the form with its
/// space (`"al "`), `elided` the one with the apostrophe (`"all'"`).
pub fn article(date: &str, full: &str, elided: &str) -> String {
    let digits = date.bytes().take_while(u8::is_ascii_digit).count();
    if matches!(&date[..digits], "1" | "8" | "11") {
        format!("{elided}{date}")
    } else {
        format!("{full}{date}")
    }
}

/// `{{ text | quote }}`: every line prefixed with `> `, as mail clients quote.
fn quote(text: &str) -> String {
    text.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Adds `name` to `env`: a part whole; a message as its subject line and its body.
/// Returns the subject's line and the lines before the body.
fn add(
    env: &mut Environment<'static>,
    name: &'static str,
    source: String,
    origin: &Origin,
) -> Result<(usize, usize), TextProblem> {
    let problem = |line: Option<usize>, message: String| TextProblem {
        file: file_of(origin, name),
        line,
        message,
    };
    let compile_error =
        |e: minijinja::Error, offset: usize| problem(e.line().map(|l| l + offset), describe(&e));
    if is_part(name) || is_page(name) {
        env.add_template_owned(name, source)
            .map_err(|e| compile_error(e, 0))?;
        return Ok((0, 0));
    }
    let split = split_mail(&source).map_err(|(line, m)| problem(Some(line), m.into()))?;
    env.add_template_owned(format!("{name}{SUBJECT}"), split.subject.to_string())
        .map_err(|e| compile_error(e, split.subject_line - 1))?;
    let body = split.body.to_string();
    env.add_template_owned(name, body)
        .map_err(|e| compile_error(e, split.body_offset))?;
    Ok((split.subject_line, split.body_offset))
}

/// A message template's parts.
struct Split<'a> {
    subject: &'a str,
    /// 1-based line of `Subject:`.
    subject_line: usize,
    body: &'a str,
    /// Lines before the body.
    body_offset: usize,
}

/// Finds, after any leading comments and blank lines, `Subject: …`, a blank line and
/// the body. A problem is its line and what is wrong.
fn split_mail(source: &str) -> Result<Split<'_>, (usize, &'static str)> {
    let mut rest = source;
    loop {
        let trimmed = rest.trim_start();
        match trimmed.strip_prefix("{#") {
            Some(after) => match after.find("#}") {
                Some(end) => rest = &after[end + 2..],
                None => return Err((line_at(source, trimmed), "a comment that never ends")),
            },
            None => {
                rest = trimmed;
                break;
            }
        }
    }
    let subject_line = line_at(source, rest);
    const SHAPE: &str = "a message template starts with `Subject: …`, then a blank line, then \
                         the body";
    let Some(after) = rest.strip_prefix("Subject:") else {
        return Err((subject_line, SHAPE));
    };
    let (subject, after) = after.split_once('\n').unwrap_or((after, ""));
    let Some(body) = after.strip_prefix('\n') else {
        return Err((subject_line + 1, SHAPE));
    };
    Ok(Split {
        subject: subject.trim(),
        subject_line,
        body,
        body_offset: subject_line + 1,
    })
}

/// The 1-based line `part` (a slice of `source`) starts on.
fn line_at(source: &str, part: &str) -> usize {
    let at = part.as_ptr() as usize - source.as_ptr() as usize;
    source[..at].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn file(name: &str, source: &str) -> (String, String, Origin) {
        (
            name.to_string(),
            source.to_string(),
            Origin::File(format!("/etc/assistenza/templates/{name}")),
        )
    }

    #[test]
    fn an_article_before_a_date_is_elided_before_otto_undici_and_uno() {
        let ok = Texts::compile(vec![file(
            "relay.j2",
            "Subject: x\n\n{{ a | il }}, {{ b | del }}, {{ c | dal }} {{ d | al }}.\n",
        )])
        .expect("compiles");
        let ctx = context! { a => "8 marzo 2026", b => "11 marzo 2026 alle 10:05",
        c => "1 marzo 2026", d => "10 marzo 2026" };
        assert_eq!(
            ok.render("relay.j2", &ctx).expect("renders").1,
            "l'8 marzo 2026, dell'11 marzo 2026 alle 10:05, dall'1 marzo 2026 al 10 marzo 2026.\n"
        );
        assert_eq!(article("18 marzo", "al ", "all'"), "al 18 marzo");
        assert_eq!(article("81 giorni", "il ", "l'"), "il 81 giorni");
        assert_eq!(article("8/12", "dal ", "dall'"), "dall'8/12");
        assert_eq!(article("lunedì 8 marzo", "il ", "l'"), "il lunedì 8 marzo");
    }

    #[test]
    fn a_file_reads_like_a_mail_and_problems_name_file_and_line() {
        let ok = Texts::compile(vec![file(
            "relay.j2",
            "{# a comment\n over lines #}\nSubject: [{{ ticket.code }}] Ciao\n\nTesto {{ text }}\n",
        )])
        .expect("compiles");
        let ctx = context! { ticket => context! { code => "KZ-1" }, text => "x" };
        assert_eq!(
            ok.render("relay.j2", &ctx).expect("renders"),
            ("[KZ-1] Ciao".to_string(), "Testo x\n".to_string())
        );
        let broken = Texts::compile(vec![file("relay.j2", "Subject: x\n\nuno\ndue\n{% if %}\n")])
            .expect_err("syntax error");
        assert_eq!(broken[0].file, "/etc/assistenza/templates/relay.j2");
        assert_eq!(broken[0].line, Some(5), "{:?}", broken[0]);
        let unknown = ok.render("relay.j2", &context! { text => "x" });
        assert_eq!(unknown.expect_err("strict").line, Some(3));
    }

    #[test]
    fn a_missing_subject_an_empty_one_and_a_runaway_loop_are_refused() {
        let no_subject = Texts::compile(vec![file("ack.j2", "Gentile cliente\n")]);
        assert!(no_subject.expect_err("shape")[0]
            .message
            .contains("Subject:"));
        let texts = Texts::compile(vec![
            file("relay.j2", "Subject: {{ '' }}\n\nx\n"),
            file(
                "closure.j2",
                "Subject: x\n\n{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}\n",
            ),
        ])
        .expect("compiles");
        let empty = texts.render("relay.j2", &context! {}).expect_err("empty");
        assert_eq!(
            (empty.line, empty.message.as_str()),
            (Some(1), "the subject renders empty")
        );
        let runaway = texts.render("closure.j2", &context! {}).expect_err("fuel");
        assert!(runaway.message.contains("too long"), "{runaway}");
    }

    #[test]
    fn the_subject_is_one_line_whatever_a_value_holds() {
        let texts = Texts::compile(vec![file("relay.j2", "Subject: a {{ x }} b\n\nx\n")])
            .expect("compiles");
        let (subject, _) = texts
            .render("relay.j2", &context! { x => "\r\nBcc: x@y.it\u{7}" })
            .expect("renders");
        assert_eq!(subject, "a Bcc: x@y.it b");
    }

    #[test]
    fn an_edited_template_that_fails_falls_back_to_the_built_in() {
        let texts =
            Texts::compile(vec![file("relay.j2", "Subject: x\n\n{{ nope }}\n")]).expect("ok");
        let ctx = context! {
            ticket => context! { code => "KZ-1" },
            text => "Ecco",
            operator => "Giulia",
            desk => context! { name => "D", address => "a@b.it", hours => "h" },
        };
        let text = texts.mail("relay.j2", &ctx);
        assert!(
            matches!(text.trouble, Some(Trouble::FellBack(_))),
            "{text:?}"
        );
        assert!(
            text.body.starts_with("Ecco\n\nGiulia — D\n"),
            "{}",
            text.body
        );
    }

    #[test]
    fn an_unknown_file_name_is_refused_with_the_names_that_exist() {
        let problems = Texts::compile(vec![file("ak.j2", "Subject: x\n\ny\n")]).expect_err("name");
        assert!(problems[0].message.contains("ack.j2"), "{:?}", problems[0]);
    }

    #[test]
    fn html_templates_escape_values_and_mail_templates_do_not() {
        let mut env = environment(true);
        env.add_template_owned("page.html.j2", "<p>{{ x }}</p>")
            .expect("compiles");
        env.add_template_owned("mail.j2", "{{ x }}")
            .expect("compiles");
        let x = context! { x => "<script>&" };
        let html = env.get_template("page.html.j2").and_then(|t| t.render(&x));
        assert_eq!(html.expect("renders"), "<p>&lt;script&gt;&amp;</p>");
        let text = env.get_template("mail.j2").and_then(|t| t.render(&x));
        assert_eq!(text.expect("renders"), "<script>&");
    }

    #[test]
    fn windows_line_ends_render_as_unix_ones() {
        let texts = Texts::compile(vec![file("relay.j2", "Subject: x\r\n\r\nuno\r\ndue\r\n")])
            .expect("compiles");
        assert_eq!(
            texts.render("relay.j2", &context! {}).expect("ok").1,
            "uno\ndue\n"
        );
    }
}
