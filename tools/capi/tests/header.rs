//! `include/corelane.h` must declare exactly the functions the library exports, with the
//! same parameter and return types, and the same structs with the same fields in the
//! same order. The Rust side is read from `src/*.rs` (`#[unsafe(no_mangle)]` functions
//! and `#[repr(C)]` structs) and its types translated to C. The `cl_status` enum must list
//! the statuses of `src/status.rs`, the one table the library takes them from, with the
//! same names and codes in the same order.

use std::collections::BTreeMap;
use std::path::Path;

// The library's own table, compiled into this test: the crate is a staticlib and cdylib
// only, so the test cannot link it as Rust. The test reads part of it.
#[allow(dead_code)]
#[path = "../src/status.rs"]
mod status;

fn strip_c_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = &r[r.find("*/").map_or(r.len(), |i| i + 2)..];
        } else if let Some(r) = rest.strip_prefix("//") {
            rest = &r[r.find('\n').unwrap_or(r.len())..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// "const char *  x" → "const char*": whitespace collapsed, stars attached to the type.
fn norm(c_type: &str) -> String {
    let t = c_type.split_whitespace().collect::<Vec<_>>().join(" ");
    t.replace(" *", "*").replace("* ", "*")
}

/// Splits "type name" into the normalised type.
fn c_param_type(param: &str) -> String {
    let p = param.trim();
    if p == "void" {
        return String::new();
    }
    let cut = p
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .expect("type and name");
    norm(&p[..=cut])
}

type Signature = (String, Vec<String>);

fn header_functions(header: &str) -> BTreeMap<String, Signature> {
    let mut out = BTreeMap::new();
    for stmt in strip_c_comments(header).split(';') {
        let stmt = stmt.trim();
        let Some(open) = stmt.find("cl_").filter(|_| stmt.ends_with(')')) else {
            continue;
        };
        let Some(paren) = stmt[open..].find('(').map(|i| open + i) else {
            continue;
        };
        let name = stmt[open..paren].trim();
        if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || stmt.starts_with("typedef") {
            continue;
        }
        let ret = norm(stmt[..open].lines().last().unwrap_or(""));
        let params = stmt[paren + 1..stmt.len() - 1]
            .split(',')
            .map(c_param_type)
            .filter(|t| !t.is_empty())
            .collect();
        out.insert(name.to_string(), (ret, params));
    }
    out
}

fn rust_to_c(t: &str) -> String {
    let t = t.trim();
    if let Some(inner) = t.strip_prefix("*mut ") {
        return format!("{}*", rust_to_c(inner));
    }
    if let Some(inner) = t.strip_prefix("*const ") {
        return format!("const {}*", rust_to_c(inner));
    }
    match t {
        "c_char" => "char",
        "u8" => "uint8_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "i32" => "int32_t",
        "usize" => "size_t",
        "()" | "" => "void",
        other => other,
    }
    .to_string()
}

fn rust_functions(src: &Path) -> BTreeMap<String, Signature> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for chunk in text.split("#[unsafe(no_mangle)]").skip(1) {
            let start = chunk.find("fn ").expect("a function follows no_mangle") + 3;
            let open = start + chunk[start..].find('(').unwrap();
            let name = chunk[start..open].trim().to_string();
            let mut depth = 0;
            let close = open
                + chunk[open..]
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .unwrap()
                    .0;
            let params = chunk[open + 1..close]
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| norm(&rust_to_c(p.split_once(':').expect("name: type").1)))
                .collect();
            let after =
                &chunk[close + 1..chunk[close..].find('{').map_or(chunk.len(), |i| close + i)];
            let ret = after
                .trim()
                .strip_prefix("->")
                .map_or("void".into(), |r| norm(&rust_to_c(r)));
            out.insert(name, (ret, params));
        }
    }
    out
}

fn header_structs(header: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let text = strip_c_comments(header);
    let mut out = BTreeMap::new();
    for part in text.split("typedef struct ").skip(1) {
        let name = part.split_whitespace().next().unwrap().to_string();
        let Some(body) = part
            .find('{')
            .map(|i| &part[i + 1..part.find('}').unwrap()])
        else {
            continue;
        };
        let fields = body
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let cut = f
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap();
                (f[cut + 1..].to_string(), norm(&f[..=cut]))
            })
            .collect();
        out.insert(name, fields);
    }
    out
}

