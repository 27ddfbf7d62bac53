//! Building and running the server: database, migrations, first admin, HTTP and worker.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::DatabaseConnection;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    accounts::{service::Accounts, tokens::TokenKeys, users},
    app::config::Config,
    app::memory,
    infra::{
        announce::Announcer,
        db,
        freshness::{Freshness, Recent},
        limits::Limits,
        mail::Mailer,
        storage::Storage,
    },
    leads::{
        file_links::FileLinks,
        outbox::Worker,
        service::{LeadSettings, Leads},
        writer::{LeadWriter, WriterSettings},
    },
    web::{self, state::AppState},
};

pub struct Application {
    listener: TcpListener,
    /// `INTAKE_OPS_ADDR`: metrics and detailed readiness, off the public listener.
    ops_listener: Option<TcpListener>,
    state: AppState,
    run_worker: bool,
}

impl Application {
    /// Connects, migrates, makes sure an admin exists and binds `INTAKE_ADDR`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {} (INTAKE_ADDR)", config.addr))?;
        Self::with_listener(config, listener).await
    }

    /// As `build`, on a socket the caller bound already (tests bind port 0 and put the port it
    /// got into `INTAKE_PUBLIC_URL`, without a window in which another process could take it).
    pub async fn with_listener(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let run_worker = config.run_worker;
        crate::infra::metrics::handle();
        let ops_listener = match config.ops_addr {
            Some(addr) => Some(
                TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (INTAKE_OPS_ADDR)"))?,
            ),
            None => None,
        };
        let state = connect(&config).await?;
        if let Some(admin) = users::ensure_admin(&state.db, &state.announcer, &config.admin).await? {
            match admin.generated_password {
                Some(password) => eprintln!(
                    "\n  Created the first admin account.\n    email:    {}\n    password: {password}\n  \
                     This password is shown only once: keep it, then create attorney accounts with createUser.\n",
                    admin.email
                ),
                None => {
                    tracing::info!(
                        email = %crate::infra::mask::mask_email(&admin.email),
                        "created the first admin account from INTAKE_ADMIN_EMAIL/INTAKE_ADMIN_PASSWORD"
                    )
                }
            }
        }
        Ok(Self { listener, ops_listener, state, run_worker })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// The operations listener's port, when there is one.
    pub fn ops_port(&self) -> Option<u16> {
        self.ops_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops taking requests, lets in-flight requests
    /// and the mail batch in progress finish, and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        let public = &self.state.settings.public_url;
        tracing::info!(%addr, "Intake is listening");
        tracing::info!(
            "GraphiQL: {public}/graphql — sign in with the `login` mutation, then add the header \
             Authorization: Bearer <accessToken>"
        );
        let stop = CancellationToken::new();
        let trimmer = memory::spawn_trimmer(stop.child_token());
        let worker = self.run_worker.then(|| tokio::spawn(self.state.worker().run(stop.child_token())));
        let retention = self.run_worker.then(|| tokio::spawn(self.state.retention(stop.child_token())));
        let webhooks = self.run_worker.then(|| tokio::spawn(self.state.dispatcher().run(stop.child_token())));
        // Subscribers here hear of changes made by every process (PostgreSQL).
        let live = self.state.announcer.spawn_listener(stop.child_token());
        let limits = self.state.limits.clone();
        let pruner = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = limits.prune().await {
                    tracing::warn!(error = %e, "could not prune the abuse limits");
                }
            }
        });
        let ops = self.ops_listener.map(|listener| {
            tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics and readiness are served here only");
            tokio::spawn(web::server::serve(listener, web::ops_router(self.state.clone()), stop.clone().cancelled_owned()))
        });
        let on_stop = stop.clone();
        let served = web::server::serve(self.listener, web::router(self.state.clone()), async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests and mail");
            on_stop.cancel();
        })
        .await
        .context("HTTP server");
        // Submissions whose clients went away are still writing their leads.
        self.state.leads.tasks.close();
        self.state.leads.tasks.wait().await;
        stop.cancel();
        pruner.abort();
        if let Some(ops) = ops {
            let _ = ops.await;
        }
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        for task in [retention, webhooks, Some(trimmer)].into_iter().flatten() {
            let _ = task.await;
        }
        if let Some(live) = live {
            let _ = live.await;
        }
        self.state.close().await.ok();
        served
    }
}

/// The state shared by `serve` and `worker`: database (migrated), store, mailer, the services.
pub async fn connect(config: &Config) -> anyhow::Result<AppState> {
    let db = db::connect(&config.database).await?;
    db::migrate(&db).await?;
    let keyed = crate::leads::conflicts::check::key_earlier_leads(&db).await?;
    if keyed > 0 {
        tracing::info!(leads = keyed, "earlier leads made findable by the conflict check");
    }
    let lead_writes = db::connect_lead_writer(&config.database).await?;
    assemble(config, db, lead_writes)
}

