//! The Rust halves of the Web APIs whose work is better done by a library than in JavaScript:
//! UTF-8, base64, URL parsing (the `url` crate, WHATWG conformant), form encoding, digests and
//! HMAC (`sha1`/`sha2`/`hmac`), random values. Pure functions; `host` exposes them to the
//! prelude.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Why a Web API call was refused; thrown to JavaScript as a `TypeError` (or `DOMException`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WebApiError {
    #[error("the string to be encoded contains characters outside of the Latin1 range")]
    NotLatin1,
    #[error("the string to be decoded is not correctly encoded")]
    BadBase64,
    #[error("the encoded data was not valid utf-8")]
    BadUtf8,
    #[error("unrecognized algorithm name {0:?} (use SHA-1, SHA-256, SHA-384 or SHA-512)")]
    Algorithm(String),
}

/// `btoa`: a Latin1 string to base64.
pub(crate) fn btoa(input: &str) -> Result<String, WebApiError> {
    let bytes = input
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| WebApiError::NotLatin1))
        .collect::<Result<Vec<u8>, _>>()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `atob`: base64 (whitespace allowed, padding optional) to a Latin1 string.
pub(crate) fn atob(input: &str) -> Result<String, WebApiError> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r'))
        .collect();
    let trimmed = if cleaned.len().is_multiple_of(4) {
        cleaned.trim_end_matches('=').to_string()
    } else {
        cleaned
    };
    if trimmed.len() % 4 == 1 {
        return Err(WebApiError::BadBase64);
    }
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed.as_bytes())
        .map_err(|_| WebApiError::BadBase64)?;
    Ok(bytes.into_iter().map(char::from).collect())
}

