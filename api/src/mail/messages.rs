//! The two mails a lead triggers, rendered from the job's payload as plain text and HTML.

use chrono::{DateTime, Utc};
use lettre::{
    Message,
    message::{Mailbox, MultiPart},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What both mails are rendered from, snapshotted when the lead is submitted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeadMail {
    pub lead_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub resume_file_name: String,
    pub submitted_at: DateTime<Utc>,
    /// Where an attorney opens the lead.
    pub lead_url: String,
}

pub struct Sender<'a> {
    pub from: &'a Mailbox,
    pub firm_name: &'a str,
}

/// To the prospect: we have it, and what happens next.
pub fn acknowledgement(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    let firm = sender.firm_name;
    let text = format!(
        "Dear {first} {last},\n\n\
         Thank you for contacting {firm}. We have received your details and your résumé ({file}).\n\n\
         What happens next: an attorney will review what you sent and reach out to you at {email}, \
         usually within two business days. You do not need to do anything else in the meantime.\n\n\
         Your reference: {id}\n\n\
         Kind regards,\n{firm}\n",
        first = lead.first_name,
        last = lead.last_name,
        file = lead.resume_file_name,
        email = lead.email,
        id = lead.lead_id,
    );
    let html = format!(
        "<p>Dear {first} {last},</p>\
         <p>Thank you for contacting {firm}. We have received your details and your résumé ({file}).</p>\
         <p><strong>What happens next:</strong> an attorney will review what you sent and reach out to you at \
         {email}, usually within two business days. You do not need to do anything else in the meantime.</p>\
         <p>Your reference: {id}</p><p>Kind regards,<br>{firm}</p>",
        first = escape(&lead.first_name),
        last = escape(&lead.last_name),
        firm = escape(firm),
        file = escape(&lead.resume_file_name),
        email = escape(&lead.email),
        id = lead.lead_id,
    );
    build(job_id, sender, to, None, &format!("We received your details — {firm}"), text, html)
}

/// To an attorney: who the lead is and where to open it.
pub fn notification(job_id: Uuid, to: &str, lead: &LeadMail, sender: &Sender) -> anyhow::Result<Message> {
    let name = format!("{} {}", lead.first_name, lead.last_name);
    let submitted = lead.submitted_at.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "A new lead was submitted.\n\n\
         Name:      {name}\n\
         Email:     {email}\n\
         Résumé:    {file}\n\
         Submitted: {submitted}\n\n\
         Open the lead: {url}\n\
         (sign in first; reply to this mail to write to the prospect)\n",
        email = lead.email,
        file = lead.resume_file_name,
        url = lead.lead_url,
    );
    let html = format!(
        "<p>A new lead was submitted.</p><table>\
         <tr><th align=\"left\">Name</th><td>{name}</td></tr>\
         <tr><th align=\"left\">Email</th><td>{email}</td></tr>\
         <tr><th align=\"left\">Résumé</th><td>{file}</td></tr>\
         <tr><th align=\"left\">Submitted</th><td>{submitted}</td></tr></table>\
         <p><a href=\"{url}\">Open the lead</a> (sign in first; reply to this mail to write to the prospect)</p>",
        name = escape(&name),
        email = escape(&lead.email),
        file = escape(&lead.resume_file_name),
        url = escape(&lead.lead_url),
    );
    let reply_to = Mailbox::new(Some(name.clone()), lead.email.parse()?);
    build(job_id, sender, to, Some(reply_to), &format!("New lead: {name}"), text, html)
}

fn build(
    job_id: Uuid,
    sender: &Sender,
    to: &str,
    reply_to: Option<Mailbox>,
    subject: &str,
    text: String,
    html: String,
) -> anyhow::Result<Message> {
    // Derived from the job, so a resend after a crash carries the same id.
    let domain = sender.from.email.domain();
    let mut builder = Message::builder()
        .message_id(Some(format!("<{job_id}@{domain}>")))
        .from(sender.from.clone())
        .to(to.parse()?)
        .subject(subject);
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(text, html))?)
}

/// Minimal HTML escaping for text placed in element content and attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
