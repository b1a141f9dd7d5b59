//! The matching cost of route regexes: every regex the router runs per request (`src`, and
//! `has`/`missing` values) is compiled here, and refused when one request could make it work
//! far more than the length of what it matches.
//!
//! Patterns without lookarounds or backreferences run on the `regex` crate's automata, in
//! linear time. The others run on fancy-regex's backtracking VM, whose backtrack limit bounds
//! failed attempts but not the work between them: a lookaround that scans the rest of the
//! input (its body repeats without bound), run at each of n positions, costs n² steps with no
//! failed attempt at all, and nested, n³ — `^/(?:(?=(?:(?=a*$)a)*$)a)*x` took 24 s on a 4 KB
//! path in a debug build, for one route of one request. So such a lookaround may only run at
//! a fixed position: in a pattern anchored with `^`, and neither inside nor after an unbounded
//! repetition. The backtrack limit is lowered to bound what is left.

use fancy_regex::{Assertion, Expr, Regex, RegexBuilder};

/// Failed attempts (backtracks) one match may make before it counts as not matching: enough
/// for an unanchored lookaround pattern to search a 64 KB header, and ten times less than
/// fancy-regex's default.
pub(crate) const BACKTRACK_LIMIT: usize = 100_000;

/// Repetitions above this many iterations count as unbounded.
const MANY: usize = 64;

/// Compiles `pattern` with the router's backtrack limit, or says why it cannot serve.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let tree = Expr::parse_tree(pattern).map_err(|error| error.to_string())?;
    check(&tree.expr, !anchored(&tree.expr))?;
    RegexBuilder::new(pattern)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .map_err(|error| error.to_string())
}

/// Refuses a scanning lookaround in `expr` when `many` (`expr` may start at many positions of
/// the input), and recursion, whose cost has no known bound.
fn check(expr: &Expr, many: bool) -> Result<(), String> {
    match expr {
        Expr::Concat(items) => {
            let mut many = many;
            for item in items {
                check(item, many)?;
                // What follows an unbounded repetition starts wherever it stopped.
                many = many || item.has_descendant_or_self(is_unbounded);
            }
            Ok(())
        }
        Expr::Repeat { child, hi, .. } => check(child, many || *hi > MANY),
        Expr::LookAround(body, _) if many && body.has_descendant_or_self(is_unbounded) => Err(
            "a lookaround that scans the rest of the input runs at every position (unanchored, or inside or after a repetition like .* or +), which costs the square of the path length; anchor the pattern with ^ and move the lookaround before any repetition, or drop it".to_owned(),
        ),
        Expr::SubroutineCall(_) => Err(
            "recursion and subroutine calls are not supported in route patterns; write the pattern out".to_owned(),
        ),
        other => other.children_iter().try_for_each(|child| check(child, many)),
    }
}

fn is_unbounded(expr: &Expr) -> bool {
    matches!(expr, Expr::Repeat { hi, .. } if *hi > MANY)
}

/// Whether every match of `expr` starts at the beginning of the input (`^` first, not in
/// multi-line mode).
fn anchored(expr: &Expr) -> bool {
    match expr {
        Expr::Assertion(Assertion::StartText) => true,
        Expr::Concat(items) => items
            .iter()
            .find(|item| !matches!(item, Expr::Empty))
            .is_some_and(anchored),
        Expr::Group(inner) => anchored(inner),
        Expr::Alt(branches) => branches.iter().all(anchored),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn refused(pattern: &str) -> bool {
        compile(pattern).is_err()
    }

    #[test]
    fn patterns_vercel_and_next_js_write_are_accepted() {
        for pattern in [
            "^/(.*)$",
            "^/api/(?<id>[^/]+)$",
            "^(?:/((?:[^/]+?)(?:/(?:[^/]+?))*))?$",
            "^/((?!_next/static|_next/image|favicon.ico).*)$",
            "^(?:\\/(_next\\/data\\/[^/]{1,}))?(?:\\/((?!api|_next\\/static).*))(\\.json)?[\\/#\\?]?$",
            "^/((?!api).)*$",
            "^(?=.*foo).*$",
            "^/(?<a>[a-z]+)/\\k<a>$",
            "(?i)^/(.*)\\.html/?$",
        ] {
            assert!(
                compile(pattern).is_ok(),
                "{pattern}: {:?}",
                compile(pattern).err()
            );
        }
    }

    #[test]
    fn lookarounds_that_scan_at_many_positions_are_refused() {
        assert!(refused("^/(?:(?=a*$)a)*x"));
        assert!(refused("^/(?:(?=(?:(?=a*$)a)*$)a)*x"));
        assert!(refused("^/(?:(?=a*$)a|(?=a*$)a){0,20000}x"));
        assert!(refused("^/(a*?)(?=a*$)b"));
        assert!(refused("(?=.*x)y"));
        assert!(refused("(?m)^(?=.*x)y"));
        assert!(refused("^/(a|(?1))$"));
    }

    #[test]
    fn lookarounds_at_a_fixed_position_or_without_repetition_are_accepted() {
        for pattern in [
            "^/((?!.*\\.).*)$",
            "(?i)^(?=.*x)",
            "(?!api)x",
            "^/(a|b)(?<=a|b)(.*)$",
        ] {
            assert!(
                compile(pattern).is_ok(),
                "{pattern}: {:?}",
                compile(pattern).err()
            );
        }
    }

    #[test]
    fn a_refusal_says_why_and_what_to_do() {
        let reason = compile("^/(?:(?=a*$)a)*x").expect_err("refused");
        assert!(reason.contains("every position") && reason.contains("anchor the pattern"));
        assert!(
            compile("([")
                .expect_err("invalid")
                .contains("Parsing error")
        );
    }

    #[test]
    fn unanchored_lookaround_patterns_still_scan_a_long_header() {
        let re = compile("(?=x)xy(?<!b)").expect("accepted");
        let value = format!("{}xy", "a".repeat(32 * 1024));
        assert_eq!(re.is_match(&value).ok(), Some(true));
    }

    #[test]
    fn exponential_backtracking_gives_up_quickly() {
        let re = compile("^/((a|a)*)\\1b$").expect("accepted: no lookaround");
        let path = format!("/{}", "a".repeat(14 * 1024));
        let started = Instant::now();
        assert!(re.is_match(&path).is_err(), "hits the backtrack limit");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
