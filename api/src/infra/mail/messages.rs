//! The mails a lead triggers (acknowledgement, notification, reminder, escalation, assignment), rendered from the job's payload with the templates in
//! `api/templates/mail/` (compiled in): plain text and HTML, values escaped in the HTML.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::email_job::EmailKind;
use lettre::{
    Message,
    message::{Mailbox, MultiPart},
};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a lead's mails are rendered from, snapshotted when the job is queued.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LeadMail {
    pub lead_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resume_file_name: String,
    pub submitted_at: DateTime<Utc>,
    /// Where an attorney opens the lead.
    pub lead_url: String,
    /// The earlier lead with the same email address, when this one repeats it. (Absent in
    /// jobs queued before duplicates were tracked.)
    #[serde(default)]
    pub duplicate_of: Option<EarlierLead>,
    /// The conflict check's hits that need a decision; the notification's subject then says
    /// "Possible conflict".
    #[serde(default)]
    pub conflicts: Vec<ConflictMail>,
    /// The response deadline, for the attorneys' mails.
    #[serde(default)]
    pub respond_by: Option<DateTime<Utc>>,
    /// Who the lead is assigned to (escalations), by name.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Who assigned it (assignment mails); `None`: round robin.
    #[serde(default)]
    pub assigned_by: Option<String>,
}

/// One conflict-check hit as the attorney reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConflictMail {
    pub name: String,
    /// "register: ADVERSE_PARTY", "an earlier lead"…
    pub what: String,
    pub matched_on: Vec<String>,
    pub score: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EarlierLead {
    pub lead_id: Uuid,
    pub submitted_at: DateTime<Utc>,
    pub lead_url: String,
}

pub struct Sender<'a> {
    pub from: &'a Mailbox,
    /// Where the prospect's replies go; `None`: to `from`.
    pub reply_to: Option<&'a Mailbox>,
    pub firm_name: &'a str,
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/mail/", $name)))),*]
    };
}

/// `.html` templates escape every value (minijinja picks escaping by extension); `.txt` do not.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in templates!(
        "acknowledgement.subject.txt",
        "acknowledgement.txt",
        "acknowledgement.html",
        "notification.subject.txt",
        "notification.txt",
        "notification.html",
        "lead.txt",
        "lead.html",
        "reminder.subject.txt",
        "reminder.txt",
        "reminder.html",
        "escalation.subject.txt",
        "escalation.txt",
        "escalation.html",
        "assigned.subject.txt",
        "assigned.txt",
        "assigned.html",
    ) {
        env.add_template(name, source).expect("mail templates parse");
    }
    env
});

/// To the prospect: we have it, and what happens next.
pub fn acknowledgement(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    let reply_to = sender.reply_to.cloned();
    build(job_id, sender, to, reply_to, "acknowledgement", lead)
}

/// To an attorney: who the lead is and where to open it; replies go to the prospect.
pub fn notification(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    let prospect = Mailbox::new(Some(format!("{} {}", lead.first_name, lead.last_name)), lead.email.parse()?);
    build(job_id, sender, to, Some(prospect), "notification", lead)
}

/// To the assignee or the notification list: the lead is still waiting at its deadline.
pub fn reminder(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    build(job_id, sender, to, None, "reminder", lead)
}

/// To the admins: still waiting at twice the target.
pub fn escalation(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    build(job_id, sender, to, None, "escalation", lead)
}

/// To the user a lead was assigned to.
pub fn assigned(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    build(job_id, sender, to, None, "assigned", lead)
}

/// The subject and plain text of a mail of `kind` as rendered from `lead` (a person's data
/// export shows them the mails they were sent).
pub fn subject_and_text(kind: EmailKind, lead: &LeadMail, firm_name: &str) -> anyhow::Result<(String, String)> {
    let render = renderer(template_of(kind), lead, firm_name);
    Ok((render("subject.txt")?.trim().to_owned(), render("txt")?))
}

fn template_of(kind: EmailKind) -> &'static str {
    match kind {
        EmailKind::LeadAcknowledgement => "acknowledgement",
        EmailKind::LeadNotification => "notification",
        EmailKind::ResponseReminder => "reminder",
        EmailKind::ResponseEscalation => "escalation",
        EmailKind::LeadAssigned => "assigned",
    }
}

/// Renders `template`'s parts (`subject.txt`, `txt`, `html`) for `lead`.
fn renderer<'a>(
    template: &'a str,
    lead: &'a LeadMail,
    firm_name: &'a str,
) -> impl Fn(&str) -> Result<String, minijinja::Error> + 'a {
    let ctx = context! {
        lead => lead,
        firm_name => firm_name,
        submitted => lead.submitted_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        respond_by => lead.respond_by.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
    };
    move |suffix| TEMPLATES.get_template(&format!("{template}.{suffix}"))?.render(&ctx)
}

fn build(
    job_id: Uuid,
    sender: &Sender,
    to: &str,
    reply_to: Option<Mailbox>,
    template: &str,
    lead: &LeadMail,
) -> anyhow::Result<Message> {
    let render = renderer(template, lead, sender.firm_name);
    let subject = render("subject.txt")?;
    // Derived from the job, so a resend after a crash carries the same id.
    let domain = sender.from.email.domain();
    let mut builder = Message::builder()
        .message_id(Some(format!("<{job_id}@{domain}>")))
        .from(sender.from.clone())
        .to(to.parse()?)
        .subject(subject.trim());
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(render("txt")?, render("html")?))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_the_prospect_typed() {
        let lead = LeadMail {
            lead_id: Uuid::nil(),
            first_name: "<script>".into(),
            last_name: "O'Brien & Co".into(),
            email: "ada@example.com".into(),
            resume_file_name: "cv.pdf".into(),
            submitted_at: Utc::now(),
            lead_url: "http://x/graphql?query=a&b=\"c\"".into(),
            duplicate_of: None,
            conflicts: vec![ConflictMail {
                name: "<b>Acme</b>".into(),
                what: "register: ADVERSE_PARTY".into(),
                matched_on: vec!["organization".into()],
                score: 0.6,
            }],
            respond_by: None,
            assignee: None,
            assigned_by: None,
        };
        let ctx = context! { lead => &lead, firm_name => "Firm & Partners", submitted => "now" };
        let html = TEMPLATES.get_template("notification.html").unwrap().render(&ctx).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;b&gt;Acme") && html.contains("Possible conflict"), "{html}");
        assert!(html.contains("O&#x27;Brien &amp; Co"), "{html}");
        assert!(html.contains("href=\"http:&#x2f;&#x2f;x&#x2f;graphql?query=a&amp;b=&quot;c&quot;\""), "{html}");
        let text = TEMPLATES.get_template("notification.txt").unwrap().render(&ctx).unwrap();
        assert!(text.contains("<script> O'Brien & Co"), "plain text stays as typed: {text}");
        let from: Mailbox = "Firm <intake@firm.example>".parse().unwrap();
        let sender = Sender { from: &from, reply_to: None, firm_name: "Firm" };
        let message = notification(Uuid::nil(), "alex@firm.example", &lead, &sender).unwrap();
        assert!(String::from_utf8(message.formatted()).unwrap().contains("Reply-To:"));
        let html = TEMPLATES.get_template("reminder.html").unwrap().render(&ctx).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "the shared part escapes too: {html}");
    }
}
