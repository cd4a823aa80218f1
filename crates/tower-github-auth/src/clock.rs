//! The one clock: local time, and GitHub's time learned from its `Date` header.
//!
//! Wall-clock time is derived from [`tokio::time::Instant`], so a test that pauses and advances
//! tokio's clock moves every expiry in this crate with it (and in the emulator, which does the same).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Offsets smaller than this are the `Date` header's one-second granularity, not skew.
const SKEW_TOLERANCE_MS: i64 = 2_000;

/// Local time plus the offset to GitHub's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    base_system: SystemTime,
    base_instant: Instant,
    /// GitHub's clock minus ours, in milliseconds.
    offset_ms: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            base_system: SystemTime::now(),
            base_instant: Instant::now(),
            offset_ms: AtomicI64::new(0),
        }
    }
}

impl Clock {
    /// Our wall-clock time.
    pub(crate) fn local_now(&self) -> SystemTime {
        self.base_system + self.base_instant.elapsed()
    }

    /// GitHub's time, as far as we know it.
    pub(crate) fn github_now(&self) -> SystemTime {
        shift(self.local_now(), self.offset_ms.load(Ordering::Relaxed))
    }

    /// The current offset (GitHub minus local), for logs and tests.
    pub(crate) fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed).unsigned_abs())
    }

    /// Whether GitHub's clock is behind ours.
    pub(crate) fn offset_is_negative(&self) -> bool {
        self.offset_ms.load(Ordering::Relaxed) < 0
    }

    /// Learns GitHub's time from a `Date` header value. Returns `true` when the offset changed.
    pub(crate) fn observe_date(&self, date: &http::HeaderValue) -> bool {
        let Some(github) = date
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
        else {
            return false;
        };
        let local = self.local_now();
        let offset = match github.duration_since(local) {
            Ok(ahead) => ahead.as_millis() as i64,
            Err(behind) => -(behind.duration().as_millis() as i64),
        };
        let previous = self.offset_ms.load(Ordering::Relaxed);
        if (offset - previous).abs() <= SKEW_TOLERANCE_MS {
            return false;
        }
        // Inside the tolerance of "no skew" we keep zero, so a correct clock stays untouched.
        let offset = if offset.abs() <= SKEW_TOLERANCE_MS {
            0
        } else {
            offset
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
        tracing::info!(
            offset_ms = offset,
            "GitHub's clock differs from ours; JWTs and expiries now use GitHub's time"
        );
        true
    }

    /// The local instant at which GitHub's clock shows `github_time`. Times from the network
    /// can be anything: one further than [`FURTHEST`] ahead is taken as that far, one before
    /// this clock began as its beginning (already past). Never panics.
    pub(crate) fn instant_of(&self, github_time: SystemTime) -> Instant {
        let local = shift(github_time, -self.offset_ms.load(Ordering::Relaxed));
        match local.duration_since(self.base_system) {
            Ok(after) => {
                let after = after.min(self.base_instant.elapsed().saturating_add(FURTHEST));
                self.base_instant
                    .checked_add(after)
                    .unwrap_or(self.base_instant)
            }
            Err(before) => self
                .base_instant
                .checked_sub(before.duration())
                .unwrap_or(self.base_instant),
        }
    }
}

/// The latest time RFC 3339 can show (9999-12-31T23:59:59Z), in seconds since the epoch.
const RFC3339_LAST: u64 = 253_402_300_799;

/// A time shown as RFC 3339 (`2026-12-01T21:43:30Z`) in `Debug` and `Display`; one RFC 3339
/// cannot show (before 1970, after 9999) as seconds from the epoch, never a panic.
#[derive(Clone, Copy)]
pub(crate) struct Rfc3339(pub(crate) SystemTime);

impl Rfc3339 {
    /// Whether RFC 3339 can show it.
    pub(crate) fn representable(self) -> bool {
        self.0
            .duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|d| d.as_secs() <= RFC3339_LAST)
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.representable() {
            return humantime::format_rfc3339_seconds(self.0).fmt(f);
        }
        match self.0.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => write!(f, "{}s after the epoch", after.as_secs()),
            Err(before) => write!(f, "{}s before the epoch", before.duration().as_secs()),
        }
    }
}

