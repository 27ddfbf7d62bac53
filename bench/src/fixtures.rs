//! What the runs are made of: a database per run, the environment Intake gets, and the bodies
//! the clients send.

use std::path::Path;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use sea_orm::{ConnectionTrait, Database};

pub const BOUNDARY: &str = "----intake-bench-boundary";

#[derive(Clone)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server URL; each run gets a fresh database on it.
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL when BENCH_DATABASE_URL names a server (else said out loud).
    pub fn available() -> Vec<Backend> {
        match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) => vec![Backend::Sqlite, Backend::Postgres(url)],
            Err(_) => {
                eprintln!("*** BENCH_DATABASE_URL is not set: PostgreSQL runs are SKIPPED ***");
                vec![Backend::Sqlite]
            }
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// A data directory (résumés, mail, and the SQLite file) plus, on PostgreSQL, a fresh database
/// that is dropped at the end.
pub struct RunDb {
    pub dir: tempfile::TempDir,
    postgres: Option<RunDatabase>,
    /// One signing secret for every process of the run, made for it.
    jwt_secret: String,
}

impl RunDb {
    pub async fn create(backend: &Backend) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("intake-bench-").tempdir()?;
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(server) => Some(RunDatabase::create(server, None).await?),
        };
        Ok(Self { dir, postgres, jwt_secret: api::infra::secrets::random_token(48) })
    }

    /// A new run whose database starts as a copy of this one's (which no process may have
    /// open): a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL. Seeding a
    /// million leads once and copying them per round is minutes faster than seeding per round.
    pub async fn copy(&self) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("intake-bench-").tempdir()?;
        let postgres = match &self.postgres {
            None => {
                let (from, to) = (self.dir.path().to_owned(), dir.path().to_owned());
                tokio::task::spawn_blocking(move || {
                    // The database and, should a checkpoint not have emptied it, its journal, on
                    // disk before the run: else the run shares the machine with their writeback,
                    // which no deployment's database has waiting.
                    for file in ["intake.db", "intake.db-wal"] {
                        if from.join(file).exists() {
                            std::fs::copy(from.join(file), to.join(file))?;
                            std::fs::File::open(to.join(file))?.sync_all()?;
                        }
                    }
                    std::io::Result::Ok(())
                })
                .await??;
                None
            }
            Some(original) => Some(RunDatabase::create(&original.server, Some(&original.name)).await?),
        };
        Ok(Self { dir, postgres, jwt_secret: self.jwt_secret.clone() })
    }

    /// The environment every process of this run gets: the embedded defaults but for the
    /// database, and limits high enough that the load is not refused as abuse.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("INTAKE_DATA_DIR", self.dir.path().display().to_string()),
            ("INTAKE_JWT_SECRET", self.jwt_secret.clone()),
            ("INTAKE_SUBMIT_RATE_LIMIT", "1000000/s".into()),
            ("INTAKE_SUBMIT_BURST", "1000000".into()),
            ("INTAKE_ADMIN_EMAIL", ADMIN_EMAIL.into()),
            ("INTAKE_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ];
        if let Some(database) = &self.postgres {
            env.push(("DATABASE_URL", database.url.clone()));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The configuration of this run for code in the bench process, built in code: the
    /// embedded defaults, this run's database and signing secret (child processes get the same
    /// through `env()`).
    pub fn config(&self) -> api::app::config::Config {
        let mut config = api::app::config::Config::for_tests(self.dir.path());
        if let Some(database) = &self.postgres {
            config.database.url = database.url.clone();
        }
        config.jwt_secret = self.jwt_secret.clone().into_bytes();
        config
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Drops the PostgreSQL database now, but keeps the directory until `remove_directories`:
    /// deleting thousands of files between runs makes ext4's inode allocator search past the
    /// recently deleted ones during the next run (measured: a tenth of the next server's CPU).
    /// Their contents go now: a full `bench all` writes more résumés than this disk had free
    /// (about 40 GB), and its scale runs then failed most submissions.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let dir = self.dir.path().to_owned();
        tokio::task::spawn_blocking(move || empty_files(&dir)).await??;
        FINISHED.lock().expect("not poisoned").push(self.dir);
        if let Some(database) = self.postgres {
            database.drop().await?;
        }
        Ok(())
    }
}

/// A run's own database on a PostgreSQL server.
struct RunDatabase {
    server: String,
    name: String,
    url: String,
}

impl RunDatabase {
    /// A new database, empty or a copy of `template` (on disk before the run, as a SQLite
    /// copy is).
    async fn create(server: &str, template: Option<&str>) -> anyhow::Result<Self> {
        let name = format!("intake_bench_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(server)?;
        url.set_path(&name);
        let admin = Database::connect(server).await?;
        match template {
            None => admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?,
            Some(template) => {
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).await?;
                admin.execute_unprepared("CHECKPOINT").await?
            }
        };
        Ok(Self { server: server.to_owned(), name, url: url.to_string() })
    }

    async fn drop(self) -> anyhow::Result<()> {
        let name = &self.name;
        Database::connect(&self.server)
            .await?
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await?;
        Ok(())
    }
}

/// Truncates every file under `dir` to nothing, which frees its space but not its inode.
fn empty_files(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            empty_files(&entry.path())?;
        } else if kind.is_file() {
            std::fs::OpenOptions::new().write(true).open(entry.path())?.set_len(0)?;
        }
    }
    Ok(())
}

