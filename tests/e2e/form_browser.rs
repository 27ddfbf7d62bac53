//! The public form and GraphiQL in a real browser: Debian's Chromium, driven over WebDriver by
//! chromedriver (`.ci/run` installs both). Screenshots go to `target/screenshots/` for review.
//! Without chromedriver the test says so loudly and does nothing.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use entity::{email_job, lead};
use fantoccini::{
    Client, ClientBuilder, Locator,
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    key::Key,
};
use hyper_util::client::legacy::connect::HttpConnector;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::{Backend, KillOnDrop, PDF, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Browser {
    client: Client,
    _driver: KillOnDrop,
}

async fn browser() -> Browser {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "the browser test needs {CHROMIUM} and {CHROMEDRIVER}, which were there when it was built"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = KillOnDrop(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1100"],
        },
    });
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities.as_object().unwrap().clone());
    for _ in 0..100 {
        if let Ok(client) = builder.connect(&format!("http://127.0.0.1:{port}")).await {
            return Browser { client, _driver: driver };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn visible(client: &Client, css: &str) -> Element {
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.is_displayed().await.unwrap_or(false)
        {
            return element;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = client.source().await.unwrap_or_default();
    panic!("{css} did not become visible; the page:\n{page}");
}

/// Fills the form as a person would: typing, choosing the file, ticking the box.
async fn fill(client: &Client, first: &str, last: &str, email: &str, file: &Path) {
    for (id, value) in [("firstName", first), ("lastName", last), ("email", email)] {
        let input = client.find(Locator::Id(id)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    client.find(Locator::Id("resume")).await.unwrap().send_keys(&file.display().to_string()).await.unwrap();
    let consent = client.find(Locator::Id("consent")).await.unwrap();
    if !consent.is_selected().await.unwrap() {
        consent.click().await.unwrap();
    }
}

/// A real key press, to whatever has the focus (`send_keys` on a file input would choose a file).
async fn press_tab(client: &Client) {
    let tab = char::from(Key::Tab);
    let keys =
        KeyActions::new("keyboard".into()).then(KeyAction::Down { value: tab }).then(KeyAction::Up { value: tab });
    client.perform_actions(keys).await.unwrap();
}

async fn active_id(client: &Client) -> String {
    client.active_element().await.unwrap().attr("id").await.unwrap().unwrap_or_default()
}

#[tokio::test]
#[cfg_attr(not(intake_browser), ignore = "needs Chromium and ChromeDriver: apt-get install chromium chromium-driver")]
async fn the_public_form_works_in_a_real_browser() {
    let Browser { client, _driver } = browser().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.attorney("alex@firm.test").await;
    let files = tempfile::tempdir().unwrap();
    let pdf = files.path().join("My CV.pdf");
    std::fs::write(&pdf, PDF).unwrap();
    let disguised = files.path().join("cv.pdf");
    std::fs::write(&disguised, b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00 this is a program")
        .unwrap();

    // The page: the firm's name, every field labelled, the size limit shown, keyboard order.
    // Arriving from an ad: the form passes the page's attribution on.
    client
        .goto(&format!("{}/?utm_source=google&utm_campaign=spring%20intake&gclid=Cj0abc", app.address))
        .await
        .unwrap();
    assert_eq!(client.title().await.unwrap(), "Contact Test Firm");
    let form_text = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(form_text.contains("Test Firm") && form_text.contains("up to 10 MB"), "{form_text}");
    for id in ["firstName", "lastName", "email", "resume", "consent"] {
        let label = client.find(Locator::Css(&format!("label[for='{id}']"))).await.unwrap();
        assert!(!label.text().await.unwrap().is_empty(), "{id} has a label");
    }
    assert!(
        !client.find(Locator::Id("website")).await.unwrap().is_displayed().await.unwrap_or(false) || {
            // Off-screen rather than display:none: check it is outside the viewport.
            let rect = client.find(Locator::Id("website")).await.unwrap().rectangle().await.unwrap();
            rect.0 < 0.0
        }
    );
    client.find(Locator::Id("firstName")).await.unwrap().click().await.unwrap();
    let mut order = vec![active_id(&client).await];
    for _ in 0..5 {
        press_tab(&client).await;
        order.push(active_id(&client).await);
    }
    assert_eq!(order, ["firstName", "lastName", "email", "resume", "consent", "submit"], "the honeypot is skipped");
    save_screenshot(&client, "form.png").await;
    // On a phone: one column, nothing wider than the screen.
    client.set_window_size(390, 844).await.unwrap();
    let overflow = client
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
        .await
        .unwrap();
    assert_eq!(overflow, json!(0), "no sideways scrolling on a narrow screen");
    save_screenshot(&client, "form-phone.png").await;
    client.set_window_size(1000, 1100).await.unwrap();

    // A good submission ends on the confirmation; the lead and both mails are queued.
    fill(&client, "Ada", "Lovelace", "ada@example.com", &pdf).await;
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let confirmation = visible(&client, "#confirmation").await;
    let text = confirmation.text().await.unwrap();
    assert!(text.contains("What happens next") && text.contains("ada@example.com"), "{text}");
    assert_eq!(active_id(&client).await, "confirmation", "focus moves to the confirmation");
    save_screenshot(&client, "confirmation.png").await;
    let leads = lead::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!((leads[0].first_name.as_str(), leads[0].resume_file_name.as_str()), ("Ada", "My CV.pdf"));
    assert!(leads[0].client_submission_id.is_some(), "the form sends a clientSubmissionId");
    assert!(leads[0].consent_given_at.is_some(), "the form sends the consent box");
    assert!(leads[0].consent_user_agent.as_deref().is_some_and(|a| a.contains("Chrome")), "{:?}", leads[0]);
    assert_eq!(leads[0].source.as_deref(), Some("website"));
    let attribution = leads[0].attribution.clone().expect("the form sends the attribution");
    assert_eq!(attribution["utmSource"], "google");
    assert_eq!(attribution["utmCampaign"], "spring intake");
    assert_eq!(attribution["gclid"], "Cj0abc");
    assert!(attribution["landingPage"].as_str().unwrap().contains("utm_source=google"), "{attribution}");
    assert_eq!(email_job::Entity::find().count(&app.state.db).await.unwrap(), 2);

    // A program dressed as a PDF: the server's error appears beside the file field.
    client.goto(&format!("{}/form", app.address)).await.unwrap();
    fill(&client, "Bob", "Mallory", "bob@example.com", &disguised).await;
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let error = visible(&client, "#resume-error").await;
    assert!(error.text().await.unwrap().contains("PDF, DOC, DOCX"), "{}", error.text().await.unwrap());
    let resume = client.find(Locator::Id("resume")).await.unwrap();
    assert_eq!(resume.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    assert_eq!(active_id(&client).await, "resume", "focus moves to the field at fault");
    assert!(client.find(Locator::Id("submit")).await.unwrap().is_enabled().await.unwrap(), "the button is back");
    save_screenshot(&client, "file-error.png").await;

    // An empty first name: the server's message, beside that field.
    client.goto(&format!("{}/form", app.address)).await.unwrap();
    fill(&client, "", "Lovelace", "ada2@example.com", &pdf).await;
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let error = visible(&client, "#firstName-error").await;
    assert!(error.text().await.unwrap().starts_with("First name"), "{}", error.text().await.unwrap());
    assert_eq!(active_id(&client).await, "firstName");
    assert!(!client.find(Locator::Id("form-error")).await.unwrap().text().await.unwrap().is_empty());
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 1, "nothing stored for refused forms");

    // Without consent nothing is sent.
    client.goto(&format!("{}/form", app.address)).await.unwrap();
    fill(&client, "Di", "Nope", "di@example.com", &pdf).await;
    client.find(Locator::Id("consent")).await.unwrap().click().await.unwrap();
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let error = visible(&client, "#consent-error").await;
    assert!(error.text().await.unwrap().contains("agree"), "{}", error.text().await.unwrap());
    assert_eq!(active_id(&client).await, "consent");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 1);

    // The answer to the first try is lost after the server stored the lead: the form tries
    // again with the same clientSubmissionId and gets the same lead back, not a second one.
    client.goto(&format!("{}/form", app.address)).await.unwrap();
    client
        .execute(
            "const real = window.fetch; window.__sent = 0; window.__disabled = [];
             window.fetch = (...args) => { window.__sent += 1;
               window.__disabled.push(document.getElementById('submit').disabled);
               return window.__sent === 1 ? real(...args).then(() => { throw new TypeError('connection lost'); })
                                          : real(...args); };",
            vec![],
        )
        .await
        .unwrap();
    fill(&client, "Cy", "Twice", "cy@example.com", &pdf).await;
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    visible(&client, "#confirmation").await;
    assert_eq!(client.execute("return window.__sent", vec![]).await.unwrap(), json!(2), "sent twice");
    let disabled = client.execute("return window.__disabled", vec![]).await.unwrap();
    assert_eq!(disabled, json!([true, true]), "the button is disabled while sending");
    assert_eq!(lead::Entity::find().count(&app.state.db).await.unwrap(), 2, "stored once");
    let reference = client.find(Locator::Id("reference")).await.unwrap().text().await.unwrap();
    let stored = lead::Entity::find().all(&app.state.db).await.unwrap();
    assert!(stored.iter().any(|l| l.id.to_string() == reference && l.first_name == "Cy"));

    // GraphiQL, offline, runs an introspection query (opened with it, as the mails' links open
    // a lead's query).
    // A token an older GraphiQL left in localStorage (same origin as the form) must go.
    client
        .execute("localStorage.setItem('graphiql:headers', '{\"Authorization\":\"Bearer old\"}')", vec![])
        .await
        .unwrap();
    let introspection = "{ __schema { queryType { name } types { name } } }";
    let encoded: String = url::form_urlencoded::byte_serialize(introspection.as_bytes()).collect();
    client.goto(&format!("{}/graphql?query={encoded}", app.address)).await.unwrap();
    visible(&client, ".graphiql-container").await;
    let mut answer = String::new();
    // React may re-render the run button while starting up: click until the answer shows.
    for _ in 0..10 {
        if let Ok(button) = client.find(Locator::Css(".graphiql-execute-button")).await {
            let _ = button.click().await;
        }
        for _ in 0..20 {
            answer = client
                .execute(
                    "const r = document.querySelector('.result-window .CodeMirror'); return r ? r.CodeMirror.getValue() : ''",
                    vec![],
                )
                .await
                .unwrap()
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if answer.contains("LeadConnection") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if answer.contains("LeadConnection") {
            break;
        }
    }
    assert!(answer.contains("\"queryType\"") && answer.contains("LeadConnection"), "GraphiQL answered: {answer}");
    // GraphiQL keeps its state, the Headers tab's bearer token included, for this tab only.
    let kept = client
        .execute(
            "const keys = s => Object.keys(s).filter(k => k.startsWith('graphiql:')); \
             return [keys(localStorage), keys(sessionStorage)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept[0], json!([]), "nothing of GraphiQL's in localStorage: {kept}");
    assert!(
        kept[1].as_array().is_some_and(|keys| !keys.is_empty()),
        "GraphiQL keeps its tabs in sessionStorage: {kept}"
    );
    save_screenshot(&client, "graphiql.png").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_form_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.public_form = false).await;
    for path in ["/", "/form", "/form.js"] {
        let status = app.client.get(format!("{}{path}", app.address)).send().await.unwrap().status();
        assert_eq!(status, 404, "{path}");
    }
    let graphiql = app.client.get(format!("{}/graphql", app.address)).send().await.unwrap();
    assert_eq!(graphiql.status(), 200, "GraphiQL stays");
    let on = TestApp::spawn_with(Backend::Sqlite, |c| c.firm_name = "Smith & <Jones>".into()).await;
    let page = on.client.get(format!("{}/", on.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Smith &amp; &lt;Jones&gt;") && !html.contains("<Jones>"), "the firm's name is escaped");
    for asset in ["/form.js", "/form.css"] {
        let response = on.client.get(format!("{}{asset}", on.address)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
}

/// The database goes away while a prospect sends the form: the form says it is retrying, tries
/// again with the same clientSubmissionId after the wait the server asks for, and ends on the
/// confirmation once the database is back; one lead, the prospect typed nothing twice.
#[tokio::test]
#[cfg_attr(
    not(all(intake_browser, intake_postgres)),
    ignore = "needs Chromium, ChromeDriver and PostgreSQL (the database's line is cut by a relay)"
)]
async fn the_form_retries_through_a_database_outage() {
    let Backend::Postgres(server) = Backend::postgres() else { unreachable!("postgres() is PostgreSQL") };
    let relay = test_support::proxy::Relay::to_postgres(&server).await;
    let app = TestApp::spawn_with(Backend::postgres(), |c| relay.route(c)).await;
    let Browser { client, _driver } = browser().await;
    let files = tempfile::tempdir().unwrap();
    let pdf = files.path().join("cv.pdf");
    std::fs::write(&pdf, PDF).unwrap();

    client.goto(&format!("{}/form", app.address)).await.unwrap();
    fill(&client, "Ada", "Lovelace", "ada@example.com", &pdf).await;
    relay.cut();
    client.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let mut said = String::new();
    for _ in 0..300 {
        said = client.find(Locator::Id("progress")).await.unwrap().text().await.unwrap();
        if said.contains("briefly unavailable") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(said.contains("trying again"), "the form does not say it is retrying: {said:?}");
    save_screenshot(&client, "form-retrying.png").await;
    relay.restore().await;
    let confirmation = visible(&client, "#confirmation").await;
    assert!(confirmation.text().await.unwrap().contains("ada@example.com"));
    let leads = lead::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(leads.len(), 1, "one lead, however many tries");
}
