//! Times as people read them, in the computer's own time zone: "14:03", "Yesterday", "Mon 30
//! Nov", "5 Dec 2025". The zone's offset comes from the C library (`localtime_r`, which reads
//! TZ and /etc/localtime), so no time-zone database ships with the app.

/// A moment in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Monday.
    pub weekday: u32,
    /// Days since 1970-01-01 in local time, to compare days.
    pub days: i64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Seconds east of UTC at that moment (0 when the C library cannot say).
#[cfg(unix)]
fn offset(unix: i64) -> i64 {
    let t = unix as libc::time_t;
    // SAFETY: a zeroed `tm` is a valid value; localtime_r, the thread-safe form, writes only
    // into it and returns null on failure.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::localtime_r(&t, &mut tm) };
    if done.is_null() {
        0
    } else {
        tm.tm_gmtoff
    }
}

#[cfg(not(unix))]
fn offset(_: i64) -> i64 {
    0
}

/// The civil date and time of `unix` seconds shifted by `offset` seconds.
pub fn civil_at(unix: i64, offset: i64) -> Civil {
    let local = unix + offset;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs % 3600 / 60) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 3).rem_euclid(7) as u32,
        days,
    }
}

pub fn civil(unix: i64) -> Civil {
    civil_at(unix, offset(unix))
}

/// "14:03".
pub fn time_of_day(unix: i64) -> String {
    let c = civil(unix);
    format!("{:02}:{:02}", c.hour, c.minute)
}

/// A day divider: "Today", "Yesterday", "Mon 30 Nov", "5 Dec 2025".
pub fn day_label(unix: i64, now: i64) -> String {
    day_words(civil(unix), civil(now))
}

fn day_words(c: Civil, today: Civil) -> String {
    let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
    match today.days - c.days {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ if c.year == today.year => {
            format!("{} {} {month}", WEEKDAYS[c.weekday as usize % 7], c.day)
        }
        _ => format!("{} {month} {}", c.day, c.year),
    }
}

/// For a list: the time today, else the day.
pub fn short(unix: i64, now: i64) -> String {
    let (c, today) = (civil(unix), civil(now));
    match today.days - c.days {
        0 => format!("{:02}:{:02}", c.hour, c.minute),
        1 => "Yesterday".into(),
        2..=6 => WEEKDAYS[c.weekday as usize % 7].into(),
        _ => format!(
            "{} {}",
            c.day,
            MONTHS[(c.month as usize).saturating_sub(1) % 12]
        ),
    }
}

/// "2026-11-25 14:03", for History's rows.
pub fn date_time(unix: i64) -> String {
    let c = civil(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// Whether two moments fall on the same local day.
pub fn same_day(a: i64, b: i64) -> bool {
    civil(a).days == civil(b).days
}

pub fn now() -> i64 {
    crate::store::now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_and_day_words() {
        let c = civil_at(0, 0);
        assert_eq!((c.year, c.month, c.day, c.weekday), (1970, 1, 1, 3));
        let leap = civil_at(951_782_400, 0);
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        // 2026-11-25 01:04 UTC is 2026-11-24 20:04 five hours west.
        let west = civil_at(1_795_568_642, -5 * 3600);
        assert_eq!(
            (west.month, west.day, west.hour, west.minute),
            (11, 24, 20, 4)
        );
        let today = civil_at(1_795_568_642, 0);
        assert_eq!(day_words(today, today), "Today");
        assert_eq!(
            day_words(civil_at(1_795_568_642 - 86_400, 0), today),
            "Yesterday"
        );
        assert_eq!(
            day_words(civil_at(1_795_568_642 - 3 * 86_400, 0), today),
            "Sun 22 Nov"
        );
        assert_eq!(
            day_words(civil_at(1_795_568_642 - 400 * 86_400, 0), today),
            "21 Oct 2025"
        );
    }
}
