//! [`project_routes`]: vercel.json plus the project's functions to one Build Output v3 route
//! list, in Vercel's order (`getTransformedRoutes` followed by the zero-config `api/` routes):
//!
//! ```text
//! cleanUrls redirects → trailingSlash redirects → legacy routes → redirects → headers
//!   → api cleanUrls redirects → {handle: filesystem} → rewrites → dynamic api routes → /api 404
//!   → {handle: miss} → /api/x.js as api/x → {handle: error} → /404.html
//! ```

use std::collections::BTreeMap;

use eddy_config::route::{Condition, HandleRoute, Matcher, Phase, Route, SourceRoute};
use eddy_config::vercel_json::{HeaderRule, Redirect, Rewrite, VercelJson};

use crate::pattern::{SourceRegex, source_to_regex};
use crate::{RouteError, api, destination};

/// The complete route list for a zero-config project, in Vercel's order.
///
/// `functions` are function paths without a leading slash, e.g. `api/users/[id]`, `api/index`.
/// Routes derived from `rewrites`, `redirects`, `headers`, `cleanUrls`, `trailingSlash` and
/// `api/` are case-sensitive (`caseSensitive: true`); legacy `routes` keep their own setting
/// (case-insensitive by default). Mixing `routes` with the new keys is rejected by
/// `eddy-config`, not here.
pub fn project_routes(vercel: &VercelJson, functions: &[&str]) -> Result<Vec<Route>, RouteError> {
    let clean_urls = vercel.clean_urls == Some(true);
    let trailing_slash = vercel.trailing_slash == Some(true);
    let has_api = functions.iter().any(|f| f.starts_with("api/"));
    let mut routes = Vec::new();
    if clean_urls {
        routes.extend(clean_url_redirects(trailing_slash));
    }
    if let Some(enabled) = vercel.trailing_slash {
        routes.extend(trailing_slash_redirects(enabled));
    }
    routes.extend(vercel.routes.iter().flatten().map(anchor_legacy));
    for (index, redirect) in vercel.redirects.iter().flatten().enumerate() {
        routes.push(convert_redirect(index, redirect)?);
    }
    for (index, rule) in vercel.headers.iter().flatten().enumerate() {
        routes.push(convert_headers(index, rule)?);
    }
    if clean_urls && has_api {
        routes.extend(api::clean_url_redirects(trailing_slash));
    }
    routes.push(handle(Phase::Filesystem));
    for (index, rewrite) in vercel.rewrites.iter().flatten().enumerate() {
        routes.push(convert_rewrite(index, rewrite)?);
    }
    routes.extend(api::dynamic_routes(functions));
    if has_api {
        routes.push(api::not_found());
        if !clean_urls {
            routes.push(handle(Phase::Miss));
            routes.push(api::extension_miss());
        }
    }
    routes.push(handle(Phase::Error));
    routes.push(not_found_page());
    Ok(routes)
}

fn handle(phase: Phase) -> Route {
    Route::Handle(HandleRoute { handle: phase })
}

/// A new-style (case-sensitive) route.
fn route(src: &str) -> SourceRoute {
    SourceRoute {
        src: src.to_owned(),
        case_sensitive: Some(true),
        ..SourceRoute::default()
    }
}

fn redirect(src: &str, location: &str) -> Route {
    Route::Source(SourceRoute {
        headers: Some(BTreeMap::from([(
            "Location".to_owned(),
            location.to_owned(),
        )])),
        status: Some(308),
        ..route(src)
    })
}

/// `/about.html` and `/about/index` redirect to `/about` (or `/about/`).
fn clean_url_redirects(trailing_slash: bool) -> Vec<Route> {
    let location = if trailing_slash { "/$1/" } else { "/$1" };
    vec![
        redirect("^/(?:(.+)/)?index(?:\\.html)?/?$", location),
        redirect("^/(.*)\\.html/?$", location),
    ]
}

/// `true`: `/a` → `/a/`, `/file.ext/` → `/file.ext`, `.well-known` untouched.
/// `false`: `/a/` → `/a`.
fn trailing_slash_redirects(enabled: bool) -> Vec<Route> {
    if enabled {
        vec![
            Route::Source(route("^/\\.well-known(?:/.*)?$")),
            redirect("^/((?:[^/]+/)*[^/\\.]+)$", "/$1/"),
            redirect("^/((?:[^/]+/)*[^/]+\\.\\w+)/$", "/$1"),
        ]
    } else {
        vec![redirect("^/(.*)/$", "/$1")]
    }
}

/// Legacy `routes` entries are anchored (`^…$`) as Vercel normalises them.
fn anchor_legacy(route: &Route) -> Route {
    let mut route = route.clone();
    if let Route::Source(source) = &mut route {
        if !source.src.starts_with('^') {
            source.src.insert(0, '^');
        }
        if !source.src.ends_with('$') {
            source.src.push('$');
        }
    }
    route
}

