//! How a provider is benched: the statuses that mean "rate-limited" when a provider
//! names none, the status of a refused location, and how long each benches. A bench
//! stops every request of any kind to the whole provider until it ends.

use std::time::Duration;

/// Statuses that mean "rate-limited" when a provider configures none: 429, and the 418
/// Binance answers to clients that ignored 429s (a ban).
pub const DEFAULT_RATE_LIMIT_STATUSES: [u16; 2] = [418, 429];

/// HTTP 451 Unavailable For Legal Reasons: the provider refuses the client's location.
pub const BLOCKED_STATUS: u16 = 451;

/// Used when a rate limit carries no usable `Retry-After` and the provider sets no
/// `rate_limit.bench`.
pub const DEFAULT_BENCH: Duration = Duration::from_secs(30);

/// How long HTTP 451 (a refused location) benches a provider when it sets no
/// `rate_limit.blocked_for`: a region's block lasts, so the provider is re-tried hourly.
pub const DEFAULT_BLOCKED_FOR: Duration = Duration::from_secs(3600);

/// Longest bench honoured: Binance bans an IP that ignored its 429s "from 2 minutes to
/// 3 days" and says how long in `Retry-After`; asking again before the ban ends only
/// extends it, so the whole ban is honoured.
pub const MAX_BENCH: Duration = Duration::from_secs(3 * 86_400);
