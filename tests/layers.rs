//! Imports only run down: core ← config ← mail ← store ← metrics ← pipeline ← web ← daemon ← cli, and
//! inside the core the rule files import the vocabulary, never each other's way back.
//! No two modules of `src/` import each other, directly or around a loop. This test reads
//! the `crate::…` and `super::…` paths of the production code (test modules left out)
//! and keeps that so, rather than hoping it stays so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The shell's layers, lowest first: a module may use those before it, never after.
const LAYERS: &[&str] = &[
    "core", "config", "mail", "store", "metrics", "pipeline", "web", "daemon", "cli",
];

/// Every production `.rs` file under `dir`: test files left out.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            files.extend(sources(&path));
        } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") && name != "tests.rs" {
            files.push(path);
        }
    }
    files
}

/// The code of a file before its test module, comments left out.
fn production_code(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("readable");
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| l.split("//").next().unwrap_or("").to_string())
        .collect()
}

/// `src/core/templates/customer.rs` → `["core", "templates", "customer"]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The modules a file's code names, as paths from the crate root: `crate::a::b`, and
/// `super::b` (or `super::super::b`) counted up from the file's own module.
fn named(module: &[String], code: &[String]) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let joined = code.join("\n");
    for (i, _) in joined.match_indices("crate::") {
        found.insert(path_at(&joined[i + "crate::".len()..]));
    }
    for (i, _) in joined.match_indices("super::") {
        if joined[..i].ends_with("super::") {
            continue; // counted from the first `super::` of the chain
        }
        let mut rest = &joined[i..];
        let mut up = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            up += 1;
        }
        let mut path = module[..module.len().saturating_sub(up)].to_vec();
        path.extend(path_at(rest));
        found.insert(path);
    }
    found
}

/// The identifiers of a path (`core::decision::{A, B}` → `["core", "decision"]`): as far
/// as they are lower-case module names.
fn path_at(text: &str) -> Vec<String> {
    text.split("::")
        .map_while(|seg| {
            let word: String = seg
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let whole = word.len() == seg.len();
            (!word.is_empty() && word.chars().all(|c| !c.is_ascii_uppercase()))
                .then_some((word, whole))
        })
        .scan(true, |go, (word, whole)| {
            let take = *go;
            *go = whole;
            take.then_some(word)
        })
        .collect()
}

/// The node a module path counts as: a top-level module, or inside the core a file of
/// `core/` (a folder such as `core/templates/` is one node).
fn node(path: &[String], depth: usize) -> String {
    path.iter()
        .take(depth)
        .cloned()
        .collect::<Vec<_>>()
        .join("::")
}

/// Whether module `path` is `within` or inside it (`""` is the whole crate).
fn inside(path: &str, within: &str) -> bool {
    within.is_empty() || path == within || path.starts_with(&format!("{within}::"))
}

/// Every edge `from → to` between distinct nodes at `depth` (1: top level, 2: the files
/// of a folder such as `core/`; a sub-folder such as `core/templates/` is one node), for
/// the files inside `within`. The folder's own `mod.rs` is left out: it declares and
/// re-exports its files.
fn edges(within: &str, depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let module = module_path(&src, &file);
        let from = node(&module, depth);
        if module.first().map(String::as_str) == Some("main")
            || !inside(&from, within)
            || from == within
        {
            continue;
        }
        for to in named(&module, &production_code(&file)) {
            let to = node(&to, depth);
            if to.split("::").count() == depth && inside(&to, within) && to != from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// A loop in `graph`, if there is one, as the nodes around it.
fn a_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut vec![], &mut done))
}

#[test]
fn no_two_modules_import_each_other_around_any_loop() {
    let top = edges("", 1);
    assert!(
        top.len() >= 6,
        "the top-level modules were not read: {top:?}"
    );
    assert_eq!(
        a_loop(&top),
        None,
        "an import loop between modules: {top:?}"
    );
    let core = edges("core", 2);
    assert!(
        core.get("core::decide")
            .is_some_and(|to| to.contains("core::decision")),
        "the core's files were not read: {core:?}"
    );
    assert_eq!(
        a_loop(&core),
        None,
        "an import loop inside the core: {core:?}"
    );
}

#[test]
fn no_two_files_of_a_folder_import_each_other_around_any_loop() {
    assert!(
        edges("core", 2).len() >= 8,
        "the core's files were not read"
    );
    for folder in ["core", "store", "mail", "web", "daemon", "cli"] {
        let graph = edges(folder, 2);
        assert_eq!(
            a_loop(&graph),
            None,
            "an import loop in {folder}/: {graph:?}"
        );
    }
}

#[test]
fn imports_only_run_down_the_layers() {
    let top = edges("", 1);
    for (from, tos) in &top {
        let Some(rank) = LAYERS.iter().position(|l| l == from) else {
            continue;
        };
        for to in tos {
            if let Some(to_rank) = LAYERS.iter().position(|l| l == to) {
                assert!(to_rank < rank, "{from} imports {to}, a layer above it");
            }
        }
    }
}

#[test]
fn the_vocabulary_and_the_state_machine_import_no_rule_file() {
    let core = edges("core", 2);
    let rules = [
        "request",
        "customer",
        "operators",
        "bounce",
        "timers",
        "failed",
        "limit",
        "decide",
    ];
    for low in ["core::decision", "core::ticket", "core::templates"] {
        for to in core.get(low).into_iter().flatten() {
            assert!(
                !rules.iter().any(|r| to == &format!("core::{r}")),
                "{low} imports the rule file {to}"
            );
        }
    }
}