fn rust_structs(src: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for chunk in text.split("#[repr(C)]").skip(1) {
            let Some(start) = chunk.find("pub struct ") else {
                continue;
            };
            let rest = &chunk[start + 11..];
            let name = rest
                .split(|c: char| c.is_whitespace() || c == '{')
                .next()
                .unwrap()
                .to_string();
            let body = &rest[rest.find('{').unwrap() + 1..rest.find('}').unwrap()];
            let fields = body
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("pub "))
                .map(|l| {
                    let (n, t) = l
                        .trim_start_matches("pub ")
                        .trim_end_matches(',')
                        .split_once(':')
                        .unwrap();
                    (n.trim().to_string(), norm(&rust_to_c(t)))
                })
                .collect();
            out.insert(name, fields);
        }
    }
    out
}

/// The constants of `typedef enum cl_status { ... }`, in order, as (name, code).
fn header_statuses(header: &str) -> Vec<(String, i32)> {
    let text = strip_c_comments(header);
    let start = text
        .find("typedef enum cl_status")
        .expect("corelane.h declares cl_status");
    let body = &text[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, code) = entry
                .split_once('=')
                .unwrap_or_else(|| panic!("cl_status entry {entry:?} has no explicit value"));
            (name.trim().to_string(), code.trim().parse().unwrap())
        })
        .collect()
}

fn table_statuses() -> Vec<(String, i32)> {
    status::Status::ALL
        .iter()
        .map(|&s| (s.c_name().to_str().unwrap().to_string(), s as i32))
        .collect()
}

#[test]
fn header_statuses_match_the_status_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/corelane.h")).unwrap();
    let declared = header_statuses(&header);
    assert!(declared.len() >= 19, "found only {declared:?}");
    assert_eq!(
        declared,
        table_statuses(),
        "cl_status in corelane.h vs src/status.rs (name, code, order)"
    );
}

#[test]
fn the_status_checker_sees_a_mismatch() {
    let header =
        "typedef enum cl_status {\n    CL_OK = 0,\n    CL_ERR_NULL = -2 /* x */\n} cl_status;";
    let declared = header_statuses(header);
    assert_eq!(
        declared,
        [("CL_OK".to_string(), 0), ("CL_ERR_NULL".to_string(), -2)]
    );
    assert_ne!(declared[..], table_statuses()[..2]);
}

#[test]
fn header_matches_the_exported_functions_and_structs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/corelane.h")).unwrap();
    let declared = header_functions(&header);
    let exported = rust_functions(&root.join("src"));
    assert!(
        exported.len() >= 20,
        "found only {} exported functions",
        exported.len()
    );
    let only_h: Vec<_> = declared
        .keys()
        .filter(|k| !exported.contains_key(*k))
        .collect();
    let only_rs: Vec<_> = exported
        .keys()
        .filter(|k| !declared.contains_key(*k))
        .collect();
    assert!(
        only_h.is_empty(),
        "declared in corelane.h but not exported: {only_h:?}"
    );
    assert!(
        only_rs.is_empty(),
        "exported but not declared in corelane.h: {only_rs:?}"
    );
    for (name, rs) in &exported {
        assert_eq!(
            &declared[name], rs,
            "{name}: header vs Rust (return type, parameter types)"
        );
    }

    let c_structs = header_structs(&header);
    let rs_structs = rust_structs(&root.join("src"));
    for (name, fields) in &rs_structs {
        let c = c_structs
            .get(name)
            .unwrap_or_else(|| panic!("struct {name} missing from corelane.h"));
        assert_eq!(
            c, fields,
            "struct {name}: fields differ (name, C type, order)"
        );
    }
    for name in c_structs.keys() {
        assert!(
            rs_structs.contains_key(name),
            "struct {name} in corelane.h has no #[repr(C)] twin"
        );
    }
}

#[test]
fn the_checker_sees_a_mismatch() {
    let header = "int32_t cl_bus_flush(cl_bus* bus, uint32_t timeout_ms);";
    let declared = header_functions(header);
    let exported = rust_functions(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert_ne!(declared["cl_bus_flush"], exported["cl_bus_flush"]);
    assert_eq!(declared["cl_bus_flush"].1, vec!["cl_bus*", "uint32_t"]);
}