/// Converts a `source` and checks the destination's parameters.
fn prepare(
    key: &'static str,
    index: usize,
    source: &str,
    destination: Option<&str>,
    has: Option<&[Condition]>,
) -> Result<(SourceRegex, Vec<(String, String)>), RouteError> {
    let converted = source_to_regex(source).map_err(|reason| RouteError::InvalidSource {
        key,
        index,
        source_pattern: source.to_owned(),
        reason,
    })?;
    let params = destination::params(&converted.segments, &has_names(has));
    if let Some(segment) = destination.and_then(|d| destination::unknown_param(d, &params)) {
        return Err(RouteError::UnknownSegment {
            key,
            index,
            segment,
        });
    }
    Ok((converted, params))
}

fn convert_redirect(index: usize, rule: &Redirect) -> Result<Route, RouteError> {
    if rule.permanent.is_some() && rule.status_code.is_some() {
        return Err(RouteError::RedirectStatusConflict { index });
    }
    let (source, params) = prepare(
        "redirects",
        index,
        &rule.source,
        Some(&rule.destination),
        rule.has.as_deref(),
    )?;
    let status = match (rule.permanent, rule.status_code) {
        (Some(true), _) => 308,
        (Some(false), _) => 307,
        (None, Some(status)) => status,
        (None, None) => 308,
    };
    let location = destination::convert(&rule.destination, &params, true);
    Ok(Route::Source(SourceRoute {
        headers: Some(BTreeMap::from([("Location".to_owned(), location)])),
        status: Some(status),
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

fn convert_headers(index: usize, rule: &HeaderRule) -> Result<Route, RouteError> {
    let (source, params) = prepare("headers", index, &rule.source, None, rule.has.as_deref())?;
    let headers = rule
        .headers
        .iter()
        .map(|kv| {
            (
                destination::convert_text(&kv.key, &params),
                destination::convert_text(&kv.value, &params),
            )
        })
        .collect();
    Ok(Route::Source(SourceRoute {
        headers: Some(headers),
        continue_: Some(true),
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

fn convert_rewrite(index: usize, rule: &Rewrite) -> Result<Route, RouteError> {
    let (source, params) = prepare(
        "rewrites",
        index,
        &rule.source,
        Some(&rule.destination),
        rule.has.as_deref(),
    )?;
    Ok(Route::Source(SourceRoute {
        dest: Some(destination::convert(&rule.destination, &params, false)),
        check: Some(true),
        status: rule.status_code,
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

/// Non-API misses show `/404.html` with status 404 when the project has one.
fn not_found_page() -> Route {
    Route::Source(SourceRoute {
        dest: Some("/404.html".to_owned()),
        status: Some(404),
        ..route("^(?!/api).*$")
    })
}

/// Header keys are lowercased, as Vercel does.
fn normalize_conditions(conditions: &Option<Vec<Condition>>) -> Option<Vec<Condition>> {
    conditions.as_ref().map(|list| {
        list.iter()
            .map(|c| match c {
                Condition::Header { key, value } => Condition::Header {
                    key: key.to_ascii_lowercase(),
                    value: value.clone(),
                },
                other => other.clone(),
            })
            .collect()
    })
}

/// The names `has` conditions capture: a value-less key, named groups of a value regex, and
/// `host` for a host check with a value.
fn has_names(has: Option<&[Condition]>) -> Vec<String> {
    let mut names = Vec::new();
    for condition in has.into_iter().flatten() {
        let (key, value) = match condition {
            Condition::Host { value } => (None, Some(value)),
            Condition::Header { key, value }
            | Condition::Cookie { key, value }
            | Condition::Query { key, value } => (Some(key), value.as_ref()),
        };
        let regex = match value {
            Some(Matcher::Regex(regex)) => Some(regex.as_str()),
            Some(Matcher::Object(object)) => object.re.as_deref(),
            None => None,
        };
        if let (Some(key), None) = (key, value) {
            names.push(key.clone());
        }
        names.extend(regex.into_iter().flat_map(named_groups));
        if matches!(condition, Condition::Host { .. }) {
            names.push("host".to_owned());
        }
    }
    names
}

/// Names of `(?<name>...)` groups.
fn named_groups(regex: &str) -> impl Iterator<Item = String> + '_ {
    regex.match_indices("(?<").filter_map(move |(at, _)| {
        let rest = &regex[at + 3..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let starts_alpha = rest.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        (starts_alpha && rest[len..].starts_with('>')).then(|| rest[..len].to_owned())
    })
}

#[cfg(test)]
mod tests {}
