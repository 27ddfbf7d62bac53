//! Nothing a submission does may cost more as the database grows: `submitLead` on an empty
//! database and on one seeded with a million leads, 20,000 of them from one address, both from
//! new addresses and from that one address (whose earlier leads the duplicate look-up, the
//! conflict check and the acknowledgement cap all meet).

use chrono::Duration;
use entity::lead::{self, ConflictState, LeadOutcome, LeadStatus};
use sea_orm::{EntityTrait, IntoActiveModel};

use crate::{
    fixtures::{Backend, RunDb},
    report::Section,
    servers::Kind,
    submit::{self, Load},
};

/// `BENCH_SCALE_LEADS` overrides it (a quicker run).
pub const LEADS: u64 = 1_000_000;
pub const FROM_ONE_ADDRESS: u64 = 20_000;
const REPEATER: &str = "repeat@example.com";
/// The attorneys seeded leads are assigned to (ids that name no account: the list filters by
/// id alone).
pub const ATTORNEYS: [uuid::Uuid; 8] = {
    let mut ids = [uuid::Uuid::nil(); 8];
    let mut i = 0;
    while i < 8 {
        ids[i] = uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001 + i as u128);
        i += 1;
    }
    ids
};
const OUTCOMES: [LeadOutcome; 4] =
    [LeadOutcome::Retained, LeadOutcome::Declined, LeadOutcome::ReferredOut, LeadOutcome::NoResponse];
const FIRST_NAMES: [&str; 50] = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
];
const DOMAINS: [&str; 5] = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "lawclient.example"];

/// A seeded lead's first name: fifty common ones, so a first name matches one lead in fifty.
pub fn first_name(i: u64) -> String {
    FIRST_NAMES[(i % 50) as usize].to_owned()
}

/// A seeded lead's last name: five to nine letters drawn from a hash of `i`, as varied as real
/// surnames are (a name's rarest letter triple is shared by a few hundred leads, not by
/// tens of thousands as a small syllable set would make it).
pub fn last_name(i: u64) -> String {
    // SplitMix64: well spread from consecutive inputs.
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let len = 5 + (x % 5) as usize;
    let mut name = String::with_capacity(len);
    for k in 0..len {
        let letter = b'a' + ((x >> (5 + 5 * k)) % 26) as u8;
        name.push(if k == 0 { letter.to_ascii_uppercase() } else { letter } as char);
    }
    name
}

/// The runs of each round: their label, whether they start from the seeded database, and the
/// one address they send from (else a new one every request). The first is the base.
const RUNS: [(&str, bool, Option<&str>); 3] = [
    ("Empty, new addresses", false, None),
    ("Seeded, new addresses", true, None),
    ("Seeded, one address", true, Some(REPEATER)),
];

/// Rows per INSERT: each binds every column, within both databases' parameter limits.
const BATCH: u64 = 500;

pub async fn run(backends: &[Backend], seconds: u64) -> anyhow::Result<Section> {
    let leads = std::env::var("BENCH_SCALE_LEADS").ok().map(|s| s.parse()).transpose()?.unwrap_or(LEADS);
    let mut section = Section::new(format!(
        "At scale: submitLead on an empty database and on {leads} leads ({FROM_ONE_ADDRESS} from one address), \
         {} clients, {seconds} s, medians of {} alternating rounds",
        submit::CLIENTS,
        submit::ROUNDS
    ));
    section.line(
        "`intake serve --no-worker`; the seeded database is filled once before the rounds (leads spread over the \
         past two years, every one keyed for the conflict check) and each seeded run starts from a fresh copy of \
         it. \"New addresses\" sends a new address on every request; \"one address\" sends the seeded repeater's, \
         so each submission is its 20,001st or later lead. The three runs take turns, round after round, and each \
         figure is the median of its rounds. The target: every row within 15 % of the empty database's.\n",
    );
    let mut rows = Vec::new();
    for backend in backends {
        let seeded = RunDb::create(backend).await?;
        let took = seed(&seeded, leads).await?;
        println!("{}: {leads} leads seeded in {took:.0} s", backend.label());
        let mut runs: Vec<Vec<submit::Outcome>> = RUNS.iter().map(|_| Vec::new()).collect();
        for _ in 0..submit::ROUNDS {
            for (&(label, on_seeded, from), runs) in RUNS.iter().zip(&mut runs) {
                let load = from.map_or_else(Load::unique, Load::from_address);
                let (db, load) = if on_seeded {
                    (seeded.copy().await?, Load { seeded: leads, ..load })
                } else {
                    (RunDb::create(backend).await?, load)
                };
                runs.push(submit::measure_with(db, backend, Kind::IntakeApi, label, seconds, load).await?);
            }
        }
        seeded.drop_database().await?;
        let outcomes: Vec<submit::Outcome> = runs.into_iter().map(submit::median).collect();
        let base = outcomes[0].per_second;
        for outcome in &outcomes {
            rows.push(vec![
                backend.label().to_owned(),
                outcome.label.to_owned(),
                format!("{:.0}", outcome.per_second),
                outcome.spread.clone(),
                format!("{:.2}", outcome.per_second / base),
                format!("{:.1}", outcome.p50_ms),
                format!("{:.1}", outcome.p99_ms),
            ]);
        }
    }
    section.table(&["Database", "Run", "Requests/s", "Rounds", "× empty", "p50 ms", "p99 ms"], &rows);
    Ok(section)
}

