//! Configuration: TOML schema -> validated [`Config`] (see `load::parse`), `${VAR}`
//! expansion, units, errors that name file, line and key, and the file watcher.

pub mod env;
pub mod error;
pub mod load;
pub mod model;
pub mod schema;
pub mod units;
mod validate;

pub use load::{DEFAULT_CONFIG, LoadError, load, load_or_default, parse};
pub use model::Config;
pub use validate::cluster::without_password;
