//! The `Date` header value, rendered at most once a second per worker.

use super::decimal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// Length of [`Stamp::ok_head`].
pub const OK_HEAD_LEN: usize = OK_HEAD_START.len() + DATE_LEN + OK_HEAD_END.len();
const OK_HEAD_START: &[u8] = b"HTTP/1.1 200 OK\r\nDate: ";
const OK_HEAD_END: &[u8] = b"\r\nContent-Length: ";

/// The current second's `Date`, and the start of every `200` head in that
/// second rendered with it, so the commonest head begins with one copy.
pub struct Stamp {
    date: [u8; DATE_LEN],
    ok_head: [u8; OK_HEAD_LEN],
}

impl Stamp {
    /// The stamp of `date` (an IMF-fixdate).
    pub fn new(date: [u8; DATE_LEN]) -> Self {
        let mut ok_head = [0; OK_HEAD_LEN];
        let (start, rest) = ok_head.split_at_mut(OK_HEAD_START.len());
        let (middle, end) = rest.split_at_mut(DATE_LEN);
        start.copy_from_slice(OK_HEAD_START);
        middle.copy_from_slice(&date);
        end.copy_from_slice(OK_HEAD_END);
        Stamp { date, ok_head }
    }

    /// The `Date` value.
    pub fn date(&self) -> &[u8; DATE_LEN] {
        &self.date
    }

    /// `HTTP/1.1 200 OK`, the `Date` field, and `Content-Length: ` waiting
    /// for its number.
    pub fn ok_head(&self) -> &[u8; OK_HEAD_LEN] {
        &self.ok_head
    }
}

/// A worker's cached [`Stamp`]. Single-threaded by construction: each
/// worker owns one, so no synchronisation is needed.
pub struct DateCache {
    stamp: Stamp,
    /// The second `stamp` renders, since the Unix epoch.
    secs: u64,
    next_refresh: Instant,
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Self {
        let mut cache =
            DateCache { stamp: Stamp::new([b' '; DATE_LEN]), secs: 0, next_refresh: Instant::now() };
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
        self.secs = since_epoch.as_secs();
        self.stamp = Stamp::new(render(self.secs));
        // Refresh again when the wall clock's next second begins.
        let to_next = Duration::from_secs(1) - Duration::from_nanos(since_epoch.subsec_nanos().into());
        self.next_refresh = now + to_next;
    }

    /// The current stamp.
    pub fn get(&self) -> &Stamp {
        &self.stamp
    }

