//! Configuration from environment variables (and `.env`), validated once at start-up.
//!
//! Every problem is reported at once, each naming its variable, so a misconfigured deployment
//! is fixed in one go instead of one restart per mistake.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use lettre::message::Mailbox;
use url::Url;

use crate::{
    accounts::users::AdminBootstrap,
    infra::limits::{LimitSettings, Rate},
    infra::outbound::OutboundSettings,
    infra::{
        db::DatabaseSettings,
        mail::{MailSettings, MailTransport, SmtpSettings},
        mask::redact_url,
        secrets,
        storage::{S3Settings, StorageSettings},
    },
    leads::deadline::{self, BusinessHours, DeadlineSettings},
    leads::outbox::JobSettings,
    leads::privacy::retention::{RetentionPeriod, RetentionSettings},
    leads::webhooks::WebhookSettings,
    web::settings::WebSettings,
};

const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct Config {
    pub database: DatabaseSettings,
    pub addr: SocketAddr,
    /// Base of links in mails and of `downloadUrl`, without a trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub storage: StorageSettings,
    pub jwt_secret: Vec<u8>,
    pub mail: MailSettings,
    pub max_upload_bytes: u64,
    pub admin: AdminBootstrap,
    pub jobs: JobSettings,
    pub firm_name: String,
    pub token_ttl: Duration,
    /// A WebSocket that has not sent `connection_init` by then is closed (4408).
    pub socket_init_timeout: Duration,
    pub download_link_ttl: Duration,
    pub limits: crate::infra::limits::LimitSettings,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins allowed to call the API cross-origin; empty: same origin only.
    pub cors_origins: Vec<String>,
    pub introspection: bool,
    pub request_timeout: Duration,
    /// How long an answer or a signed-in account may be reused when nothing has changed.
    pub read_cache_max_age: Duration,
    /// `INTAKE_READ_CACHE_MAX_BYTES`: the memory kept answers may take.
    pub read_cache_max_bytes: usize,
    /// `INTAKE_ASSIGNMENT=round_robin`: new leads go to the active attorneys in turn.
    pub round_robin: bool,
    /// `INTAKE_FORM=off`: no public form page at `/`.
    pub public_form: bool,
    /// Acknowledgement mails any one address may be sent in 24 hours.
    pub ack_per_recipient: u32,
    /// Where `/metrics` and the detailed `/readyz` are served instead of the public listener.
    pub ops_addr: Option<SocketAddr>,
    /// `serve` runs the mail worker in its process (`INTAKE_WORKER`, and not `--no-worker`).
    pub run_worker: bool,
    /// `INTAKE_RESPONSE_TARGET`, `INTAKE_BUSINESS_HOURS`.
    pub deadline: DeadlineSettings,
    /// `INTAKE_CONSENT_TEXT`: the sentence beside the form's consent box.
    pub consent_text: String,
    /// `INTAKE_REQUIRE_CONSENT=on`: `submitLead` without `consent: true` is refused.
    pub require_consent: bool,
    /// `INTAKE_RETENTION`, and how often workers sweep (hourly; tests shorten it).
    pub retention: RetentionSettings,
    /// `INTAKE_WEBHOOK_*`: retries and which addresses deliveries may reach.
    pub webhooks: WebhookSettings,
}

impl fmt::Debug for Config {
    // Hand-written so that the JWT secret, SMTP password and admin password never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &redact_url(&self.database.url))
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads the process environment, after loading `.env` when there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source; tests pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let (db_defaults, web_defaults) = (DatabaseSettings::default(), WebSettings::default());
        let seconds_or = |name: &str, default: Duration, errors: &mut Vec<String>| {
            Duration::from_secs(parse_or(&get, name, default.as_secs(), errors, "a number of seconds"))
        };

        let data_dir = PathBuf::from(get("INTAKE_DATA_DIR").unwrap_or_else(|| "./data".into()));
        if let Err(e) = std::fs::create_dir_all(&data_dir) {
            errors.push(format!("INTAKE_DATA_DIR: cannot create {}: {e}", data_dir.display()));
        }
        let data_dir = std::fs::canonicalize(&data_dir).unwrap_or(data_dir);

