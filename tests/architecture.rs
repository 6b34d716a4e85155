//! The layout holds: read as text, the library and the job have no import cycles
//! between their modules, event modules never import each other, the domain imports no
//! adapter, and no product file grows past ~700 lines without saying why at its top.
//!
//! Imports are read from `use crate::…`/`use super::…` lines and inline `crate::…`
//! paths; a name a parent module re-exports (`pub use`) resolves to the module that
//! defines it, so `crate::domain::Profile` counts as `domain::profile`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates whose modules are checked, by source root.
const CRATES: &[&str] = &["shared/src", "jobs/job/src", "jobs/models/src"];

/// Longest product file without a reason stated at its top.
const MAX_LINES: usize = 700;

/// The words that state such a reason in a file's `//!` header.
const LONG_FILE_NOTE: &str = "Long file:";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `domain/events/purchase.rs` → `domain::events::purchase`; `lib.rs` → `` (the root).
fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("file under its root");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The source without comments and string literals, so that a path in a doc comment or
/// a message is not taken for an import.
fn code_only(source: &str) -> String {
    source
        .lines()
        .map(|line| {
            let line = line.split("//").next().unwrap_or_default();
            let mut out = String::new();
            let mut in_string = false;
            let mut previous = ' ';
            for c in line.chars() {
                if c == '"' && previous != '\\' {
                    in_string = !in_string;
                } else if !in_string {
                    out.push(c);
                }
                previous = c;
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b::…` and `super::…` path in `code`, as segments from the crate root.
fn paths(module: &str, text: &str) -> Vec<Vec<String>> {
    // In `a/b.rs` and in `a/b/mod.rs` alike (module `a::b`), `super` is `a`.
    let mut parent: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    parent.pop();
    let mut found = Vec::new();
    for (start, keyword) in text
        .match_indices("crate::")
        .map(|(i, _)| (i, "crate::"))
        .chain(text.match_indices("super::").map(|(i, _)| (i, "super::")))
    {
        let before = text[..start].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[start + keyword.len()..];
        let mut segments: Vec<String> = if keyword == "super::" {
            parent.clone()
        } else {
            Vec::new()
        };
        // `crate::{a, b::c}` and `crate::a::{b, c}` give one path per leaf.
        collect_tree(rest, &mut segments, &mut found);
    }
    found
}

/// Reads a use tree starting at `rest`, pushing every full path.
fn collect_tree(rest: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let ident: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        item.push(c);
                    }
                    '}' if depth == 0 => break,
                    '}' => {
                        depth -= 1;
                        item.push(c);
                    }
                    ',' if depth == 0 => {
                        let mut p = prefix.clone();
                        collect_tree(item.trim(), &mut p, out);
                        item.clear();
                    }
                    _ => item.push(c),
                }
            }
            if !item.trim().is_empty() {
                let mut p = prefix.clone();
                collect_tree(item.trim(), &mut p, out);
            }
        } else {
            out.push(prefix.clone());
        }
        return;
    }
    if ident == "super" {
        prefix.pop();
    } else if ident != "self" {
        prefix.push(ident.clone());
    }
    match rest[ident.len()..].strip_prefix("::") {
        Some(next) => collect_tree(next, prefix, out),
        None => out.push(prefix.clone()),
    }
}

/// One crate's modules, their re-exports and their imports.
struct Crate {
    /// Module → the source without comments and strings.
    code: BTreeMap<String, String>,
    /// `(module, name)` re-exported by `pub use` → the module it comes from.
    reexports: BTreeMap<(String, String), Vec<String>>,
}

impl Crate {
    fn read(root: &Path) -> Self {
        let mut files = Vec::new();
        rust_files(root, &mut files);
        let mut code = BTreeMap::new();
        let mut reexports = BTreeMap::new();
        for file in files {
            let module = module_of(root, &file);
            let source = code_only(&std::fs::read_to_string(&file).expect("source file"));
            for line in source.lines() {
                let Some(tree) = line.trim().strip_prefix("pub use ") else {
                    continue;
                };
                let mut leaves = Vec::new();
                let mut prefix: Vec<String> = module
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let tree = tree.trim_end_matches(';');
                let tree = tree.strip_prefix("crate::").map_or_else(
                    || tree.to_owned(),
                    |t| {
                        prefix.clear();
                        t.to_owned()
                    },
                );
                collect_tree(&tree, &mut prefix, &mut leaves);
                for leaf in leaves {
                    if let Some((name, from)) = leaf.split_last() {
                        reexports.insert((module.clone(), name.clone()), from.to_vec());
                    }
                }
            }
            code.insert(module, source);
        }
        Self { code, reexports }
    }

    /// The module a path points into: the longest known module prefix, with names a
    /// module re-exports followed to where they are defined.
    fn resolve(&self, path: &[String]) -> Option<String> {
        let mut depth = path.len();
        while depth > 0 {
            let candidate = path[..depth].join("::");
            if self.code.contains_key(&candidate) {
                if let Some(name) = path.get(depth)
                    && let Some(from) = self.reexports.get(&(candidate.clone(), name.clone()))
                    && from.as_slice() != &path[..depth]
                {
                    let mut followed = from.clone();
                    followed.extend_from_slice(&path[depth..]);
                    return self.resolve(&followed).or(Some(candidate));
                }
                return Some(candidate);
            }
            depth -= 1;
        }
        None
    }

    /// Module → the modules it imports (re-exports of its own children left out).
    fn imports(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph = BTreeMap::new();
        for (module, code) in &self.code {
            let mut targets = BTreeSet::new();
            let own_code: String = code
                .lines()
                .filter(|l| !l.trim().starts_with("pub use ") && !l.trim().starts_with("pub mod "))
                .collect::<Vec<_>>()
                .join("\n");
            for path in paths(module, &own_code) {
                // A module may always use its ancestors' items (errors, re-exports).
                if let Some(target) = self.resolve(&path)
                    && !target.is_empty()
                    && *module != target
                    && !module.starts_with(&format!("{target}::"))
                {
                    targets.insert(target);
                }
            }
            graph.insert(module.clone(), targets);
        }
        graph
    }
}

/// Strongly connected groups of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn graph_of(root: &str) -> BTreeMap<String, BTreeSet<String>> {
    Crate::read(&repo().join(root)).imports()
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for root in CRATES {
        let found = cycles(&graph_of(root));
        assert!(found.is_empty(), "{root}: import cycles {found:#?}");
    }
}

#[test]
fn event_modules_never_import_each_other() {
    let graph = graph_of("shared/src");
    for (module, targets) in &graph {
        if let Some(event) = module.strip_prefix("domain::events::") {
            for target in targets {
                assert!(
                    !target.starts_with("domain::events::"),
                    "event {event} imports {target}"
                );
            }
        }
    }
}

#[test]
fn the_domain_imports_no_adapter_and_the_store_decides_no_request() {
    let graph = graph_of("shared/src");
    let outside_domain = [
        "store",
        "service",
        "http",
        "mail",
        "auth",
        "bootstrap",
        "config",
        "shop_api",
    ];
    let outside_store = [
        "service",
        "http",
        "mail",
        "auth",
        "bootstrap",
        "config",
        "shop_api",
    ];
    for (module, targets) in &graph {
        let forbidden: &[&str] = if module.starts_with("domain") {
            &outside_domain
        } else if module.starts_with("store") {
            &outside_store
        } else {
            continue;
        };
        for target in targets {
            let top = target.split("::").next().unwrap_or_default();
            assert!(!forbidden.contains(&top), "{module} imports {target}");
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_owned(), t.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&graph), [vec!["a", "b", "c"]]);
    let mut found = Vec::new();
    collect_tree(
        "domain::{Profile, events::{purchase::X, review}}",
        &mut Vec::new(),
        &mut found,
    );
    assert_eq!(
        found,
        [
            vec!["domain", "Profile"],
            vec!["domain", "events", "purchase", "X"],
            vec!["domain", "events", "review"],
        ]
    );
}

#[test]
fn no_product_file_is_long_without_saying_why() {
    let mut long = Vec::new();
    for root in CRATES.iter().chain(&["functions/src", "infra/local/src"]) {
        let mut files = Vec::new();
        rust_files(&repo().join(root), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source file");
            let lines = text.lines().count();
            let header: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            if lines > MAX_LINES && !header.contains(LONG_FILE_NOTE) {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines without a `{LONG_FILE_NOTE}` note: {long:#?}"
    );
}
