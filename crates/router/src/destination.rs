//! vercel.json `destination`s and header texts: `:param` references to the `source` pattern (or
//! to `has` captures) become `$n` / `$name` route references, as Vercel's conversion writes them.
//!
//! A rewrite whose destination path uses none of the parameters gets them all as query
//! parameters (`/blog/:slug` → `/api/post` becomes `/api/post?slug=$1`); redirects never do.

/// The parameters a rule can reference: `(name, reference)`, e.g. `("slug", "$1")`,
/// `("user", "$user")` for a `has` capture (those win over `source` parameters).
pub(crate) fn params(segments: &[Option<String>], has_names: &[String]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, reference: String| match params.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = reference,
        None => params.push((name.to_owned(), reference)),
    };
    for (i, segment) in segments.iter().enumerate() {
        if let Some(name) = segment {
            set(name, format!("${}", i + 1));
        }
    }
    for name in has_names {
        set(name, format!("${name}"));
    }
    params
}

/// Converts a rewrite or redirect destination.
pub(crate) fn convert(destination: &str, params: &[(String, String)], redirect: bool) -> String {
    if redirect && params.is_empty() {
        return destination.to_owned();
    }
    let url = split_url(destination);
    let (authority, used_in_authority) = replace_params(url.authority, params);
    let (path, used_in_path) = replace_params(url.path, params);
    let (hash, used_in_hash) = url.hash.map_or((None, false), |h| {
        let (text, used) = replace_params(h, params);
        (Some(text), used)
    });
    let mut query: Vec<String> = url
        .query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => format!("{key}={}", replace_params(value, params).0),
            None => pair.to_owned(),
        })
        .collect();
    let used = used_in_authority || used_in_path || used_in_hash;
    if !redirect && !used {
        for (name, reference) in params {
            let present = query
                .iter()
                .any(|pair| pair.split_once('=').map_or(pair.as_str(), |(k, _)| k) == name);
            if !present {
                query.push(format!("{name}={reference}"));
            }
        }
    }
    let mut out = format!("{}{authority}{path}", url.scheme);
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    if let Some(hash) = hash {
        out.push('#');
        out.push_str(&hash);
    }
    out
}

/// Converts a header key or value.
pub(crate) fn convert_text(text: &str, params: &[(String, String)]) -> String {
    replace_params(text, params).0
}

/// The first `:name` in `destination` (host, path, query values) that is neither a `source`
/// parameter nor a `has` capture.
pub(crate) fn unknown_param(destination: &str, params: &[(String, String)]) -> Option<String> {
    let url = split_url(destination);
    let host = url
        .authority
        .rsplit_once('@')
        .map_or(url.authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let values = url
        .query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v));
    [host, url.path]
        .into_iter()
        .chain(values)
        .flat_map(param_names)
        .find(|name| !params.iter().any(|(n, _)| n == name))
}

struct Url<'a> {
    /// `https://` or empty.
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    hash: Option<&'a str>,
}

fn split_url(text: &str) -> Url<'_> {
    let (before_hash, hash) = match text.split_once('#') {
        Some((before, hash)) => (before, Some(hash)),
        None => (text, None),
    };
    let (before_query, query) = match before_hash.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (before_hash, None),
    };
    let (scheme, rest) = match before_query.find("://") {
        Some(at) if !before_query[..at].contains('/') => before_query.split_at(at + 3),
        _ => ("", before_query),
    };
    let (authority, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        rest.split_at(rest.find('/').unwrap_or(rest.len()))
    };
    Url {
        scheme,
        authority,
        path,
        query,
        hash,
    }
}

/// Replaces each `:name` (and a following `*`, `+` or `?` modifier) that names a parameter;
/// reports whether any was replaced. Other text, including unknown `:names`, stays as is.
fn replace_params(text: &str, params: &[(String, String)]) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut used = false;
    let mut rest = text;
    while let Some(at) = rest.find(':') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = name_len(after);
        match params.iter().find(|(n, _)| len > 0 && n == &after[..len]) {
            Some((_, reference)) => {
                out.push_str(reference);
                used = true;
                let skip = usize::from(after[len..].starts_with(['*', '+', '?']));
                rest = &after[len + skip..];
            }
            None => {
                out.push(':');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, used)
}

fn name_len(text: &str) -> usize {
    text.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

fn param_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices(':').filter_map(move |(at, _)| {
        let after = &text[at + 1..];
        let len = name_len(after);
        (len > 0).then(|| after[..len].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: &[&str]) -> Vec<Option<String>> {
        names
            .iter()
            .map(|n| (!n.is_empty()).then(|| (*n).to_owned()))
            .collect()
    }

    #[test]
    fn path_parameters_become_numbered_references() {
        let p = params(&named(&["slug"]), &[]);
        assert_eq!(convert("/news/:slug", &p, true), "/news/$1");
        assert_eq!(convert("/api/echo/:slug", &p, false), "/api/echo/$1");
    }

    #[test]
    fn rewrites_pass_unused_parameters_as_query() {
        let p = params(&named(&["slug", "page"]), &[]);
        assert_eq!(convert("/api/post", &p, false), "/api/post?slug=$1&page=$2");
        assert_eq!(
            convert("/api/post?slug=x", &p, false),
            "/api/post?slug=x&page=$2"
        );
    }

    #[test]
    fn redirects_never_add_query_parameters() {
        let p = params(&named(&["slug"]), &[]);
        assert_eq!(convert("/elsewhere", &p, true), "/elsewhere");
    }

    #[test]
    fn unnamed_groups_keep_destinations_unchanged() {
        let p = params(&named(&[""]), &[]);
        assert_eq!(
            convert("/index.js?route-param=b", &p, false),
            "/index.js?route-param=b"
        );
        assert_eq!(
            convert("https://example.com/$1", &p, true),
            "https://example.com/$1"
        );
    }

    #[test]
    fn modifiers_after_parameters_are_dropped_and_hosts_replaced() {
        let p = params(&named(&["sub", "path"]), &[]);
        assert_eq!(
            convert(
                "https://:sub.example.com:8080/:path*?q=:sub#:path",
                &p,
                true
            ),
            "https://$1.example.com:8080/$2?q=$1#$2"
        );
    }

    #[test]
    fn has_captures_override_source_parameters() {
        let p = params(&named(&["id"]), &["id".to_owned(), "user".to_owned()]);
        assert_eq!(convert("/u/:user/:id", &p, false), "/u/$user/$id");
        assert_eq!(convert_text("x-:user", &p), "x-$user");
    }

    #[test]
    fn longer_names_are_not_confused_with_parameters() {
        let p = params(&named(&["slug"]), &[]);
        assert_eq!(convert_text("a:slugs b:slug", &p), "a:slugs b$1");
    }

    #[test]
    fn unknown_destination_parameters_are_found() {
        let p = params(&named(&["slug"]), &[]);
        assert_eq!(unknown_param("/post/:slug", &p), None);
        assert_eq!(unknown_param("/post/:sulg", &p), Some("sulg".to_owned()));
        assert_eq!(
            unknown_param("https://x.dev:3000/a?b=:c", &p),
            Some("c".to_owned())
        );
        assert_eq!(unknown_param("https://user@x.dev:443/:slug", &p), None);
    }
}