static FINISHED: std::sync::Mutex<Vec<tempfile::TempDir>> = std::sync::Mutex::new(Vec::new());

/// Removes the directories of finished runs; call once every run is over.
pub fn remove_directories() {
    FINISHED.lock().expect("not poisoned").clear();
}

pub const ADMIN_EMAIL: &str = "bench-admin@firm.example";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

/// A well-formed PDF of exactly `size` bytes (a comment pads it out).
pub fn pdf(size: usize) -> Vec<u8> {
    let head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    let tail = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head);
    body.push(b'%');
    body.resize(size - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// The multipart `submitLead` body a browser form sends (GraphQL multipart request spec); `n`
/// makes the name and email differ from one request to the next.
pub fn submit_body(n: u64, file: &[u8]) -> Bytes {
    submit_body_from(n, &format!("ada{n}@example.com"), file)
}

/// As `submit_body`, from the address given (the same one every time, say).
pub fn submit_body_from(n: u64, email: &str, file: &[u8]) -> Bytes {
    let operations = serde_json::json!({
        "query": "mutation($input: SubmitLeadInput!, $resume: Upload!) { submitLead(input: $input, resume: $resume) { id status submittedAt } }",
        "variables": {
            "input": { "firstName": "Ada", "lastName": name_of(n), "email": email },
            "resume": null
        }
    });
    let mut body = Vec::with_capacity(file.len() + 1024);
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part("Content-Disposition: form-data; name=\"operations\"", operations.to_string().as_bytes());
    part("Content-Disposition: form-data; name=\"map\"", br#"{"0":["variables.resume"]}"#);
    part("Content-Disposition: form-data; name=\"0\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf", file);
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Bytes::from(body)
}

/// Syllables that differ from one another in both letters: two names made of them are never
/// one typo apart, so the conflict check finds a bench lead no near-match among the others, as
/// it would not among real people's.
const SYLLABLES: [&str; 16] =
    ["ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "va"];

/// A name as distinct as `n`: "Lovebace", "Lovebadi"…
pub fn name_of(n: u64) -> String {
    let mut name = String::from("Love");
    let mut rest = n;
    loop {
        name.push_str(SYLLABLES[(rest % 16) as usize]);
        rest /= 16;
        if rest == 0 {
            break;
        }
    }
    name
}

pub fn submit_request(body: Bytes) -> Request<Full<Bytes>> {
    Request::post("/graphql")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Full::new(body))
        .expect("valid request")
}
