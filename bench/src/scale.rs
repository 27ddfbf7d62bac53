//! Nothing a submission does may cost more as the database grows: `submitLead` on an empty
//! database and on one seeded with a million leads, 20,000 of them from one address, both from
//! new addresses and from that one address (whose earlier leads the duplicate look-up, the
//! conflict check and the acknowledgement cap all meet).

use chrono::Duration;
use entity::lead::{self, LeadStatus};
use sea_orm::{EntityTrait, IntoActiveModel};

use crate::{
    fixtures::{self, Backend, RunDb},
    report::Section,
    servers::Kind,
    submit::{self, Load},
};

/// `BENCH_SCALE_LEADS` overrides it (a quicker run).
pub const LEADS: u64 = 1_000_000;
pub const FROM_ONE_ADDRESS: u64 = 20_000;
const REPEATER: &str = "repeat@example.com";
/// Rows per INSERT: each binds every column, within both databases' parameter limits.
const BATCH: u64 = 500;

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let leads = std::env::var("BENCH_SCALE_LEADS").ok().map(|s| s.parse()).transpose()?.unwrap_or(LEADS);
    let mut section = Section::new(format!(
        "At scale: submitLead on an empty database and on {leads} leads ({FROM_ONE_ADDRESS} from one address), \
         {} clients, {seconds} s",
        submit::CLIENTS
    ));
    section.line(
        "`intake serve --no-worker`; the seeded database is filled before the server starts (leads spread over \
         the past two years, every one keyed for the conflict check). \"New addresses\" sends a new address on \
         every request; \"one address\" sends the seeded repeater's, so each submission is its 20,001st or later \
         lead. The target: every row within 15 % of the empty database's.\n",
    );
    let mut rows = Vec::new();
    for backend in backends {
        let empty = submit::measure_with(
            RunDb::create(backend).await?,
            backend,
            Kind::IntakeApi,
            "Empty, new addresses",
            seconds,
            Load::unique(),
        )
        .await?;
        let mut outcomes = vec![empty];
        for (label, load) in
            [("Seeded, new addresses", Load::unique()), ("Seeded, one address", Load::from_address(REPEATER))]
        {
            let db = RunDb::create(backend).await?;
            let took = seed(&db, leads).await?;
            println!("{}: {leads} leads seeded in {took:.0} s", backend.label());
            let load = Load { seeded: leads, ..load };
            outcomes.push(submit::measure_with(db, backend, Kind::IntakeApi, label, seconds, load).await?);
        }
        let base = outcomes[0].per_second;
        for outcome in &outcomes {
            rows.push(vec![
                backend.label().to_owned(),
                outcome.label.to_owned(),
                format!("{:.0}", outcome.per_second),
                format!("{:.2}", outcome.per_second / base),
                format!("{:.1}", outcome.p50_ms),
                format!("{:.1}", outcome.p99_ms),
            ]);
        }
    }
    section.table(&["Database", "Run", "Requests/s", "× empty", "p50 ms", "p99 ms"], &rows);
    Ok(section)
}

/// Fills the database with `n` leads as submissions would have left them; the first
/// `FROM_ONE_ADDRESS` are one address's (the first of them the one the rest repeat). Returns
/// the seconds it took.
async fn seed(db: &RunDb, n: u64) -> anyhow::Result<f64> {
    let state = api::app::startup::connect(&db.config()).await?;
    let started = std::time::Instant::now();
    let now = api::infra::clock::now();
    let first_id = uuid::Uuid::now_v7();
    let mut done = 0;
    while done < n {
        let rows: Vec<lead::ActiveModel> = (done..(done + BATCH).min(n))
            .map(|i| {
                let repeat = i < FROM_ONE_ADDRESS;
                let email = if repeat { REPEATER.to_owned() } else { format!("seed{i}@example.com") };
                let last = fixtures::name_of(i + 10_000_000);
                let at = now - Duration::seconds(((n - i) * 63_072_000 / n) as i64 + 1);
                lead::Model {
                    id: if i == 0 { first_id } else { uuid::Uuid::now_v7() },
                    first_name: "Seed".into(),
                    last_name: last.clone(),
                    email: email.clone(),
                    status: if i % 3 == 0 { LeadStatus::ReachedOut } else { LeadStatus::Pending },
                    resume_key: format!("resumes/seed-{i}.pdf"),
                    resume_file_name: "cv.pdf".into(),
                    resume_content_type: "application/pdf".into(),
                    resume_size_bytes: 1024,
                    created_at: at,
                    updated_at: at,
                    duplicate_of: (repeat && i > 0).then_some(first_id),
                    email_key: email,
                    name_key: api::leads::conflicts::keys::lead_name_key("Seed", &last),
                    conflict_checked_at: Some(at),
                    conflict_hits: Some(serde_json::json!([])),
                    source: Some(["website", "referral", "google-ads"][(i % 3) as usize].into()),
                    ..lead::Model::default()
                }
                .into_active_model()
            })
            .collect();
        lead::Entity::insert_many(rows).exec_without_returning(&state.db).await?;
        done = (done + BATCH).min(n);
    }
    if state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        use sea_orm::ConnectionTrait;
        state.db.execute_unprepared("ANALYZE leads").await?;
    }
    state.db.close().await?;
    Ok(started.elapsed().as_secs_f64())
}