/// Fills the database with `n` leads as submissions would have left them; the first
/// `FROM_ONE_ADDRESS` are one address's (the first of them the one the rest repeat). Returns
/// the seconds it took.
pub async fn seed(db: &RunDb, n: u64) -> anyhow::Result<f64> {
    let state = api::app::startup::connect(&db.config()).await?;
    let started = std::time::Instant::now();
    let now = api::infra::clock::now();
    let first_id = uuid::Uuid::now_v7();
    let mut done = 0;
    while done < n {
        let rows: Vec<lead::ActiveModel> = (done..(done + BATCH).min(n))
            .map(|i| {
                let repeat = i < FROM_ONE_ADDRESS;
                let (first, last) = (first_name(i), last_name(i));
                let email = if repeat {
                    REPEATER.to_owned()
                } else {
                    format!("{}.{}{i}@{}", first.to_lowercase(), last.to_lowercase(), DOMAINS[(i % 5) as usize])
                };
                let at = now - Duration::seconds(((n - i) * 63_072_000 / n) as i64 + 1);
                lead::Model {
                    id: if i == 0 { first_id } else { uuid::Uuid::now_v7() },
                    first_name: first.clone(),
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
                    name_key: api::leads::conflicts::keys::lead_name_key(&first, &last),
                    conflict_checked_at: Some(at),
                    conflict_hits: Some(serde_json::json!([])),
                    source: Some(["website", "referral", "google-ads"][(i % 3) as usize].into()),
                    // A firm's mix: most leads assigned, nearly all older ones decided, one in
                    // fifty with a possible conflict, a day to answer each (so most pending
                    // ones are overdue).
                    assigned_to: (i % 10 >= 2).then(|| ATTORNEYS[(i % 8) as usize]),
                    outcome: if i < n - n / 10 { OUTCOMES[(i % 4) as usize] } else { LeadOutcome::Open },
                    conflict_state: if i % 50 == 0 { ConflictState::PossibleConflict } else { ConflictState::Clear },
                    respond_by: Some(at + Duration::hours(24)),
                    ..lead::Model::default()
                }
                .into_active_model()
            })
            .collect();
        lead::Entity::insert_many(rows).exec_without_returning(&state.db).await?;
        done = (done + BATCH).min(n);
    }
    let sqlite = state.db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
    if !sqlite {
        use sea_orm::ConnectionTrait;
        // As autovacuum does after a bulk insert (PostgreSQL 13 and later): statistics for the
        // planner, and the visibility map that lets an index answer alone.
        state.db.execute_unprepared("VACUUM ANALYZE leads").await?;
        // On disk before any run: else the runs share the machine with the writeback of
        // gigabytes that no deployment has waiting.
        state.db.execute_unprepared("CHECKPOINT").await?;
    }
    state.close().await?;
    if sqlite {
        let file = db.path().join("intake.db");
        tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_all()).await??;
    }
    Ok(started.elapsed().as_secs_f64())
}
