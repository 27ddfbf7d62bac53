//! Speed to lead: when a new lead must have been answered (`respondBy`), counted in wall-clock
//! time or in the firm's business hours, in its time zone (daylight saving included).

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// `INTAKE_RESPONSE_TARGET` and `INTAKE_BUSINESS_HOURS`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadlineSettings {
    /// Time to first response; `None`: no deadline, no reminders.
    pub target: Option<Duration>,
    /// Count only these hours; `None`: every hour counts.
    pub business_hours: Option<BusinessHours>,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self { target: Some(Duration::from_secs(24 * 3600)), business_hours: None }
    }
}

impl DeadlineSettings {
    /// When a lead submitted at `at` must be answered; the escalation falls due at twice that.
    pub fn respond_by(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after(at, 1)
    }

    pub fn escalate_at(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after(at, 2)
    }

    fn after(&self, at: DateTime<Utc>, times: u32) -> Option<DateTime<Utc>> {
        let span = self.target?.checked_mul(times)?;
        match &self.business_hours {
            Some(hours) => hours.add(at, span),
            None => at.checked_add_signed(TimeDelta::from_std(span).ok()?),
        }
    }
}

/// `4h`, `90m`, `30s`, `2d`, `1h30m`, or `off`.
pub fn parse_target(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "off" {
        return Ok(None);
    }
    let bad = || format!("`{text}` is not a duration: write e.g. 4h, 90m, 30s, 2d or 1h30m, or off");
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total += Duration::from_secs(n.checked_mul(unit).ok_or_else(bad)?);
        digits.clear();
    }
    if !digits.is_empty() || total.is_zero() {
        return Err(bad());
    }
    Ok(Some(total))
}

/// Opening hours: the same window on each of some weekdays, in one time zone.
#[derive(Clone, Debug, PartialEq)]
pub struct BusinessHours {
    days: [bool; 7],
    open: NaiveTime,
    close: NaiveTime,
    zone: Tz,
}

/// The furthest a deadline is looked for: a window a week holds every week.
const MAX_DAYS: u32 = 366 * 10;

