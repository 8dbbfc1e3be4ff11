//! GWS timestamp formatting: `yyyy-MM-dd HH:mm:ss.SSS±hhmm` and epoch milliseconds.
//!
//! Pure functions of an epoch-millisecond value, so the server's state machine stays free of
//! clocks: the shell reads the clock once per request and passes the value in.

/// Formats epoch milliseconds as GWS prints `timestamp` (UTC, offset `+0000`).
pub fn format_timestamp(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let millis = epoch_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_seed_instant() {
        // 1392308459000 is the chat RemoveParticipant seed's timestampSeconds (08:20:59 -0800).
        assert_eq!(format_timestamp(1_392_308_459_000), "2014-02-13 16:20:59.000+0000");
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000+0000");
        assert_eq!(format_timestamp(951_782_400_123), "2000-02-29 00:00:00.123+0000");
    }
}
