//! JSON filters, compiled once per request and evaluated against each event.
//!
//! ```text
//! filter := {}                                        matches every event
//!         | {"path": P, "value": V}                   P equals V (shorthand for $eq)
//!         | {"$eq" | "$ne": {"path": P, "value": V}}  deep JSON equality
//!         | {"$gt" | "$gte" | "$lt" | "$lte": {"path": P, "value": N or S}}
//!         | {"$in": {"path": P, "value": [V, ...]}}   P equals one of the values
//!         | {"$exists": {"path": P, "value": true|false}}   ("value" defaults to true)
//!         | {"$and": [filter, ...]} | {"$or": [filter, ...]} | {"$not": filter}
//! P      := "" (the whole event) | segment ("." segment | "[" index "]")*
//! ```
//!
//! Numbers compare by value (`1` equals `1.0`); comparisons apply to two numbers or two
//! strings, anything else does not match. A missing path matches only `$ne` and
//! `"$exists": false`. Events that are not JSON match no filter that reads a path.

use std::fmt;

use serde_json::Value;

use crate::read::error::ConsumerError;

/// Deepest nesting of `$and`/`$or`/`$not` accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// A compiled filter.
///
/// # Examples
///
/// ```
/// use corelane::read::Filter;
///
/// let f = Filter::parse(r#"{"$and": [
///     {"path": "sym", "value": "AAPL"},
///     {"$gte": {"path": "fills[0].px", "value": 100}}
/// ]}"#).unwrap();
/// assert!(f.matches_json(br#"{"sym":"AAPL","fills":[{"px":101.5}]}"#).unwrap());
/// assert!(!f.matches_json(br#"{"sym":"AAPL","fills":[{"px":99}]}"#).unwrap());
/// assert_eq!(f.matches_json(b"not json"), None);
///
/// let err = Filter::parse(r#"{"$or": {"path": "a", "value": 1}}"#).unwrap_err();
/// assert_eq!(err.to_string(), "invalid filter at $or: $or takes an array of filters, got an object");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp(Path, Cmp, Value),
    In(Path, Vec<Value>),
    Exists(Path, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Path(Vec<Step>);

fn invalid(at: &str, reason: impl Into<String>) -> ConsumerError {
    ConsumerError::InvalidFilter {
        at: if at.is_empty() {
            "$".into()
        } else {
            at.to_string()
        },
        reason: reason.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Filter {
    /// Parses and compiles filter JSON text.
    pub fn parse(text: &str) -> Result<Filter, ConsumerError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| invalid("", format!("not valid JSON: {e}")))?;
        Self::from_value(&value)
    }

    /// Compiles a parsed filter.
    pub fn from_value(value: &Value) -> Result<Filter, ConsumerError> {
        Ok(Filter {
            root: compile(value, "", 0)?,
        })
    }

    /// The filter that matches everything.
    pub fn all() -> Filter {
        Filter { root: Node::All }
    }

    /// True when the filter reads no path (it matches every event, JSON or not).
    pub fn matches_everything(&self) -> bool {
        self.root == Node::All
    }

    /// Evaluates the filter on a parsed event.
    pub fn matches(&self, event: &Value) -> bool {
        eval(&self.root, event)
    }

    /// Evaluates the filter on JSON bytes: `None` when they are not JSON (and the filter
    /// reads a path).
    pub fn matches_json(&self, payload: &[u8]) -> Option<bool> {
        if self.matches_everything() {
            return Some(true);
        }
        let value: Value = serde_json::from_slice(payload).ok()?;
        Some(self.matches(&value))
    }
}

fn compile(value: &Value, at: &str, depth: usize) -> Result<Node, ConsumerError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(invalid(
            at,
            format!("nesting deeper than {MAX_FILTER_DEPTH} levels"),
        ));
    }
    let Value::Object(obj) = value else {
        return Err(invalid(
            at,
            format!("a filter is a JSON object, got {}", kind(value)),
        ));
    };
    if obj.is_empty() {
        return Ok(Node::All);
    }
    if obj.contains_key("path") {
        return compile_operand(value, at, Cmp::Eq).map(|(p, v)| Node::Cmp(p, Cmp::Eq, v));
    }
    if obj.len() != 1 {
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        return Err(invalid(
            at,
            format!("a filter object holds exactly one operator, got {keys:?}"),
        ));
    }
    let (op, arg) = obj.iter().next().expect("one entry");
    let here = if at.is_empty() {
        op.clone()
    } else {
        format!("{at}.{op}")
    };
    compile_operator(op, arg, &here, depth)
}

