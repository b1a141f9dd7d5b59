//! Zero-config `api/` routes: dynamic `[param]` segments, the `miss` rule that serves
//! `/api/x.js` as `api/x`, the 404 for unmatched `/api` paths, and (with `cleanUrls`) the
//! redirects away from source extensions. Static paths need no route: the filesystem check
//! finds them, and it runs before these, so static files and functions win over dynamic ones.

use std::cmp::Reverse;

use eddy_config::route::{Route, SourceRoute};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use url::form_urlencoded;

use crate::pattern::escape;

/// Source extensions of zero-config functions.
const EXTENSIONS: &str = "js|mjs|cjs|ts|tsx|mts|cts|py|go|rb|rs";

/// Characters of a function path that would change the meaning of a `dest`.
const DEST_RESERVED: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b'$');

fn route(src: String) -> SourceRoute {
    SourceRoute {
        src,
        case_sensitive: Some(true),
        ..SourceRoute::default()
    }
}

/// One `check: true` rewrite per function with a `[param]` segment, most specific first:
/// more segments, then fewer parameters, then by name.
pub(crate) fn dynamic_routes(functions: &[&str]) -> Vec<Route> {
    let mut dynamic: Vec<&str> = functions
        .iter()
        .copied()
        .filter(|f| f.split('/').any(|s| param_name(s).is_some()))
        .collect();
    dynamic.sort_by_key(|f| {
        let segments = f.split('/').count();
        let params = f.split('/').filter(|s| param_name(s).is_some()).count();
        (Reverse(segments), params, *f)
    });
    dynamic.into_iter().map(dynamic_route).collect()
}

fn param_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('[')?.strip_suffix(']')
}

/// `api/users/[id]` → `^/api/users/([^/]+)/?$` → `/api/users/[id]?id=$1`.
fn dynamic_route(function: &str) -> Route {
    let segments: Vec<&str> = function.split('/').collect();
    let mut src = String::from("^");
    let mut query = String::new();
    let mut params = 0;
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if let Some(name) = param_name(segment) {
            params += 1;
            if !query.is_empty() {
                query.push('&');
            }
            query.extend(form_urlencoded::byte_serialize(name.as_bytes()));
            query.push_str(&format!("=${params}"));
            src.push_str("/([^/]+)");
        } else if last && *segment == "index" {
            src.push_str("(?:/|/index)?");
            continue;
        } else {
            src.push('/');
            src.push_str(&escape(segment));
        }
        if last {
            src.push_str("/?");
        }
    }
    src.push('$');
    let path: String = utf8_percent_encode(function, DEST_RESERVED).collect();
    Route::Source(SourceRoute {
        dest: Some(format!("/{path}?{query}")),
        check: Some(true),
        ..route(src)
    })
}

/// Routes for the filesystem phase after the dynamic ones: unmatched `/api` paths are 404.
pub(crate) fn not_found() -> Route {
    Route::Source(SourceRoute {
        status: Some(404),
        ..route("^/api(/.*)?$".to_owned())
    })
}

/// The `miss` phase rule: `/api/x.js` is served by function `api/x`.
pub(crate) fn extension_miss() -> Route {
    Route::Source(SourceRoute {
        dest: Some("/api/$1".to_owned()),
        check: Some(true),
        ..route(format!("^/api/(.+)\\.(?:{EXTENSIONS})$"))
    })
}

/// With `cleanUrls`: `/api/x.js` and `/api/index.js` redirect (308) to the clean path.
pub(crate) fn clean_url_redirects(trailing_slash: bool) -> Vec<Route> {
    let slash = if trailing_slash { "/" } else { "" };
    let redirect = |src: String, location: String| {
        Route::Source(SourceRoute {
            headers: Some([("Location".to_owned(), location)].into()),
            status: Some(308),
            ..route(src)
        })
    };
    vec![
        redirect(
            format!("^/(api(?:.+)?)/index(?:\\.(?:{EXTENSIONS}))?/?$"),
            format!("/$1{slash}"),
        ),
        redirect(
            format!("^/api/(.+)(?:\\.(?:{EXTENSIONS}))/?$"),
            format!("/api/$1{slash}"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src_and_dest(route: &Route) -> (String, Option<String>) {
        match route {
            Route::Source(r) => (r.src.clone(), r.dest.clone()),
            Route::Handle(_) => panic!("source route expected"),
        }
    }

    #[test]
    fn dynamic_segments_capture_one_segment_into_a_query_param() {
        let routes = dynamic_routes(&["api/users/[id]", "api/hello", "api/[team]/members"]);
        let pairs: Vec<_> = routes.iter().map(src_and_dest).collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "^/api/([^/]+)/members/?$".to_owned(),
                    Some("/api/[team]/members?team=$1".to_owned())
                ),
                (
                    "^/api/users/([^/]+)/?$".to_owned(),
                    Some("/api/users/[id]?id=$1".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn more_specific_dynamic_routes_come_first() {
        let routes = dynamic_routes(&["api/[a]", "api/[a]/[b]", "api/x/[b]"]);
        let dests: Vec<_> = routes.iter().map(|r| src_and_dest(r).1).collect();
        assert_eq!(
            dests,
            vec![
                Some("/api/x/[b]?b=$1".to_owned()),
                Some("/api/[a]/[b]?a=$1&b=$2".to_owned()),
                Some("/api/[a]?a=$1".to_owned()),
            ]
        );
    }

    #[test]
    fn dynamic_index_functions_serve_their_directory() {
        let (src, dest) = src_and_dest(&dynamic_routes(&["api/[team]/index"])[0]);
        assert_eq!(src, "^/api/([^/]+)(?:/|/index)?$");
        assert_eq!(dest.as_deref(), Some("/api/[team]/index?team=$1"));
    }

    #[test]
    fn literal_segments_are_regex_escaped() {
        let (src, _) = src_and_dest(&dynamic_routes(&["api/v1.0/[id]"])[0]);
        assert_eq!(src, "^/api/v1\\.0/([^/]+)/?$");
    }
}
