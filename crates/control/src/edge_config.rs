//! Edge Config: per-project JSON key-value stores with a digest that changes on every write.
//!
//! Writes go to the [`Store`]; reads are served from an in-memory
//! [`EdgeConfigReplica`] (an atomically swapped map, refreshed after every write in this
//! process), through [`router`]: the HTTP endpoints the unchanged npm `@vercel/edge-config`
//! client calls for a connection string `http://<host>/<ecfg_id>?token=<token>` (see
//! [`connection_string`]): `GET /<id>/item/<key>`, `HEAD /<id>/item/<key>` (`has`),
//! `GET /<id>/items[?key=a&key=b]`, `GET /<id>/digest`, each with `?version=1`.

use crate::periodic::{Extra, run_every};
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::model::EdgeConfigRecord;
use crate::store::{EdgeConfigOp, Store, StoreError};

/// Largest serialised items object of one Edge Config: 512 KB (Vercel's Enterprise limit).
pub const MAX_ITEMS_BYTES: usize = 512 * 1024;
/// Longest item key (Vercel's limit).
pub const MAX_KEY_LEN: usize = 256;

/// The response header carrying the digest; a 404 with it means "no such key".
pub const DIGEST_HEADER: &str = "x-edge-config-digest";

type Items = serde_json::Map<String, serde_json::Value>;

/// Why a patch of an Edge Config's items was refused (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("edge config {0} not found (list them with `eddy edge-config ls`)")]
    NotFound(String),
    #[error("edge config item {0:?} already exists (use `update` or `upsert`)")]
    KeyExists(String),
    #[error("edge config item {0:?} does not exist (use `create` or `upsert`)")]
    KeyMissing(String),
    #[error(
        "edge config key {0:?} is not valid (use 1-256 characters of A-Z, a-z, 0-9, `_` and `-`)"
    )]
    InvalidKey(String),
    #[error(
        "edge config items would take {size} bytes, more than the limit of {limit} bytes; remove items"
    )]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `key` is a valid item key (Vercel: `^[\w-]+$`, at most 256 characters).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The digest of an items object: SHA-256 of its JSON (keys sorted), as hex.
pub fn digest(items: &Items) -> String {
    let json = serde_json::to_vec(items).expect("JSON values serialise");
    hex::encode(Sha256::digest(&json))
}

/// Applies `ops` in order; all or nothing.
pub fn apply(mut items: Items, ops: &[EdgeConfigOp]) -> Result<Items, PatchError> {
    for op in ops {
        let key = match op {
            EdgeConfigOp::Create { key, .. }
            | EdgeConfigOp::Update { key, .. }
            | EdgeConfigOp::Upsert { key, .. }
            | EdgeConfigOp::Delete { key } => key,
        };
        if !valid_key(key) {
            return Err(PatchError::InvalidKey(key.clone()));
        }
        match op {
            EdgeConfigOp::Create { key, value } => {
                if items.contains_key(key) {
                    return Err(PatchError::KeyExists(key.clone()));
                }
                items.insert(key.clone(), value.clone());
            }
            EdgeConfigOp::Update { key, value } => match items.get_mut(key) {
                Some(slot) => *slot = value.clone(),
                None => return Err(PatchError::KeyMissing(key.clone())),
            },
            EdgeConfigOp::Upsert { key, value } => {
                items.insert(key.clone(), value.clone());
            }
            EdgeConfigOp::Delete { key } => {
                if items.remove(key).is_none() {
                    return Err(PatchError::KeyMissing(key.clone()));
                }
            }
        }
    }
    let size = serde_json::to_vec(&items)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_ITEMS_BYTES {
        return Err(PatchError::TooLarge {
            size,
            limit: MAX_ITEMS_BYTES,
        });
    }
    Ok(items)
}

/// The `EDGE_CONFIG` connection string for an Edge Config served by [`router`] mounted at
/// `base` (e.g. `http://127.0.0.1:4000` or `http://127.0.0.1:4000/edge-config`).
pub fn connection_string(base: &str, id: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    // The client takes the id from the first path segment unless `id=` is given.
    let mounted_below_root = base
        .splitn(4, '/')
        .nth(3)
        .is_some_and(|path| !path.is_empty());
    if mounted_below_root {
        format!("{base}/{id}?id={id}&token={token}")
    } else {
        format!("{base}/{id}?token={token}")
    }
}

