//! `docs/templates.md` and the comment at the top of every built-in template list the
//! variables each mail gives; this test keeps both in step with the code that gives them.

use std::collections::BTreeSet;
use std::path::Path;

use assistenza::config::Config;
use assistenza::core::decision::MailKind;
use assistenza::core::templates::pages;
use assistenza::core::templates::samples::{sample_ticket, situations, variables_of};
use assistenza::core::texts::{is_page, is_part, BUILTIN};

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/templates.md");
    std::fs::read_to_string(path).expect("docs/templates.md")
}

/// What the code gives template `name`: leaves only (`ticket.code`, not `ticket`), the
/// desk's own left out (documented once for all).
fn given(name: &str) -> BTreeSet<String> {
    let cfg = Config::from_toml_str(
        "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"P\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n",
        Path::new("/etc/assistenza/config.toml"),
        &|_| Some("secret".into()),
    )
    .expect("config");
    let all: BTreeSet<String> = situations(&cfg.settings, &sample_ticket())
        .iter()
        .filter(|s| s.kind.template() == name)
        .flat_map(|s| variables_of(&s.values))
        .collect();
    all.iter()
        .filter(|v| !v.starts_with("desk"))
        .filter(|v| !all.iter().any(|w| w.starts_with(&format!("{v}."))))
        .cloned()
        .collect()
}

/// The variables of `### name` in the docs' tables.
fn documented(docs: &str, name: &str) -> BTreeSet<String> {
    let section = docs
        .split(&format!("### {name}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/templates.md has no section {name}"));
    let section = section.split("\n### ").next().unwrap_or("");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// The variables the comment block of the built-in file lists (`- a, b: what`).
fn commented(source: &str) -> BTreeSet<String> {
    let block = source.split("#}").next().unwrap_or("");
    let list = block.split("Variables:").nth(1).unwrap_or("");
    list.lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .flat_map(|l| l.split(": ").next().unwrap_or("").split(", "))
        .map(str::trim)
        .filter(|v| !v.starts_with("desk."))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_mail_documents_exactly_the_variables_it_is_given() {
    let docs = docs();
    for kind in MailKind::ALL {
        let name = kind.template();
        let source = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .expect("a built-in for every mail");
        let given = given(name);
        assert!(!given.is_empty(), "{name}");
        assert_eq!(documented(&docs, name), given, "docs/templates.md, {name}");
        assert_eq!(commented(source), given, "the comment of templates/{name}");
    }
}

#[test]
fn every_template_has_a_section_and_every_section_a_template() {
    let docs = docs();
    let sections: BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    let names: BTreeSet<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    assert_eq!(sections, names);
    assert!(names.iter().any(|n| is_part(n)));
}

/// A page's documented variables are those of its comment, and each is one its page is
/// given in some sample situation (the layout is held to any page's).
#[test]
fn every_page_documents_the_variables_of_its_comment_and_is_given_them() {
    let docs = docs();
    let cfg = Config::from_toml_str(
        "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"P\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n",
        Path::new("/etc/assistenza/config.toml"),
        &|_| Some("secret".into()),
    )
    .expect("config");
    let situations = pages::situations(&cfg.settings);
    for (name, source) in BUILTIN.iter().filter(|(n, _)| is_page(n)) {
        let comment = commented(source);
        assert_eq!(
            documented(&docs, name),
            comment,
            "docs/templates.md, {name}"
        );
        let given: BTreeSet<String> = situations
            .iter()
            .filter(|(p, _, _)| p.template() == *name || name.starts_with('_'))
            .flat_map(|(_, _, values)| variables_of(values))
            .collect();
        for variable in &comment {
            assert!(
                given.contains(variable),
                "{name} documents {variable}, never given"
            );
        }
    }
}
