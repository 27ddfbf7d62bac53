use serde_json::json;

use crate::{
    helpers::{Backend, PDF, TestApp, lead_input},
    on_both_backends,
};

on_both_backends!(download_links_refuse_tampering_and_expiry, small_and_large_resumes_come_back_intact);

async fn download_links_refuse_tampering_and_expiry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let id = app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "../../etc/passwd", PDF.to_vec()).await
        ["data"]["submitLead"]["id"]
        .clone();
    let body = app
        .graphql(
            "query($id: ID!) { lead(id: $id) { resume { fileName downloadUrl } } }",
            json!({ "id": id }),
            Some(&token),
        )
        .await;
    let resume = &body["data"]["lead"]["resume"];
    assert_eq!(resume["fileName"], "passwd.pdf", "no path parts survive");
    let url = resume["downloadUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/files/resumes/", app.address)), "{url}");
    let get = |u: String| {
        let client = app.client.clone();
        async move { client.get(u).send().await.unwrap() }
    };
    let ok = get(url.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["content-disposition"],
        "attachment; filename=\"passwd.pdf\"; filename*=UTF-8''passwd%2Epdf"
    );

    let (path, query) = url.split_once('?').unwrap();
    let param = |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)).unwrap().to_owned();
    let (user, sig) = (param("user="), param("sig="));
    let expires: i64 = param("expires=").parse().unwrap();
    let mut flipped = sig.to_owned();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let other_key = path.replace("/resumes/", "/resumes/x");
    let (attorney, _) = app.attorney_with_id("alex@firm.example").await;
    for tampered in [
        format!("{path}?user={user}&expires={expires}&sig={flipped}"),
        format!("{path}?user={user}&expires={}&sig={sig}", expires + 3600),
        format!("{other_key}?user={user}&expires={expires}&sig={sig}"),
        format!("{path}?user={attorney}&expires={expires}&sig={sig}"),
        format!("{path}?expires={expires}&sig={sig}"),
        path.to_owned(),
    ] {
        assert_eq!(get(tampered.clone()).await.status(), 403, "{tampered}");
    }

    // A link signed for a time long past has expired.
    let key = path.split("/files/").nth(1).unwrap();
    let user = user.parse().unwrap();
    let old = app.state.links.url(&format!("files/{key}"), user, api::infra::clock::now() - chrono::Duration::hours(1));
    let expired = get(old).await;
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
}

/// A small résumé is spooled in memory and stored in one write; a large one is spooled to disk
/// and stored in chunks. Both must come back byte for byte.
async fn small_and_large_resumes_come_back_intact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    for size in [PDF.len(), 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 17] {
        let mut file = PDF.to_vec();
        file.extend((file.len()..size).map(|i| (i % 251) as u8));
        let id = app.submit_lead(lead_input("Ada", "Lovelace", "ada@example.com"), "cv.pdf", file.clone()).await
            ["data"]["submitLead"]["id"]
            .clone();
        let body = app
            .graphql("query($id: ID!) { lead(id: $id) { resume { downloadUrl } } }", json!({ "id": id }), Some(&token))
            .await;
        let url = body["data"]["lead"]["resume"]["downloadUrl"].as_str().unwrap().to_owned();
        let download = app.client.get(url).send().await.unwrap();
        assert_eq!(download.status(), 200);
        assert!(download.bytes().await.unwrap() == file, "{size} bytes come back intact");
    }
}