/// One Edge Config as the replica serves it.
#[derive(Debug)]
pub struct Snapshot {
    pub token: String,
    pub items: Items,
    pub digest: String,
    pub version: u64,
    /// `items` as JSON, ready to send for `getAll()`.
    items_json: bytes::Bytes,
}

impl Snapshot {
    fn of(record: &EdgeConfigRecord) -> Self {
        let json = serde_json::to_vec(&record.items).expect("JSON values serialise");
        Self {
            token: record.token.clone(),
            items: record.items.clone(),
            digest: record.digest.clone(),
            version: record.version,
            items_json: json.into(),
        }
    }
}

/// The in-memory copy of every Edge Config; reads never touch the store.
#[derive(Debug, Default)]
pub struct EdgeConfigReplica {
    configs: ArcSwap<HashMap<String, Arc<Snapshot>>>,
}

impl EdgeConfigReplica {
    /// A replica holding everything the store has.
    pub fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let replica = Self::default();
        replica.reload(store)?;
        Ok(replica)
    }

    /// Replaces the whole replica with the store's content (e.g. on a timer, to pick up
    /// writes of another process).
    pub fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let configs = store
            .edge_configs(None)?
            .iter()
            .map(|record| (record.id.clone(), Arc::new(Snapshot::of(record))))
            .collect();
        self.configs.store(Arc::new(configs));
        Ok(())
    }

    /// Reloads from `store` every `every` until `shutdown` ends: picks up writes made by
    /// another process on the same store (this process's writes show at once).
    pub async fn run_reload(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        every: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        run_every(every, shutdown, Extra::None, || {
            if let Err(error) = self.reload(store.as_ref()) {
                tracing::warn!(%error, "edge config reload failed; serving the previous items");
            }
        })
        .await;
    }

    /// Puts one record (just written) into the replica.
    pub fn update(&self, record: &EdgeConfigRecord) {
        let snapshot = Arc::new(Snapshot::of(record));
        self.configs.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(record.id.clone(), snapshot.clone());
            next
        });
    }

    /// The current snapshot of an Edge Config.
    pub fn get(&self, id: &str) -> Option<Arc<Snapshot>> {
        self.configs.load().get(id).cloned()
    }
}

/// The read endpoints of the `@vercel/edge-config` client, over `replica`.
pub fn router(replica: Arc<EdgeConfigReplica>) -> Router {
    Router::new()
        .route("/{id}/item/{key}", get(item))
        .route("/{id}/items", get(items))
        .route("/{id}/digest", get(digest_of))
        .with_state(replica)
}

/// Why a read was refused, before looking at the key.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// No such Edge Config: a 404 *without* the digest header.
    NotFound,
    Unauthorized,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotFound => (StatusCode::NOT_FOUND, "edge config not found").into_response(),
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "edge config token missing or wrong",
            )
                .into_response(),
        }
    }
}

/// Looks the config up and checks the bearer token.
fn authorize(
    replica: &EdgeConfigReplica,
    id: &str,
    headers: &HeaderMap,
) -> Result<Arc<Snapshot>, Refusal> {
    let snapshot = replica.get(id).ok_or(Refusal::NotFound)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(snapshot.token.as_str()) {
        return Err(Refusal::Unauthorized);
    }
    Ok(snapshot)
}

/// A JSON answer carrying the digest as header and ETag (the client revalidates with
/// `If-None-Match` and takes a 304 as "unchanged").
fn json_answer(snapshot: &Snapshot, headers: &HeaderMap, body: bytes::Bytes) -> Response {
    let etag = format!("\"{}\"", snapshot.digest);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let answer = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&snapshot.digest) {
        answer.insert(DIGEST_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        answer.insert(header::ETAG, value);
    }
    response
}

