//! `$1` / `$name` templates in `dest` and header values: parsed once when a [`crate::Router`] is
//! built, rendered per request from the [`Captures`] of the matching route.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Bytes of a capture that must be escaped before it goes into a URL or a header value: controls
/// (no header injection), space, non-ASCII, and characters not allowed raw in URLs.
const URL_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A text with capture references, e.g. `/api/users/[id]?id=$1` or `https://x.dev/$path`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    /// `$0`, `$1`, ...: a numbered group of the route's `src`.
    Index(usize),
    /// `$name`: a named group of `src` or a capture of a `has` condition.
    Name(String),
}

/// How capture values are written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// As matched (percent-decoded): for paths routed further and query values encoded later.
    Raw,
    /// Percent-encoded where unsafe: for `Location`, external URLs and header values.
    Url,
}

impl Template {
    /// Parses `text`; literal parts pass through `literal` (e.g. percent-decoding).
    pub(crate) fn parse_with(text: &str, literal: impl Fn(&str) -> String) -> Template {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            lit.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (part, used) = reference(after);
            match part {
                Some(part) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(literal(&std::mem::take(&mut lit))));
                    }
                    parts.push(part);
                }
                None => lit.push('$'),
            }
            rest = &after[used..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(literal(&lit)));
        }
        Template { parts }
    }

    pub(crate) fn parse(text: &str) -> Template {
        Template::parse_with(text, str::to_owned)
    }

    /// The text when the template references no capture.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(text)] => Some(text),
            _ => None,
        }
    }

    pub(crate) fn render(&self, caps: &Captures<'_>, encoding: Encoding, out: &mut String) {
        for part in &self.parts {
            let value = match part {
                Part::Lit(text) => {
                    out.push_str(text);
                    continue;
                }
                // A numbered group that does not exist or did not take part renders empty.
                Part::Index(i) => caps.index(*i).unwrap_or(""),
                Part::Name(name) => match caps.name(name) {
                    Some(value) => value,
                    // An unknown name is not a reference: keep the text (`$` is common in CSP).
                    None => {
                        out.push('$');
                        out.push_str(name);
                        continue;
                    }
                },
            };
            match encoding {
                Encoding::Raw => out.push_str(value),
                Encoding::Url => out.extend(utf8_percent_encode(value, URL_UNSAFE)),
            }
        }
    }

    pub(crate) fn render_to_string(&self, caps: &Captures<'_>, encoding: Encoding) -> String {
        let mut out = String::new();
        self.render(caps, encoding, &mut out);
        out
    }
}

/// Reads a reference after `$`: digits, or a name `[A-Za-z_][A-Za-z0-9_]*`.
fn reference(after: &str) -> (Option<Part>, usize) {
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        return match after[..digits].parse::<usize>() {
            Ok(i) => (Some(Part::Index(i)), digits),
            Err(_) => (None, 0),
        };
    }
    let starts_name = after
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !starts_name {
        return (None, 0);
    }
    let len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    (Some(Part::Name(after[..len].to_owned())), len)
}

/// The captures of one matching route: groups of `src` against the path, plus the values that
/// `has` conditions captured (those win over `src` groups of the same name, as on Vercel).
#[derive(Debug, Default)]
pub(crate) struct Captures<'t> {
    pub(crate) path: Option<fancy_regex::Captures<'t, str>>,
    pub(crate) extra: Vec<(String, String)>,
}

impl Captures<'_> {
    fn index(&self, i: usize) -> Option<&str> {
        self.path.as_ref()?.get(i).map(|m| m.as_str())
    }

    fn name(&self, name: &str) -> Option<&str> {
        if let Some((_, value)) = self.extra.iter().rev().find(|(n, _)| n == name) {
            return Some(value);
        }
        self.path.as_ref()?.name(name).map(|m| m.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captures<'t>(re: &fancy_regex::Regex, text: &'t str) -> Captures<'t> {
        Captures {
            path: re.captures(text).expect("no backtrack limit"),
            extra: Vec::new(),
        }
    }

    #[test]
    fn renders_numbered_and_named_groups() {
        let re = fancy_regex::Regex::new("^/(?<a>[^/]+)/([^/]+)$").expect("valid");
        let caps = captures(&re, "/x/y");
        let t = Template::parse("/$a/$2/$1/$0");
        assert_eq!(t.render_to_string(&caps, Encoding::Raw), "/x/y/x//x/y");
    }

    #[test]
    fn missing_groups_render_empty_and_unknown_names_stay_literal() {
        let re = fancy_regex::Regex::new("^/(a)?b$").expect("valid");
        let caps = captures(&re, "/b");
        let t = Template::parse("[$1][$9][$nope][$][$-]");
        assert_eq!(
            t.render_to_string(&caps, Encoding::Raw),
            "[][][$nope][$][$-]"
        );
    }

    #[test]
    fn has_captures_win_over_src_groups_of_the_same_name() {
        let re = fancy_regex::Regex::new("^/(?<id>.*)$").expect("valid");
        let mut caps = captures(&re, "/from-path");
        caps.extra.push(("id".to_owned(), "from-has".to_owned()));
        let t = Template::parse("$id");
        assert_eq!(t.render_to_string(&caps, Encoding::Raw), "from-has");
    }

    #[test]
    fn url_encoding_escapes_unsafe_capture_bytes_only() {
        let re = fancy_regex::Regex::new("(?s)^/(.*)$").expect("valid");
        let caps = captures(&re, "/a b\r\nx/é?q");
        let t = Template::parse("https://x.dev/ $1");
        assert_eq!(
            t.render_to_string(&caps, Encoding::Url),
            "https://x.dev/ a%20b%0D%0Ax/%C3%A9?q"
        );
    }

    #[test]
    fn literal_parts_can_be_transformed_once_at_parse_time() {
        let t = Template::parse_with("/a%20b/$1", |s| s.replace("%20", " "));
        assert_eq!(t.parts, vec![Part::Lit("/a b/".to_owned()), Part::Index(1)]);
        assert_eq!(Template::parse("/plain").as_literal(), Some("/plain"));
        assert_eq!(Template::parse("/$1").as_literal(), None);
    }
}
