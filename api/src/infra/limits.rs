//! Abuse limits: how often one client may submit the public form or try to sign in, and the
//! brakes on password guessing.
//!
//! - Submissions and sign-in attempts per client address: GCRA (a rate with a burst).
//! - Failed sign-ins per account *and* address: after the allowance, each further failure makes
//!   that address wait before trying that account again, twice as long each time. The owner,
//!   signing in from elsewhere, is not slowed by an attacker's failures.
//! - Failed sign-ins per account from all addresses: a ceiling (GCRA) high enough that one
//!   address cannot reach it alone; once reached, the account waits whatever the address.
//!
//! IPv6 clients are counted per network prefix (/64 by default), as one host holds a whole one.
//! On PostgreSQL the counts live in the database (one statement per check), so every API
//! replica shares one allowance; on SQLite, whose one process is the whole system, in memory.
//! The algorithm is the same in both; only where the numbers are kept differs.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};
use sha2::Digest;

use crate::{error::AppError, infra::mask::mask_email};

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

    /// GCRA's emission interval (µs): the time one event's allowance takes to refill.
    fn interval_us(self) -> i64 {
        (self.period.as_micros() / u128::from(self.count)) as i64
    }

    /// GCRA's tolerance (µs): how far ahead of now the schedule may run (the burst).
    fn tolerance_us(self) -> i64 {
        self.interval_us() * i64::from(self.burst - 1)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LimitSettings {
    /// `submitLead` per client address.
    pub submit: Rate,
    /// `login` attempts per client address.
    pub login: Rate,
    /// Failed sign-ins one address may make at one account (`count` per `period`) before it
    /// must wait; failures older than `period` are forgotten.
    pub login_failures: Rate,
    /// The first wait after the allowance; doubled by each further failure, at most `period`.
    pub login_backoff: Duration,
    /// Failed sign-ins at one account from all addresses before the account waits.
    pub account_failures: Rate,
    /// IPv6 clients are counted per network of this prefix length.
    pub ipv6_prefix: u8,
    /// `submitLead` per API key (instead of per address).
    pub api_key_submit: Rate,
}

impl Default for LimitSettings {
    /// 5 submissions a minute per address (bursts of 10); 10 sign-in attempts a minute (bursts
    /// of 20); 5 failures an hour per account and address, then 30 s doubling; 50 failures an
    /// hour per account; IPv6 per /64.
    fn default() -> Self {
        let rate = |raw: &str, burst: u32| Rate::parse(raw, burst).expect("a valid default");
        Self {
            submit: rate("5/min", 10),
            api_key_submit: rate("600/min", 60),
            login: rate("10/min", 20),
            login_failures: rate("5/h", 5),
            login_backoff: Duration::from_secs(30),
            account_failures: rate("50/h", 50),
            ipv6_prefix: 64,
        }
    }
}

pub struct Limits {
    settings: LimitSettings,
    store: Store,
}

enum Store {
    Memory(Mutex<Memory>),
    Postgres(DatabaseConnection),
}

#[derive(Default)]
struct Memory {
    /// GCRA's theoretical arrival time per key (µs since the epoch).
    schedules: HashMap<String, i64>,
    /// Failed sign-ins per (account, client); client `*` holds the account-wide lock.
    failures: HashMap<(String, String), Failures>,
}

impl Memory {
    fn failures_of(&mut self, account: &str, client: &str, now: i64) -> &mut Failures {
        self.failures.entry((account.to_owned(), client.to_owned())).or_insert(Failures {
            count: 0,
            last_failed_at: now,
            locked_until: None,
        })
    }
}

#[derive(Clone, Copy)]
struct Failures {
    count: i32,
    last_failed_at: i64,
    locked_until: Option<i64>,
}

/// The account-wide row among the per-address ones.
const EVERY_ADDRESS: &str = "*";

impl Limits {
    /// Limits kept in `db` when it is PostgreSQL (shared by every replica), else in memory.
    pub fn new(settings: LimitSettings, db: &DatabaseConnection) -> Self {
        let store = match db.get_database_backend() {
            DatabaseBackend::Postgres => Store::Postgres(db.clone()),
            _ => Store::Memory(Mutex::default()),
        };
        Self { settings, store }
    }

    /// The key a client is counted under: its IPv4 address, or its IPv6 network.
    pub fn client_key(&self, client: IpAddr) -> String {
        match client {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => ipnet::Ipv6Net::new(v6, self.settings.ipv6_prefix)
                    .map(|net| net.trunc().to_string())
                    .unwrap_or_else(|_| v6.to_string()),
            },
        }
    }

    /// A submission through an API key: counted per key, whatever address it comes from.
    pub async fn submit_by_key(&self, key_id: uuid::Uuid) -> Result<(), AppError> {
        self.take(&format!("submit-key:{key_id}"), self.settings.api_key_submit)
            .await?
            .map_or(Ok(()), |wait| Err(rate_limited(wait, "too many submissions with this API key")))
    }

    pub async fn submit(&self, client: IpAddr) -> Result<(), AppError> {
        let key = format!("submit:{}", self.client_key(client));
        self.take(&key, self.settings.submit)
            .await?
            .map_or(Ok(()), |wait| Err(rate_limited(wait, "too many submissions from your address")))
    }

    /// Before checking a password: the client may try, and neither this address nor everyone
    /// is paused at this account.
    pub async fn login_attempt(&self, client: IpAddr, account: &str) -> Result<(), AppError> {
        let account = &account_key(account);
        let client = self.client_key(client);
        if let Some(wait) = self.take(&format!("login:{client}"), self.settings.login).await? {
            return Err(rate_limited(wait, "too many sign-in attempts from your address"));
        }
        match self.locked(account, &client).await? {
            Some(wait) => Err(rate_limited(wait, "too many failed sign-ins for this account")),
            None => Ok(()),
        }
    }

    /// After a wrong password: counts against this address at this account, and against the
    /// account's ceiling.
    pub async fn login_failed(&self, client: IpAddr, account: &str) -> Result<(), AppError> {
        let account = &account_key(account);
        let client = self.client_key(client);
        let (count, wait) = self.failed(account, &client).await?;
        if let Some(wait) = wait {
            tracing::warn!(
                account = %mask_email(account), %client, failures = count, wait_secs = wait.as_secs(),
                "sign-ins to an account from one address are paused after repeated failures"
            );
        }
        let ceiling = self.settings.account_failures;
        let key = format!("account-failures:{account}");
        // Taken whether or not it is allowed: at the ceiling, each failure keeps it there.
        let next_wait = match self.take(&key, ceiling).await? {
            Some(wait) => Some(wait),
            None => self.peek(&key, ceiling).await?,
        };
        if let Some(wait) = next_wait {
            self.lock(account, EVERY_ADDRESS, wait).await?;
            tracing::warn!(
                account = %mask_email(account), wait_secs = wait.as_secs(),
                "an account is paused: too many failed sign-ins from all addresses"
            );
        }
        Ok(())
    }

    /// After the right password: this address's failures at this account are forgotten.
    pub async fn login_succeeded(&self, client: IpAddr, account: &str) -> Result<(), AppError> {
        let account = account_key(account);
        let client = self.client_key(client);
        match &self.store {
            Store::Memory(memory) => {
                memory.lock().expect("not poisoned").failures.remove(&(account, client));
            }
            Store::Postgres(db) => {
                let sql = "DELETE FROM sign_in_failures WHERE account = $1 AND client = $2";
                db.execute_raw(pg(sql, vec![account.into(), client.into()])).await?;
            }
        }
        Ok(())
    }

    /// Forgets clients and accounts back to a full allowance, and logs the lock-outs that
    /// have ended; run now and then.
    pub async fn prune(&self) -> Result<(), DbErr> {
        let forget = self.settings.login_failures.period.as_micros() as i64;
        let ended: Vec<(String, String)> = match &self.store {
            Store::Memory(memory) => {
                let now = now_us();
                let mut memory = memory.lock().expect("not poisoned");
                memory.schedules.retain(|_, tat| *tat > now);
                let mut ended = Vec::new();
                memory.failures.retain(|(account, client), f| {
                    if f.locked_until.is_some_and(|until| until <= now) {
                        ended.push((account.clone(), client.clone()));
                        f.locked_until = None;
                    }
                    f.locked_until.is_some() || (client != EVERY_ADDRESS && f.last_failed_at >= now - forget)
                });
                ended
            }
            Store::Postgres(db) => {
                let rows = db
                    .query_all_raw(pg(
                        &format!(
                            "WITH {NOW} UPDATE sign_in_failures SET locked_until = NULL \
                             WHERE locked_until <= (SELECT us FROM now) RETURNING account, client"
                        ),
                        vec![],
                    ))
                    .await?;
                let ended = rows
                    .iter()
                    .filter_map(|row| Some((row.try_get("", "account").ok()?, row.try_get("", "client").ok()?)))
                    .collect();
                db.execute_raw(pg(
                    &format!(
                        "WITH {NOW} DELETE FROM sign_in_failures WHERE locked_until IS NULL \
                         AND (client = '{EVERY_ADDRESS}' OR last_failed_at < (SELECT us FROM now) - $1)"
                    ),
                    vec![forget.into()],
                ))
                .await?;
                db.execute_raw(pg(
                    &format!("WITH {NOW} DELETE FROM rate_limits WHERE tat < (SELECT us FROM now)"),
                    vec![],
                ))
                .await?;
                ended
            }
        };
        for (account, client) in ended {
            let from = if client == EVERY_ADDRESS { "every address".to_owned() } else { client };
            tracing::info!(account = %mask_email(&account), %from, "a sign-in lock-out has ended");
        }
        Ok(())
    }

    /// GCRA: takes one event's allowance for `key` if there is one; else how long to wait.
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, AppError> {
        let (interval, tolerance) = (rate.interval_us(), rate.tolerance_us());
        match &self.store {
            Store::Memory(memory) => {
                let now = now_us();
                let mut memory = memory.lock().expect("not poisoned");
                let tat = memory.schedules.get(key).copied().unwrap_or(now).max(now);
                if tat - now > tolerance {
                    return Ok(Some(micros(tat - tolerance - now)));
                }
                memory.schedules.insert(key.to_owned(), tat + interval);
                Ok(None)
            }
            Store::Postgres(db) => {
                // Both SET expressions read the row as it was: `allowed` says whether `tat` moved.
                let sql = format!(
                    "WITH {NOW} INSERT INTO rate_limits AS r (key, tat, allowed) \
                     SELECT $1, us + $2, TRUE FROM now \
                     ON CONFLICT (key) DO UPDATE SET \
                       tat = CASE WHEN GREATEST(r.tat, (SELECT us FROM now)) - (SELECT us FROM now) <= $3 \
                                  THEN GREATEST(r.tat, (SELECT us FROM now)) + $2 ELSE r.tat END, \
                       allowed = GREATEST(r.tat, (SELECT us FROM now)) - (SELECT us FROM now) <= $3 \
                     RETURNING allowed, tat, (SELECT us FROM now) AS now"
                );
                let row = db
                    .query_one_raw(pg(&sql, vec![key.into(), interval.into(), tolerance.into()]))
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("rate limit".into()))?;
                let (allowed, tat, now): (bool, i64, i64) =
                    (row.try_get("", "allowed")?, row.try_get("", "tat")?, row.try_get("", "now")?);
                Ok((!allowed).then(|| micros(tat - tolerance - now)))
            }
        }
    }

    /// How long until `key` could take an event again, if it cannot now.
    async fn peek(&self, key: &str, rate: Rate) -> Result<Option<Duration>, AppError> {
        let tolerance = rate.tolerance_us();
        let (tat, now) = match &self.store {
            Store::Memory(memory) => (memory.lock().expect("not poisoned").schedules.get(key).copied(), now_us()),
            Store::Postgres(db) => {
                let sql = format!("WITH {NOW} SELECT (SELECT tat FROM rate_limits WHERE key = $1) AS tat, us FROM now");
                let row = db
                    .query_one_raw(pg(&sql, vec![key.into()]))
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("rate limit".into()))?;
                (row.try_get("", "tat")?, row.try_get("", "us")?)
            }
        };
        Ok(tat.filter(|tat| tat - now > tolerance).map(|tat| micros(tat - tolerance - now)))
    }

    /// The longer of this address's and the account-wide wait at `account`, if either holds.
    async fn locked(&self, account: &str, client: &str) -> Result<Option<Duration>, AppError> {
        let wait_us = match &self.store {
            Store::Memory(memory) => {
                let now = now_us();
                let memory = memory.lock().expect("not poisoned");
                [client, EVERY_ADDRESS]
                    .iter()
                    .filter_map(|c| memory.failures.get(&(account.to_owned(), (*c).to_owned()))?.locked_until)
                    .map(|until| until - now)
                    .max()
            }
            Store::Postgres(db) => {
                let sql = format!(
                    "WITH {NOW} SELECT MAX(locked_until) - (SELECT us FROM now) AS wait FROM sign_in_failures \
                     WHERE account = $1 AND client IN ($2, '{EVERY_ADDRESS}')"
                );
                let row = db.query_one_raw(pg(&sql, vec![account.into(), client.into()])).await?;
                row.and_then(|row| row.try_get::<Option<i64>>("", "wait").ok().flatten())
            }
        };
        Ok(wait_us.filter(|w| *w > 0).map(micros))
    }

    /// Counts a failure of `client` at `account`; returns the failures counted and the wait it
    /// started, if it started one.
    async fn failed(&self, account: &str, client: &str) -> Result<(i32, Option<Duration>), AppError> {
        let settings = &self.settings;
        let allowance = settings.login_failures.count as i32;
        let forget = settings.login_failures.period.as_micros() as i64;
        // The longest wait is the period after which failures are forgotten.
        let base = settings.login_backoff.as_micros() as i64;
        let (count, wait_us) = match &self.store {
            Store::Memory(memory) => {
                let now = now_us();
                let mut memory = memory.lock().expect("not poisoned");
                let entry = memory.failures_of(account, client, now);
                entry.count = if entry.last_failed_at < now - forget { 1 } else { entry.count + 1 };
                entry.last_failed_at = now;
                let wait = backoff_us(entry.count, allowance, base, forget);
                if let Some(wait) = wait {
                    entry.locked_until = Some(now + wait);
                }
                (entry.count, wait)
            }
            Store::Postgres(db) => {
                const COUNT: &str =
                    "(CASE WHEN f.last_failed_at < (SELECT us FROM now) - $4 THEN 1 ELSE f.failures + 1 END)";
                let wait = |n: &str| {
                    format!("CASE WHEN {n} >= $3 THEN LEAST($4::float8, $5 * power(2::float8, {n} - $3))::bigint END")
                };
                let sql = format!(
                    "WITH {NOW} INSERT INTO sign_in_failures AS f (account, client, failures, last_failed_at, locked_until) \
                     SELECT $1, $2, 1, us, us + {first} FROM now \
                     ON CONFLICT (account, client) DO UPDATE SET \
                       failures = {COUNT}, last_failed_at = (SELECT us FROM now), \
                       locked_until = COALESCE((SELECT us FROM now) + {next}, f.locked_until) \
                     RETURNING failures, locked_until - (SELECT us FROM now) AS wait, failures >= $3 AS paused",
                    first = wait("1"),
                    next = wait(COUNT),
                );
                let row = db
                    .query_one_raw(pg(
                        &sql,
                        vec![account.into(), client.into(), allowance.into(), forget.into(), base.into()],
                    ))
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("sign-in failures".into()))?;
                let count: i32 = row.try_get("", "failures")?;
                let paused: bool = row.try_get("", "paused")?;
                let wait: Option<i64> = row.try_get("", "wait")?;
                (count, wait.filter(|_| paused))
            }
        };
        Ok((count, wait_us.map(micros)))
    }

    /// Pauses `client` (or every address) at `account` for `wait`, unless a longer pause holds.
    async fn lock(&self, account: &str, client: &str, wait: Duration) -> Result<(), AppError> {
        let wait_us = wait.as_micros() as i64;
        match &self.store {
            Store::Memory(memory) => {
                let now = now_us();
                let mut memory = memory.lock().expect("not poisoned");
                let entry = memory.failures_of(account, client, now);
                entry.locked_until = Some(entry.locked_until.unwrap_or(0).max(now + wait_us));
            }
            Store::Postgres(db) => {
                let sql = format!(
                    "WITH {NOW} INSERT INTO sign_in_failures AS f (account, client, failures, last_failed_at, locked_until) \
                     SELECT $1, $2, 0, us, us + $3 FROM now \
                     ON CONFLICT (account, client) DO UPDATE SET \
                       locked_until = GREATEST(COALESCE(f.locked_until, 0), (SELECT us FROM now) + $3)"
                );
                db.execute_raw(pg(&sql, vec![account.into(), client.into(), wait_us.into()])).await?;
            }
        }
        Ok(())
    }
}