impl std::fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The furthest ahead an expiry is taken to be (a hundred years).
pub(crate) const FURTHEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `time` moved by `offset_ms`; unchanged where that would leave the range of `SystemTime`.
fn shift(time: SystemTime, offset_ms: i64) -> SystemTime {
    let by = Duration::from_millis(offset_ms.unsigned_abs());
    let shifted = if offset_ms >= 0 {
        time.checked_add(by)
    } else {
        time.checked_sub(by)
    };
    shifted.unwrap_or(time)
}

/// A random extra of up to a fifth of `wait`, so that a fleet whose exchanges failed together
/// (or that GitHub told the same reset) does not try again together. Zero if the system's
/// random source fails (the wait itself is kept).
pub(crate) fn jitter(wait: Duration) -> Duration {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let most = u64::try_from((wait / 5).as_nanos()).unwrap_or(u64::MAX);
    let mut bytes = [0u8; 8];
    if most == 0 || SystemRandom::new().fill(&mut bytes).is_err() {
        return Duration::ZERO;
    }
    Duration::from_nanos(u64::from_le_bytes(bytes) % most.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The jitter adds at most 20% of the wait, and is not always zero.
    #[test]
    fn jitter_stays_within_bounds() {
        let wait = Duration::from_secs(30);
        let extras: Vec<Duration> = (0..64).map(|_| jitter(wait)).collect();
        assert!(extras.iter().all(|extra| *extra <= wait / 5), "{extras:?}");
        assert!(extras.iter().any(|extra| !extra.is_zero()), "{extras:?}");
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        assert!(jitter(Duration::MAX) <= Duration::MAX / 5);
    }

    fn date(t: SystemTime) -> http::HeaderValue {
        http::HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn learns_and_keeps_an_offset() {
        let clock = Clock::default();
        assert!(!clock.observe_date(&date(clock.local_now())));
        assert_eq!(clock.offset(), Duration::ZERO);

        let ahead = clock.local_now() + Duration::from_secs(3600);
        assert!(clock.observe_date(&date(ahead)));
        let diff = clock
            .github_now()
            .duration_since(clock.local_now())
            .unwrap();
        assert!(diff > Duration::from_secs(3598) && diff < Duration::from_secs(3602));
        // Time passes; the offset is remembered.
        tokio::time::advance(Duration::from_secs(600)).await;
        let diff = clock
            .github_now()
            .duration_since(clock.local_now())
            .unwrap();
        assert!(diff > Duration::from_secs(3598));
    }

    #[tokio::test(start_paused = true)]
    async fn instants_follow_github_time() {
        let clock = Clock::default();
        clock.observe_date(&date(clock.local_now() - Duration::from_secs(7200)));
        assert!(clock.offset_is_negative());
        let expiry = clock.github_now() + Duration::from_secs(60);
        let at = clock.instant_of(expiry);
        let left = at - Instant::now();
        assert!(
            left > Duration::from_secs(57) && left < Duration::from_secs(63),
            "{left:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn times_from_the_network_never_panic() {
        let clock = Clock::default();
        let now = Instant::now();
        // Far future (the largest time a platform holds), far past, the epoch.
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 - 1);
        assert!(clock.instant_of(far) > now + Duration::from_secs(365 * 24 * 3600));
        assert!(clock.instant_of(SystemTime::UNIX_EPOCH) <= now);
        // Huge skews learned from `Date` headers (GitHub far behind, far ahead), then used.
        for github in [
            SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
        ] {
            assert!(clock.observe_date(&date(github)));
            let _ = clock.github_now();
            let _ = clock.instant_of(far);
            let _ = clock.instant_of(SystemTime::UNIX_EPOCH);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_date_header_is_learned_or_ignored(text in ".{0,40}", secs in 0u64..253_402_300_799) {
            let clock = Clock::default();
            if let Ok(value) = http::HeaderValue::from_str(&text) {
                let _ = clock.observe_date(&value);
            }
            let _ = clock.observe_date(&date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)));
            let _ = clock.github_now();
            let _ = clock.instant_of(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        }
    }

    #[test]
    fn any_time_is_shown_without_a_panic() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(format!("{:?}", Rfc3339(at)), "2027-01-15T08:00:00Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 - 1);
        assert!(Rfc3339(far).to_string().ends_with("s after the epoch"));
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Rfc3339(before).to_string(), "5s before the epoch");
    }

    #[test]
    fn ignores_garbage() {
        let clock = Clock::default();
        assert!(!clock.observe_date(&http::HeaderValue::from_static("yesterday")));
    }
}
