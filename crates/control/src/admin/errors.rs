//! [`ApiError`]: every operation error of the control plane, with the status and code the
//! admin API answers it with. The one place those are decided.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::cron::CronError;
use crate::deploy::DeployError;
use crate::edge_config::PatchError;
use crate::model::InvalidProjectName;
use crate::plane::{AliasError, EnvError};
use crate::store::StoreError;

/// An error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "admin api error");
        }
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let (status, code) = match &error {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            StoreError::Conflict { .. } => (StatusCode::CONFLICT, "CONFLICT"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<InvalidProjectName> for ApiError {
    fn from(error: InvalidProjectName) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PROJECT_NAME",
            error.to_string(),
        )
    }
}

impl From<DeployError> for ApiError {
    fn from(error: DeployError) -> Self {
        let (status, code) = match &error {
            DeployError::InvalidProject(_) => (StatusCode::BAD_REQUEST, "INVALID_PROJECT_NAME"),
            DeployError::MalformedUpload { .. } => (StatusCode::BAD_REQUEST, "MALFORMED_UPLOAD"),
            DeployError::InvalidOutput { .. } => (StatusCode::BAD_REQUEST, "INVALID_OUTPUT"),
            DeployError::InvalidCron { .. } => (StatusCode::BAD_REQUEST, "INVALID_CRON_EXPRESSION"),
            DeployError::EnvTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "ENV_TOO_LARGE"),
            DeployError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "STORAGE_ERROR"),
            DeployError::Store(inner) => (Self::from_store_status(inner), "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl ApiError {
    fn from_store_status(error: &StoreError) -> StatusCode {
        match error {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Conflict { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AliasError> for ApiError {
    fn from(error: AliasError) -> Self {
        let (status, code) = match &error {
            AliasError::UnknownDeployment(_) => (StatusCode::NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),
            AliasError::NotServable { .. } => (StatusCode::CONFLICT, "DEPLOYMENT_NOT_READY"),
            AliasError::NothingToRollBack(_) => (StatusCode::CONFLICT, "NOTHING_TO_ROLL_BACK"),
            AliasError::IsProduction(_) => (StatusCode::CONFLICT, "DEPLOYMENT_IS_PRODUCTION"),
            AliasError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "STORAGE_ERROR"),
            AliasError::Store(inner) => (Self::from_store_status(inner), "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<EnvError> for ApiError {
    fn from(error: EnvError) -> Self {
        let (status, code) = match &error {
            EnvError::InvalidKey(_) | EnvError::NoTarget(_) => {
                (StatusCode::BAD_REQUEST, "INVALID_ENV")
            }
            EnvError::Reserved(_) => (StatusCode::BAD_REQUEST, "RESERVED_ENV"),
            EnvError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "ENV_TOO_LARGE"),
            EnvError::Store(inner) => (Self::from_store_status(inner), "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<PatchError> for ApiError {
    fn from(error: PatchError) -> Self {
        let (status, code) = match &error {
            PatchError::NotFound(_) => (StatusCode::NOT_FOUND, "EDGE_CONFIG_NOT_FOUND"),
            PatchError::KeyExists(_) => (StatusCode::CONFLICT, "EDGE_CONFIG_ITEM_EXISTS"),
            PatchError::KeyMissing(_) => (StatusCode::NOT_FOUND, "EDGE_CONFIG_ITEM_NOT_FOUND"),
            PatchError::InvalidKey(_) => (StatusCode::BAD_REQUEST, "INVALID_EDGE_CONFIG_KEY"),
            PatchError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "EDGE_CONFIG_TOO_LARGE"),
            PatchError::Store(inner) => (Self::from_store_status(inner), "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<CronError> for ApiError {
    fn from(error: CronError) -> Self {
        let (status, code) = match &error {
            CronError::NoProduction(_) => (StatusCode::NOT_FOUND, "NO_PRODUCTION_DEPLOYMENT"),
            CronError::UnknownCron { .. } => (StatusCode::NOT_FOUND, "CRON_NOT_FOUND"),
            CronError::Store(inner) => (Self::from_store_status(inner), "STORE_ERROR"),
        };
        Self::new(status, code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_errors_keep_their_status() {
        let unknown = ApiError::from(AliasError::UnknownDeployment("dpl_x".into()));
        assert_eq!(
            (unknown.status, unknown.code),
            (StatusCode::NOT_FOUND, "DEPLOYMENT_NOT_FOUND")
        );
        let big = ApiError::from(DeployError::EnvTooLarge {
            total: 2,
            limit: 1,
            largest: vec![],
        });
        assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
        let cron = ApiError::from(DeployError::InvalidCron {
            index: 0,
            path: "/a".into(),
            schedule: "x".into(),
            reason: "bad".into(),
        });
        assert_eq!(
            (cron.status, cron.code),
            (StatusCode::BAD_REQUEST, "INVALID_CRON_EXPRESSION")
        );
    }
}
