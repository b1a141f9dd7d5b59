//! Log output: readable lines on stderr, filtered by `EDDY_LOG` (e.g. `EDDY_LOG=debug`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `EDDY_LOG` filters only what is printed: `eddy serve --data` also hands function output
/// and request lines to the control plane ([`crate::serve_data::ControlLayer`]).
pub fn init() {
    let filter = EnvFilter::try_from_env("EDDY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("EDDY_LOG_FORMAT").is_ok_and(|v| v == "json");
    let printed = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let printed = if json {
        printed.json().with_filter(filter).boxed()
    } else {
        printed.compact().with_filter(filter).boxed()
    };
    tracing_subscriber::registry()
        .with(printed)
        .with(
            crate::serve_data::ControlLayer.with_filter(tracing_subscriber::filter::filter_fn(
                |meta| matches!(meta.target(), "eddy::function" | "eddy::request"),
            )),
        )
        .init();
}
