//! vercel.json `source` patterns: path-to-regexp (v6, the version Vercel vendors) to regex text.
//!
//! Options are Vercel's: `strict` (no optional trailing slash), case-sensitive, `/` as the only
//! delimiter. The output is the regex Vercel writes into `config.json`, with `\/` written as `/`
//! (Vercel normalises that too), so `/blog/:slug` becomes `^/blog(?:/([^/]+?))$`.

/// Why a `source` pattern could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("missing parameter name after ':' at position {0}")]
    MissingName(usize),
    #[error("a parameter pattern cannot start with '?' at position {0}")]
    PatternStartsWithQuestion(usize),
    #[error(
        "capturing groups are not allowed inside a parameter pattern at position {0} (use (?:...))"
    )]
    CapturingGroup(usize),
    #[error("unbalanced parentheses at position {0}")]
    Unbalanced(usize),
    #[error("empty parameter pattern '()' at position {0}")]
    EmptyPattern(usize),
    #[error("unexpected {found} at position {at}, expected {expected}")]
    Unexpected {
        found: &'static str,
        at: usize,
        expected: &'static str,
    },
    /// A custom parameter pattern (`:id(...)`, `(...)`) that is not valid regex text, or one
    /// too costly to match (see the router's regex cost check).
    #[error("a parameter pattern is not a usable regex: {0}")]
    InvalidRegex(String),
}

/// A converted `source`: the anchored regex and its capture groups in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRegex {
    /// Anchored regex text, e.g. `^/blog(?:/([^/]+?))$`.
    pub src: String,
    /// One entry per capture group (`$1` is the first): `Some(name)` for `:name`, `None` for an
    /// unnamed `(...)` group.
    pub segments: Vec<Option<String>>,
}

/// Converts a path-to-regexp `source` (`/blog/:slug`, `/:path*`, `/(.*)`, `/:id(\\d+)`) to an
/// anchored regex.
pub fn source_to_regex(source: &str) -> Result<SourceRegex, PatternError> {
    let tokens = parse(&lex(source)?)?;
    let mut src = String::from("^");
    let mut segments = Vec::new();
    for token in &tokens {
        match token {
            Token::Text(text) => src.push_str(&escape(text)),
            Token::Key(key) => {
                if !key.pattern.is_empty() {
                    segments.push(key.name.clone());
                }
                push_key(&mut src, key);
            }
        }
    }
    src.push('$');
    // Parameter patterns are regex text: refuse a broken one here, where the error can name
    // the vercel.json key, rather than when the router compiles the routes.
    if let Err(reason) = crate::cost::compile(&src) {
        return Err(PatternError::InvalidRegex(reason));
    }
    Ok(SourceRegex { src, segments })
}

/// Escapes regex metacharacters in literal text.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn push_key(src: &mut String, key: &Key) {
    let prefix = escape(&key.prefix);
    let suffix = escape(&key.suffix);
    let modifier = key.modifier.map(String::from).unwrap_or_default();
    let pattern = &key.pattern;
    if pattern.is_empty() {
        src.push_str(&format!("(?:{prefix}{suffix}){modifier}"));
    } else if prefix.is_empty() && suffix.is_empty() {
        src.push_str(&format!("({pattern}){modifier}"));
    } else if matches!(key.modifier, Some('+' | '*')) {
        let optional = if key.modifier == Some('*') { "?" } else { "" };
        src.push_str(&format!(
            "(?:{prefix}((?:{pattern})(?:{suffix}{prefix}(?:{pattern}))*){suffix}){optional}"
        ));
    } else {
        src.push_str(&format!("(?:{prefix}({pattern}){suffix}){modifier}"));
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lex {
    Open,
    Close,
    Pattern(String),
    Name(String),
    Char(char),
    Escaped(char),
    Modifier(char),
    End,
}

impl Lex {
    fn describe(&self) -> &'static str {
        match self {
            Lex::Open => "'{'",
            Lex::Close => "'}'",
            Lex::Pattern(_) => "a pattern",
            Lex::Name(_) => "a parameter",
            Lex::Char(_) | Lex::Escaped(_) => "a character",
            Lex::Modifier(_) => "a modifier (*, + or ?)",
            Lex::End => "the end",
        }
    }
}

fn lex(source: &str) -> Result<Vec<(usize, Lex)>, PatternError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '+' | '?' => tokens.push((i, Lex::Modifier(c))),
            '{' => tokens.push((i, Lex::Open)),
            '}' => tokens.push((i, Lex::Close)),
            '\\' => {
                // A trailing backslash escapes nothing; keep it literal.
                let escaped = chars.get(i + 1).copied().unwrap_or('\\');
                tokens.push((i, Lex::Escaped(escaped)));
                i += 1;
            }
            ':' => {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                if name.is_empty() {
                    return Err(PatternError::MissingName(i));
                }
                i += name.len();
                tokens.push((i - name.len(), Lex::Name(name)));
            }
            '(' => {
                let (pattern, end) = lex_pattern(&chars, i)?;
                tokens.push((i, Lex::Pattern(pattern)));
                i = end;
                continue;
            }
            _ => tokens.push((i, Lex::Char(c))),
        }
        i += 1;
    }
    tokens.push((chars.len(), Lex::End));
    Ok(tokens)
}

