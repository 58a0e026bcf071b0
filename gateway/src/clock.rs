//! Time and entropy for the core, which reads neither itself.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Epoch {
    instant: Instant,
    unix_ms: u64,
}

fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| Epoch {
        instant: Instant::now(),
        unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    })
}

/// Milliseconds since the Unix epoch, never going backwards (wall clock at
/// start plus monotonic time since).
pub fn now_ms() -> u64 {
    let e = epoch();
    e.unix_ms + e.instant.elapsed().as_millis() as u64
}

/// The `Instant` at which `now_ms()` reaches `ms`.
pub fn instant_at(ms: u64) -> Instant {
    let e = epoch();
    e.instant + std::time::Duration::from_millis(ms.saturating_sub(e.unix_ms))
}

/// A seed for server-generated names, from the OS's hash randomness.
pub fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.finish()
}
