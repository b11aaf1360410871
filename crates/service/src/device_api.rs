//! Settings of the device API: how long a management proof counts, the
//! request-signature clock window, and its bounds. Its state (keys,
//! tokens, request nonces, proofs) lives in the store.

use devicetrust_edr::Freshness;
use devicetrust_store::TokenLimits;
use time::Duration;

/// How the device API behaves.
#[derive(Debug, Clone)]
pub struct DeviceApiOptions {
    /// How long a successful management proof counts: after this long the
    /// device must prove it again (default 8 hours).
    pub proof_max_age: Duration,
    /// How far a signed request's `ts` may be from the server's clock (default 5 minutes).
    pub clock_skew: Duration,
    /// Live request nonces one device may have (default 1 000): past it
    /// its requests are refused until its nonces expire, never forgotten early.
    pub replay_per_device: usize,
    /// How long an enrollment token is valid (default 15 minutes).
    pub token_ttl: Duration,
    /// Bounds on outstanding enrollment tokens.
    pub token_limits: TokenLimits,
    /// The largest device API or decision request body (default 64 KiB).
    pub max_body: usize,
    /// When EDR signals go stale.
    pub freshness: Freshness,
}

impl Default for DeviceApiOptions {
    fn default() -> Self {
        Self {
            proof_max_age: Duration::hours(8),
            clock_skew: Duration::minutes(5),
            replay_per_device: 1_000,
            token_ttl: Duration::minutes(15),
            token_limits: TokenLimits {
                per_org: 10_000,
                per_user: 10,
            },
            max_body: 64 * 1024,
            freshness: Freshness::default(),
        }
    }
}