async fn item(
    State(replica): State<Arc<EdgeConfigReplica>>,
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let snapshot = match authorize(&replica, &id, &headers) {
        Ok(snapshot) => snapshot,
        Err(refusal) => return refusal.into_response(),
    };
    match snapshot.items.get(&key) {
        Some(value) => {
            let body = serde_json::to_vec(value).expect("JSON values serialise");
            json_answer(&snapshot, &headers, body.into())
        }
        None => {
            let mut response =
                (StatusCode::NOT_FOUND, "edge config item not found").into_response();
            if let Ok(value) = HeaderValue::from_str(&snapshot.digest) {
                response.headers_mut().insert(DIGEST_HEADER, value);
            }
            response
        }
    }
}

async fn items(
    State(replica): State<Arc<EdgeConfigReplica>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let snapshot = match authorize(&replica, &id, &headers) {
        Ok(snapshot) => snapshot,
        Err(refusal) => return refusal.into_response(),
    };
    let keys: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned())
        .collect();
    if keys.is_empty() {
        let body = snapshot.items_json.clone();
        return json_answer(&snapshot, &headers, body);
    }
    let picked: Items = keys
        .into_iter()
        .filter_map(|key| snapshot.items.get(&key).map(|value| (key, value.clone())))
        .collect();
    let body = serde_json::to_vec(&picked).expect("JSON values serialise");
    json_answer(&snapshot, &headers, body.into())
}

async fn digest_of(
    State(replica): State<Arc<EdgeConfigReplica>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let snapshot = match authorize(&replica, &id, &headers) {
        Ok(snapshot) => snapshot,
        Err(refusal) => return refusal.into_response(),
    };
    let body = serde_json::to_vec(&snapshot.digest).expect("strings serialise");
    json_answer(&snapshot, &headers, body.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upsert(key: &str, value: serde_json::Value) -> EdgeConfigOp {
        EdgeConfigOp::Upsert {
            key: key.into(),
            value,
        }
    }

    #[test]
    fn a_failing_op_applies_none_of_the_patch() {
        let items = apply(Items::new(), &[upsert("a", json!(1))]).expect("upsert");
        let error = apply(
            items.clone(),
            &[
                upsert("b", json!(2)),
                EdgeConfigOp::Delete { key: "zz".into() },
            ],
        )
        .expect_err("delete of a missing key");
        assert!(matches!(error, PatchError::KeyMissing(key) if key == "zz"));
        assert_eq!(items, apply(items.clone(), &[]).expect("empty patch"));
    }

    #[test]
    fn create_refuses_existing_keys_and_keys_must_be_word_characters() {
        let items = apply(Items::new(), &[upsert("flag", json!(true))]).expect("upsert");
        let create = EdgeConfigOp::Create {
            key: "flag".into(),
            value: json!(false),
        };
        assert!(matches!(
            apply(items.clone(), &[create]),
            Err(PatchError::KeyExists(_))
        ));
        assert!(matches!(
            apply(items, &[upsert("a b", json!(1))]),
            Err(PatchError::InvalidKey(_))
        ));
    }

    #[test]
    fn oversized_items_are_refused() {
        let big = "x".repeat(MAX_ITEMS_BYTES);
        assert!(matches!(
            apply(Items::new(), &[upsert("big", json!(big))]),
            Err(PatchError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_digest_changes_with_the_items_and_only_with_them() {
        let one = apply(Items::new(), &[upsert("a", json!(1))]).expect("upsert");
        let two = apply(Items::new(), &[upsert("a", json!(2))]).expect("upsert");
        assert_eq!(digest(&one), digest(&one.clone()));
        assert_ne!(digest(&one), digest(&two));
    }

    #[test]
    fn connection_strings_name_the_id_the_client_will_parse() {
        assert_eq!(
            connection_string("http://127.0.0.1:9/", "ecfg_1", "t"),
            "http://127.0.0.1:9/ecfg_1?token=t"
        );
        assert_eq!(
            connection_string("http://127.0.0.1:9/edge-config", "ecfg_1", "t"),
            "http://127.0.0.1:9/edge-config/ecfg_1?id=ecfg_1&token=t"
        );
    }
}
