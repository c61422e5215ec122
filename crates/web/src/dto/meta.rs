//! Health and the seal.

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Validate, max_len};

/// `/healthz`, `/readyz`
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// `GET /sys/seal-status`, and the answer to `POST /sys/unseal`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SealStatusBody {
    /// True until the master key is reconstructed.
    pub sealed: bool,
    /// Distinct shares given so far (while sealed).
    pub progress: usize,
    /// Shares needed; null when the key is not split into shares.
    pub threshold: Option<u8>,
}

/// `POST /sys/unseal`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// One share, as printed by `portcullis keys split` (`pcs1-...`).
    #[schema(min_length = 1, max_length = 256)]
    pub share: String,
}

impl Validate for UnsealRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "share", &self.share, 256);
        if self.share.is_empty() {
            e.push(FieldError::new("share", "required", "a share is required"));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}