/// Accounts remembered at once; more active accounts than this are simply looked up again.
const SIGNED_IN_KEPT: usize = 1024;

/// The composition root: every service built once from the configuration.
fn assemble(
    config: &Config,
    mut db: DatabaseConnection,
    lead_writes: Option<DatabaseConnection>,
) -> anyhow::Result<AppState> {
    let statements = Arc::new(AtomicU64::new(0));
    let count = |db: &mut DatabaseConnection| {
        let (counter, exported) = (statements.clone(), crate::infra::metrics::db_statements());
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            exported.increment(1);
        });
    };
    count(&mut db);
    let lead_writes = lead_writes.map(|mut own| {
        count(&mut own);
        own
    });
    let storage = Storage::new(&config.storage)?;
    let mailer = Mailer::new(&config.mail, &config.firm_name, config.jobs.concurrency as u32)?;
    let tokens = Arc::new(TokenKeys::new(&config.jwt_secret, config.token_ttl));
    let limits = Arc::new(Limits::new(config.limits, &db));
    let links = Arc::new(FileLinks::new(&config.jwt_secret, &config.public_url, config.download_link_ttl));
    let freshness = Arc::new(Freshness::default());
    let announcer = Announcer::new(db.clone(), freshness.clone());
    let signed_in = Arc::new(Recent::new(config.read_cache_max_age, SIGNED_IN_KEPT));
    let writer = WriterSettings {
        db: lead_writes.unwrap_or_else(|| db.clone()),
        announcer: announcer.clone(),
        round_robin: config.round_robin,
        ack_per_recipient: config.ack_per_recipient,
    };
    // One writer per four connections (one per core with the default pool): each writes all
    // the leads waiting, so fewer writers write bigger batches, and a batch's statements are
    // shared by its leads. With half the pool writing, batches held 3.7 leads on two cores and
    // with a quarter 7.6 (BENCHMARKS.md).
    let lead_writer = LeadWriter::start(writer, (config.database.max_connections as usize / 4).max(1));
    let accounts = Accounts { db: db.clone(), tokens, limits: limits.clone(), announcer: announcer.clone(), signed_in };
    let leads = Leads {
        db: db.clone(),
        storage: storage.clone(),
        writer: lead_writer.clone(),
        announcer: announcer.clone(),
        staff: users::StaffDirectory::new(&announcer, config.read_cache_max_age),
        search_ways: Arc::default(),
        links: links.clone(),
        mail_copies: mailer.copies(),
        settings: Arc::new(LeadSettings {
            public_url: config.public_url.clone(),
            max_upload_bytes: config.max_upload_bytes,
            notify: config.mail.notify.clone(),
            download_link_ttl: config.download_link_ttl,
            deadline: config.deadline.clone(),
            consent_text_version: crate::leads::submission::consent_text_version(&config.consent_text),
            require_consent: config.require_consent,
            firm_name: config.firm_name.clone(),
            retention: config.retention.period,
        }),
        tasks: tokio_util::task::TaskTracker::new(),
    };
    Ok(AppState {
        db,
        settings: Arc::new(config.web()),
        jobs: config.jobs.clone(),
        retention: config.retention.clone(),
        webhooks: config.webhooks.clone(),
        storage,
        mailer,
        links,
        limits,
        lead_writer,
        announcer,
        statements,
        freshness,
        accounts,
        leads,
    })
}

/// `intake worker`: only the mail worker, webhook deliveries and the retention sweep, until
/// `shutdown`.
pub async fn run_worker(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let state = connect(&config).await?;
    let worker: Worker = state.worker();
    let dispatcher = state.dispatcher();
    let stop = CancellationToken::new();
    let trimmer = memory::spawn_trimmer(stop.child_token());
    let task = tokio::spawn(worker.run(stop.child_token()));
    let retention = tokio::spawn(state.retention(stop.child_token()));
    let webhooks = tokio::spawn(dispatcher.run(stop.child_token()));
    shutdown.await;
    tracing::info!("shutting down: finishing the mail batch in progress");
    stop.cancel();
    task.await.context("mail worker")?;
    retention.await.context("retention sweep")?;
    webhooks.await.context("webhook deliveries")?;
    trimmer.await.context("heap trimmer")?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives while the process is still starting up
/// (a supervisor stopping it at once) then means a clean stop, not the default kill.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let (mut interrupt, mut terminate) = handlers;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt.take()) => {}
                _ = wait(terminate.take()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
