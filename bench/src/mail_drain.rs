//! Item 7: a worker draining queued mails into an SMTP server on loopback (the in-process
//! sink the tests use, speaking real SMTP).

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use api::{
    infra::{
        announce::Announcer,
        freshness::Freshness,
        mail::{MailTransport, Mailer, SmtpSettings, messages::LeadMail},
    },
    leads::outbox::{
        Worker,
        queue::{self, NewEmailJob},
    },
    leads::privacy::deletions::Deleter,
};
use sea_orm::EntityTrait;

use crate::{
    fixtures::{Backend, RunDb},
    report::Section,
};

pub struct Outcome {
    pub per_second: f64,
    pub seconds: f64,
}

pub async fn run(backends: &[Backend], count: usize, concurrency: usize) -> anyhow::Result<Section> {
    let mut section =
        Section::new(format!("Email drain: {count} mails, `INTAKE_MAIL_CONCURRENCY={concurrency}` (item 7)"));
    section.line(
        "The mails (two per lead) are queued first, then one worker (in the bench process) sends them all into a \
         local SMTP server, recording each send in its lead's history; every mail must arrive exactly once.\n",
    );
    let mut rows = Vec::new();
    for backend in backends {
        let outcome = drain(backend, count, concurrency).await?;
        rows.push(vec![
            backend.label().to_owned(),
            format!("{:.2} s", outcome.seconds),
            format!("**{:.0}**", outcome.per_second),
        ]);
    }
    section.table(&["Database", "Time", "Mails/s"], &rows);
    Ok(section)
}

/// Queues `count` mails, then times one worker draining them.
pub async fn drain(backend: &Backend, count: usize, concurrency: usize) -> anyhow::Result<Outcome> {
    let sink = test_support::smtp::SmtpSink::start().await;
    let db = RunDb::create(backend).await?;
    let mut config = db.config();
    config.mail.transport = MailTransport::Smtp(SmtpSettings::from_url(&sink.url()).map_err(anyhow::Error::msg)?);
    config.jobs.concurrency = concurrency;
    // Only what a worker needs: the database, the mailer, an announcer, the store.
    let database = api::infra::db::connect(&config.database).await?;
    api::infra::db::migrate(&database).await?;
    let mailer = Mailer::new(&config.mail, &config.firm_name, concurrency as u32)?;
    let announcer = Announcer::new(database.clone(), Arc::new(Freshness::default()));
    let storage = api::infra::storage::Storage::new(&config.storage)?;
    let deleter = Deleter { db: database.clone(), storage, copies: mailer.copies() };
    let worker = Worker::new(
        database.clone(),
        announcer.clone(),
        mailer,
        deleter,
        config.jobs.clone(),
        announcer.mail_wake_up(),
    );

    let payload = serde_json::to_value(LeadMail {
        lead_id: uuid::Uuid::now_v7(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: "ada@example.com".into(),
        resume_file_name: "cv.pdf".into(),
        submitted_at: api::infra::clock::now(),
        lead_url: "http://localhost:8000/graphql".into(),
        ..LeadMail::default()
    })?;
    // Two mails per lead, as a submission queues them: each send is recorded in its lead's
    // history, as in production.
    let leads: Vec<uuid::Uuid> = (0..count.div_ceil(2)).map(|_| uuid::Uuid::now_v7()).collect();
    for chunk in leads.chunks(500) {
        let now = api::infra::clock::now();
        let rows = chunk.iter().map(|&id| {
            entity::lead::ActiveModel::from(entity::lead::Model {
                id,
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: "ada@example.com".into(),
                resume_key: format!("resumes/{id}.pdf"),
                resume_file_name: "cv.pdf".into(),
                resume_content_type: "application/pdf".into(),
                resume_size_bytes: 1024,
                created_at: now,
                updated_at: now,
                email_key: "ada@example.com".into(),
                ..entity::lead::Model::default()
            })
        });
        entity::lead::Entity::insert_many(rows).exec_without_returning(&database).await.context("seeding leads")?;
    }
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|i| NewEmailJob {
                lead_id: Some(leads[i / 2]),
                kind: entity::email_job::EmailKind::LeadAcknowledgement,
                recipient: format!("prospect{i}@example.com"),
                payload: payload.clone(),
                run_at: None,
            })
            .collect();
        queue::enqueue(&database, jobs, api::infra::clock::now()).await.context("queueing")?;
    }

    let started = Instant::now();
    let report = worker.run_pending(api::infra::clock::now()).await?;
    let seconds = started.elapsed().as_secs_f64();
    database.close().await?;
    db.drop_database().await?;
    anyhow::ensure!(report.sent == count && sink.messages().len() == count, "not every mail arrived: {report:?}");
    let per_second = count as f64 / seconds;
    println!(
        "mail-drain {}: {count} mails, concurrency {concurrency}: {seconds:.2} s, {per_second:.0} mails/s",
        backend.label()
    );
    Ok(Outcome { per_second, seconds })
}
