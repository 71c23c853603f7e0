//! The layers import one way. Reads every module's `crate::` and `super::` paths and
//! fails on:
//! * a cycle between top-level modules of `src/`;
//! * an import that goes up the layer order ARCHITECTURE.md states (between its
//!   `<!-- layers -->` markers), or names a module the order leaves out;
//! * a cycle between the files of one folder (its `mod.rs` aside: a folder's own root
//!   may use its files, and its files may use what the root declares).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One module file: its path in the crate (`["store", "ingest", "feeds"]`) and text.
struct Module {
    path: Vec<String>,
    file: PathBuf,
    text: String,
}

fn modules(src: &Path) -> Vec<Module> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path();
            if file.is_dir() {
                stack.push(file);
                continue;
            }
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = file.strip_prefix(src).unwrap();
            let mut path: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            let last = path.pop().unwrap();
            match last.as_str() {
                "mod.rs" => {}
                "lib.rs" | "main.rs" if path.is_empty() => {}
                name => path.push(name.trim_end_matches(".rs").to_string()),
            }
            out.push(Module { path, text: std::fs::read_to_string(&file).unwrap(), file });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The text without comments and string literals (a doc comment may name any module).
fn code_only(text: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !is_ident(b[i - 1])) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push(b'r');
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.extend_from_slice(b"\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.extend_from_slice(b"\"\"");
            }
            // A char literal ('"', '{'), not a lifetime ('a).
            b'\'' if b.get(i + 2) == Some(&b'\'') || (b.get(i + 1) == Some(&b'\\')) => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.extend_from_slice(b"' '");
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The identifier that starts at `i` (empty if none).
fn word_at(b: &[u8], i: usize) -> String {
    let n = b[i.min(b.len())..].iter().take_while(|&&c| is_ident(c)).count();
    String::from_utf8_lossy(&b[i..i + n]).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every path that starts at `crate::` or `super::` in `code`, as the module paths it
/// reaches, resolved against `at` (the module `code` is in; inline `mod x { … }` blocks
/// are followed, so `super::` in a `mod tests` means the file's own module).
fn references(code: &str, at: &[String]) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    // Inline modules open at a brace depth and close when it returns there.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_ident(b[i - 1]) && b[i - 1] != b':';
        if b[i] == b'{' {
            depth += 1;
        } else if b[i] == b'}' {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
        } else if boundary && b[i..].starts_with(b"mod ") {
            let name = word_at(b, i + 4);
            let after = b[i + 4 + name.len()..].iter().find(|c| !c.is_ascii_whitespace());
            if after == Some(&b'{') {
                inline.push((name, depth));
            }
        } else if boundary && (b[i..].starts_with(b"crate::") || b[i..].starts_with(b"super::")) {
            let mut here: Vec<String> = at.to_vec();
            here.extend(inline.iter().map(|(n, _)| n.clone()));
            let (base, start) = if b[i..].starts_with(b"crate::") {
                (Vec::new(), i + 7)
            } else {
                let mut j = i;
                let mut up = here.clone();
                while b[j..].starts_with(b"super::") {
                    up.pop();
                    j += 7;
                }
                (up, j)
            };
            let (paths, end) = tree(code, start);
            for p in paths {
                let mut full = base.clone();
                full.extend(p);
                out.push(full);
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// Reads a use-tree at `start` (`a::b::C`, `a::{b, c::D}`, `{a, b}`): its paths as
/// segments, and where it ends.
fn tree(code: &str, start: usize) -> (Vec<Vec<String>>, usize) {
    let b = code.as_bytes();
    let mut i = start;
    let mut prefix = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'{') {
            let mut paths = Vec::new();
            i += 1;
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, end) = tree(code, i);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    paths.push(full);
                }
                i = end;
            }
            return (paths, i);
        }
        let word = word_at(b, i);
        if word.is_empty() {
            return (vec![prefix], i);
        }
        i += word.len();
        prefix.push(word);
        if b[i..].starts_with(b"::") {
            i += 2;
        } else {
            // `as` renames and anything after the path do not matter.
            return (vec![prefix], i);
        }
    }
}

/// The longest prefix of `path` that is a module of the crate.
fn module_of(path: &[String], known: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p)).unwrap_or_default()
}

/// Edges between the modules of the crate: (from, to, the file that imports).
fn edges(src: &Path) -> Vec<(Vec<String>, Vec<String>, PathBuf)> {
    let modules = modules(src);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let mut out = Vec::new();
    for m in &modules {
        let code = code_only(&m.text);
        for r in references(&code, &m.path) {
            let to = module_of(&r, &known);
            if to != m.path {
                out.push((m.path.clone(), to, m.file.clone()));
            }
        }
    }
    out
}

