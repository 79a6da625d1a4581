//! Filters: one test per operator, one per kind of error.

use corelane::read::{ConsumerError, Filter, MAX_FILTER_DEPTH};
use serde_json::json;

const DOC: &str = r#"{
    "sym": "AAPL", "px": 189.5, "qty": 100, "side": "buy",
    "tags": ["a", "b"], "venue": {"name": "XNAS", "lanes": [3, 1.0, {"id": 7}]},
    "nothing": null, "flag": false
}"#;

fn check(filter: serde_json::Value, expected: bool) {
    let f = Filter::from_value(&filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    assert_eq!(f.matches_json(DOC.as_bytes()), Some(expected), "{filter}");
}

fn error(filter: &str, at: &str, reason: &str) {
    match Filter::parse(filter) {
        Err(ConsumerError::InvalidFilter { at: a, reason: r }) => {
            assert_eq!(a, at, "{filter}: {r}");
            assert!(r.contains(reason), "{filter}: {r:?} lacks {reason:?}");
        }
        other => panic!("{filter} compiled: {other:?}"),
    }
}

#[test]
fn eq_and_the_path_value_shorthand() {
    check(json!({"path": "sym", "value": "AAPL"}), true);
    check(json!({"$eq": {"path": "sym", "value": "AAPL"}}), true);
    check(json!({"$eq": {"path": "sym", "value": "MSFT"}}), false);
    check(json!({"$eq": {"path": "qty", "value": 100.0}}), true);
    check(json!({"$eq": {"path": "venue.lanes[1]", "value": 1}}), true);
    check(
        json!({"$eq": {"path": "venue.lanes.2.id", "value": 7}}),
        true,
    );
    check(
        json!({"$eq": {"path": "venue.lanes[2]", "value": {"id": 7.0}}}),
        true,
    );
    check(json!({"$eq": {"path": "tags", "value": ["a", "b"]}}), true);
    check(json!({"$eq": {"path": "tags", "value": ["b", "a"]}}), false);
    check(json!({"$eq": {"path": "nothing", "value": null}}), true);
    check(json!({"$eq": {"path": "missing", "value": null}}), false);
    check(json!({"$eq": {"path": "tags[5]", "value": "a"}}), false);
    check(json!({"$eq": {"path": "sym.deeper", "value": "a"}}), false);
}

#[test]
fn ne() {
    check(json!({"$ne": {"path": "side", "value": "sell"}}), true);
    check(json!({"$ne": {"path": "side", "value": "buy"}}), false);
    check(json!({"$ne": {"path": "missing", "value": 1}}), true);
}

#[test]
fn in_() {
    check(
        json!({"$in": {"path": "sym", "value": ["MSFT", "AAPL"]}}),
        true,
    );
    check(json!({"$in": {"path": "qty", "value": [1, 100.0]}}), true);
    check(json!({"$in": {"path": "sym", "value": []}}), false);
    check(json!({"$in": {"path": "missing", "value": [null]}}), false);
}

#[test]
fn exists() {
    check(json!({"$exists": {"path": "venue.name"}}), true);
    check(json!({"$exists": {"path": "nothing"}}), true);
    check(
        json!({"$exists": {"path": "venue.city", "value": false}}),
        true,
    );
    check(
        json!({"$exists": {"path": "venue.name", "value": false}}),
        false,
    );
}

#[test]
fn gt_gte_lt_lte_on_numbers_and_strings() {
    check(json!({"$gt": {"path": "px", "value": 189}}), true);
    check(json!({"$gt": {"path": "px", "value": 189.5}}), false);
    check(json!({"$gte": {"path": "px", "value": 189.5}}), true);
    check(json!({"$lt": {"path": "qty", "value": 100}}), false);
    check(json!({"$lte": {"path": "qty", "value": 100}}), true);
    check(json!({"$lt": {"path": "qty", "value": 1e20}}), true);
    check(json!({"$gt": {"path": "sym", "value": "AAA"}}), true);
    check(json!({"$lt": {"path": "sym", "value": "AAPM"}}), true);
    // Mixed types and missing paths never match a comparison.
    check(json!({"$gt": {"path": "sym", "value": 1}}), false);
    check(json!({"$lt": {"path": "qty", "value": "z"}}), false);
    check(json!({"$gt": {"path": "missing", "value": 0}}), false);
}

#[test]
fn and_or_not() {
    let buy = json!({"path": "side", "value": "buy"});
    let msft = json!({"path": "sym", "value": "MSFT"});
    check(
        json!({"$and": [buy, {"$gt": {"path": "qty", "value": 50}}]}),
        true,
    );
    check(json!({"$and": [buy, msft]}), false);
    check(json!({"$or": [msft, buy]}), true);
    check(json!({"$or": [msft, msft]}), false);
    check(json!({"$not": msft}), true);
    check(json!({"$not": {"$not": msft}}), false);
    check(json!({}), true);
    check(json!({"$and": [{}, {"$not": {}}]}), false);
}

#[test]
fn the_whole_document_is_path_empty() {
    let f = Filter::parse(r#"{"path": "", "value": 5}"#).unwrap();
    assert_eq!(f.matches_json(b"5"), Some(true));
    assert_eq!(f.matches_json(b"5.0"), Some(true));
    assert_eq!(f.matches_json(b"[5]"), Some(false));
}

#[test]
fn non_json_matches_no_path_filter() {
    let f = Filter::parse(r#"{"$ne": {"path": "a", "value": 1}}"#).unwrap();
    assert_eq!(f.matches_json(b"\xff\xfe"), None);
    assert_eq!(f.matches_json(b"{"), None);
    assert_eq!(Filter::all().matches_json(b"\xff"), Some(true));
}

#[test]
fn errors_name_the_offending_part() {
    error("{", "$", "not valid JSON");
    error("[]", "$", "a filter is a JSON object, got an array");
    error(
        r#"{"$and": {}}"#,
        "$and",
        "$and takes an array of filters, got an object",
    );
    error(r#"{"$or": []}"#, "$or", "$or needs at least one filter");
    error(
        r#"{"$and": [{}, 3]}"#,
        "$and[1]",
        "a filter is a JSON object, got a number",
    );
    error(r#"{"$not": [1]}"#, "$not", "got an array");
    error(r#"{"$regex": {}}"#, "$regex", "unknown operator \"$regex\"");
    error(r#"{"$and": [], "$or": []}"#, "$", "exactly one operator");
    error(r#"{"$eq": {"path": "a"}}"#, "$eq", "missing \"value\"");
    error(r#"{"$eq": {"value": 1}}"#, "$eq", "missing \"path\"");
    error(
        r#"{"$eq": {"path": 3, "value": 1}}"#,
        "$eq",
        "\"path\" must be a string",
    );
    error(
        r#"{"$eq": {"path": "a", "value": 1, "x": 2}}"#,
        "$eq",
        "unexpected key \"x\"",
    );
    error(
        r#"{"path": "a", "value": 1, "op": "$gt"}"#,
        "$",
        "unexpected key \"op\"",
    );
    error(
        r#"{"$gt": {"path": "a", "value": [1]}}"#,
        "$gt",
        "a number or a string, got an array",
    );
    error(
        r#"{"$lte": {"path": "a", "value": null}}"#,
        "$lte",
        "got null",
    );
    error(
        r#"{"$in": {"path": "a", "value": 1}}"#,
        "$in",
        "$in takes an array",
    );
    error(
        r#"{"$exists": {"path": "a", "value": 1}}"#,
        "$exists",
        "must be a boolean",
    );
    error(r#"{"$exists": "a"}"#, "$exists", "takes {\"path\": ...}");
    error(
        r#"{"$or": [{"$and": [{"path": "a..b", "value": 1}]}]}"#,
        "$or[0].$and[0]",
        "path \"a..b\"",
    );
    error(
        r#"{"path": "a[x]", "value": 1}"#,
        "$",
        "index \"x\" is not a number",
    );
    error(r#"{"path": "a[1", "value": 1}"#, "$", "unclosed '['");
    error(r#"{"path": "a.", "value": 1}"#, "$", "ends with '.'");
    error(r#"{"path": ".a", "value": 1}"#, "$", "unexpected '.'");
    error(r#"{"path": "a]b", "value": 1}"#, "$", "unexpected ']'");
}

#[test]
fn nesting_depth_is_limited() {
    let mut f = json!({"path": "a", "value": 1});
    for _ in 0..MAX_FILTER_DEPTH {
        f = json!({"$not": f});
    }
    assert!(Filter::from_value(&f).is_ok());
    let deeper = json!({"$not": f});
    match Filter::from_value(&deeper) {
        Err(ConsumerError::InvalidFilter { reason, .. }) => {
            assert!(reason.contains("nesting deeper than 32"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Far deeper input is refused without recursion trouble.
    let text = "{\"$not\":".repeat(10_000) + "{}" + &"}".repeat(10_000);
    assert!(Filter::parse(&text).is_err());
}
