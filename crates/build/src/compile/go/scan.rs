//! Just enough of Go's lexical grammar to read what the build step needs from a source file:
//! the package name, the imported paths, and the handler — the first exported top-level
//! `func X(w http.ResponseWriter, r *http.Request)` (vercel-compat §4). Comments, strings and
//! runes are skipped properly, so a signature inside a comment or a string does not count.

/// One token of Go source; identifiers and literals keep their byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    /// A string literal (interpreted or raw), quotes included.
    Str,
    /// Numbers and rune literals: nothing the scanner looks into.
    Literal,
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// An identifier in the source and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident {
    pub name: String,
    pub start: usize,
}

/// What [`scan`] read from one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Scanned {
    /// The `package` clause's name; `None` when the file does not start with one.
    pub package: Option<Ident>,
    /// Every imported path, unquoted.
    pub imports: Vec<String>,
    /// The handler function's name.
    pub handler: Option<Ident>,
}

fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = find_from(bytes, i, b"\n").map_or(bytes.len(), |at| at + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find_from(bytes, i + 2, b"*/").map_or(bytes.len(), |at| at + 2);
            }
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i, c);
                let kind = if c == b'"' { Kind::Str } else { Kind::Literal };
                tokens.push(Token {
                    kind,
                    start,
                    end: i,
                });
            }
            b'`' => {
                i = find_from(bytes, i + 1, b"`").map_or(bytes.len(), |at| at + 1);
                tokens.push(Token {
                    kind: Kind::Str,
                    start,
                    end: i,
                });
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                    // `1.5`, `1e-3`: the rest of a number is not a separate token.
                    if i < bytes.len() && bytes[i] == b'.' {
                        i += 1;
                    }
                }
                tokens.push(Token {
                    kind: Kind::Literal,
                    start,
                    end: i,
                });
            }
            _ if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let rest = &source[i..];
                let len = rest
                    .char_indices()
                    .find(|(_, ch)| !(ch.is_alphanumeric() || *ch == '_'))
                    .map_or(rest.len(), |(at, _)| at);
                // A non-letter non-ASCII character is not an identifier: step over it.
                i += len.max(rest.chars().next().map_or(1, char::len_utf8));
                if len > 0 {
                    tokens.push(Token {
                        kind: Kind::Ident,
                        start,
                        end: i,
                    });
                }
            }
            _ => {
                i += 1;
                tokens.push(Token {
                    kind: Kind::Punct(c),
                    start,
                    end: i,
                });
            }
        }
    }
    tokens
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

/// The index after the closing `quote` of the literal opening at `at` (or the line's end for
/// an unterminated one).
fn skip_quoted(bytes: &[u8], at: usize, quote: u8) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Reads the package name, imports and handler of one Go file.
pub(crate) fn scan(source: &str) -> Scanned {
    let tokens = tokenize(source);
    let text = |t: &Token| &source[t.start..t.end];
    let is_ident = |t: Option<&Token>, word: &str| {
        t.is_some_and(|t| t.kind == Kind::Ident && &source[t.start..t.end] == word)
    };
    let mut scanned = Scanned::default();
    let mut i = 0;
    if is_ident(tokens.first(), "package")
        && let Some(name) = tokens.get(1).filter(|t| t.kind == Kind::Ident)
    {
        scanned.package = Some(Ident {
            name: text(name).to_owned(),
            start: name.start,
        });
        i = 2;
    }
    while i < tokens.len() {
        if is_ident(tokens.get(i), "import") {
            i = read_imports(source, &tokens, i + 1, &mut scanned.imports);
        } else if tokens[i].kind == Kind::Punct(b';') {
            i += 1;
        } else {
            break;
        }
    }
    scanned.handler = find_handler(source, &tokens[i..]);
    scanned
}

/// Reads one import declaration starting after the `import` keyword; returns the index after.
fn read_imports(source: &str, tokens: &[Token], mut i: usize, imports: &mut Vec<String>) -> usize {
    let grouped = tokens.get(i).is_some_and(|t| t.kind == Kind::Punct(b'('));
    if grouped {
        i += 1;
    }
    while let Some(token) = tokens.get(i) {
        i += 1;
        match token.kind {
            Kind::Str => {
                imports.push(unquote(&source[token.start..token.end]));
                if !grouped {
                    break;
                }
            }
            Kind::Punct(b')') if grouped => break,
            _ => {}
        }
    }
    i
}

fn unquote(literal: &str) -> String {
    literal
        .get(1..literal.len().saturating_sub(1))
        .unwrap_or("")
        .to_owned()
}