        let storage = parse_storage(&get, &data_dir, &mut errors);

        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("intake.db").display()));
        let embedded = database_url.starts_with("sqlite:");
        if !embedded && !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            errors
                .push(format!("DATABASE_URL: '{}' is neither sqlite://… nor postgres://…", redact_url(&database_url)));
        }

        let addr = parse_or(
            &get,
            "INTAKE_ADDR",
            "127.0.0.1:8000".parse().unwrap(),
            &mut errors,
            "a socket address such as 127.0.0.1:8000",
        );
        let public_url = match get("INTAKE_PUBLIC_URL") {
            Some(raw) => match Url::parse(&raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => raw.trim_end_matches('/').to_owned(),
                _ => {
                    errors.push(format!("INTAKE_PUBLIC_URL: '{raw}' is not an http(s) URL"));
                    String::new()
                }
            },
            None => format!("http://{addr}"),
        };

        let jwt_secret = match get("INTAKE_JWT_SECRET") {
            Some(secret) if secret.len() < MIN_JWT_SECRET_BYTES => {
                errors.push(format!(
                    "INTAKE_JWT_SECRET: must be at least {MIN_JWT_SECRET_BYTES} bytes (got {}); try `openssl rand -base64 48`",
                    secret.len()
                ));
                Vec::new()
            }
            Some(secret) => match secrets::weakness(secret.as_bytes()) {
                Some(why) => {
                    errors.push(format!(
                        "INTAKE_JWT_SECRET: {why}; anyone who knows it could sign in as anyone. Make one with `openssl rand -base64 48`"
                    ));
                    Vec::new()
                }
                None => secret.into_bytes(),
            },
            None if embedded => match secrets::load_or_create(&data_dir.join("jwt_secret")) {
                Ok(secret) => secret,
                Err(e) => {
                    errors.push(format!("INTAKE_JWT_SECRET: unset, and no secret could be kept in the data dir: {e}"));
                    Vec::new()
                }
            },
            None => {
                // Replicas must share one secret, so outside the embedded default it must be given.
                errors.push(format!(
                    "INTAKE_JWT_SECRET: required (at least {MIN_JWT_SECRET_BYTES} bytes) when DATABASE_URL is not the embedded SQLite"
                ));
                Vec::new()
            }
        };

        let transport = match get("INTAKE_SMTP_URL") {
            Some(raw) => match SmtpSettings::from_url(&raw) {
                Ok(s) => MailTransport::Smtp(s),
                Err(e) => {
                    errors.push(format!("INTAKE_SMTP_URL: {e}"));
                    MailTransport::Files(data_dir.join("mail"))
                }
            },
            None => MailTransport::Files(data_dir.join("mail")),
        };
        let firm_name = get("INTAKE_FIRM_NAME").unwrap_or_else(|| "Intake".into());
        let from_raw = get("INTAKE_MAIL_FROM").unwrap_or_else(|| {
            let host = Url::parse(&public_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .filter(|h| h.parse::<std::net::IpAddr>().is_err())
                .unwrap_or_else(|| "localhost".into());
            format!("{firm_name} <no-reply@{host}>")
        });
        let from = from_raw.parse::<Mailbox>().unwrap_or_else(|e| {
            errors.push(format!(
                "INTAKE_MAIL_FROM: '{from_raw}' is not a mailbox ({e}); e.g. 'Firm <intake@firm.example>'"
            ));
            "Intake <no-reply@localhost>".parse().unwrap()
        });
        let reply_to = get("INTAKE_MAIL_REPLY_TO").and_then(|raw| {
            raw.parse::<Mailbox>()
                .map_err(|e| errors.push(format!("INTAKE_MAIL_REPLY_TO: '{raw}' is not a mailbox ({e})")))
                .ok()
        });
        let notify = get("INTAKE_NOTIFY_EMAILS").map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|addr| match crate::infra::validate::email(addr) {
                    Ok(addr) => Some(addr),
                    Err(why) => {
                        errors.push(format!("INTAKE_NOTIFY_EMAILS: '{addr}': {why}"));
                        None
                    }
                })
                .collect::<Vec<_>>()
        });

        let max_upload_bytes =
            parse_or(&get, "INTAKE_MAX_UPLOAD_BYTES", web_defaults.max_upload_bytes, &mut errors, "a number of bytes");
        if max_upload_bytes == 0 {
            errors.push("INTAKE_MAX_UPLOAD_BYTES: must be greater than 0".into());
        }
        let db_max_connections =
            parse_or(&get, "INTAKE_DB_MAX_CONNECTIONS", db_defaults.max_connections, &mut errors, "a whole number");
        let db_acquire_timeout = seconds_or("INTAKE_DB_ACQUIRE_TIMEOUT", db_defaults.acquire_timeout, &mut errors);
        let db_connect_timeout = seconds_or("INTAKE_DB_CONNECT_TIMEOUT", db_defaults.connect_timeout, &mut errors);
        if db_max_connections == 0 {
            errors.push("INTAKE_DB_MAX_CONNECTIONS: must be greater than 0".into());
        }

        let admin_defaults = AdminBootstrap::default();
        let admin_email = match get("INTAKE_ADMIN_EMAIL") {
            Some(raw) => crate::infra::validate::email(&raw).unwrap_or_else(|why| {
                errors.push(format!("INTAKE_ADMIN_EMAIL: '{raw}': {why}"));
                raw
            }),
            None => admin_defaults.email,
        };
        let admin_password = get("INTAKE_ADMIN_PASSWORD");
        if let Some(Err(why)) = admin_password.as_deref().map(crate::infra::validate::password) {
            errors.push(format!("INTAKE_ADMIN_PASSWORD: {why}"));
        }

        let seconds = |name: &str, default: u64, errors: &mut Vec<String>| {
            Duration::from_secs(parse_or(&get, name, default, errors, "a number of seconds"))
        };
        let defaults = JobSettings::default();
        let jobs = JobSettings {
            max_attempts: parse_or(
                &get,
                "INTAKE_MAIL_MAX_ATTEMPTS",
                defaults.max_attempts,
                &mut errors,
                "a whole number",
            ),
            backoff_base: seconds("INTAKE_MAIL_BACKOFF_BASE", defaults.backoff_base.as_secs(), &mut errors),
            poll_interval: seconds("INTAKE_MAIL_POLL_INTERVAL", defaults.poll_interval.as_secs(), &mut errors),
            lease: seconds("INTAKE_MAIL_LEASE", defaults.lease.as_secs(), &mut errors),
            concurrency: parse_or(&get, "INTAKE_MAIL_CONCURRENCY", defaults.concurrency, &mut errors, "a whole number"),
        };
        if jobs.concurrency == 0 || jobs.concurrency > 256 {
            errors.push("INTAKE_MAIL_CONCURRENCY: must be between 1 and 256".into());
        }
        if jobs.poll_interval.is_zero() || jobs.lease.is_zero() {
            errors.push("INTAKE_MAIL_POLL_INTERVAL and INTAKE_MAIL_LEASE must be at least 1 second".into());
        }
        if jobs.max_attempts == 0 {
            errors.push("INTAKE_MAIL_MAX_ATTEMPTS: must be at least 1".into());
        }

        // A rate's burst has a variable of its own for the per-address limits; a failure
        // allowance's burst is its count.
        let rate = |name: &str, default: Rate, burst_var: Option<&str>, errors: &mut Vec<String>| {
            let burst = burst_var.map(|var| parse_or(&get, var, default.burst, errors, "a whole number"));
            let Some(raw) = get(name) else { return Rate { burst: burst.unwrap_or(default.burst), ..default } };
            let count_as_burst = raw.split('/').next().and_then(|c| c.trim().parse().ok()).unwrap_or(1);
            Rate::parse(&raw, burst.unwrap_or(count_as_burst)).unwrap_or_else(|e| {
                errors.push(format!("{name}: {e}"));
                default
            })
        };
        let defaults = LimitSettings::default();
        let limits = LimitSettings {
            submit: rate("INTAKE_SUBMIT_RATE_LIMIT", defaults.submit, Some("INTAKE_SUBMIT_BURST"), &mut errors),
            api_key_submit: rate(
                "INTAKE_API_KEY_SUBMIT_RATE_LIMIT",
                defaults.api_key_submit,
                Some("INTAKE_API_KEY_SUBMIT_BURST"),
                &mut errors,
            ),
            login: rate("INTAKE_LOGIN_RATE_LIMIT", defaults.login, Some("INTAKE_LOGIN_BURST"), &mut errors),
            login_failures: rate("INTAKE_LOGIN_FAILURE_LIMIT", defaults.login_failures, None, &mut errors),
            login_backoff: seconds("INTAKE_LOGIN_BACKOFF", defaults.login_backoff.as_secs(), &mut errors),
            account_failures: rate("INTAKE_LOGIN_ACCOUNT_LIMIT", defaults.account_failures, None, &mut errors),
            ipv6_prefix: parse_or(
                &get,
                "INTAKE_IPV6_PREFIX",
                defaults.ipv6_prefix,
                &mut errors,
                "a prefix length from 1 to 128",
            ),
        };
        if limits.ipv6_prefix == 0 || limits.ipv6_prefix > 128 {
            errors.push("INTAKE_IPV6_PREFIX: must be from 1 to 128".into());
        }
        if limits.login_backoff.is_zero() {
            errors.push("INTAKE_LOGIN_BACKOFF: must be at least 1 second".into());
        }
        let ack_per_recipient = parse_or(&get, "INTAKE_ACK_PER_RECIPIENT", 3u32, &mut errors, "a whole number");
        let ops_addr = get("INTAKE_OPS_ADDR").and_then(|raw| {
            raw.parse::<SocketAddr>()
                .map_err(|_| {
                    errors.push(format!("INTAKE_OPS_ADDR: '{raw}' is not a socket address such as 127.0.0.1:9000"))
                })
                .ok()
        });
        let trusted_proxies = get("INTAKE_TRUSTED_PROXIES")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .filter_map(|entry| {
                        entry
                            .parse::<ipnet::IpNet>()
                            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| {
                                errors.push(format!(
                                    "INTAKE_TRUSTED_PROXIES: '{entry}' is not an IP address or CIDR range"
                                ))
                            })
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cors_origins = get("INTAKE_CORS_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .filter(|o| match Url::parse(o) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") && u.path() == "/" => true,
                        _ => {
                            errors.push(format!(
                                "INTAKE_CORS_ORIGINS: '{o}' is not an origin such as https://www.firm.example"
                            ));
                            false
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let introspection = on_off(&get, "INTAKE_INTROSPECTION", true, &mut errors);
        let request_timeout = seconds_or("INTAKE_REQUEST_TIMEOUT", web_defaults.request_timeout, &mut errors);
        let public_form = on_off(&get, "INTAKE_FORM", true, &mut errors);
        let run_worker = on_off(&get, "INTAKE_WORKER", true, &mut errors);
        let read_cache_max_age = Duration::from_millis(parse_or(
            &get,
            "INTAKE_READ_CACHE_MS",
            web_defaults.read_cache_max_age.as_millis() as u64,
            &mut errors,
            "a number of milliseconds (0 turns the cache off)",
        ));
        let read_cache_max_bytes = parse_or(
            &get,
            "INTAKE_READ_CACHE_MAX_BYTES",
            web_defaults.read_cache_max_bytes,
            &mut errors,
            "a number of bytes (0 keeps no answers)",
        );
        let round_robin = match get("INTAKE_ASSIGNMENT").as_deref() {
            None | Some("none" | "") => false,
            Some("round_robin") => true,
            Some(other) => {
                errors.push(format!("INTAKE_ASSIGNMENT: '{other}' is neither none nor round_robin"));
                false
            }
        };

        let deadline_defaults = DeadlineSettings::default();
        let target = match get("INTAKE_RESPONSE_TARGET") {
            None => deadline_defaults.target,
            Some(text) => deadline::parse_target(&text).unwrap_or_else(|e| {
                errors.push(format!("INTAKE_RESPONSE_TARGET: {e}"));
                None
            }),
        };
        let business_hours = get("INTAKE_BUSINESS_HOURS").filter(|t| !t.trim().is_empty()).and_then(|text| {
            text.parse::<BusinessHours>().map_err(|e| errors.push(format!("INTAKE_BUSINESS_HOURS: {e}"))).ok()
        });

        let consent_text =
            get("INTAKE_CONSENT_TEXT").unwrap_or_else(|| crate::web::settings::default_consent_text(&firm_name));
        // Off unless asked for: clients of `submitLead` from before consent existed keep working.
        let require_consent = on_off(&get, "INTAKE_REQUIRE_CONSENT", false, &mut errors);
        let webhook_defaults = WebhookSettings::default();
        let webhooks = WebhookSettings {
            backoff_base: seconds("INTAKE_WEBHOOK_BACKOFF_BASE", webhook_defaults.backoff_base.as_secs(), &mut errors),
            max_attempts: parse_or(
                &get,
                "INTAKE_WEBHOOK_MAX_ATTEMPTS",
                webhook_defaults.max_attempts,
                &mut errors,
                "a whole number",
            ),
            outbound: OutboundSettings {
                allow_http: on_off(&get, "INTAKE_WEBHOOK_ALLOW_HTTP", false, &mut errors),
                allow_private: on_off(&get, "INTAKE_WEBHOOK_ALLOW_PRIVATE", false, &mut errors),
            },
            ..webhook_defaults
        };
        if webhooks.max_attempts == 0 {
            errors.push("INTAKE_WEBHOOK_MAX_ATTEMPTS: must be at least 1".into());
        }
        let retention = RetentionSettings {
            period: get("INTAKE_RETENTION").and_then(|text| {
                RetentionPeriod::parse(&text).map_err(|e| errors.push(format!("INTAKE_RETENTION: {e}"))).ok().flatten()
            }),
            ..RetentionSettings::default()
        };

        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(Config {
            database: DatabaseSettings {
                url: database_url,
                max_connections: db_max_connections,
                acquire_timeout: db_acquire_timeout,
                connect_timeout: db_connect_timeout,
            },
            addr,
            public_url,
            data_dir,
            storage,
            jwt_secret,
            mail: MailSettings { transport, from, reply_to, notify },
            max_upload_bytes,
            admin: AdminBootstrap { email: admin_email, password: admin_password },
            jobs,
            firm_name,
            token_ttl: Duration::from_secs(30 * 60),
            socket_init_timeout: web_defaults.socket_init_timeout,
            download_link_ttl: Duration::from_secs(15 * 60),
            limits,
            trusted_proxies,
            cors_origins,
            introspection,
            round_robin,
            public_form,
            request_timeout,
            read_cache_max_age,
            read_cache_max_bytes,
            ack_per_recipient,
            ops_addr,
            run_worker,
            deadline: DeadlineSettings { target, business_hours },
            consent_text,
            require_consent,
            retention,
            webhooks,
        })
    }

    /// The web layer's part.
    pub fn web(&self) -> WebSettings {
        WebSettings {
            public_url: self.public_url.clone(),
            public_form: self.public_form,
            firm_name: self.firm_name.clone(),
            cors_origins: self.cors_origins.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            introspection: self.introspection,
            request_timeout: self.request_timeout,
            read_cache_max_age: self.read_cache_max_age,
            read_cache_max_bytes: self.read_cache_max_bytes,
            max_upload_bytes: self.max_upload_bytes,
            socket_init_timeout: self.socket_init_timeout,
            ops_addr: self.ops_addr,
            consent_text: self.consent_text.clone(),
        }
    }

    /// The embedded defaults in `data_dir`, read from no environment: what tests and the
    /// benchmarks start from before changing fields in code.
    pub fn for_tests(data_dir: &std::path::Path) -> Self {
        let dir = data_dir.display().to_string();
        Self::from_lookup(|name| (name == "INTAKE_DATA_DIR").then(|| dir.clone())).expect("the defaults are valid")
    }

    pub fn is_embedded_database(&self) -> bool {
        self.database.is_embedded()
    }
}

