//! `[templates] dir`: the agency's own texts. Every `*.j2` file of the folder is read
//! and compiled in place of the built-in of the same name, then rendered against every
//! sample situation; a set with any problem is refused whole, each problem naming the
//! file and the line, so a broken edit never reaches a customer.

use std::path::Path;

use crate::core::decision::Settings;
use crate::core::templates::samples;
use crate::core::texts::{Origin, Texts};

use super::Problem;

const KEY: &str = "templates.dir";

/// The set in force with the files of `dir`, checked against `settings` (which hold the
/// operators, teams and hours the samples use).
pub(super) fn load(dir: &Path, settings: &Settings) -> Result<Texts, Vec<Problem>> {
    let problem = |message: String| Problem {
        key: KEY.into(),
        message,
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let files = read(&dir).map_err(|m| vec![problem(m)])?;
    let texts = Texts::compile(files).map_err(|ps| {
        ps.iter()
            .map(|p| problem(p.to_string()))
            .collect::<Vec<_>>()
    })?;
    let problems: Vec<Problem> = samples::check(&texts, settings)
        .iter()
        .map(|p| problem(p.to_string()))
        .collect();
    if problems.is_empty() {
        Ok(texts)
    } else {
        Err(problems)
    }
}

/// Every `*.j2` file of `dir` (hidden ones, like an editor's lock files, left out),
/// sorted by name, with its text.
fn read(dir: &Path) -> Result<Vec<(String, String, Origin)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    let mut files = vec![];
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || !name.ends_with(".j2") || path.is_dir() {
            continue;
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        files.push((name, source, Origin::File(path.display().to_string())));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::MailKind;
    use crate::core::templates::samples::{sample_ticket, situations};
    use crate::core::texts::BUILTIN;

    fn settings() -> Settings {
        let texts = Texts::builtin();
        let cfg = crate::config::Config::from_toml_str(
            "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"P\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nfrom = \"assistenza@kzweb.it\"\n",
            Path::new("/etc/assistenza/config.toml"),
            &|_| Some("secret".into()),
        )
        .expect("a valid config");
        Settings {
            texts,
            ..cfg.settings
        }
    }

    #[test]
    fn exported_built_ins_load_back_to_byte_identical_mails_of_every_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, source) in BUILTIN {
            std::fs::write(dir.path().join(name), source).expect("export");
        }
        let settings = settings();
        let loaded = load(dir.path(), &settings).expect("the exported set loads");
        assert!(loaded
            .origins()
            .iter()
            .all(|(_, o)| matches!(o, Origin::File(_))));
        let all = situations(&settings, &sample_ticket());
        for kind in MailKind::ALL {
            let mine: Vec<_> = all.iter().filter(|s| s.kind == kind).collect();
            assert!(!mine.is_empty(), "{kind:?}");
            for s in mine {
                let name = kind.template();
                assert_eq!(
                    loaded.render(name, &s.values),
                    settings.texts.render(name, &s.values),
                    "{name} in {:?}",
                    s.label
                );
            }
        }
    }

    #[test]
    fn a_broken_file_is_named_with_its_line_and_the_set_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broken = BUILTIN
            .iter()
            .find(|(n, _)| *n == "closure.j2")
            .map(|(_, s)| s.replace("{% if text %}", "{% iff text %}"))
            .expect("closure.j2");
        std::fs::write(dir.path().join("closure.j2"), &broken).expect("write");
        std::fs::write(dir.path().join("README"), "not a template").expect("write");
        let problems = load(dir.path(), &settings()).expect_err("refused");
        let line = broken
            .lines()
            .position(|l| l.starts_with("{% iff text %}"))
            .expect("the line")
            + 1;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, KEY);
        assert!(
            problems[0]
                .message
                .contains(&format!("closure.j2:{line}: syntax error")),
            "{problems:?}"
        );
    }
}