/// `TextDecoder.decode`: replacement characters unless `fatal`.
pub(crate) fn utf8_decode(
    bytes: &[u8],
    fatal: bool,
    ignore_bom: bool,
) -> Result<String, WebApiError> {
    let bytes = if !ignore_bom {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    };
    if fatal {
        String::from_utf8(bytes.to_vec()).map_err(|_| WebApiError::BadUtf8)
    } else {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The parts of a parsed URL, in the order the prelude's `URL` class reads them.
pub(crate) fn url_parts(url: &url::Url) -> Vec<String> {
    let port = url.port().map(|p| p.to_string()).unwrap_or_default();
    let host = match url.host_str() {
        Some(h) if !port.is_empty() => format!("{h}:{port}"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    let search = match url.query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    };
    let hash = match url.fragment() {
        Some(f) if !f.is_empty() => format!("#{f}"),
        _ => String::new(),
    };
    vec![
        url.as_str().to_string(),
        format!("{}:", url.scheme()),
        url.username().to_string(),
        url.password().unwrap_or("").to_string(),
        host,
        url.host_str().unwrap_or("").to_string(),
        port,
        url.path().to_string(),
        search,
        hash,
        url.origin().ascii_serialization(),
    ]
}

/// `new URL(input, base)`: the parts, or `None` when the input is not a valid URL.
pub(crate) fn url_parse(input: &str, base: Option<&str>) -> Option<Vec<String>> {
    let url = match base {
        Some(base) => url::Url::parse(base).ok()?.join(input).ok()?,
        None => url::Url::parse(input).ok()?,
    };
    Some(url_parts(&url))
}

/// A URL setter (`url.pathname = …`): the new parts; invalid values leave the URL unchanged,
/// as the WHATWG setters do.
pub(crate) fn url_set(href: &str, part: &str, value: &str) -> Option<Vec<String>> {
    let mut url = url::Url::parse(href).ok()?;
    let strip = |v: &'_ str, c: char| v.strip_prefix(c).unwrap_or(v).to_string();
    // Setter failures are ignored on purpose: the spec keeps the old value.
    let _ = match part {
        "href" => {
            url = url::Url::parse(value).ok()?;
            Ok(())
        }
        "protocol" => url.set_scheme(value.trim_end_matches(':')),
        "username" => url.set_username(value),
        "password" => url.set_password(Some(value).filter(|v| !v.is_empty())),
        "host" => {
            let (host, port) = match value.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p.parse().ok()),
                _ => (value, None),
            };
            url.set_host(Some(host))
                .map_err(|_| ())
                .and_then(|()| url.set_port(port))
        }
        "hostname" => url.set_host(Some(value)).map_err(|_| ()),
        "port" => url.set_port(value.parse().ok()),
        "pathname" => {
            url.set_path(value);
            Ok(())
        }
        "search" => {
            let q = strip(value, '?');
            url.set_query(Some(q.as_str()).filter(|q| !q.is_empty()));
            Ok(())
        }
        "hash" => {
            let h = strip(value, '#');
            url.set_fragment(Some(h.as_str()).filter(|h| !h.is_empty()));
            Ok(())
        }
        _ => Ok(()),
    };
    Some(url_parts(&url))
}

/// `application/x-www-form-urlencoded` to flat `[name, value, name, value, …]`.
pub(crate) fn form_decode(input: &str) -> Vec<String> {
    let input = input.strip_prefix('?').unwrap_or(input);
    url::form_urlencoded::parse(input.as_bytes())
        .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
        .collect()
}

/// Flat `[name, value, …]` to `application/x-www-form-urlencoded`.
pub(crate) fn form_encode(pairs: &[String]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for pair in pairs.chunks(2) {
        if let [k, v] = pair {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

fn normalize(algorithm: &str) -> String {
    algorithm
        .to_ascii_uppercase()
        .replace("SHA", "SHA-")
        .replace("--", "-")
}

/// `crypto.subtle.digest`.
pub(crate) fn digest(algorithm: &str, data: &[u8]) -> Result<Vec<u8>, WebApiError> {
    Ok(match normalize(algorithm).as_str() {
        "SHA-1" => Sha1::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-384" => Sha384::digest(data).to_vec(),
        "SHA-512" => Sha512::digest(data).to_vec(),
        _ => return Err(WebApiError::Algorithm(algorithm.to_string())),
    })
}

/// `crypto.subtle.sign` with an HMAC key.
pub(crate) fn hmac(algorithm: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, WebApiError> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    Ok(match normalize(algorithm).as_str() {
        "SHA-1" => run::<Hmac<Sha1>>(key, data),
        "SHA-256" => run::<Hmac<Sha256>>(key, data),
        "SHA-384" => run::<Hmac<Sha384>>(key, data),
        "SHA-512" => run::<Hmac<Sha512>>(key, data),
        _ => return Err(WebApiError::Algorithm(algorithm.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_latin1_and_refuses_wide_characters() {
        assert_eq!(btoa("hello").as_deref(), Ok("aGVsbG8="));
        assert_eq!(atob("aGVsbG8=").as_deref(), Ok("hello"));
        assert_eq!(atob(" aGVs bG8 ").as_deref(), Ok("hello"));
        assert_eq!(btoa("€"), Err(WebApiError::NotLatin1));
        assert_eq!(atob("a"), Err(WebApiError::BadBase64));
    }

    #[test]
    fn url_parts_follow_the_whatwg_shape() {
        let parts =
            url_parse("/a/../b?x=1#h", Some("https://u:p@example.com:8443/base/")).expect("parses");
        assert_eq!(parts[0], "https://u:p@example.com:8443/b?x=1#h");
        assert_eq!(parts[4], "example.com:8443");
        assert_eq!(parts[7], "/b");
        assert_eq!(parts[8], "?x=1");
        assert_eq!(parts[9], "#h");
        assert_eq!(parts[10], "https://example.com:8443");
        assert!(url_parse("not a url", None).is_none());
    }

    #[test]
    fn url_setters_change_one_part() {
        let parts = url_set("http://a.com/x?q=1", "pathname", "/y z").expect("valid");
        assert_eq!(parts[0], "http://a.com/y%20z?q=1");
        let parts = url_set("http://a.com/x", "search", "?k=v").expect("valid");
        assert_eq!(parts[8], "?k=v");
    }

    #[test]
    fn hmac_and_digest_match_known_vectors() {
        let d = digest("SHA-256", b"abc").expect("known");
        assert_eq!(
            d[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "sha-256 of abc starts with ba7816bf"
        );
        let mac = hmac(
            "SHA-256",
            b"key",
            b"The quick brown fox jumps over the lazy dog",
        )
        .expect("known");
        assert_eq!(mac[..4], [0xf7, 0xbc, 0x83, 0xf4]);
        assert!(digest("MD5", b"").is_err());
    }

    #[test]
    fn form_encoding_round_trips() {
        let pairs = form_decode("?a=1&b=x+y&c=%26");
        assert_eq!(pairs, ["a", "1", "b", "x y", "c", "&"]);
        assert_eq!(form_encode(&pairs), "a=1&b=x+y&c=%26");
    }
}
