use async_graphql::{Context, ID, Object, Result, Upload};

use super::{
    parse_id, session, state,
    types::{AuthPayload, CreateUserInput, Lead, LeadReceipt, LeadStatus, SubmitLeadInput, User},
};
use crate::{
    error::AppError,
    leads::{self, ResumeUpload, SubmitLead},
    users::{self, NewUser},
};

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// The public form: a prospect's details and résumé (PDF, DOC, DOCX, ODT, RTF or TXT),
    /// sent as a GraphQL multipart request. No sign-in needed.
    async fn submit_lead(
        &self,
        ctx: &Context<'_>,
        input: SubmitLeadInput,
        resume: Upload,
    ) -> Result<LeadReceipt> {
        let upload = resume.value(ctx).map_err(|_| {
            AppError::bad_input(
                "resume",
                "is missing: attach the file as a multipart upload",
            )
        })?;
        let lead = leads::submit(
            state(ctx),
            SubmitLead {
                first_name: input.first_name,
                last_name: input.last_name,
                email: input.email,
            },
            ResumeUpload {
                file_name: upload.filename,
                file: upload.content,
            },
        )
        .await?;
        Ok(LeadReceipt {
            id: ID(lead.id.to_string()),
            status: lead.status.into(),
            submitted_at: lead.created_at,
        })
    }

    /// Exchanges an email and password for an access token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AuthPayload> {
        let state = state(ctx);
        let user = users::authenticate(&state.db, &email, &password).await?;
        let access_token = state.tokens.issue(&user).map_err(AppError::Internal)?;
        Ok(AuthPayload {
            access_token,
            token_type: "Bearer".into(),
            expires_in: state.tokens.ttl().as_secs() as i64,
            user: User(user),
        })
    }

    /// Records that the firm reached out: PENDING → REACHED_OUT. Attorneys and admins.
    async fn update_lead_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: LeadStatus,
    ) -> Result<Lead> {
        let actor = session(ctx).staff()?;
        let id = parse_id(&id, "id")?;
        let lead = leads::update_status(&state(ctx).db, id, status.into(), actor).await?;
        Ok(Lead(lead))
    }

    /// Adds an account. Admins only.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        session(ctx).admin()?;
        let user = users::create(
            &state(ctx).db,
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
}
