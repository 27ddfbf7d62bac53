//! The domain error type, and its one mapping to GraphQL errors with `extensions.code`, whose
//! every value is a variant of `ErrorCode`.

use async_graphql::ErrorExtensions;

/// Every `extensions.code` a client can see. Clients are written against these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    InvalidStatusTransition,
    FileTooLarge,
    UnsupportedFileType,
    RateLimited,
    Internal,
    /// The HTTP request itself is malformed (body, multipart parts, parameters).
    BadRequest,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    /// An automatic persisted query's hash is unknown: send the text with it.
    PersistedQueryNotFound,
    /// The lead is on legal hold: it cannot be erased until the hold is lifted.
    LegalHold,
    /// The lead's personal data was erased: only its tombstone is left, and it cannot change.
    LeadErased,
    /// The database or the object store cannot be reached, or the résumé disk is full, just
    /// now: retry after `retryAfter` seconds (HTTP: 503 with `Retry-After`).
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidStatusTransition => "INVALID_STATUS_TRANSITION",
            Self::FileTooLarge => "FILE_TOO_LARGE",
            Self::UnsupportedFileType => "UNSUPPORTED_FILE_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::BadRequest => "BAD_REQUEST",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::LegalHold => "LEGAL_HOLD",
            Self::LeadErased => "LEAD_ERASED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// `field` is the GraphQL input field at fault, so a form can show the message beside it.
    #[error("{field} {message}")]
    BadInput { field: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("a lead that is {from} cannot be moved to {to}: only PENDING → REACHED_OUT is allowed")]
    InvalidStatusTransition { from: &'static str, to: &'static str },
    #[error("the résumé is larger than the limit of {limit_bytes} bytes ({})", human_bytes(*.limit_bytes))]
    FileTooLarge { limit_bytes: u64 },
    #[error("the résumé must be a PDF, DOC, DOCX, ODT, RTF or plain-text file; this one's content is {detected}")]
    UnsupportedFileType { detected: String },
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    #[error("the lead is on legal hold ({0}); lift the hold with setLegalHold before erasing it")]
    LegalHold(String),
    #[error("the lead's personal data was erased; only its record of existence is left and it cannot be changed")]
    LeadErased,
    #[error("the {what} is not available just now; nothing was lost, try again in {retry_after_secs} seconds")]
    Unavailable { what: &'static str, retry_after_secs: u64 },
    /// Anything the client cannot fix. The cause is logged; the client sees a generic message.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// How long a client is asked to wait when a backing service is unreachable: an outage that
/// lasts longer is met again, and retried again.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

impl From<anyhow::Error> for AppError {
    /// A database or object store that cannot be reached (or a full disk) is said so, with a wait, wherever in
    /// the chain of causes it shows.
    fn from(e: anyhow::Error) -> Self {
        let what = e.chain().find_map(|cause| {
            if let Some(db) = cause.downcast_ref::<sea_orm::DbErr>() {
                return crate::infra::db::is_unreachable(db).then_some("database");
            }
            crate::infra::storage::is_unavailable(cause).then_some("file store")
        });
        match what {
            Some(what) => {
                tracing::warn!(error = %crate::infra::mask::mask_emails_in(&format!("{e:#}")), "{what} unreachable");
                Self::Unavailable { what, retry_after_secs: UNAVAILABLE_RETRY_SECS }
            }
            None => Self::Internal(e),
        }
    }
}

impl AppError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput { field, message: message.into() }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::BadInput { .. } => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::InvalidStatusTransition { .. } => ErrorCode::InvalidStatusTransition,
            Self::FileTooLarge { .. } => ErrorCode::FileTooLarge,
            Self::UnsupportedFileType { .. } => ErrorCode::UnsupportedFileType,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::LegalHold(_) => ErrorCode::LegalHold,
            Self::LeadErased => ErrorCode::LeadErased,
            Self::Unavailable { .. } => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The input field the error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::BadInput { field, .. } => Some(field),
            Self::FileTooLarge { .. } | Self::UnsupportedFileType { .. } => Some("resume"),
            _ => None,
        }
    }

    /// What the client is shown: never the internals of an `Internal` error.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %crate::infra::mask::mask_emails_in(&format!("{cause:?}")), "internal error");
                "Internal server error; it has been logged".into()
            }
            other => other.to_string(),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        anyhow::Error::new(e).context("database").into()
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        let (code, field) = (e.code(), e.field());
        async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(field) = field {
                ext.set("field", field);
            }
            if let AppError::RateLimited { retry_after_secs, .. } | AppError::Unavailable { retry_after_secs, .. } = &e
            {
                ext.set("retryAfter", *retry_after_secs);
            }
        })
    }
}

pub fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}
