//! The JavaScript half of the Web APIs, compiled to bytecode once per process and loaded into
//! every isolate before the function's bundle. It takes `globalThis.__eddy_native` (see `host`)
//! and leaves `globalThis.__eddy_host` (non-enumerable) for the loop to call: `check`,
//! `dispatch`, `timerFired`, `opDone`.

/// The prelude's source: its parts in load order.
pub(crate) const SOURCE: &str = concat!(
    include_str!("prelude/base.js"),
    include_str!("prelude/streams.js"),
    include_str!("prelude/fetch.js"),
    include_str!("prelude/crypto.js"),
    include_str!("prelude/host.js"),
);
