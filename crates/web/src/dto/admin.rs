//! User administration.

use portcullis_core::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{UserBody, in_range};
use crate::extract::{Validate, max_len};

/// `GET /admin/users`
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Users ordered by id.
    pub users: Vec<UserBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `?cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CursorQuery {
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1..500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl Validate for CursorQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "cursor", self.cursor.as_deref().unwrap_or(""), 64);
        in_range(&mut e, "limit", self.limit.map(u64::from), 1, 500);
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}
