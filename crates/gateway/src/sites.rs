//! Many deployments behind one listener (`eddy serve --data`): a [`Sites`] implementation says
//! which [`App`] a request's `Host` reaches — a deployment id, a project's production alias —
//! or that none does (`DEPLOYMENT_NOT_FOUND`) or that its project is paused
//! (`DEPLOYMENT_PAUSED`). Without one, the gateway serves its single current app (`eddy dev`,
//! `eddy serve --output`).

use std::sync::Arc;

use eddy_runtime::BoxFuture;

use crate::app::App;

/// What a host reaches.
#[derive(Debug)]
pub enum Site {
    Serve(Arc<App>),
    /// No deployment answers to this host.
    NotFound,
    /// The deployment's project is paused (its usage cap was reached).
    Paused,
}

/// Resolves hosts to apps. Implemented by the binary, which knows the control plane; it may
/// build an app on first use (reading a deployment from disk), hence the future.
pub trait Sites: Send + Sync + 'static {
    /// The site for `host`: the `Host` header lowercased, without its port.
    fn site(&self, host: &str) -> BoxFuture<'_, Site>;
}

/// `Host` header → the name [`Sites::site`] gets: lowercase, no port, no trailing dot.
pub(crate) fn host_name(host: &str) -> String {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:3000
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_port_case_and_trailing_dot() {
        assert_eq!(host_name("Dpl_Abc.LOCALHOST:3000"), "dpl_abc.localhost");
        assert_eq!(host_name("shop.localhost."), "shop.localhost");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("localhost"), "localhost");
    }
}