/// Reads `( ... )` starting at `open`; returns the inner pattern and the index after `)`.
fn lex_pattern(chars: &[char], open: usize) -> Result<(String, usize), PatternError> {
    let mut depth = 1;
    let mut pattern = String::new();
    let mut j = open + 1;
    if chars.get(j) == Some(&'?') {
        return Err(PatternError::PatternStartsWithQuestion(j));
    }
    while j < chars.len() {
        let c = chars[j];
        if c == '\\' {
            pattern.push(c);
            if let Some(next) = chars.get(j + 1) {
                pattern.push(*next);
            }
            j += 2;
            continue;
        }
        if c == ')' {
            depth -= 1;
            if depth == 0 {
                j += 1;
                break;
            }
        } else if c == '(' {
            depth += 1;
            if chars.get(j + 1) != Some(&'?') {
                return Err(PatternError::CapturingGroup(j));
            }
        }
        pattern.push(c);
        j += 1;
    }
    if depth != 0 {
        return Err(PatternError::Unbalanced(open));
    }
    if pattern.is_empty() {
        return Err(PatternError::EmptyPattern(open));
    }
    Ok((pattern, j))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Key(Key),
}

#[derive(Debug, Clone, PartialEq)]
struct Key {
    name: Option<String>,
    prefix: String,
    suffix: String,
    pattern: String,
    modifier: Option<char>,
}

const DEFAULT_PATTERN: &str = "[^/]+?";

struct Parser<'a> {
    tokens: &'a [(usize, Lex)],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Lex {
        self.tokens.get(self.i).map_or(&Lex::End, |(_, t)| t)
    }

    fn char(&mut self) -> Option<char> {
        match self.peek() {
            Lex::Char(c) => {
                let c = *c;
                self.i += 1;
                Some(c)
            }
            _ => None,
        }
    }

    fn escaped(&mut self) -> Option<char> {
        match self.peek() {
            Lex::Escaped(c) => {
                let c = *c;
                self.i += 1;
                Some(c)
            }
            _ => None,
        }
    }

    fn name(&mut self) -> Option<String> {
        match self.peek().clone() {
            Lex::Name(n) => {
                self.i += 1;
                Some(n)
            }
            _ => None,
        }
    }

    fn pattern(&mut self) -> Option<String> {
        match self.peek().clone() {
            Lex::Pattern(p) => {
                self.i += 1;
                Some(p)
            }
            _ => None,
        }
    }

    fn modifier(&mut self) -> Option<char> {
        match self.peek() {
            Lex::Modifier(m) => {
                let m = *m;
                self.i += 1;
                Some(m)
            }
            _ => None,
        }
    }

    fn text(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.char().or_else(|| self.escaped()) {
            out.push(c);
        }
        out
    }

    fn expect(&mut self, want: &Lex, expected: &'static str) -> Result<(), PatternError> {
        let (at, found) = self.tokens.get(self.i).cloned().unwrap_or((0, Lex::End));
        if &found == want {
            self.i += 1;
            return Ok(());
        }
        Err(PatternError::Unexpected {
            found: found.describe(),
            at,
            expected,
        })
    }
}

fn parse(tokens: &[(usize, Lex)]) -> Result<Vec<Token>, PatternError> {
    let mut p = Parser { tokens, i: 0 };
    let mut result = Vec::new();
    let mut path = String::new();
    while p.i < tokens.len() {
        let c = p.char();
        let name = p.name();
        let pattern = p.pattern();
        if name.is_some() || pattern.is_some() {
            let mut prefix = c.map(String::from).unwrap_or_default();
            if prefix != "." && prefix != "/" {
                path.push_str(&prefix);
                prefix.clear();
            }
            if !path.is_empty() {
                result.push(Token::Text(std::mem::take(&mut path)));
            }
            result.push(Token::Key(Key {
                name,
                prefix,
                suffix: String::new(),
                pattern: pattern.unwrap_or_else(|| DEFAULT_PATTERN.to_owned()),
                modifier: p.modifier(),
            }));
            continue;
        }
        if let Some(value) = c.or_else(|| p.escaped()) {
            path.push(value);
            continue;
        }
        if !path.is_empty() {
            result.push(Token::Text(std::mem::take(&mut path)));
        }
        if p.peek() == &Lex::Open {
            p.i += 1;
            result.push(Token::Key(parse_group(&mut p)?));
            continue;
        }
        p.expect(&Lex::End, "the end")?;
    }
    Ok(result)
}