/// One operator and its argument, at `here` in the filter.
fn compile_operator(
    op: &str,
    arg: &Value,
    here: &str,
    depth: usize,
) -> Result<Node, ConsumerError> {
    let cmp = |c: Cmp| compile_operand(arg, here, c).map(|(p, v)| Node::Cmp(p, c, v));
    match op {
        // A part that matches everything (`{}`) reads no path, and neither does a whole
        // that it decides: so `{"$and":[{}]}` matches non-JSON events just as `{}` does.
        "$and" => {
            let parts: Vec<Node> = compile_list(op, arg, here, depth)?
                .into_iter()
                .filter(|n| *n != Node::All)
                .collect();
            Ok(if parts.is_empty() {
                Node::All
            } else {
                Node::And(parts)
            })
        }
        "$or" => {
            let parts = compile_list(op, arg, here, depth)?;
            Ok(if parts.contains(&Node::All) {
                Node::All
            } else {
                Node::Or(parts)
            })
        }
        "$not" => Ok(Node::Not(Box::new(compile(arg, here, depth + 1)?))),
        "$eq" => cmp(Cmp::Eq),
        "$ne" => cmp(Cmp::Ne),
        "$gt" => cmp(Cmp::Gt),
        "$gte" => cmp(Cmp::Gte),
        "$lt" => cmp(Cmp::Lt),
        "$lte" => cmp(Cmp::Lte),
        "$in" => compile_in(arg, here),
        "$exists" => compile_exists(arg, here),
        other => Err(invalid(
            here,
            format!(
                "unknown operator {other:?} (known: $and $or $not $eq $ne $gt $gte $lt $lte $in $exists, or {{\"path\", \"value\"}})"
            ),
        )),
    }
}

/// The array of filters of `$and` / `$or`.
fn compile_list(
    op: &str,
    arg: &Value,
    here: &str,
    depth: usize,
) -> Result<Vec<Node>, ConsumerError> {
    let Value::Array(items) = arg else {
        return Err(invalid(
            here,
            format!("{op} takes an array of filters, got {}", kind(arg)),
        ));
    };
    if items.is_empty() {
        return Err(invalid(here, format!("{op} needs at least one filter")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| compile(item, &format!("{here}[{i}]"), depth + 1))
        .collect()
}

fn compile_in(arg: &Value, here: &str) -> Result<Node, ConsumerError> {
    let (path, value) = compile_operand(arg, here, Cmp::Eq)?;
    match value {
        Value::Array(values) => Ok(Node::In(path, values)),
        other => Err(invalid(
            here,
            format!("$in takes an array as \"value\", got {}", kind(&other)),
        )),
    }
}

fn compile_exists(arg: &Value, here: &str) -> Result<Node, ConsumerError> {
    let Value::Object(o) = arg else {
        return Err(invalid(
            here,
            format!("$exists takes {{\"path\": ...}}, got {}", kind(arg)),
        ));
    };
    check_keys(o, here, &["path", "value"])?;
    let path = compile_path(o.get("path"), here)?;
    let should = match o.get("value") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(invalid(
                here,
                format!("$exists \"value\" must be a boolean, got {}", kind(v)),
            ));
        }
    };
    Ok(Node::Exists(path, should))
}

fn check_keys(
    o: &serde_json::Map<String, Value>,
    at: &str,
    allowed: &[&str],
) -> Result<(), ConsumerError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(
            at,
            format!("unexpected key {k:?} (expected {allowed:?})"),
        )),
        None => Ok(()),
    }
}