/// The first exported top-level function without receiver whose two parameters are an
/// `http.ResponseWriter` and an `*http.Request`.
fn find_handler(source: &str, tokens: &[Token]) -> Option<Ident> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        match token.kind {
            Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
            Kind::Punct(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            Kind::Ident if depth == 0 && &source[token.start..token.end] == "func" => {
                if let (Some(name), Some(open)) = (tokens.get(i + 1), tokens.get(i + 2))
                    && name.kind == Kind::Ident
                    && open.kind == Kind::Punct(b'(')
                    && let Some(close) = matching(tokens, i + 2)
                {
                    let ident = &source[name.start..name.end];
                    let params = &source[open.end..tokens[close].start];
                    if is_exported(ident) && is_handler_params(params) {
                        return Some(Ident {
                            name: ident.to_owned(),
                            start: name.start,
                        });
                    }
                    i = close + 1;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the `)` closing the `(` at `open`.
fn matching(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
            Kind::Punct(b')' | b']' | b'}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_exported(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase)
}

/// `w http.ResponseWriter, r *http.Request` (names optional, any spacing, a trailing comma).
fn is_handler_params(params: &str) -> bool {
    let compact: String = strip_comments(params)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let parts: Vec<&str> = compact
        .trim_end_matches(',')
        .split(',')
        .filter(|p| !p.is_empty())
        .collect();
    matches!(parts.as_slice(), [w, r] if w.ends_with("http.ResponseWriter") && r.ends_with("*http.Request"))
}

fn strip_comments(text: &str) -> String {
    let tokens = tokenize(text);
    tokens
        .iter()
        .map(|t| &text[t.start..t.end])
        .collect::<Vec<_>>()
        .join(" ")
}

/// `source` with every use of the package-level identifier `from` (not a field or method
/// after `.`) renamed to `to`. Strings and comments are left alone.
pub(crate) fn rename(source: &str, from: &str, to: &str) -> String {
    let tokens = tokenize(source);
    let mut out = String::with_capacity(source.len() + 16);
    let mut copied = 0;
    for (at, token) in tokens.iter().enumerate() {
        let after_dot = at > 0 && tokens[at - 1].kind == Kind::Punct(b'.');
        if token.kind == Kind::Ident && !after_dot && &source[token.start..token.end] == from {
            out.push_str(&source[copied..token.start]);
            out.push_str(to);
            copied = token.end;
        }
    }
    out.push_str(&source[copied..]);
    out
}

/// `source` with its package clause naming `to` instead.
pub(crate) fn rename_package(source: &str, package: &Ident, to: &str) -> String {
    let end = package.start + package.name.len();
    format!("{}{to}{}", &source[..package.start], &source[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(source: &str) -> Option<String> {
        scan(source).handler.map(|h| h.name)
    }

    #[test]
    fn finds_the_first_exported_handler_and_skips_methods_and_helpers() {
        let source = r#"
package handler

import (
	"fmt"
	h "net/http"
)

// func Commented(w http.ResponseWriter, r *http.Request) {}
var s = "func InString(w http.ResponseWriter, r *http.Request)"

type T struct{}

func (t T) Method(w http.ResponseWriter, r *http.Request) {}
func helper(w http.ResponseWriter, r *http.Request) {}
func Other(a, b int) int { return a + b }
func Index(
	w http.ResponseWriter, // the response
	r *http.Request,
) {
	fmt.Fprint(w, "}")
}
func Second(w http.ResponseWriter, r *http.Request) {}
"#;
        let scanned = scan(source);
        assert_eq!(scanned.package.map(|p| p.name).as_deref(), Some("handler"));
        assert_eq!(scanned.imports, vec!["fmt", "net/http"]);
        assert_eq!(scanned.handler.map(|h| h.name).as_deref(), Some("Index"));
    }

    #[test]
    fn unnamed_parameters_count_and_wrong_shapes_do_not() {
        assert_eq!(
            handler("package a\nfunc H(http.ResponseWriter, *http.Request) {}").as_deref(),
            Some("H")
        );
        for wrong in [
            "package a\nfunc H(w http.ResponseWriter) {}",
            "package a\nfunc H(w http.ResponseWriter, r http.Request) {}",
            "package a\nfunc H(w http.ResponseWriter, r *http.Request, x int) {}",
            "package a\nvar F = func(w http.ResponseWriter, r *http.Request) {}",
            "package a\nfunc h(w http.ResponseWriter, r *http.Request) {}",
        ] {
            assert_eq!(handler(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn single_imports_and_raw_strings_are_read() {
        let scanned =
            scan("package main\nimport \"net/http\"\nimport x `github.com/a/b`\nfunc main() {}");
        assert_eq!(scanned.imports, vec!["net/http", "github.com/a/b"]);
        assert_eq!(scanned.package.map(|p| p.name).as_deref(), Some("main"));
    }

    #[test]
    fn renames_uses_of_a_package_identifier_but_not_fields_strings_or_comments() {
        let source = "func Handler(w W, r R) {}\nvar _ = Handler // Handler\nvar s = \"Handler\"\nvar y = x.Handler";
        assert_eq!(
            rename(source, "Handler", "Handler_1"),
            "func Handler_1(w W, r R) {}\nvar _ = Handler_1 // Handler\nvar s = \"Handler\"\nvar y = x.Handler"
        );
    }

    #[test]
    fn renames_the_package_clause() {
        let source = "// doc\npackage main\n\nfunc main() {}";
        let package = scan(source).package.unwrap();
        assert_eq!(
            rename_package(source, &package, "handler"),
            "// doc\npackage handler\n\nfunc main() {}"
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        for source in [
            "",
            "package",
            "\"unterminated",
            "/* open",
            "func (",
            "package é\nfunc Ü(w http.ResponseWriter, r *http.Request) {",
            "package a\nvar r = '\\''\nfunc X(",
            "1.5e-3 0x1F ∑",
        ] {
            let _ = scan(source);
            let _ = rename(source, "X", "Y");
        }
    }
}
