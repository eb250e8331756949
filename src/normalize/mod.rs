//! The pure half of normalization: operations, query parameters, request templates,
//! jq mappings, news feeds and the typed payload schema. No I/O here.

pub mod coins;
pub mod feed;
pub mod jq;
pub mod news;
pub mod op;
pub mod params;
pub mod prefilter;
pub mod rows;
pub mod schema;
pub mod template;
