//! The shape of the source tree, checked: no import cycle between the engine's files, no
//! source file over 600 lines, no function over 80 lines outside tests. These are the
//! rules docs/architecture.md states; a change that breaks one fails here with the
//! offending file, module pair or function named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Library and binary sources (not `tests/`, `benches/benches`, `examples/`).
fn sources() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = Vec::new();
    for dir in [
        "engine/src",
        "io/src",
        "adapters/src",
        "tools/cli/src",
        "tools/capi/src",
        "tools/testkit/src",
        "benches/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

/// The line index where each `#[cfg(test)]` item begins: everything after it in the
/// file is test code (corelane keeps unit tests at the end of a file).
fn test_code_start(lines: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| l.trim() == "#[cfg(test)]")
        .unwrap_or(lines.len())
}

/// `(name, first line, length)` of every function in `lines[..end]`, found by its
/// signature and the closing brace at the signature's indentation (rustfmt's layout).
fn functions(lines: &[&str], end: usize) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(at) = trimmed.find("fn ") else {
            continue;
        };
        let prefix = &trimmed[..at];
        let is_signature = prefix.split_whitespace().all(|w| {
            matches!(
                w,
                "pub"
                    | "pub(crate)"
                    | "pub(super)"
                    | "const"
                    | "unsafe"
                    | "extern"
                    | "\"C\""
                    | "async"
            )
        }) && !trimmed.starts_with("//");
        if !is_signature {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let name: String = trimmed[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = " ".repeat(indent) + "}";
        if let Some(len) = lines[i..end].iter().position(|l| *l == close) {
            found.push((name, i + 1, len + 1));
        }
    }
    found
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = workspace();
    let long: Vec<String> = sources()
        .iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).unwrap().lines().count();
            (lines > MAX_FILE_LINES).then(|| {
                format!(
                    "{} ({lines} lines)",
                    path.strip_prefix(&root).unwrap().display()
                )
            })
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long:#?}"
    );
}

#[test]
fn no_function_outside_tests_is_over_80_lines() {
    let root = workspace();
    let mut long = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (name, line, len) in functions(&lines, test_code_start(&lines)) {
            if len > MAX_FN_LINES {
                long.push(format!(
                    "{}:{line} fn {name} ({len} lines)",
                    path.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long:#?}"
    );
}

/// The module path of an engine source file: `write/producer.rs` → `write::producer`,
/// `io/mod.rs` → `io`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The engine's file-level import graph: an edge from each file's module to every module
/// it names through a `crate::` path (the longest prefix that is a module file).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join("engine/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Code only: doc links (`[x](crate::y)`) are not imports.
        let code = lines[..test_code_start(&lines)]
            .iter()
            .filter(|l| !l.trim_start().starts_with("//"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let mut to = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let path: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(target) = target.filter(|t| *t != from && !t.is_empty()) {
                to.insert(target);
            }
        }
        graph.insert(from, to);
    }
    graph
}

/// A cycle through `start`, if the graph has one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn engine_files_import_one_way() {
    let graph = import_graph();
    let cycles: Vec<String> = graph
        .keys()
        // The crate root re-exports the public names; modules never import through it.
        .filter(|m| !m.is_empty())
        .filter_map(|m| cycle_from(&graph, m).map(|c| c.join(" -> ")))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between engine files: {cycles:#?}"
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle_from(&graph, "a").unwrap(), ["a", "b", "a"]);
    assert!(cycle_from(&graph, "c").is_none());
    let lines = [
        "fn short() {",
        "}",
        "    pub(crate) fn two() {",
        "        x",
        "    }",
    ];
    assert_eq!(
        functions(&lines, lines.len()),
        vec![("short".to_string(), 1, 2), ("two".to_string(), 3, 3)]
    );
}
