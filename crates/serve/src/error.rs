//! What the studio answers when a request cannot be served: an HTTP status
//! and one line that says what to do, as the CLI's `error:` line does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status: status.as_u16(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the upload is larger than {} MB, the server's limit (casebook serve --max-upload-mb)",
                limit.div_ceil(1 << 20)
            ),
        )
    }

    /// One file of a folder upload is over the per-file limit.
    pub fn too_large_file(name: &str, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{name} is larger than {} MB, the server's limit per file (casebook serve --max-upload-mb)",
                limit.div_ceil(1 << 20)
            ),
        )
    }

    /// A folder upload is over the folder limits (`why` says which).
    pub fn too_large_folder(why: String) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{why}, the server's limit (casebook serve --max-folder-mb)"),
        )
    }

    pub fn wrong_type(found: &str, wanted: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("this takes {wanted}, not {found}"),
        )
    }

    /// The upload was read but is not what the case can use (an image that
    /// does not decode, a CSV without the model's columns, ...).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy with other requests; try again in a moment",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