/// A cycle in `graph`, if there is one, as the nodes along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The layer order of ARCHITECTURE.md, top first: each line a layer, its modules
/// separated by spaces.
fn stated_layers(architecture: &str) -> Vec<Vec<String>> {
    let start = architecture.find("<!-- layers -->").expect("ARCHITECTURE.md has a <!-- layers --> block");
    let end = architecture.find("<!-- /layers -->").expect("ARCHITECTURE.md closes its layers block");
    architecture[start..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("```"))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// What is wrong with the imports under `src`, against the stated `layers`.
fn problems(src: &Path, layers: &[Vec<String>]) -> Vec<String> {
    let edges = edges(src);
    let mut problems = Vec::new();

    // Top-level modules: no cycle, and every import goes down the stated order.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let rank = |m: &str| layers.iter().position(|l| l.iter().any(|x| x == m));
    for (from, to, file) in &edges {
        let (Some(a), Some(b)) = (from.first(), to.first()) else { continue };
        if a == b {
            continue;
        }
        top.entry(a.clone()).or_default().insert(b.clone());
        match (rank(a), rank(b)) {
            (Some(ra), Some(rb)) if ra >= rb => problems.push(format!(
                "{} ({a}) imports {b}, which ARCHITECTURE.md puts {} it",
                file.display(),
                if ra == rb { "on the same layer as" } else { "above" }
            )),
            (None, _) => problems.push(format!("{a} is in no layer of ARCHITECTURE.md")),
            (_, None) => problems.push(format!("{b} is in no layer of ARCHITECTURE.md")),
            _ => {}
        }
    }
    if let Some(cycle) = find_cycle(&top) {
        problems.push(format!("top-level modules import each other: {}", cycle.join(" -> ")));
    }

    // Within each folder: the folder's own files (and subfolders) import one way.
    let mut folders: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, to, _) in &edges {
        let shared = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if shared < from.len() && shared < to.len() {
            let folder = from[..shared].to_vec();
            folders.entry(folder).or_default().entry(from[shared].clone()).or_default().insert(to[shared].clone());
        }
    }
    for (folder, graph) in &folders {
        if folder.is_empty() {
            continue;
        }
        if let Some(cycle) = find_cycle(graph) {
            problems.push(format!("files of src/{} import each other: {}", folder.join("/"), cycle.join(" -> ")));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn layers_import_one_way() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let layers = stated_layers(&architecture);
    assert!(layers.len() >= 5, "{layers:?}");
    let problems = problems(&root().join("src"), &layers);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let edges = edges(&root().join("src"));
    let modules: BTreeSet<_> = edges.iter().flat_map(|(a, b, _)| [a.clone(), b.clone()]).collect();
    assert!(edges.len() > 100, "the check read only {} imports", edges.len());
    crate::support::figure(
        "layers",
        &format!(
            "{} imports between {} modules, none upward, no cycle ({} layers)",
            edges.len(),
            modules.len(),
            layers.len()
        ),
    );
}

/// The checks above, on a small crate written for the test, find what they should.
#[test]
fn the_layer_check_finds_cycles_and_upward_imports() {
    let dir = std::env::temp_dir().join(format!("kabar-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod low;\npub mod high;\npub mod store;\n");
    write("low.rs", "// crate::high in a comment is no import\nconst S: &str = \"crate::high\";\n");
    write("high.rs", "use crate::{low, store::Writer};\n");
    write("store/mod.rs", "mod a;\nmod b;\npub use a::Writer;\n");
    write("store/a.rs", "use super::b::Thing;\npub struct Writer;\n#[cfg(test)]\nmod tests { use super::*; }\n");
    write("store/b.rs", "pub struct Thing;\n");
    let layers = vec![vec!["high".to_string()], vec!["store".to_string()], vec!["low".to_string()]];
    assert_eq!(problems(&dir, &layers), Vec::<String>::new());

    // An upward import and the cycle it makes.
    write("low.rs", "pub fn f() { crate::high::g() }\n");
    let found = problems(&dir, &layers);
    assert!(found.iter().any(|p| p.contains("(low) imports high")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("top-level modules import each other")), "{found:?}");
    write("low.rs", "\n");

    // Two files of one folder that import each other; the folder's mod.rs is no cycle.
    write("store/b.rs", "use super::{a::Writer};\npub struct Thing;\n");
    let found = problems(&dir, &layers);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("files of src/store import each other"), "{found:?}");

    // A module the stated order leaves out.
    write("store/b.rs", "pub struct Thing;\n");
    write("lib.rs", "pub mod low;\npub mod high;\npub mod store;\npub mod extra;\n");
    write("extra.rs", "use crate::low;\n");
    let found = problems(&dir, &layers);
    assert!(found.iter().any(|p| p.contains("extra is in no layer")), "{found:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