    /// The current second, since the Unix epoch.
    pub fn secs(&self) -> u64 {
        self.secs
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

/// Length of a Common Log Format time: `02/Dec/2026:07:35:15 +0000`.
pub const CLF_LEN: usize = 26;

/// Renders seconds since the Unix epoch as a Common Log Format time, in UTC.
pub fn render_clf(secs: u64) -> [u8; CLF_LEN] {
    let imf = render(secs);
    // `Thu, 01 Jan 1970 00:00:00 GMT` → `01/Jan/1970:00:00:00 +0000`.
    let mut out = *b"01/Jan/1970:00:00:00 +0000";
    out[0..2].copy_from_slice(&imf[5..7]);
    out[3..6].copy_from_slice(&imf[8..11]);
    out[7..11].copy_from_slice(&imf[12..16]);
    out[12..20].copy_from_slice(&imf[17..25]);
    out
}

/// Parses an HTTP-date into seconds since the Unix epoch: the IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms a
/// recipient must accept too (RFC 9110 §5.6.7), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). The weekday must be a weekday's name but
/// is not checked against the date, as the date alone decides; a day the
/// month does not have (`31 Feb`) or a time out of range is `None`. A
/// date before 1970 is a valid date too, and negative: a file changed
/// since then was changed since that date.
pub fn parse(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii();
    let (weekday, fields) = match s.iter().position(|&b| b == b',' || b == b' ')? {
        3 if s[3] == b',' => (&s[..3], imf_fixdate(&s[4..])?),
        3 => (&s[..3], asctime(&s[3..])?),
        n if s[n] == b',' => (&s[..n], rfc850(&s[n + 1..])?),
        _ => return None,
    };
    let is_weekday = |names: &[&[u8]]| names.contains(&weekday);
    let named = match weekday.len() {
        3 => is_weekday(&[b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"]),
        _ => {
            is_weekday(&[b"Monday", b"Tuesday", b"Wednesday", b"Thursday", b"Friday", b"Saturday", b"Sunday"])
        }
    };
    named.then_some(())?;
    fields.seconds()
}

/// 10000-01-01T00:00:00Z: four digits of year end here.
const LAST_YEAR_END: i64 = 253_402_300_800;

/// The parts of an HTTP-date, before they are checked.
struct Fields {
    year: u64,
    month: u64,
    day: u64,
    time: (u64, u64, u64),
}

impl Fields {
    fn seconds(&self) -> Option<i64> {
        let (h, m, s) = self.time;
        let leap = self.year % 4 == 0 && (self.year % 100 != 0 || self.year % 400 == 0);
        let days_in_month = match self.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if !(1..=days_in_month).contains(&self.day) || self.year > 9999 {
            return None;
        }
        // A leap second (`:60`) is accepted as the second after `:59`.
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        let time = (h * 3600 + m * 60 + s) as i64;
        let secs = days_from_civil(self.year, self.month, self.day) * 86_400 + time;
        // The leap second ending 9999 would be in a year `render` cannot write.
        (secs < LAST_YEAR_END).then_some(secs)
    }
}

fn month(name: &[u8]) -> Option<u64> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    MONTHS.iter().position(|m| name == *m).map(|i| i as u64 + 1)
}

/// `HH:MM:SS`.
fn time_of_day(t: &[u8]) -> Option<(u64, u64, u64)> {
    let [h0, h1, b':', m0, m1, b':', s0, s1] = *t else { return None };
    Some((decimal(&[h0, h1])?, decimal(&[m0, m1])?, decimal(&[s0, s1])?))
}

/// After `Sun,`: ` 06 Nov 1994 08:49:37 GMT`.
fn imf_fixdate(s: &[u8]) -> Option<Fields> {
    let [b' ', d0, d1, b' ', m0, m1, m2, b' ', y0, y1, y2, y3, b' ', ref time @ .., b' ', b'G', b'M', b'T'] =
        *s
    else {
        return None;
    };
    Some(Fields {
        year: decimal(&[y0, y1, y2, y3])?,
        month: month(&[m0, m1, m2])?,
        day: decimal(&[d0, d1])?,
        time: time_of_day(time)?,
    })
}

/// After `Sunday,`: ` 06-Nov-94 08:49:37 GMT`. A two-digit year is the
/// one that is not more than 50 years in the future (RFC 9110 §5.6.7).
fn rfc850(s: &[u8]) -> Option<Fields> {
    let [b' ', d0, d1, b'-', m0, m1, m2, b'-', y0, y1, b' ', ref time @ .., b' ', b'G', b'M', b'T'] = *s
    else {
        return None;
    };
    let yy = decimal(&[y0, y1])?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let this_year = civil_from_days(now / 86_400).0;
    let century = this_year / 100 * 100;
    let year = if century + yy > this_year + 50 { century - 100 + yy } else { century + yy };
    Some(Fields { year, month: month(&[m0, m1, m2])?, day: decimal(&[d0, d1])?, time: time_of_day(time)? })
}

/// After `Sun`: ` Nov  6 08:49:37 1994` (the day padded with a space).
fn asctime(s: &[u8]) -> Option<Fields> {
    let [b' ', m0, m1, m2, b' ', d0, d1, b' ', ref time @ .., b' ', y0, y1, y2, y3] = *s else {
        return None;
    };
    let day = match d0 {
        b' ' => decimal(&[d1])?,
        _ => decimal(&[d0, d1])?,
    };
    Some(Fields {
        year: decimal(&[y0, y1, y2, y3])?,
        month: month(&[m0, m1, m2])?,
        day,
        time: time_of_day(time)?,
    })
}

/// (year 0–9999, month 1–12, day) → days since 1970-01-01, negative
/// before it; Howard Hinnant's `days_from_civil`, counted from 400 years
/// on so that the year before a January or February of year 0 is not
/// negative (the calendar repeats every 400 years, in 146,097 days).
fn days_from_civil(year: u64, month: u64, day: u64) -> i64 {
    const CYCLE_YEARS: u64 = 400;
    const CYCLE_DAYS: u64 = 146_097;
    let year = year + CYCLE_YEARS;
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / CYCLE_YEARS;
    let yoe = y - era * CYCLE_YEARS;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * CYCLE_DAYS + doe) as i64 - 719_468 - CYCLE_DAYS as i64
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
    fn parse_round_trips() {
        for secs in [0, 784_111_777, 951_782_400, 1_798_761_599, 4_107_542_400] {
            assert_eq!(parse(&render(secs)), Some(secs as i64), "{secs}");
        }
        assert_eq!(parse(b" Sun, 06 Nov 1994 08:49:37 GMT "), Some(784_111_777));
        // The obsolete forms a recipient must accept (RFC 9110 §5.6.7).
        assert_eq!(parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse(b"Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(parse(b"Sun Nov 16 08:49:37 1994"), Some(784_111_777 + 10 * 86_400));
        // The weekday names a weekday; the date decides.
        assert_eq!(parse(b"Mon, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse(b"Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        for bad in [
            &b"Sun, 06 Nov 1994 08:49:37 UTC"[..],
            b"Sun, 31 Feb 1994 08:49:37 GMT",
            b"Sun, 29 Feb 1900 08:49:37 GMT",
            b"Sun, 31 Apr 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Fun, 06 Nov 1994 08:49:37 GMT",
            b"Sunday, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov 6 08:49:37 1994",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 36 Nov 1994 08:49:37 GMT",
            b"",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn dates_before_1970_are_dates_too() {
        assert_eq!(parse(b"Wed, 31 Dec 1969 23:59:59 GMT"), Some(-1));
        assert_eq!(parse(b"Sat, 01 Jan 1966 00:00:00 GMT"), Some(-126_230_400));
        assert_eq!(parse(b"Sun Nov  6 08:49:37 1960"), Some(-288_803_423));
        // The first and last seconds of four-digit years.
        assert_eq!(parse(b"Sat, 01 Jan 0000 00:00:00 GMT"), Some(-62_167_219_200));
        assert_eq!(parse(b"Fri, 31 Dec 9999 23:59:59 GMT"), Some(LAST_YEAR_END - 1));
        assert_eq!(parse(b"Tue, 29 Feb 0000 12:00:00 GMT"), Some(-62_167_219_200 + 59 * 86_400 + 43_200));
    }

    #[test]
    fn cache_renders_now() {
        let c = DateCache::new();
        assert!(c.get().date().ends_with(b" GMT"));
        assert_eq!(c.get().date()[3], b',');
        assert!(c.get().ok_head().starts_with(b"HTTP/1.1 200 OK\r\nDate: "));
        assert!(c.get().ok_head().ends_with(b" GMT\r\nContent-Length: "));
    }
}
