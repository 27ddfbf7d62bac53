use async_graphql::{Context, ID, Object, Result, Upload};

use super::{
    client_ip,
    history::LeadNote,
    lead::{Lead, UpdateLeadInput},
    parse_id, session, state,
    types::{AuthPayload, CreateUserInput, LeadReceipt, LeadStatus, SubmitLeadInput, UpdateUserInput, User},
};
use crate::{
    accounts::password::PasswordBudget,
    accounts::sign_in,
    accounts::users::{self, NewUser, UserChanges},
    error::AppError,
    leads::changes::{self, LeadCorrections},
    leads::submission::{self, Client, ResumeUpload, SubmitLead},
};

#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
    /// The public form: a prospect's details and résumé (PDF, DOC, DOCX, ODT, RTF or TXT),
    /// sent as a GraphQL multipart request. No sign-in needed.
    async fn submit_lead(&self, ctx: &Context<'_>, input: SubmitLeadInput, resume: Upload) -> Result<LeadReceipt> {
        // A system sending leads with its key is counted per key, not per address.
        let key = session(ctx).submitter()?;
        match key {
            Some(key) => state(ctx).limits.submit_by_key(key.id).await?,
            None => state(ctx).limits.submit(client_ip(ctx)).await?,
        }
        let upload = resume
            .value(ctx)
            .map_err(|_| AppError::bad_input("resume", "is missing: attach the file as a multipart upload"))?;
        let input = SubmitLead {
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            website: input.website,
            client_submission_id: input.client_submission_id,
            consent: input.consent,
            client: Client {
                ip: Some(client_ip(ctx)),
                user_agent: ctx.data_opt::<super::UserAgent>().and_then(|agent| agent.0.clone()),
            },
            source: input.source.or_else(|| key.map(|k| k.name.clone())),
            attribution: input.attribution.map(Into::into),
        };
        let upload = ResumeUpload { file_name: upload.filename, file: upload.content };
        let receipt = submission::submit(&state(ctx).leads, input, upload).await?;
        Ok(LeadReceipt {
            id: ID(receipt.id.to_string()),
            status: receipt.status.into(),
            submitted_at: receipt.submitted_at,
        })
    }

    /// Exchanges an email and password for an access token (30 minutes) and a refresh token
    /// (7 days).
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> Result<AuthPayload> {
        session(ctx).not_a_key()?;
        let check = password_budget(ctx)?.spend("password")?;
        let attempt = sign_in::Attempt { client: client_ip(ctx), check };
        Ok(sign_in::login(&state(ctx).accounts, attempt, &email, &password).await?.into())
    }

    /// Exchanges a refresh token for a new access token and a new refresh token; the one sent
    /// stops working. Sending an already-used one ends every session of that sign-in.
    async fn refresh_token(&self, ctx: &Context<'_>, token: String) -> Result<AuthPayload> {
        session(ctx).not_a_key()?;
        Ok(sign_in::refresh(&state(ctx).accounts, &token).await?.into())
    }

    /// Ends the sign-in the refresh token belongs to: its refresh tokens and the access tokens
    /// issued with them stop working, on open sockets too. False when it had already ended.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        session(ctx).not_a_key()?;
        Ok(sign_in::logout(&state(ctx).accounts, &refresh_token).await?)
    }

    /// Changes the signed-in user's password. Every session ends, this one included; the
    /// answer carries a fresh pair of tokens.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<AuthPayload> {
        let me = session(ctx).signed_in()?;
        let attempt =
            sign_in::Attempt { client: client_ip(ctx), check: password_budget(ctx)?.spend("currentPassword")? };
        Ok(sign_in::change_password(&state(ctx).accounts, attempt, me, &current_password, new_password).await?.into())
    }

    /// Records that the firm reached out: PENDING → REACHED_OUT. Attorneys and admins.
    async fn update_lead_status(&self, ctx: &Context<'_>, id: ID, status: LeadStatus) -> Result<Lead> {
        let actor = session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        Ok(Lead(changes::update_status(&state(ctx).leads, id, status.into(), actor).await?))
    }

    /// Corrects the prospect's names or email, and/or replaces the résumé (a multipart
    /// upload, like `submitLead`'s). The replaced file stays downloadable from the history.
    /// Attorneys and admins.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadInput,
        resume: Option<Upload>,
    ) -> Result<Lead> {
        let actor = session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        let upload = resume
            .map(|r| {
                r.value(ctx)
                    .map_err(|_| AppError::bad_input("resume", "is missing: attach the file as a multipart upload"))
            })
            .transpose()?
            .map(|u| ResumeUpload { file_name: u.filename, file: u.content });
        let corrections =
            LeadCorrections { first_name: input.first_name, last_name: input.last_name, email: input.email };
        Ok(Lead(changes::update(&state(ctx).leads, id, corrections, upload, actor).await?))
    }

    /// Adds a note to a lead (at most 10,000 characters). Attorneys and admins.
    async fn add_lead_note(&self, ctx: &Context<'_>, lead_id: ID, body: String) -> Result<LeadNote> {
        let actor = session(ctx).staff()?;
        let lead_id = parse_id(&lead_id, "leadId")?;
        Ok(LeadNote(changes::add_note(&state(ctx).leads, lead_id, &body, actor).await?))
    }

    /// Assigns a lead to an active attorney or admin; `userId: null` unassigns it. The new
    /// assignee is told by mail (unless they took it themselves), and a reminder still due goes
    /// to them. Attorneys and admins.
    async fn assign_lead(&self, ctx: &Context<'_>, id: ID, user_id: Option<ID>) -> Result<Lead> {
        let actor = session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        let assignee = user_id.map(|u| parse_id(&u, "userId")).transpose()?;
        Ok(Lead(changes::assign(&state(ctx).leads, id, assignee, actor).await?))
    }

    /// Adds an account. Admins only.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let admin = session(ctx).admin()?;
        let accounts = &state(ctx).accounts;
        let user = users::create(
            &accounts.db,
            &accounts.announcer,
            admin,
            NewUser {
                email: input.email,
                full_name: input.full_name,
                role: input.role.into(),
                password: input.password,
            },
        )
        .await?;
        Ok(User(user))
    }

    /// Renames, changes the role of, deactivates or reactivates an account. The last active
    /// admin can be neither demoted nor deactivated. Admins only.
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserInput) -> Result<User> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let changes =
            UserChanges { full_name: input.full_name, role: input.role.map(Into::into), active: input.active };
        let accounts = &state(ctx).accounts;
        Ok(User(users::update(&accounts.db, &accounts.announcer, admin, id, changes).await?))
    }

    /// Sets a new password for an account and ends its sessions. Admins only.
    async fn reset_user_password(&self, ctx: &Context<'_>, id: ID, password: String) -> Result<User> {
        let admin = session(ctx).admin()?;
        let id = parse_id(&id, "id")?;
        let accounts = &state(ctx).accounts;
        Ok(User(users::reset_password(&accounts.db, &accounts.announcer, admin, id, password).await?))
    }
}

fn password_budget<'a>(ctx: &Context<'a>) -> Result<&'a PasswordBudget, AppError> {
    ctx.data::<PasswordBudget>().map_err(|_| AppError::Internal(anyhow::anyhow!("no password budget for this request")))
}

/// Every mutation: leads, sign-in and accounts here, the firm's duties in `duties.rs`, the mail
/// queue in `email_jobs.rs`.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    LeadMutation,
    super::duties::DutiesMutation,
    super::privacy::PrivacyMutation,
    super::webhooks::WebhookMutation,
    super::api_keys::ApiKeyMutation,
    super::email_jobs::EmailJobMutation,
);