/// `{"path": P, "value": V}`: checks both and the value's type for the comparison.
fn compile_operand(arg: &Value, at: &str, cmp: Cmp) -> Result<(Path, Value), ConsumerError> {
    let Value::Object(o) = arg else {
        return Err(invalid(
            at,
            format!(
                "expected {{\"path\": ..., \"value\": ...}}, got {}",
                kind(arg)
            ),
        ));
    };
    check_keys(o, at, &["path", "value"])?;
    let path = compile_path(o.get("path"), at)?;
    let Some(value) = o.get("value") else {
        return Err(invalid(at, "missing \"value\""));
    };
    if matches!(cmp, Cmp::Gt | Cmp::Gte | Cmp::Lt | Cmp::Lte)
        && !matches!(value, Value::Number(_) | Value::String(_))
    {
        return Err(invalid(
            at,
            format!("comparisons take a number or a string, got {}", kind(value)),
        ));
    }
    Ok((path, value.clone()))
}

fn compile_path(path: Option<&Value>, at: &str) -> Result<Path, ConsumerError> {
    let text = match path {
        Some(Value::String(s)) => s,
        Some(v) => {
            return Err(invalid(
                at,
                format!("\"path\" must be a string, got {}", kind(v)),
            ));
        }
        None => return Err(invalid(at, "missing \"path\"")),
    };
    parse_path(text).map_err(|why| invalid(at, format!("path {text:?}: {why}")))
}

fn parse_path(text: &str) -> Result<Path, String> {
    let mut steps = Vec::new();
    if text.is_empty() {
        return Ok(Path(steps));
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut expect_key = true;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => {
                let close = text[i..].find(']').ok_or("unclosed '['")? + i;
                let digits = &text[i + 1..close];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("index {digits:?} is not a number"));
                }
                steps.push(Step::Index(digits.parse().map_err(|_| "index too large")?));
                i = close + 1;
                expect_key = false;
            }
            b'.' if !expect_key => {
                i += 1;
                expect_key = true;
                if i == bytes.len() {
                    return Err("ends with '.'".into());
                }
            }
            b'.' | b']' => return Err(format!("unexpected '{}' at byte {i}", bytes[i] as char)),
            _ if expect_key => {
                let end = text[i..]
                    .find(['.', '[', ']'])
                    .map_or(text.len(), |e| e + i);
                steps.push(Step::Key(text[i..end].to_string()));
                i = end;
                expect_key = false;
            }
            _ => return Err(format!("expected '.' or '[' at byte {i}")),
        }
    }
    Ok(Path(steps))
}

impl Path {
    fn resolve<'v>(&self, mut v: &'v Value) -> Option<&'v Value> {
        for step in &self.0 {
            v = match (step, v) {
                (Step::Key(k), Value::Object(o)) => o.get(k)?,
                // "a.0" reads index 0 of an array too.
                (Step::Key(k), Value::Array(a)) => a.get(k.parse::<usize>().ok()?)?,
                (Step::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

fn eval(node: &Node, doc: &Value) -> bool {
    match node {
        Node::All => true,
        Node::And(items) => items.iter().all(|n| eval(n, doc)),
        Node::Or(items) => items.iter().any(|n| eval(n, doc)),
        Node::Not(inner) => !eval(inner, doc),
        Node::Exists(path, should) => path.resolve(doc).is_some() == *should,
        Node::In(path, values) => path
            .resolve(doc)
            .is_some_and(|v| values.iter().any(|x| deep_eq(v, x))),
        Node::Cmp(path, cmp, value) => match (path.resolve(doc), cmp) {
            (None, Cmp::Ne) => true,
            (None, _) => false,
            (Some(v), Cmp::Eq) => deep_eq(v, value),
            (Some(v), Cmp::Ne) => !deep_eq(v, value),
            (Some(v), c) => match order(v, value) {
                Some(o) => match c {
                    Cmp::Gt => o.is_gt(),
                    Cmp::Gte => o.is_ge(),
                    Cmp::Lt => o.is_lt(),
                    Cmp::Lte => o.is_le(),
                    Cmp::Eq | Cmp::Ne => unreachable!("handled above"),
                },
                None => false,
            },
        },
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn num_cmp(x: &serde_json::Number, y: &serde_json::Number) -> Option<std::cmp::Ordering> {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return Some(a.cmp(&b));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

/// JSON equality with numbers compared by value.
fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Some(std::cmp::Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        _ => a == b,
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.root)
    }
}
