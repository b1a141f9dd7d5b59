//! The platform limits eddy enforces, in one table. Values follow Vercel's documented limits;
//! each constant names the section of `vercel-compat.md` (the project's compatibility notes)
//! it comes from. The gateway and the scheduler import these instead of repeating numbers.

use std::time::Duration;

/// Largest request body a function accepts: 4.5 MB (decimal, as Vercel writes it). Above it
/// the gateway answers 413 `FUNCTION_PAYLOAD_TOO_LARGE` (vercel-compat §10).
pub const MAX_REQUEST_BODY_BYTES: usize = 4_500_000;

/// Largest buffered (non-streaming) response body: 4.5 MB. Above it the gateway answers 500
/// `FUNCTION_RESPONSE_PAYLOAD_TOO_LARGE` (vercel-compat §1.4 and §10). Streamed responses
/// are not capped.
pub const MAX_RESPONSE_BODY_BYTES: usize = 4_500_000;

/// Longest request URL (path and query): 14 KB, else 414 `URL_TOO_LONG` (vercel-compat §10).
pub const MAX_URL_BYTES: usize = 14 * 1024;

/// Largest single request header (name and value): 16 KB, else 431
/// `REQUEST_HEADER_TOO_LARGE` (vercel-compat §10).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest total of all request headers: 32 KB, else 431 `REQUEST_HEADER_TOO_LARGE`
/// (vercel-compat §10).
pub const MAX_HEADERS_TOTAL_BYTES: usize = 32 * 1024;

/// Most request headers a request may carry (Vercel's documented limit of 64; the
/// gateway answers 431 `REQUEST_HEADER_TOO_LARGE` above it, as for size).
pub const MAX_HEADER_COUNT: usize = 64;

/// `maxDuration` when nothing sets one: 300 s, the Fluid compute default
/// (vercel-compat §9.1, §8.1).
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(300);

/// The longest a function may run. Vercel's maximum depends on the plan; eddy takes the Pro
/// plan's 800 s: `maxDuration: "max"` and any larger number resolve to this value.
pub const MAX_DURATION: Duration = Duration::from_secs(800);

/// Largest `maxDuration` a `vercel.json` may write (Vercel's schema bound, Enterprise plan);
/// values between [`MAX_DURATION`] and this are accepted and capped to [`MAX_DURATION`].
pub const MAX_DURATION_SCHEMA_SECS: u32 = 1800;

/// Smallest `memory` in MB (vercel-compat §9.1, §8.1).
pub const MIN_MEMORY_MB: u32 = 128;

/// Largest `memory` in MB (vercel-compat §9.1, §8.1).
pub const MAX_MEMORY_MB: u32 = 10240;

/// `memory` when nothing sets one: 2048 MB, Fluid compute's default "Standard" instance.
pub const DEFAULT_MEMORY_MB: u32 = 2048;

/// Largest total size of a function's environment (names and values): 64 KB (Vercel's
/// documented limit on environment variables per deployment; vercel-compat §0.3 lists them).
pub const MAX_ENV_BYTES: usize = 64 * 1024;

/// Most keys `functions` in `vercel.json` may hold (vercel-compat §9.1).
pub const MAX_FUNCTION_GLOBS: usize = 50;

/// Longest glob key of `functions` in `vercel.json` (vercel-compat §9.1).
pub const MAX_FUNCTION_GLOB_LEN: usize = 256;

/// Longest cron `path` in `vercel.json` (vercel-compat §9.1).
pub const MAX_CRON_PATH_LEN: usize = 512;

/// An Edge function must start its response within 25 s, else 504
/// `EDGE_FUNCTION_INVOCATION_TIMEOUT` (vercel-compat §7.1).
pub const EDGE_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(25);
