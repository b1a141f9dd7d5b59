//! A small JavaScript/TypeScript lexer, just enough to find `export const NAME = <literal>`
//! and the extent of the literal: it skips comments, strings, template literals and regular
//! expressions so that braces and keywords inside them are never mistaken for code.
//! It never fails: malformed input ends the scan early.

/// One token; `start..end` are byte offsets into the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ident,
    Number,
    Str,
    Template,
    Regex,
    Punct(u8),
}

/// `export const <name> = ...` found in a source; `value` is the first token after `=`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExportedConst<'a> {
    pub name: &'a str,
    pub export_start: usize,
    pub value: Token,
}

/// Every `export const NAME =` of the source, in order.
pub(super) fn exported_consts(source: &str) -> Vec<ExportedConst<'_>> {
    let mut lexer = Lexer::new(source, 0);
    let mut found = Vec::new();
    while let Some(token) = lexer.next_token() {
        if token.kind != Kind::Ident || lexer.text(token) != "export" {
            continue;
        }
        let Some(keyword) = lexer.next_token() else {
            break;
        };
        if keyword.kind != Kind::Ident || lexer.text(keyword) != "const" {
            continue;
        }
        let Some(name) = lexer.next_token() else {
            break;
        };
        if name.kind != Kind::Ident {
            continue;
        }
        if !lexer.skip_to_assignment() {
            continue;
        }
        if let Some(value) = lexer.next_token() {
            found.push(ExportedConst {
                name: lexer.text(name),
                export_start: token.start,
                value,
            });
        }
    }
    found
}

/// The tokens of the bracketed literal starting at `open` (a `{` or `[` token), up to and
/// including its closing bracket; `None` when it is never closed.
pub(super) fn literal_tokens(source: &str, open: Token) -> Option<Vec<Token>> {
    let mut lexer = Lexer::new(source, open.end);
    let mut tokens = vec![open];
    let mut depth = 1usize;
    while let Some(token) = lexer.next_token() {
        tokens.push(token);
        match token.kind {
            Kind::Punct(b'{' | b'[' | b'(') => depth += 1,
            Kind::Punct(b'}' | b']' | b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(tokens);
                }
            }
            _ => {}
        }
    }
    None
}

/// The token after `at`, if any (used to tell an object key from a value).
pub(super) fn token_after(source: &str, at: Token) -> Option<Token> {
    Lexer::new(source, at.end).next_token()
}

