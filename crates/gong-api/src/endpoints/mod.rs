//! The endpoints, one file per API area. Each builds its request and hands it to the one
//! request path (`request.rs`) or to the pager (`pages.rs`).

pub mod calls;
mod settings;
pub mod users;

use crate::error::GongError;

/// Ids go into URL paths: only the characters Gong's ids use, so a value cannot change
/// which endpoint is called.
fn path_id(id: &str) -> Result<&str, GongError> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(GongError::Api {
            status: 400,
            errors: vec!["an id must be letters, digits, '-' or '_'".into()],
        })
    }
}