/// `{prefix:name(pattern)suffix}modifier`, after the `{`.
fn parse_group(p: &mut Parser<'_>) -> Result<Key, PatternError> {
    let prefix = p.text();
    let name = p.name();
    let pattern = p.pattern();
    let suffix = p.text();
    p.expect(&Lex::Close, "'}'")?;
    let pattern = match (&name, pattern) {
        (_, Some(pattern)) => pattern,
        (Some(_), None) => DEFAULT_PATTERN.to_owned(),
        (None, None) => String::new(),
    };
    Ok(Key {
        name,
        prefix,
        suffix,
        pattern,
        modifier: p.modifier(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(source: &str) -> String {
        source_to_regex(source).expect("valid pattern").src
    }

    #[test]
    fn literal_paths_are_anchored_and_escaped() {
        assert_eq!(src("/some/old/path"), "^/some/old/path$");
        assert_eq!(src("/file.html"), "^/file\\.html$");
    }

    #[test]
    fn named_parameters_become_one_segment_groups() {
        let converted = source_to_regex("/projects/:id/edit").expect("valid");
        assert_eq!(converted.src, "^/projects(?:/([^/]+?))/edit$");
        assert_eq!(converted.segments, vec![Some("id".to_owned())]);
    }

    #[test]
    fn star_and_plus_parameters_span_segments() {
        assert_eq!(src("/:path*"), "^(?:/((?:[^/]+?)(?:/(?:[^/]+?))*))?$");
        assert_eq!(src("/a/:rest+"), "^/a(?:/((?:[^/]+?)(?:/(?:[^/]+?))*))$");
    }

    #[test]
    fn optional_parameters_take_the_question_modifier() {
        assert_eq!(src("/a/:b?"), "^/a(?:/([^/]+?))?$");
    }

    #[test]
    fn unnamed_groups_are_numbered_segments() {
        let converted = source_to_regex("/firebase/(.*)").expect("valid");
        assert_eq!(converted.src, "^/firebase(?:/(.*))$");
        assert_eq!(converted.segments, vec![None]);
    }

    #[test]
    fn custom_parameter_patterns_are_kept() {
        assert_eq!(src("/user/:id(\\d+)"), "^/user(?:/(\\d+))$");
        assert_eq!(
            src("/feedback/((?!general).*)"),
            "^/feedback(?:/((?!general).*))$"
        );
    }

    #[test]
    fn dot_is_a_prefix_for_parameters() {
        let converted = source_to_regex("/file.:ext").expect("valid");
        assert_eq!(converted.src, "^/file(?:\\.([^/]+?))$");
    }

    #[test]
    fn braces_group_prefix_and_suffix() {
        assert_eq!(src("/a{-:b}?"), "^/a(?:-([^/]+?))?$");
        assert_eq!(src("/a{.html}?"), "^/a(?:\\.html)?$");
    }

    #[test]
    fn escaped_characters_are_literal() {
        assert_eq!(src("/a\\:b"), "^/a:b$");
        assert_eq!(src("/a\\(b\\)"), "^/a\\(b\\)$");
    }

    #[test]
    fn invalid_patterns_are_rejected_with_the_position() {
        assert_eq!(source_to_regex("/:"), Err(PatternError::MissingName(1)));
        assert_eq!(
            source_to_regex("/(?:a)"),
            Err(PatternError::PatternStartsWithQuestion(2))
        );
        assert_eq!(
            source_to_regex("/((a))"),
            Err(PatternError::CapturingGroup(2))
        );
        assert_eq!(source_to_regex("/(a"), Err(PatternError::Unbalanced(1)));
        assert_eq!(source_to_regex("/()"), Err(PatternError::EmptyPattern(1)));
        assert!(matches!(
            source_to_regex("/*"),
            Err(PatternError::Unexpected { at: 1, .. })
        ));
        assert!(matches!(
            source_to_regex("/{a"),
            Err(PatternError::Unexpected { .. })
        ));
    }

    #[test]
    fn parameter_patterns_that_are_not_regexes_are_rejected_at_conversion() {
        // Found by tests/fuzz.rs: these converted to `^([)$` and `^(*)$`, which only failed
        // later, in Router::new, without naming the vercel.json key.
        for source in ["([)", "(*)", "/:id([z-a])"] {
            assert!(
                matches!(source_to_regex(source), Err(PatternError::InvalidRegex(_))),
                "{source} was accepted"
            );
        }
    }

    #[test]
    fn converted_patterns_compile_and_match_like_path_to_regexp() {
        let cases: &[(&str, &str, bool)] = &[
            ("/blog/:slug", "/blog/hello", true),
            ("/blog/:slug", "/blog/hello/", false),
            ("/blog/:slug", "/blog/a/b", false),
            ("/:path*", "/a/b/c", true),
            ("/:path*", "", true),
            ("/:path+", "/", false),
            ("/user/:id(\\d+)", "/user/42", true),
            ("/user/:id(\\d+)", "/user/abc", false),
            ("/feedback/((?!general).*)", "/feedback/general", false),
            ("/feedback/((?!general).*)", "/feedback/other", true),
        ];
        for (source, path, expected) in cases {
            let re = fancy_regex::Regex::new(&src(source)).expect("compiles");
            assert_eq!(
                re.is_match(*path).expect("no backtrack limit"),
                *expected,
                "{source} vs {path}"
            );
        }
    }
}