struct Lexer<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
    previous: Option<Token>,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a str, pos: usize) -> Self {
        Self {
            source,
            bytes: source.as_bytes(),
            pos,
            previous: None,
        }
    }

    fn text(&self, token: Token) -> &'a str {
        self.source.get(token.start..token.end).unwrap_or("")
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn next_token(&mut self) -> Option<Token> {
        self.skip_trivia();
        let start = self.pos;
        let byte = self.peek(0)?;
        let kind = match byte {
            b'"' | b'\'' => {
                self.skip_string(byte);
                Kind::Str
            }
            b'`' => {
                self.skip_template();
                Kind::Template
            }
            b'/' if self.regex_allowed() => {
                self.skip_regex();
                Kind::Regex
            }
            b'0'..=b'9' => {
                loop {
                    self.skip_while(|b| is_ident_byte(b) || b == b'.');
                    // An exponent sign belongs to the number: `1e+3`.
                    let exponent = matches!(self.bytes.get(self.pos - 1), Some(b'e' | b'E'))
                        && matches!(self.peek(0), Some(b'+' | b'-'));
                    if !exponent {
                        break;
                    }
                    self.pos += 1;
                }
                Kind::Number
            }
            byte if is_ident_byte(byte) => {
                self.skip_while(is_ident_byte);
                Kind::Ident
            }
            byte => {
                self.pos += 1;
                Kind::Punct(byte)
            }
        };
        let token = Token {
            kind,
            start,
            end: self.pos,
        };
        self.previous = Some(token);
        Some(token)
    }

    /// After `export const NAME`: skips an optional TypeScript type annotation and the `=`.
    /// When no `=` follows, the lexer is left where it was and false is returned.
    fn skip_to_assignment(&mut self) -> bool {
        let (pos, previous) = (self.pos, self.previous);
        match self.next_token() {
            Some(Token {
                kind: Kind::Punct(b'='),
                ..
            }) => return true,
            Some(Token {
                kind: Kind::Punct(b':'),
                ..
            }) => {}
            _ => {
                (self.pos, self.previous) = (pos, previous);
                return false;
            }
        }
        let mut depth = 0usize;
        while let Some(token) = self.next_token() {
            match token.kind {
                Kind::Punct(b'(' | b'[' | b'{' | b'<') => depth += 1,
                Kind::Punct(b')' | b']' | b'}' | b'>') => depth = depth.saturating_sub(1),
                Kind::Punct(b'=') if depth == 0 && !matches!(self.peek(0), Some(b'>' | b'=')) => {
                    return true;
                }
                Kind::Punct(b';') if depth == 0 => break,
                Kind::Ident
                    if depth == 0
                        && matches!(self.text(token), "export" | "const" | "let" | "var") =>
                {
                    break;
                }
                _ => {}
            }
        }
        (self.pos, self.previous) = (pos, previous);
        false
    }

    /// A `/` starts a regex unless it follows something that ends an expression.
    fn regex_allowed(&self) -> bool {
        let Some(previous) = self.previous else {
            return true;
        };
        match previous.kind {
            Kind::Ident => matches!(
                self.text(previous),
                "return"
                    | "typeof"
                    | "instanceof"
                    | "in"
                    | "of"
                    | "new"
                    | "delete"
                    | "void"
                    | "throw"
                    | "case"
                    | "do"
                    | "else"
                    | "yield"
                    | "await"
            ),
            Kind::Number | Kind::Str | Kind::Template | Kind::Regex => false,
            Kind::Punct(b')' | b']') => false,
            Kind::Punct(_) => true,
        }
    }

    fn skip_trivia(&mut self) {
        while let Some(byte) = self.peek(0) {
            match (byte, self.peek(1)) {
                (b'/', Some(b'/')) => self.skip_while(|b| b != b'\n'),
                (b'/', Some(b'*')) => {
                    self.pos += 2;
                    while self.pos < self.bytes.len()
                        && !(self.peek(0) == Some(b'*') && self.peek(1) == Some(b'/'))
                    {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.bytes.len());
                }
                (byte, _) if byte.is_ascii_whitespace() => self.pos += 1,
                _ => return,
            }
        }
    }

    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek(0).is_some_and(&keep) {
            self.pos += 1;
        }
    }

    fn skip_string(&mut self, quote: u8) {
        self.pos += 1;
        while let Some(byte) = self.peek(0) {
            self.pos += 1;
            match byte {
                b'\\' => self.pos = (self.pos + 1).min(self.bytes.len()),
                b'\n' => return,
                byte if byte == quote => return,
                _ => {}
            }
        }
    }

    fn skip_template(&mut self) {
        self.pos += 1;
        while let Some(byte) = self.peek(0) {
            match byte {
                b'\\' => self.pos = (self.pos + 2).min(self.bytes.len()),
                b'`' => {
                    self.pos += 1;
                    return;
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.pos += 2;
                    self.skip_substitution();
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Inside `${ ... }`: consumes code up to and including the matching `}`.
    fn skip_substitution(&mut self) {
        let saved = self.previous.take();
        let mut depth = 0usize;
        while let Some(token) = self.next_token() {
            match token.kind {
                Kind::Punct(b'{') => depth += 1,
                Kind::Punct(b'}') if depth == 0 => break,
                Kind::Punct(b'}') => depth -= 1,
                _ => {}
            }
        }
        self.previous = saved;
    }

    fn skip_regex(&mut self) {
        self.pos += 1;
        let mut in_class = false;
        while let Some(byte) = self.peek(0) {
            self.pos += 1;
            match byte {
                b'\\' => self.pos = (self.pos + 1).min(self.bytes.len()),
                b'[' => in_class = true,
                b']' => in_class = false,
                b'/' if !in_class => break,
                b'\n' => return,
                _ => {}
            }
        }
        self.skip_while(is_ident_byte);
    }
}

/// Identifier bytes; non-ASCII bytes count so multi-byte characters are never split.
fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(source: &str) -> Vec<&str> {
        exported_consts(source).iter().map(|e| e.name).collect()
    }

    #[test]
    fn finds_exports_but_not_inside_comments_strings_or_templates() {
        let source = r#"
            // export const commented = 1;
            /* export const blocked = 2; */
            const s = "export const quoted = 3";
            const t = `export const templated = ${ { a: "}" }.a } export const still = 4`;
            const r = /export const regex = 5/;
            export const config = { a: 1 };
            export const maxDuration: number = 30;
        "#;
        assert_eq!(names(source), ["config", "maxDuration"]);
    }

    #[test]
    fn division_is_not_taken_for_a_regex() {
        let source = "const half = total / 2; const q = '/'; export const config = {};";
        assert_eq!(names(source), ["config"]);
    }

    #[test]
    fn type_annotations_with_generics_and_arrows_are_skipped() {
        let source = "export const config: Record<string, (a: number) => void> = { a: 1 };";
        let found = exported_consts(source);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value.kind, Kind::Punct(b'{'));
    }

    #[test]
    fn a_declaration_without_assignment_does_not_swallow_the_next_export() {
        let source = "export const enum Mode { A }\nexport const config = { a: 1 };";
        assert_eq!(names(source), ["config"]);
        let declared = "declare export const x: number;\nexport const maxDuration = 5;";
        assert_eq!(names(declared), ["maxDuration"]);
    }

    #[test]
    fn literal_tokens_stop_at_the_matching_brace() {
        let source = "export const config = { a: { b: '}' }, c: [1, 2] }; const x = {};";
        let export = exported_consts(source)[0];
        let tokens = literal_tokens(source, export.value).expect("closed");
        let last = tokens.last().expect("non-empty");
        assert_eq!(
            &source[export.value.start..last.end],
            "{ a: { b: '}' }, c: [1, 2] }"
        );
        assert!(
            literal_tokens(
                "{ a: 1",
                Token {
                    kind: Kind::Punct(b'{'),
                    start: 0,
                    end: 1
                }
            )
            .is_none()
        );
    }
}
