//! Abuse limits: how often one client may submit the public form or try to sign in, and a
//! backoff for accounts under password guessing. Counting is governor's (GCRA); this module
//! only decides what is counted, per what key.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

/// A keyed limiter that also reports how much allowance is left.
type CountingLimiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

use crate::error::AppError;

/// `count` events per `period`, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Rate {
    /// Parses `N/unit` (`s`, `min`, `h`), e.g. `5/min`.
    pub fn parse(raw: &str, burst: u32) -> Result<Self, String> {
        let (count, unit) = raw.split_once('/').ok_or_else(|| format!("'{raw}' is not N/unit, e.g. 5/min"))?;
        let count: u32 = count.trim().parse().map_err(|_| format!("'{raw}': '{count}' is not a whole number"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("'{raw}': unit '{other}' is not s, min or h")),
        };
        if count == 0 || burst == 0 {
            return Err(format!("'{raw}': the rate and its burst must be at least 1"));
        }
        Ok(Self { count, period, burst })
    }

    fn quota(self) -> Quota {
        let per_event = self.period / self.count;
        Quota::with_period(per_event)
            .expect("a positive period")
            .allow_burst(NonZeroU32::new(self.burst).expect("checked at parse"))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LimitSettings {
    /// `submitLead` per client IP.
    pub submit: Rate,
    /// `login` attempts per client IP.
    pub login: Rate,
    /// Failed `login`s per account before it must wait.
    pub login_failures: Rate,
}

pub struct Limits {
    submit: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    login_failures: CountingLimiter<String>,
    /// Accounts that used up their failures, and until when they must wait.
    locked: Mutex<HashMap<String, Instant>>,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            submit: DefaultKeyedRateLimiter::keyed(settings.submit.quota()),
            login: DefaultKeyedRateLimiter::keyed(settings.login.quota()),
            login_failures: RateLimiter::keyed(settings.login_failures.quota())
                .with_middleware::<StateInformationMiddleware>(),
            locked: Mutex::new(HashMap::new()),
        }
    }

    pub fn submit(&self, client: IpAddr) -> Result<(), AppError> {
        check(&self.submit, &client, "too many submissions from your address")
    }

    /// Before checking a password: the client and the account must both be allowed to try.
    pub fn login_attempt(&self, client: IpAddr, account: &str) -> Result<(), AppError> {
        check(&self.login, &client, "too many sign-in attempts from your address")?;
        let mut locked = self.locked.lock().expect("lock map poisoned");
        match locked.get(account) {
            Some(until) if *until > Instant::now() => Err(rate_limited(
                until.saturating_duration_since(Instant::now()),
                "too many failed sign-ins for this account",
            )),
            Some(_) => {
                locked.remove(account);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After a wrong password: counts against the account; once its allowance is used up the
    /// account waits until a failure's worth has refilled.
    pub fn login_failed(&self, account: &str) {
        let wait = match self.login_failures.check_key(&account.to_owned()) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return,
            Ok(state) => state.quota().replenish_interval(),
            Err(not_until) => not_until.wait_time_from(DefaultClock::default().now()),
        };
        let mut locked = self.locked.lock().expect("lock map poisoned");
        let now = Instant::now();
        locked.retain(|_, until| *until > now);
        locked.insert(account.to_owned(), now + wait);
        tracing::warn!("an account is locked after repeated failed sign-ins");
    }

    /// Forgets clients and accounts that are back to a full allowance; run now and then.
    pub fn prune(&self) {
        self.submit.retain_recent();
        self.login.retain_recent();
        self.login_failures.retain_recent();
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &str,
) -> Result<(), AppError> {
    limiter
        .check_key(key)
        .map_err(|not_until| rate_limited(not_until.wait_time_from(DefaultClock::default().now()), what))
}

fn rate_limited(wait: Duration, what: &str) -> AppError {
    let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    AppError::RateLimited { message: format!("{what}; try again in {retry_after_secs} s"), retry_after_secs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("5/min", 10), Ok(Rate { count: 5, period: Duration::from_secs(60), burst: 10 }));
        assert_eq!(Rate::parse(" 2 / s ", 2).unwrap().period, Duration::from_secs(1));
        for bad in ["5", "x/min", "5/week", "0/min"] {
            assert!(Rate::parse(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_lock_after_their_failures() {
        let rate = Rate::parse("2/h", 2).unwrap();
        let limits = Limits::new(LimitSettings {
            submit: rate,
            login: Rate::parse("100/s", 100).unwrap(),
            login_failures: rate,
        });
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..2 {
            limits.login_attempt(ip, "a@x.test").unwrap();
            limits.login_failed("a@x.test");
        }
        let err = limits.login_attempt(ip, "a@x.test").unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        assert!(limits.login_attempt(ip, "b@x.test").is_ok(), "other accounts are unaffected");
    }
}
