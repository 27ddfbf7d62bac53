//! The harness: each test gets the real server on a free port, its own data dir, its own
//! database (SQLite, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set), and an
//! SMTP sink. Mail is drained deterministically through the worker's own code.

use std::{collections::HashMap, time::Duration};

use api::{
    accounts::users::AdminBootstrap,
    app::{config::Config, startup::Application},
    infra::{
        limits::Rate,
        mail::{MailTransport, SmtpSettings},
    },
    leads::outbox::DrainReport,
    web::state::AppState,
};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::smtp::SmtpSink;

pub const ADMIN_EMAIL: &str = "admin@firm.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
pub const JWT_SECRET: &str = "e2e-Zq4tW9xK2mP7vB1nL6sR3yH8cJ0dF5gT";
pub const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The server's base URL, e.g. postgres://postgres@127.0.0.1:5432/postgres.
    Postgres(String),
}

/// The PostgreSQL server the tests make their databases on when TEST_DATABASE_URL is unset.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl Backend {
    /// TEST_DATABASE_URL, or the PostgreSQL on 127.0.0.1:5432. Tests that need it are built only
    /// when one of them was there (`build.rs`); otherwise the runner lists them as ignored.
    pub fn postgres() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::Postgres(url),
            _ => Self::Postgres(LOCAL_POSTGRES.into()),
        }
    }
}

/// Runs each named `async fn(Backend)` as two tests: `<name>::sqlite` and `<name>::postgres`.
/// Without a PostgreSQL (see `build.rs`) the second is reported as ignored, never as passed.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::app::Backend::Sqlite).await
            }
            #[tokio::test]
            #[cfg_attr(not(intake_postgres), ignore = "no PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432")]
            async fn postgres() {
                super::$name($crate::app::Backend::postgres()).await
            }
        }
    )*};
}

/// A PostgreSQL database made for one test and dropped after it.
struct TestDatabase {
    server_url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs outside async; use a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(db) = Database::connect(&server_url).await {
                    let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub address: String,
    /// The operations listener's address, when `INTAKE_OPS_ADDR` is set.
    pub ops_address: Option<String>,
    pub state: AppState,
    pub smtp: SmtpSink,
    pub client: reqwest::Client,
    /// As built for this test; each start chooses its own port.
    config: Config,
    data_dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// `configure` changes the test's configuration, in code, before the server starts.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let smtp = SmtpSink::start().await;
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(data_dir.path());
        config.jwt_secret = JWT_SECRET.as_bytes().to_vec();
        config.mail.transport = MailTransport::Smtp(SmtpSettings::from_url(&smtp.url()).unwrap());
        config.mail.from = "Test Firm <intake@firm.test>".parse().unwrap();
        config.firm_name = "Test Firm".into();
        config.admin = AdminBootstrap { email: ADMIN_EMAIL.into(), password: Some(ADMIN_PASSWORD.into()) };
        config.database.max_connections = 5;
        // The tests drain mail themselves; those about the worker turn it on.
        config.run_worker = false;
        // No reminders queued for later unless a test is about response deadlines: the others
        // count the mails of a submission.
        config.deadline.target = None;
        // Generous limits, so that only the tests about limits meet them.
        config.limits.submit = Rate::parse("1000/s", 1000).unwrap();
        config.limits.login = Rate::parse("1000/s", 1000).unwrap();
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(server_url) => {
                let name = format!("intake_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&server_url).await.expect("TEST_DATABASE_URL reachable");
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
                admin.close().await.ok();
                let mut url = url::Url::parse(&server_url).unwrap();
                url.set_path(&name);
                config.database.url = url.to_string();
                Some(TestDatabase { server_url, name })
            }
        };
        configure(&mut config);
        let running = start(&config).await;
        Self {
            address: running.address,
            ops_address: running.ops_address,
            state: running.state,
            smtp,
            client: reqwest::Client::new(),
            config,
            data_dir,
            _database: database,
            stop: Some(running.stop),
            server: Some(running.server),
        }
    }

    /// Stops the server gracefully and starts a new one on the same data dir and database.
    pub async fn restart(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().await.unwrap().unwrap();
        let running = start(&self.config).await;
        self.address = running.address;
        self.ops_address = running.ops_address;
        self.state = running.state;
        self.stop = Some(running.stop);
        self.server = Some(running.server);
    }

