//! `has` / `missing` conditions, compiled once: host, header, cookie and query checks with a
//! regex value or a matcher object (`eq`, `neq`, `inc`, `ninc`, `pre`, `suf`, `re`, `gt`, `gte`,
//! `lt`, `lte`). Named groups of a value regex, the key of a value-less check and the host of a
//! host check become captures usable as `$name` in `dest` and headers.

use std::borrow::Cow;

use eddy_config::route::{Condition, Matcher, MatcherObject};
use fancy_regex::Regex;

use crate::request::RequestView;

/// Why a condition could not be compiled (the caller adds the route index).
#[derive(Debug)]
pub(crate) struct BadConditionRegex {
    pub(crate) pattern: String,
    pub(crate) reason: String,
}

#[derive(Debug)]
pub(crate) struct CompiledCondition {
    source: Source,
    value: Option<ValueMatcher>,
}

#[derive(Debug)]
enum Source {
    Host,
    Header(String),
    Cookie(String),
    Query(String),
}

#[derive(Debug)]
enum ValueMatcher {
    Regex(NamedRegex),
    Object(Box<ObjectMatcher>),
}

#[derive(Debug)]
struct NamedRegex {
    regex: Regex,
    /// (group index, name) of the named groups.
    names: Vec<(usize, String)>,
}

#[derive(Debug, Default)]
struct ObjectMatcher {
    eq: Option<serde_json::Value>,
    neq: Option<String>,
    inc: Option<Vec<String>>,
    ninc: Option<Vec<String>>,
    pre: Option<String>,
    suf: Option<String>,
    re: Option<NamedRegex>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
}

impl CompiledCondition {
    pub(crate) fn compile(condition: &Condition) -> Result<Self, BadConditionRegex> {
        let (source, value) = match condition {
            Condition::Host { value } => (Source::Host, Some(value)),
            Condition::Header { key, value } => {
                (Source::Header(key.to_ascii_lowercase()), value.as_ref())
            }
            Condition::Cookie { key, value } => (Source::Cookie(key.clone()), value.as_ref()),
            Condition::Query { key, value } => (Source::Query(key.clone()), value.as_ref()),
        };
        let value = match value {
            None => None,
            Some(Matcher::Regex(pattern)) => Some(ValueMatcher::Regex(NamedRegex::compile(
                &format!("^(?:{pattern})$"),
                pattern,
            )?)),
            Some(Matcher::Object(object)) => Some(ValueMatcher::Object(Box::new(
                ObjectMatcher::compile(object)?,
            ))),
        };
        Ok(CompiledCondition { source, value })
    }

    /// Whether the request satisfies this condition; captures go to `caps`.
    pub(crate) fn test(&self, req: &RequestView<'_>, caps: &mut Vec<(String, String)>) -> bool {
        let (key, value): (&str, Option<Cow<'_, str>>) = match &self.source {
            Source::Host => ("", Some(Cow::Borrowed(req.hostname()))),
            Source::Header(key) => (key, req.header(key)),
            Source::Cookie(key) => (key, req.cookie(key).map(Cow::Borrowed)),
            Source::Query(key) => (key, req.query(key).map(Cow::Borrowed)),
        };
        let Some(value) = value else { return false };
        match &self.value {
            None => {
                caps.push((safe_name(key), value.into_owned()));
                true
            }
            Some(ValueMatcher::Regex(re)) => {
                let matched = re.capture_into(&value, caps);
                if matched && matches!(self.source, Source::Host) {
                    caps.push(("host".to_owned(), value.into_owned()));
                }
                matched
            }
            Some(ValueMatcher::Object(object)) => object.test(&value, caps),
        }
    }
}

/// A capture name for a value-less check: the key's word characters (`x-user` → `xuser`).
fn safe_name(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

impl NamedRegex {
    fn compile(regex: &str, shown: &str) -> Result<NamedRegex, BadConditionRegex> {
        let regex = crate::cost::compile(regex).map_err(|reason| BadConditionRegex {
            pattern: shown.to_owned(),
            reason,
        })?;
        let names = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| Some((i, name?.to_owned())))
            .collect();
        Ok(NamedRegex { regex, names })
    }

    /// Searches `value`; on a match pushes the named groups. A regex that hits the backtrack
    /// limit counts as not matching.
    fn capture_into(&self, value: &str, caps: &mut Vec<(String, String)>) -> bool {
        let Ok(Some(found)) = self.regex.captures(value) else {
            return false;
        };
        for (i, name) in &self.names {
            if let Some(m) = found.get(*i) {
                caps.push((name.clone(), m.as_str().to_owned()));
            }
        }
        true
    }
}

impl ObjectMatcher {
    fn compile(object: &MatcherObject) -> Result<ObjectMatcher, BadConditionRegex> {
        let re = match &object.re {
            Some(pattern) => Some(NamedRegex::compile(pattern, pattern)?),
            None => None,
        };
        Ok(ObjectMatcher {
            eq: object.eq.clone(),
            neq: object.neq.clone(),
            inc: object.inc.clone(),
            ninc: object.ninc.clone(),
            pre: object.pre.clone(),
            suf: object.suf.clone(),
            re,
            gt: object.gt,
            gte: object.gte,
            lt: object.lt,
            lte: object.lte,
        })
    }

