//! `leadStats` against a hand-built data set, and the statements a page of leads costs.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use entity::lead::{self, LeadStatus};
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use crate::{
    helpers::{Backend, TestApp, error_code, error_field, lead_input},
    on_both_backends,
};

on_both_backends!(stats_match_a_hand_built_data_set, a_page_of_leads_with_history_takes_a_bounded_number_of_statements);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn row(created: &str, reached: Option<(&str, Uuid)>, assigned: Option<Uuid>) -> lead::ActiveModel {
    let id = Uuid::now_v7();
    lead::ActiveModel::from(lead::Model {
        id,
        first_name: "P".into(),
        last_name: "Q".into(),
        email: format!("{id}@example.com"),
        status: if reached.is_some() { LeadStatus::ReachedOut } else { LeadStatus::Pending },
        resume_key: format!("resumes/{id}.pdf"),
        resume_file_name: "cv.pdf".into(),
        resume_content_type: "application/pdf".into(),
        resume_size_bytes: 1,
        created_at: at(created),
        updated_at: at(created),
        reached_out_at: reached.map(|(t, _)| at(t)),
        reached_out_by: reached.map(|(_, by)| by),
        assigned_to: assigned,
        email_key: format!("{id}@example.com"),
        name_key: "p q".into(),
        ..lead::Model::default()
    })
}