/// A switch: `on`/`true`/`1` or `off`/`false`/`0`, `default` when unset.
fn on_off(get: &impl Fn(&str) -> Option<String>, name: &str, default: bool, errors: &mut Vec<String>) -> bool {
    match get(name).as_deref() {
        None => default,
        Some("on" | "true" | "1") => true,
        Some("off" | "false" | "0") => false,
        Some(other) => {
            errors.push(format!("{name}: '{other}' is not on or off"));
            default
        }
    }
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    errors: &mut Vec<String>,
    expected: &str,
) -> T {
    match get(name) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            errors.push(format!("{name}: '{raw}' is not {expected}"));
            default
        }),
    }
}

fn parse_storage(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
    errors: &mut Vec<String>,
) -> StorageSettings {
    let fallback = StorageSettings::Local(data_dir.join("uploads"));
    let endpoint = |name: &str, errors: &mut Vec<String>| {
        get(name).and_then(|raw| match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(raw.trim_end_matches('/').to_owned()),
            _ => {
                errors.push(format!("{name}: '{raw}' is not an http(s) URL such as http://minio:9000"));
                None
            }
        })
    };
    let Some(raw) = get("INTAKE_STORAGE_URL") else {
        return fallback;
    };
    let url = match Url::parse(&raw) {
        Ok(url) => url,
        Err(e) => {
            errors.push(format!(
                "INTAKE_STORAGE_URL: '{raw}' is not a URL ({e}); use file:///abs/path or s3://bucket/prefix"
            ));
            return fallback;
        }
    };
    match url.scheme() {
        "file" => match url.to_file_path() {
            Ok(path) => StorageSettings::Local(path),
            Err(()) => {
                errors.push(format!(
                    "INTAKE_STORAGE_URL: '{raw}' must name an absolute path, e.g. file:///var/lib/intake/uploads"
                ));
                fallback
            }
        },
        "s3" => {
            let Some(bucket) = url.host_str().filter(|b| !b.is_empty()) else {
                errors.push(format!("INTAKE_STORAGE_URL: '{raw}' names no bucket; use s3://bucket/optional-prefix"));
                return fallback;
            };
            let access_key_id = get("AWS_ACCESS_KEY_ID");
            let secret_access_key = get("AWS_SECRET_ACCESS_KEY");
            if access_key_id.is_some() != secret_access_key.is_some() {
                errors.push("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".into());
            }
            StorageSettings::S3(S3Settings {
                bucket: bucket.to_owned(),
                prefix: url.path().trim_matches('/').to_owned(),
                endpoint: endpoint("INTAKE_S3_ENDPOINT", errors),
                region: get("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key_id,
                secret_access_key,
            })
        }
        other => {
            errors.push(format!("INTAKE_STORAGE_URL: scheme '{other}' is not file or s3"));
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::infra::mail::SmtpTls;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("intake-config-{}", uuid::Uuid::new_v4()));
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.entry("INTAKE_DATA_DIR".into()).or_insert(dir.display().to_string());
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn embedded_defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert!(c.is_embedded_database());
        assert_eq!(c.addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.public_url, "http://127.0.0.1:8000");
        assert!(c.jwt_secret.len() >= 32);
        assert!(matches!(c.mail.transport, MailTransport::Files(_)));
        assert_eq!(c.max_upload_bytes, WebSettings::default().max_upload_bytes);
    }

    #[test]
    fn consent_is_optional_unless_required() {
        assert!(!config(&[]).unwrap().require_consent);
        assert!(config(&[("INTAKE_REQUIRE_CONSENT", "on")]).unwrap().require_consent);
        assert!(config(&[("INTAKE_REQUIRE_CONSENT", "maybe")]).is_err());
        assert!(config(&[]).unwrap().run_worker, "other switches stay on by default");
    }

    #[test]
    fn retention_periods() {
        let period = |raw: &str| config(&[("INTAKE_RETENTION", raw)]).map(|c| c.retention.period);
        assert_eq!(config(&[]).unwrap().retention.period, None, "off by default");
        assert_eq!(period("off").unwrap(), None);
        assert_eq!(period("365d").unwrap(), Some(RetentionPeriod::Span(Duration::from_secs(365 * 86_400))));
        assert_eq!(period("18mo").unwrap(), Some(RetentionPeriod::Months(18)));
        assert_eq!(period("2y").unwrap(), Some(RetentionPeriod::Months(24)));
        assert_eq!(period("12h").unwrap(), Some(RetentionPeriod::Span(Duration::from_secs(12 * 3600))));
        assert_eq!(period("30s").unwrap(), Some(RetentionPeriod::Span(Duration::from_secs(30))));
        for bad in ["0d", "18m", "soon", "-3d"] {
            assert!(period(bad).is_err(), "{bad} is refused");
        }
        let now: chrono::DateTime<chrono::Utc> = "2026-03-31T12:00:00Z".parse().unwrap();
        assert_eq!(
            RetentionPeriod::Months(1).cutoff(now),
            "2026-02-28T12:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
    }

    #[test]
    fn response_deadlines() {
        let four = config(&[
            ("INTAKE_RESPONSE_TARGET", "4h"),
            ("INTAKE_BUSINESS_HOURS", "Mon-Fri 09:00-17:30 America/New_York"),
        ])
        .unwrap();
        assert_eq!(four.deadline.target, Some(Duration::from_secs(4 * 3600)));
        assert!(four.deadline.business_hours.is_some());
        assert_eq!(config(&[("INTAKE_RESPONSE_TARGET", "off")]).unwrap().deadline.target, None);
        assert_eq!(config(&[]).unwrap().deadline, DeadlineSettings::default());
    }

    #[test]
    fn the_answer_budget_is_read_in_bytes() {
        assert_eq!(config(&[]).unwrap().read_cache_max_bytes, 32 * 1024 * 1024);
        assert_eq!(config(&[("INTAKE_READ_CACHE_MAX_BYTES", "1048576")]).unwrap().read_cache_max_bytes, 1 << 20);
    }

    #[test]
    fn every_problem_is_reported_with_its_variable() {
        let err = config(&[
            ("INTAKE_ADDR", "nope"),
            ("INTAKE_JWT_SECRET", "short"),
            ("INTAKE_SMTP_URL", "http://x"),
            ("INTAKE_MAX_UPLOAD_BYTES", "ten"),
            ("INTAKE_RESPONSE_TARGET", "soon"),
            ("INTAKE_BUSINESS_HOURS", "Mon-Fri 9-5 Mars/Olympus"),
            ("INTAKE_RETENTION", "18 moons"),
            ("INTAKE_READ_CACHE_MAX_BYTES", "32MiB"),
        ])
        .err()
        .unwrap();
        let text = err.to_string();
        for var in [
            "INTAKE_ADDR",
            "INTAKE_JWT_SECRET",
            "INTAKE_SMTP_URL",
            "INTAKE_MAX_UPLOAD_BYTES",
            "INTAKE_RESPONSE_TARGET",
            "INTAKE_RETENTION",
            "INTAKE_BUSINESS_HOURS",
            "INTAKE_READ_CACHE_MAX_BYTES",
        ] {
            assert!(text.contains(var), "{var} missing from: {text}");
        }
    }

    #[test]
    fn known_and_weak_secrets_are_refused() {
        for secret in ["compose-placeholder-secret-change-me-in-dot-env", &"x".repeat(48)] {
            let Err(err) = config(&[("INTAKE_JWT_SECRET", secret)]) else { panic!("{secret} accepted") };
            assert!(err.to_string().contains("INTAKE_JWT_SECRET"), "{err}");
        }
    }

    #[test]
    fn postgres_requires_an_explicit_secret() {
        let err = config(&[("DATABASE_URL", "postgres://u:pw@localhost/db")]).err().unwrap();
        assert!(err.to_string().contains("INTAKE_JWT_SECRET: required"));
        assert!(!err.to_string().contains("pw@"));
    }

    #[test]
    fn storage_urls() {
        let c = config(&[]).unwrap();
        assert!(matches!(&c.storage, StorageSettings::Local(p) if p.ends_with("uploads")));
        let c = config(&[
            ("INTAKE_STORAGE_URL", "s3://resumes/intake/prod/"),
            ("INTAKE_S3_ENDPOINT", "http://minio:9000/"),
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])
        .unwrap();
        let StorageSettings::S3(s3) = c.storage else { panic!("not s3") };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str(), s3.region.as_str()),
            ("resumes", "intake/prod", "us-east-1")
        );
        assert_eq!(s3.endpoint.as_deref(), Some("http://minio:9000"));
        let c = config(&[("INTAKE_STORAGE_URL", "file:///srv/uploads")]).unwrap();
        assert!(matches!(&c.storage, StorageSettings::Local(p) if p == std::path::Path::new("/srv/uploads")));
        for bad in ["ftp://x", "s3://", "file://relative/x", "nonsense"] {
            let err = config(&[("INTAKE_STORAGE_URL", bad)]).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.to_string().contains("INTAKE_STORAGE_URL"), "{err}");
        }
        let err = config(&[("INTAKE_STORAGE_URL", "s3://b"), ("AWS_ACCESS_KEY_ID", "k")]).err().unwrap();
        assert!(err.to_string().contains("must be set together"));
    }

    #[test]
    fn smtp_urls_choose_tls_and_credentials() {
        let s = SmtpSettings::from_url("smtp://me%40x.com:p%2Fw@mail.example:2525").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("mail.example", 2525, SmtpTls::StartTls));
        assert_eq!(s.credentials, Some(("me@x.com".into(), "p/w".into())));
        assert_eq!(SmtpSettings::from_url("smtps://h").unwrap().tls, SmtpTls::Implicit);
        let plain = SmtpSettings::from_url("smtp://localhost:1025?tls=none").unwrap();
        assert_eq!((plain.port, plain.tls, plain.credentials), (1025, SmtpTls::None, None));
        assert!(SmtpSettings::from_url("smtps://h?tls=none").is_err());
    }
}