/// An account as the limits count it: the address as typed (trimmed, lower case), or, for
/// something longer than any address can be, its SHA-256, so that a megabyte "email" is
/// counted like any other without being stored.
fn account_key(account: &str) -> String {
    const MAX_EMAIL: usize = 254;
    if account.len() <= MAX_EMAIL {
        return account.to_owned();
    }
    sha2::Sha256::digest(account.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The database's clock, in µs since the epoch: one clock for every replica.
const NOW: &str = "now AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint AS us)";

fn pg(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

/// The wait after the `count`-th failure, once the allowance is used up: `base`, doubling with
/// each further failure, at most `cap`.
fn backoff_us(count: i32, allowance: i32, base: i64, cap: i64) -> Option<i64> {
    (count >= allowance).then(|| {
        let doublings = (count - allowance).min(40) as u32;
        base.saturating_mul(1i64 << doublings).min(cap)
    })
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or_default()
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

fn rate_limited(wait: Duration, what: &str) -> AppError {
    let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    AppError::RateLimited { message: format!("{what}; try again in {retry_after_secs} s"), retry_after_secs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            submit: Rate::parse("1/h", 2).unwrap(),
            login: Rate::parse("100/s", 100).unwrap(),
            login_failures: Rate::parse("2/h", 2).unwrap(),
            login_backoff: Duration::from_secs(30),
            account_failures: Rate::parse("5/h", 5).unwrap(),
            ipv6_prefix: 64,
            api_key_submit: Rate::parse("1/h", 2).unwrap(),
        }
    }

    fn memory() -> Limits {
        Limits { settings: settings(), store: Store::Memory(Mutex::default()) }
    }

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("5/min", 10), Ok(Rate { count: 5, period: Duration::from_secs(60), burst: 10 }));
        assert_eq!(Rate::parse(" 2 / s ", 2).unwrap().period, Duration::from_secs(1));
        for bad in ["5", "x/min", "5/week", "0/min"] {
            assert!(Rate::parse(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_after_the_allowance_up_to_the_cap() {
        let waits: Vec<_> = (1..=6).map(|n| backoff_us(n, 3, 30, 100)).collect();
        assert_eq!(waits, [None, None, Some(30), Some(60), Some(100), Some(100)]);
        assert_eq!(backoff_us(i32::MAX, 1, 30, 100), Some(100));
    }

    #[test]
    fn ipv6_clients_count_per_network() {
        let limits = memory();
        let key = |ip: &str| limits.client_key(ip.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }

    #[tokio::test]
    async fn an_attacker_address_is_paused_while_the_owner_signs_in_elsewhere() {
        let limits = memory();
        let (attacker, owner): (IpAddr, IpAddr) = ("203.0.113.9".parse().unwrap(), "198.51.100.4".parse().unwrap());
        for _ in 0..2 {
            limits.login_attempt(attacker, "a@x.test").await.unwrap();
            limits.login_failed(attacker, "a@x.test").await.unwrap();
        }
        let err = limits.login_attempt(attacker, "a@x.test").await.unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::RateLimited);
        assert!(limits.login_attempt(owner, "a@x.test").await.is_ok(), "another address is not paused");
        assert!(limits.login_attempt(attacker, "b@x.test").await.is_ok(), "other accounts are unaffected");
    }

    #[tokio::test]
    async fn the_account_ceiling_pauses_every_address() {
        let limits = memory();
        for i in 0..5 {
            let client: IpAddr = format!("203.0.113.{i}").parse().unwrap();
            limits.login_failed(client, "a@x.test").await.unwrap();
        }
        let someone: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(
            limits.login_attempt(someone, "a@x.test").await.unwrap_err().code(),
            crate::error::ErrorCode::RateLimited
        );
    }
}