    /// For `intake` processes started beside it (a worker, say): the same database, data dir,
    /// secret and mail, as the environment variables such a process reads.
    pub fn env(&self) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("INTAKE_DATA_DIR", self.data_dir.path().display().to_string()),
            ("INTAKE_JWT_SECRET", JWT_SECRET.into()),
            ("INTAKE_SMTP_URL", self.smtp.url()),
            ("INTAKE_MAIL_FROM", "Test Firm <intake@firm.test>".into()),
            ("INTAKE_FIRM_NAME", "Test Firm".into()),
            ("INTAKE_ADMIN_EMAIL", ADMIN_EMAIL.into()),
            ("INTAKE_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("INTAKE_DB_MAX_CONNECTIONS", "5".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if !self.config.is_embedded_database() {
            env.insert("DATABASE_URL".into(), self.config.database.url.clone());
        }
        env
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self.client.post(format!("{}/graphql", self.address)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Sends `submitLead` as the GraphQL multipart request spec lays it out.
    pub async fn submit_lead(&self, input: Value, file_name: &str, bytes: Vec<u8>) -> Value {
        let (status, body) = self.submit_lead_raw(input, file_name, bytes).await;
        assert!(status.is_success() && body["errors"].is_null(), "HTTP {status}: {body}");
        body
    }

    pub async fn submit_lead_raw(&self, input: Value, file_name: &str, bytes: Vec<u8>) -> (reqwest::StatusCode, Value) {
        let form = submit_form(input, file_name, bytes);
        let response = self.client.post(format!("{}/graphql", self.address)).multipart(form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Submits a lead with a PDF résumé and returns its id.
    pub async fn submit_id(&self, input: Value) -> String {
        let body = self.submit_lead(input, "cv.pdf", PDF.to_vec()).await;
        body["data"]["submitLead"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = self
            .graphql(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                json!({ "e": email, "p": password }),
                None,
            )
            .await;
        body["data"]["login"]["accessToken"].as_str().unwrap_or_else(|| panic!("login failed: {body}")).to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates an attorney through the API and signs them in.
    pub async fn attorney(&self, email: &str) -> String {
        let admin = self.admin_token().await;
        let body = self
            .graphql(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": email, "fullName": "Alex Attorney", "role": "ATTORNEY", "password": "attorney-password-1" } }),
                Some(&admin),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        self.login(email, "attorney-password-1").await
    }

    /// Creates an attorney and returns their id and access token.
    pub async fn attorney_with_id(&self, email: &str) -> (String, String) {
        let token = self.attorney(email).await;
        let me = self.graphql("{ me { id } }", json!({}), Some(&token)).await;
        (me["data"]["me"]["id"].as_str().unwrap().to_owned(), token)
    }

    /// A GraphQL multipart request with one file in `variables.<file_variable>`.
    pub async fn graphql_with_file(
        &self,
        query: &str,
        variables: Value,
        file_variable: &str,
        file: (&str, Vec<u8>),
        token: &str,
    ) -> Value {
        let operations = json!({ "query": query, "variables": variables });
        let part = reqwest::multipart::Part::bytes(file.1).file_name(file.0.to_owned());
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": [format!("variables.{file_variable}")] }).to_string())
            .part("0", part);
        let request = self.client.post(format!("{}/graphql", self.address)).bearer_auth(token).multipart(form);
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Another API server on the same database and data dir, as a second replica would be.
    /// It stops when dropped.
    pub async fn replica(&self) -> Replica {
        let running = start(&self.config).await;
        Replica { address: running.address, _stop: running.stop }
    }

    /// Sends every mail that is due now, through the worker's own code path.
    pub async fn drain_mail(&self) -> DrainReport {
        self.drain_mail_at(api::infra::clock::now()).await
    }

    /// As `drain_mail`, as if the clock read `now`: makes retries due without waiting.
    pub async fn drain_mail_at(&self, now: DateTime<Utc>) -> DrainReport {
        self.state.worker().run_pending(now).await.expect("drain")
    }
}

pub fn later(by: Duration) -> DateTime<Utc> {
    api::infra::clock::now() + by
}

pub const SUBMIT_LEAD: &str = "mutation Submit($input: SubmitLeadInput!, $resume: Upload!) { \
    submitLead(input: $input, resume: $resume) { id status submittedAt } }";

/// `submitLead` laid out as the GraphQL multipart request spec says (what apollo-upload-client
/// and Python `gql` send).
pub fn submit_form(input: Value, file_name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    let operations = json!({ "query": SUBMIT_LEAD, "variables": { "input": input, "resume": null } });
    let file =
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("application/pdf").unwrap();
    reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0":["variables.resume"]}"#)
        .part("0", file)
}

/// A JSON GraphQL request to the server at `base`, for tests that run the binary.
pub async fn post_graphql(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    variables: Value,
    token: Option<&str>,
) -> Value {
    let mut request = client.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

pub fn lead_input(first: &str, last: &str, email: &str) -> Value {
    json!({ "firstName": first, "lastName": last, "email": email })
}

/// The `extensions.code` of the first error, or panics with the whole body.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

pub fn error_field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"].as_str().unwrap_or_else(|| panic!("no error field in {body}"))
}

/// A child process that is killed when the test ends, passed or not: a panicking test must
/// not leave a server or worker behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Replica {
    pub address: String,
    _stop: oneshot::Sender<()>,
}

struct Running {
    address: String,
    ops_address: Option<String>,
    state: AppState,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Starts the application from `config` on a port of its own.
async fn start(config: &Config) -> Running {
    // Bind first, so that the public URL (used in links) names the real port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = config.clone();
    config.addr = ([127, 0, 0, 1], port).into();
    config.public_url = format!("http://127.0.0.1:{port}");
    let app = Application::with_listener(config, listener).await.expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let ops_address = app.ops_port().map(|port| format!("http://127.0.0.1:{port}"));
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Running { address, ops_address, state, stop, server }
}
