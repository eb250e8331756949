//! Route templates and matching (pure).

pub mod pattern;
