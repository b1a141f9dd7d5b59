//! Query strings: the query a route's `dest` produces, merged with the client's. On a key that
//! both have, the client's value wins (`Object.assign(destQuery, reqQuery)` in `vercel dev`).

use std::borrow::Cow;

use url::form_urlencoded;

/// Appends `key=value` (form-encoded) to `out`, with `&` when `out` is not empty.
pub(crate) fn push_pair(out: &mut String, key: &str, value: Option<&str>) {
    if !out.is_empty() {
        out.push('&');
    }
    out.extend(form_urlencoded::byte_serialize(key.as_bytes()));
    if let Some(value) = value {
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(value.as_bytes()));
    }
}

/// Merges an encoded route query with the client's raw query. Route pairs whose key the client
/// also sends are dropped; the client's query is kept byte for byte at the end.
pub(crate) fn merge(route: Option<&str>, client: Option<&str>) -> String {
    let client = client.unwrap_or("");
    let route = route.unwrap_or("");
    if route.is_empty() {
        return client.to_owned();
    }
    let client_keys: Vec<Cow<'_, str>> = form_urlencoded::parse(client.as_bytes())
        .map(|(k, _)| k)
        .collect();
    let mut out = String::with_capacity(route.len() + client.len() + 1);
    for pair in route.split('&').filter(|p| !p.is_empty()) {
        let raw_key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let key = form_urlencoded::parse(raw_key.as_bytes())
            .next()
            .map(|(k, _)| k)
            .unwrap_or_default();
        if client_keys.contains(&key) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(pair);
    }
    if !client.is_empty() {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(client);
    }
    out
}

/// Merges the client's query into a URL (`/a?b=1#c` or `https://x.dev/a?b`), keeping its
/// fragment.
pub(crate) fn merge_into_url(url: &str, client: Option<&str>) -> String {
    if client.is_none_or(str::is_empty) {
        return url.to_owned();
    }
    let (before_hash, hash) = match url.split_once('#') {
        Some((before, hash)) => (before, Some(hash)),
        None => (url, None),
    };
    let (base, query) = match before_hash.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_hash, None),
    };
    let merged = merge(query, client);
    let mut out = String::with_capacity(url.len() + merged.len() + 2);
    out.push_str(base);
    if !merged.is_empty() {
        out.push('?');
        out.push_str(&merged);
    }
    if let Some(hash) = hash {
        out.push('#');
        out.push_str(hash);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_and_client_params_are_both_kept() {
        assert_eq!(
            merge(Some("route-param=b"), Some("url-param=a")),
            "route-param=b&url-param=a"
        );
    }

    #[test]
    fn client_value_wins_on_conflict() {
        assert_eq!(merge(Some("id=1&x=2"), Some("id=9")), "x=2&id=9");
        assert_eq!(merge(Some("a%20b=1"), Some("a+b=2")), "a+b=2");
    }

    #[test]
    fn either_side_may_be_missing() {
        assert_eq!(merge(None, Some("a=1")), "a=1");
        assert_eq!(merge(Some("a=1"), None), "a=1");
        assert_eq!(merge(None, None), "");
    }

    #[test]
    fn pairs_are_form_encoded() {
        let mut out = String::new();
        push_pair(&mut out, "id", Some("a b&c=é"));
        push_pair(&mut out, "flag", None);
        assert_eq!(out, "id=a+b%26c%3D%C3%A9&flag");
    }

    #[test]
    fn client_query_is_merged_into_urls_before_the_fragment() {
        assert_eq!(
            merge_into_url("/a/?x=1#top", Some("y=2")),
            "/a/?x=1&y=2#top"
        );
        assert_eq!(
            merge_into_url("https://x.dev/p", Some("y=2")),
            "https://x.dev/p?y=2"
        );
        assert_eq!(merge_into_url("/a?x=1", None), "/a?x=1");
    }
}