async fn stats_match_a_hand_built_data_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alex, token) = app.attorney_with_id("alex@firm.test").await;
    let (blair, _) = app.attorney_with_id("blair@firm.test").await;
    let (alex_id, blair_id): (Uuid, Uuid) = (alex.parse().unwrap(), blair.parse().unwrap());
    let rows = vec![
        // 5 January: reached out after an hour by Alex; one pending, assigned to Alex.
        row("2026-01-05T10:00:00Z", Some(("2026-01-05T11:00:00Z", alex_id)), Some(alex_id)),
        row("2026-01-05T12:00:00Z", None, Some(alex_id)),
        // 6 January: nothing. 7 January: Blair after 30 minutes, Alex after 2 hours, one pending.
        row("2026-01-07T09:00:00Z", Some(("2026-01-07T09:30:00Z", blair_id)), Some(blair_id)),
        row("2026-01-07T10:00:00Z", Some(("2026-01-07T12:00:00Z", alex_id)), Some(alex_id)),
        row("2026-01-07T23:59:59Z", None, None),
        // Outside the range asked for.
        row("2026-01-08T00:00:00Z", Some(("2026-01-09T00:00:00Z", alex_id)), Some(alex_id)),
        row("2026-01-04T23:59:59Z", None, Some(blair_id)),
    ];
    lead::Entity::insert_many(rows).exec_without_returning(&app.state.db).await.unwrap();

    let query = "query($from: DateTime, $to: DateTime) { leadStats(from: $from, to: $to) { total \
        byStatus { status count } perDay { date count } timeToReachOut { count medianSeconds p90Seconds } \
        perAttorney { attorney { email } assigned timeToReachOut { count medianSeconds p90Seconds } } } }";
    let range = json!({ "from": "2026-01-05T00:00:00Z", "to": "2026-01-08T00:00:00Z" });
    let body = app.graphql(query, range, Some(&token)).await;
    assert!(body["errors"].is_null(), "{body}");
    let stats = &body["data"]["leadStats"];
    assert_eq!(stats["total"], 5);
    assert_eq!(
        stats["byStatus"],
        json!([{ "status": "PENDING", "count": 2 }, { "status": "REACHED_OUT", "count": 3 }])
    );
    assert_eq!(
        stats["perDay"],
        json!([{ "date": "2026-01-05", "count": 2 }, { "date": "2026-01-06", "count": 0 }, { "date": "2026-01-07", "count": 3 }])
    );
    // 1800, 3600 and 7200 seconds: the median is 3600; p90 lies 80 % of the way from 3600 to 7200.
    assert_eq!(stats["timeToReachOut"], json!({ "count": 3, "medianSeconds": 3600.0, "p90Seconds": 6480.0 }));
    let per: Vec<_> = stats["perAttorney"].as_array().unwrap().clone();
    let of = |email: &str| per.iter().find(|a| a["attorney"]["email"] == email).unwrap().clone();
    assert_eq!(per.len(), 2);
    assert_eq!(of("alex@firm.test")["assigned"], 3);
    assert_eq!(
        of("alex@firm.test")["timeToReachOut"],
        json!({ "count": 2, "medianSeconds": 5400.0, "p90Seconds": 6840.0 })
    );
    assert_eq!(of("blair@firm.test")["assigned"], 1);
    assert_eq!(
        of("blair@firm.test")["timeToReachOut"],
        json!({ "count": 1, "medianSeconds": 1800.0, "p90Seconds": 1800.0 })
    );

    // Open-ended: every lead.
    let all = app.graphql(query, json!({}), Some(&token)).await;
    assert_eq!(all["data"]["leadStats"]["total"], 7, "{all}");
    assert_eq!(all["data"]["leadStats"]["perDay"].as_array().unwrap().len(), 5, "4 to 8 January");
    let reversed =
        app.graphql(query, json!({ "from": "2026-01-08T00:00:00Z", "to": "2026-01-05T00:00:00Z" }), Some(&token)).await;
    assert_eq!((error_code(&reversed), error_field(&reversed)), ("BAD_USER_INPUT", "to"));
    let anonymous = app.graphql(query, json!({}), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

async fn a_page_of_leads_with_history_takes_a_bounded_number_of_statements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alex, token) = app.attorney_with_id("alex@firm.test").await;
    for chunk in 0..10 {
        let submissions =
            (0..10).map(|i| app.submit_id(lead_input("P", &format!("L{chunk}{i}"), &format!("p{i}@example.com"))));
        let ids = futures_util::future::join_all(submissions).await;
        // Some of every kind of related row: assignees, notes, statuses.
        let id = &ids[0];
        for query in [
            "mutation($id: ID!, $u: ID) { assignLead(id: $id, userId: $u) { id } }",
            "mutation($id: ID!) { addLeadNote(leadId: $id, body: \"note\") { id } }",
            "mutation($id: ID!) { updateLeadStatus(id: $id, status: REACHED_OUT) { id } }",
        ] {
            let body = app.graphql(query, json!({ "id": id, "u": alex }), Some(&token)).await;
            assert!(body["errors"].is_null(), "{body}");
        }
    }
    app.drain_mail().await;

    let query = "query($n: Int) { leads(first: $n) { totalCount nodes { id assignedTo { email } \
        reachedOutBy { email } duplicateOf { id } duplicates { id } notes { body author { email } } \
        notifications { state } history { kind actor { name user { email } } assignee { email } \
        note { body } email { state } } } } }";
    let statements_for = |n: i64| {
        let (app, token) = (&app, &token);
        async move {
            let before = app.state.statements.load(Ordering::SeqCst);
            let body = app.graphql(query, json!({ "n": n }), Some(token)).await;
            assert!(body["errors"].is_null(), "{body}");
            let nodes = body["data"]["leads"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len() as i64, n);
            let events: usize = nodes.iter().map(|l| l["history"].as_array().unwrap().len()).sum();
            assert!(events >= 3 * n as usize, "every lead has a submission and two mails: {events}");
            app.state.statements.load(Ordering::SeqCst) - before
        }
    };
    let for_100 = statements_for(100).await;
    let for_10 = statements_for(10).await;
    // Session, page, count, and a query per kind of related row — about a dozen; a busy
    // machine may split one kind's loads into two waves. One query per lead and kind would be
    // more than 600 here.
    assert!(for_10 <= 30 && for_100 <= 30, "pages of 10 and 100 leads took {for_10} and {for_100} SQL statements");
}
