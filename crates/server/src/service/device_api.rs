//! Settings and in-memory state of the device API: how long a management
//! proof counts, the request-signature clock window, and the bounds on
//! every table kept in memory.

use std::sync::Mutex;

use devicetrust_edr::Freshness;
use devicetrust_store::TokenLimits;
use time::Duration;

use super::management::ManagementProofs;
use super::replay::ReplayCache;

/// How the device API behaves.
#[derive(Debug, Clone)]
pub struct DeviceApiOptions {
    /// How long a successful management proof counts. Managed-ness is a
    /// per-authentication proof kept in memory only: after this long, or
    /// after a restart, the device must prove it again (default 8 hours).
    pub proof_max_age: Duration,
    /// How far a signed request's `ts` may be from the server's clock (default 5 minutes).
    pub clock_skew: Duration,
    /// Request nonces remembered at once, over all devices (default 100 000).
    pub replay_capacity: usize,
    /// Request nonces remembered at once for one device (default 1 000).
    pub replay_per_device: usize,
    /// Management proofs kept in memory (default 100 000 devices).
    pub proof_capacity: usize,
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
            replay_capacity: 100_000,
            replay_per_device: 1_000,
            proof_capacity: 100_000,
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

/// The device API's state in memory.
#[derive(Debug)]
pub struct DeviceApiState {
    /// Request nonces seen, per device.
    pub(crate) replay: Mutex<ReplayCache>,
    /// The latest management proof of each device.
    pub(crate) proofs: Mutex<ManagementProofs>,
}

impl DeviceApiState {
    /// Empty state sized by `options`.
    pub fn new(options: &DeviceApiOptions) -> Self {
        Self {
            replay: Mutex::new(ReplayCache::new(
                options.replay_capacity,
                options.replay_per_device,
            )),
            proofs: Mutex::new(ManagementProofs::new(options.proof_capacity)),
        }
    }
}
