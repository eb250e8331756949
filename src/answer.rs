//! The typed result of a normalized fetch: the checked payload, who answered, every
//! attempt, the asked symbols it lacks and extra `meta` fields. What the caches keep,
//! consensus and derived routes compute from, and the way in wraps in an envelope.

use std::sync::Arc;

use crate::attempt::AttemptRecord;
use crate::normalize::schema::Payload;

/// Extra `meta` fields, kept with the answer in the cache.
pub type MetaExtra = serde_json::Map<String, serde_json::Value>;

/// A successful (possibly partial) answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The checked payload.
    pub payload: Payload,
    /// Provider that answered.
    pub provider: String,
    /// Host that answered.
    pub host: String,
    /// Every attempt and skip.
    pub attempts: Vec<AttemptRecord>,
    /// Asked symbols the answer lacks (price only).
    pub missing: Vec<String>,
    /// Extra `meta` fields (a consensus price's sources).
    pub extra: Option<Arc<MetaExtra>>,
}