impl BusinessHours {
    /// `start` plus `span` of open time: the clock runs only inside the windows.
    pub fn add(&self, start: DateTime<Utc>, span: Duration) -> Option<DateTime<Utc>> {
        let mut left = TimeDelta::from_std(span).ok()?;
        let mut day = start.with_timezone(&self.zone).date_naive();
        for _ in 0..MAX_DAYS {
            if self.days[day.weekday().num_days_from_monday() as usize] {
                let (open, close) = (self.instant(day, self.open), self.instant(day, self.close));
                let from = open.max(start);
                if from < close {
                    let available = close - from;
                    if left <= available {
                        return Some(from + left);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// A wall-clock time on a day in the zone, as an instant: the earlier of a time that
    /// happens twice (clocks going back), the first time after a gap (clocks going forward).
    fn instant(&self, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = day.and_time(time);
        let mut probe = local;
        loop {
            if let Some(at) = self.zone.from_local_datetime(&probe).earliest() {
                return at.with_timezone(&Utc);
            }
            probe += TimeDelta::minutes(1);
        }
    }
}

impl FromStr for BusinessHours {
    type Err = String;

    /// `Mon-Fri 09:00-17:30 America/New_York`; days as a range or a comma list (`Mon,Wed,Fri`,
    /// `Mon-Thu,Sat`); the zone by its IANA name, UTC when left out.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "write e.g. `Mon-Fri 09:00-17:30 America/New_York`";
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (days, window, zone) = match parts.as_slice() {
            [days, window] => (*days, *window, "UTC"),
            [days, window, zone] => (*days, *window, *zone),
            _ => return Err(format!("`{text}` is not business hours: {usage}")),
        };
        let days = parse_days(days).map_err(|e| format!("{e}: {usage}"))?;
        let (open, close) =
            window.split_once('-').ok_or_else(|| format!("`{window}` is not a time window: {usage}"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| format!("`{t}` is not a time as HH:MM: {usage}"))
        };
        let (open, close) = (time(open)?, time(close)?);
        if open >= close {
            return Err(format!("business hours must close after they open (`{window}`): {usage}"));
        }
        let zone: Tz = zone.parse().map_err(|_| format!("`{zone}` is not a time zone name such as Europe/London"))?;
        Ok(Self { days, open, close, zone })
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let day = |name: &str| {
        name.parse::<Weekday>()
            .map(|d| d.num_days_from_monday() as usize)
            .map_err(|_| format!("`{name}` is not a day (Mon, Tue, … Sun)"))
    };
    let mut days = [false; 7];
    for item in text.split(',') {
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(item)?] = true,
        }
    }
    Ok(days)
}

impl fmt::Display for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days: Vec<&str> = names.iter().zip(self.days).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        write!(f, "{} {}-{} {}", days.join(","), self.open.format("%H:%M"), self.close.format("%H:%M"), self.zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn new_york() -> BusinessHours {
        "Mon-Fri 09:00-17:30 America/New_York".parse().unwrap()
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("4h"), Ok(Some(Duration::from_secs(4 * 3600))));
        assert_eq!(parse_target("90m"), Ok(Some(Duration::from_secs(90 * 60))));
        assert_eq!(parse_target("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_target("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(parse_target("OFF"), Ok(None));
        for bad in ["", "4", "h", "0s", "4 hours", "-1h"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn business_hours_parse_and_refuse() {
        assert_eq!(new_york().to_string(), "Mon,Tue,Wed,Thu,Fri 09:00-17:30 America/New_York");
        let some: BusinessHours = "Mon,Wed-Thu,Sat 08:00-12:00".parse().unwrap();
        assert_eq!(some.to_string(), "Mon,Wed,Thu,Sat 08:00-12:00 UTC");
        let wrapping: BusinessHours = "Fri-Mon 10:00-11:00 Europe/London".parse().unwrap();
        assert_eq!(wrapping.to_string(), "Mon,Fri,Sat,Sun 10:00-11:00 Europe/London");
        for bad in
            ["Mon-Fri", "Mon-Fri 17:00-09:00 UTC", "Moonday 09:00-17:00", "Mon-Fri 9-17", "Mon 09:00-17:00 Mars/Base"]
        {
            assert!(bad.parse::<BusinessHours>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_clock_stops_over_the_weekend() {
        // Friday 16:00 in New York (EST, UTC−5): 1½ h left that day, 2½ h on Monday from 09:00.
        let friday = utc("2026-01-09T21:00:00Z");
        assert_eq!(new_york().add(friday, Duration::from_secs(4 * 3600)), Some(utc("2026-01-12T16:30:00Z")));
        // Submitted on Saturday: counted from Monday's opening.
        let saturday = utc("2026-01-10T15:00:00Z");
        assert_eq!(new_york().add(saturday, Duration::from_secs(3600)), Some(utc("2026-01-12T15:00:00Z")));
        // Before opening on a weekday: from 09:00 that day.
        let early = utc("2026-01-13T11:00:00Z");
        assert_eq!(new_york().add(early, Duration::from_secs(1800)), Some(utc("2026-01-13T14:30:00Z")));
    }

    #[test]
    fn daylight_saving_moves_the_windows() {
        // Clocks go forward on Sunday 8 March 2026: Friday 16:00 EST, due Monday 11:30 EDT (UTC−4).
        let friday = utc("2026-03-06T21:00:00Z");
        assert_eq!(new_york().add(friday, Duration::from_secs(4 * 3600)), Some(utc("2026-03-09T15:30:00Z")));
        // And back on Sunday 1 November 2026: Friday 16:00 EDT, due Monday 11:30 EST.
        let friday = utc("2026-10-30T20:00:00Z");
        assert_eq!(new_york().add(friday, Duration::from_secs(4 * 3600)), Some(utc("2026-11-02T16:30:00Z")));
        // A window the change falls in is an hour shorter: 00:00 EST to 12:00 EDT is 11 hours.
        let sunday: BusinessHours = "Sun 00:00-12:00 America/New_York".parse().unwrap();
        let midnight = utc("2026-03-08T05:00:00Z");
        assert_eq!(sunday.add(midnight, Duration::from_secs(11 * 3600)), Some(utc("2026-03-08T16:00:00Z")));
        assert_eq!(sunday.add(midnight, Duration::from_secs(11 * 3600 + 60)), Some(utc("2026-03-15T04:01:00Z")));
    }

    #[test]
    fn deadlines_in_wall_clock_time_or_business_hours() {
        let at = utc("2026-01-09T21:00:00Z");
        let plain = DeadlineSettings { target: Some(Duration::from_secs(3600)), business_hours: None };
        assert_eq!(plain.respond_by(at), Some(utc("2026-01-09T22:00:00Z")));
        assert_eq!(plain.escalate_at(at), Some(utc("2026-01-09T23:00:00Z")));
        let business = DeadlineSettings { business_hours: Some(new_york()), ..plain };
        assert_eq!(business.respond_by(at), Some(utc("2026-01-09T22:00:00Z")));
        assert_eq!(business.escalate_at(at), Some(utc("2026-01-12T14:30:00Z")));
        assert_eq!(DeadlineSettings { target: None, business_hours: None }.respond_by(at), None);
    }
}
