//! The `Date` header value, rendered at most once a second per worker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// A worker's cached `Date` value. Single-threaded by construction: each
/// worker owns one, so no synchronisation is needed.
pub struct DateCache {
    value: [u8; DATE_LEN],
    next_refresh: Instant,
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Self {
        let mut cache = DateCache { value: [0; DATE_LEN], next_refresh: Instant::now() };
        cache.refresh(Instant::now());
        cache
    }

    /// Re-renders the value if a new second has begun by `now`.
    #[inline]
    pub fn update(&mut self, now: Instant) {
        if now >= self.next_refresh {
            self.refresh(now);
        }
    }

    fn refresh(&mut self, now: Instant) {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.value = render(since_epoch.as_secs());
        // Refresh again when the wall clock's next second begins.
        let to_next = Duration::from_secs(1) - Duration::from_nanos(since_epoch.subsec_nanos().into());
        self.next_refresh = now + to_next;
    }

    /// The rendered value.
    pub fn get(&self) -> &[u8; DATE_LEN] {
        &self.value
    }
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Renders seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
pub fn render(secs: u64) -> [u8; DATE_LEN] {
    const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(WEEKDAYS[(days % 7) as usize]);
    two_digits(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    let y = year.min(9999);
    out[12] = b'0' + (y / 1000) as u8;
    out[13] = b'0' + (y / 100 % 10) as u8;
    out[14] = b'0' + (y / 10 % 10) as u8;
    out[15] = b'0' + (y % 10) as u8;
    two_digits(&mut out[17..19], (rem / 3600) as u32);
    two_digits(&mut out[20..22], (rem / 60 % 60) as u32);
    two_digits(&mut out[23..25], (rem % 60) as u32);
    out
}

fn two_digits(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31); Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(&render(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&render(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&render(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&render(1_798_761_599), b"Thu, 31 Dec 2026 23:59:59 GMT");
        assert_eq!(&render(4_107_542_400), b"Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn cache_renders_now() {
        let c = DateCache::new();
        assert!(c.get().ends_with(b" GMT"));
        assert_eq!(c.get()[3], b',');
    }
}