    /// Every given operator must hold.
    fn test(&self, value: &str, caps: &mut Vec<(String, String)>) -> bool {
        let number = || value.trim().parse::<f64>().ok();
        let compare = |bound: Option<f64>, ok: fn(f64, f64) -> bool| {
            bound.is_none_or(|b| number().is_some_and(|n| ok(n, b)))
        };
        self.eq.as_ref().is_none_or(|eq| json_equals(eq, value))
            && self.neq.as_deref().is_none_or(|neq| neq != value)
            && self
                .inc
                .as_ref()
                .is_none_or(|inc| inc.iter().any(|v| v == value))
            && self
                .ninc
                .as_ref()
                .is_none_or(|ninc| ninc.iter().all(|v| v != value))
            && self.pre.as_deref().is_none_or(|pre| value.starts_with(pre))
            && self.suf.as_deref().is_none_or(|suf| value.ends_with(suf))
            && compare(self.gt, |n, b| n > b)
            && compare(self.gte, |n, b| n >= b)
            && compare(self.lt, |n, b| n < b)
            && compare(self.lte, |n, b| n <= b)
            && self
                .re
                .as_ref()
                .is_none_or(|re| re.capture_into(value, caps))
    }
}

/// `eq` may be a string, a number (`"42"` and `"42.0"` equal `42`) or a boolean.
fn json_equals(eq: &serde_json::Value, value: &str) -> bool {
    match eq {
        serde_json::Value::String(s) => s == value,
        serde_json::Value::Number(n) => {
            n.as_f64()
                .zip(value.trim().parse::<f64>().ok())
                .is_some_and(|(a, b)| a == b)
                || n.to_string() == value
        }
        serde_json::Value::Bool(b) => value == if *b { "true" } else { "false" },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::request::RequestInfo;

    fn condition(json: &str) -> CompiledCondition {
        let parsed: Condition = serde_json::from_str(json).expect("valid condition json");
        CompiledCondition::compile(&parsed).expect("valid regex")
    }

    fn check(
        json: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<Vec<(String, String)>> {
        let view = RequestView::new(RequestInfo {
            method: "GET",
            path: "/",
            query,
            host: "Shop.Example.com:443",
            headers,
        });
        let mut caps = Vec::new();
        condition(json).test(&view, &mut caps).then_some(caps)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().expect("ascii"));
        }
        map
    }

    #[test]
    fn host_matches_the_lowercased_name_without_port_and_captures_it() {
        let none = HeaderMap::new();
        let caps = check(
            r#"{"type":"host","value":"(?<sub>[^.]+)\\.example\\.com"}"#,
            &none,
            None,
        )
        .expect("host matches");
        assert_eq!(
            caps,
            vec![
                ("sub".to_owned(), "shop".to_owned()),
                ("host".to_owned(), "shop.example.com".to_owned())
            ]
        );
        assert!(check(r#"{"type":"host","value":"example\\.com"}"#, &none, None).is_none());
    }

    #[test]
    fn header_without_value_matches_presence_and_captures_the_key() {
        let map = headers(&[("x-user-id", "7")]);
        let caps = check(r#"{"type":"header","key":"X-User-Id"}"#, &map, None).expect("present");
        assert_eq!(caps, vec![("xuserid".to_owned(), "7".to_owned())]);
        assert!(check(r#"{"type":"header","key":"x-absent"}"#, &map, None).is_none());
    }

    #[test]
    fn regex_values_are_anchored() {
        let map = headers(&[("x-v", "abc")]);
        assert!(check(r#"{"type":"header","key":"x-v","value":"b"}"#, &map, None).is_none());
        assert!(
            check(
                r#"{"type":"header","key":"x-v","value":"a.c|zzz"}"#,
                &map,
                None
            )
            .is_some()
        );
    }

    #[test]
    fn cookie_and_query_values_are_read_decoded() {
        let map = headers(&[("cookie", "role=super%20admin")]);
        assert!(
            check(
                r#"{"type":"cookie","key":"role","value":"super admin"}"#,
                &map,
                None
            )
            .is_some()
        );
        let none = HeaderMap::new();
        let caps = check(
            r#"{"type":"query","key":"page","value":"(?<n>\\d+)"}"#,
            &none,
            Some("page=12"),
        )
        .expect("query matches");
        assert_eq!(caps, vec![("n".to_owned(), "12".to_owned())]);
    }

    #[test]
    fn matcher_objects_combine_every_operator() {
        let none = HeaderMap::new();
        let q = |json: &str, query: &'static str| check(json, &none, Some(query)).is_some();
        let base = r#"{"type":"query","key":"v","value":"#;
        let with = |m: &str| format!("{base}{m}}}");
        assert!(q(&with(r#"{"eq":"a"}"#), "v=a"));
        assert!(!q(&with(r#"{"eq":"a"}"#), "v=b"));
        assert!(q(&with(r#"{"eq":42}"#), "v=42"));
        assert!(q(&with(r#"{"neq":"a"}"#), "v=b"));
        assert!(q(&with(r#"{"inc":["a","b"]}"#), "v=b"));
        assert!(!q(&with(r#"{"ninc":["a","b"]}"#), "v=b"));
        assert!(q(&with(r#"{"pre":"en-","suf":"-US"}"#), "v=en-x-US"));
        assert!(q(&with(r#"{"gt":1,"lte":3}"#), "v=3"));
        assert!(!q(&with(r#"{"gt":1,"lte":3}"#), "v=4"));
        assert!(!q(&with(r#"{"lt":5}"#), "v=abc"));
        assert!(q(&with(r#"{"re":"^beta"}"#), "v=beta-2"));
        assert!(!q(&with(r#"{"pre":"x"}"#), "other=x"));
    }
}
