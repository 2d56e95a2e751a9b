//! The service's pages in a real browser: headless Chromium (Debian's `chromium`), driven through
//! chromedriver (Debian's `chromium-driver`) over WebDriver, against `plugboard serve --sandbox`.
//!
//! - A tenant's connect link: the Connect page, its button, the sandbox's automatic consent, the
//!   hosted callback saying "connected"; the API then lists the connection.
//! - A run started over HTTP, then the runs page opened from a page link: the run's steps are
//!   seen progressing and finishing live (the page is never reloaded), with its outputs.
//! - Links are one-time: a reused connect link or page link is refused; an expired one too.
//! - Screenshots of each page go to `target/screenshots/`.
//!
//! chromedriver is the one `PLUGBOARD_TEST_WEBDRIVER_URL` names, or else started here from
//! `PATH` on a free port. Missing, the test fails (it never skips): `cargo xtask test` installs
//! both packages when they are missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use plugboard_tests::service::{ServiceProcess, raw_request};
use plugboard_tests::temp_dir;
use serde_json::{Value, json};

const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";

/// Where a chromedriver already running is found (`cargo xtask test` leaves it unset: the test
/// starts its own).
const WEBDRIVER_VAR: &str = "PLUGBOARD_TEST_WEBDRIVER_URL";

/// How long chromedriver may take to answer `/status`.
const DRIVER_START_LIMIT: Duration = Duration::from_secs(30);

/// How long a page may take to show what the test waits for.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

/// How many calls the watched run's `for_each` makes: at the sandbox's real 4 requests/s, a few
/// seconds of progress to watch.
const CALLS: usize = 16;

/// A chromedriver this test started, killed when dropped.
struct Driver {
    child: Option<Child>,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The chromedriver to use: the one named by [`WEBDRIVER_VAR`], or one started here.
fn driver() -> Driver {
    if let Some(url) = std::env::var(WEBDRIVER_VAR).ok().filter(|u| !u.is_empty()) {
        return Driver { child: None, url };
    }
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({e}): install Debian's `chromium` and \
                 `chromium-driver` (`cargo xtask test` does when they are missing), or set \
                 {WEBDRIVER_VAR} to a running one"
            )
        });
    let driver = Driver {
        child: Some(child),
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + DRIVER_START_LIMIT;
    loop {
        // Connected first: `raw_request` panics on a refused connection.
        let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if listening
            && raw_request("GET", &format!("{}/status", driver.url), None, &[])
                .body
                .contains("\"ready\":true")
        {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not get ready within {DRIVER_START_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A headless Chromium session with a profile of its own under `dir`.
async fn browser(driver: &Driver, dir: &std::path::Path) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--window-size=1200,1000".to_owned(),
        format!("--user-data-dir={}", dir.join("chromium").display()),
    ];
    // Chromium refuses to run as root with its sandbox on (CI runs as root).
    if is_root() {
        args.push("--no-sandbox".to_owned());
    }
    let mut options = json!({"args": args});
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `target/screenshots`, beside the test binary's profile folder.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<test binary>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary is under target/<profile>/deps");
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("can create target/screenshots");
    dir
}

async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("can write the screenshot");
    eprintln!("screenshot: {}", path.display());
    path
}

/// The text of the element `css`, waiting (bounded) until `accept` says it is what we wait for.
async fn wait_text(client: &Client, css: &str, accept: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PAGE_LIMIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if accept(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` did not show what was expected within {PAGE_LIMIT:?}; last: {last:?}");
}

/// A GET with a `Cookie` header (what the browser sends): its status and body.
fn with_cookie(base: &str, path: &str, cookie: &str) -> (u16, String) {
    let (status, response) = send(base, "GET", path, &format!("Cookie: {cookie}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

/// A request with one extra header line: its status and the whole answer, headers included.
fn send(base: &str, method: &str, path: &str, header: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Length: 0\r\n{header}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("sent");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response}"));
    (status, response)
}

fn create_tenant(service: &ServiceProcess, id: &str) -> String {
    let (status, body) = service.json("POST", "/v1/tenants", Some(ADMIN_KEY), &json!({"id": id}));
    assert_eq!(status, 201, "{body}");
    body["api_key"].as_str().expect("a key").to_owned()
}

fn link(service: &ServiceProcess, path: &str, key: &str, body: &Value) -> String {
    let (status, answer) = service.json("POST", path, Some(key), body);
    assert_eq!(status, 201, "{answer}");
    answer["url"].as_str().expect("a link").to_owned()
}

/// A workflow with steps worth watching: one call, a `for_each` of [`CALLS`] calls at the
/// sandbox's rate, one call again.
fn watched_workflow() -> Value {
    json!({
        "name": "Account check",
        "connections": {"cc": {"connector": "constant-contact", "connection": "cc"}},
        "steps": [
            {"id": "account", "call": "cc.account.get_summary"},
            {"id": "summaries", "for_each": (1..=CALLS).collect::<Vec<_>>(),
             "call": "cc.account.get_summary"},
            {"id": "again", "call": "cc.account.get_summary"}
        ],
        "outputs": {
            "organization": "{{ steps.account.output.organization_name }}",
            "summaries": "{{ steps.summaries.output | length }}"
        }
    })
}

/// What the runs page shows of run `run`: its status and each step's status and progress text.
async fn run_on_page(client: &Client, run: i64) -> Option<(String, Vec<(String, String)>)> {
    let section = client
        .find(Locator::Css(&format!("#run-{run}")))
        .await
        .ok()?;
    let status = section.attr("data-status").await.ok()??;
    let mut steps = Vec::new();
    for row in section.find_all(Locator::Css("tr.step")).await.ok()? {
        let step_status = row.attr("data-status").await.ok()??;
        let progress = row
            .find(Locator::Css("td.progress"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        steps.push((step_status, progress));
    }
    Some((status, steps))
}

#[test]
fn a_tenant_connects_and_watches_a_run_live_in_a_real_browser() {
    let dir = temp_dir("service-pages");
    let driver = driver();
    let service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
    let key = create_tenant(&service, "acme");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = browser(&driver, &dir).await;
        let result = journey(&service, &key, &client).await;
        let _ = client.close().await;
        result
    });
    let _ = std::fs::remove_dir_all(&dir);
}

async fn journey(service: &ServiceProcess, key: &str, client: &Client) {
    // The connect link: page, button, the sandbox's consent, the callback's "connected".
    let connect_url = link(
        service,
        "/v1/tenants/acme/connect-links",
        key,
        &json!({"connector": "constant-contact", "name": "cc"}),
    );
    client.goto(&connect_url).await.expect("opens the link");
    let button = client
        .find(Locator::Id("start"))
        .await
        .expect("the Connect button");
    assert_eq!(
        button.text().await.expect("its label"),
        "Connect Constant Contact"
    );
    screenshot(client, "connect").await;
    button.click().await.expect("clicks Connect");
    let title = wait_text(client, "#title", |t| t.contains("connected")).await;
    assert_eq!(title, "Constant Contact connected");
    let landed = client.current_url().await.expect("a URL");
    assert_eq!(landed.path(), "/connector/callback", "{landed}");
    screenshot(client, "connected").await;
    let (status, connections) =
        service.call("GET", "/v1/tenants/acme/connections", Some(key), None);
    assert_eq!(status, 200, "{connections}");
    assert_eq!(connections[0]["name"], "cc", "{connections}");

    // The spent connect link is refused, in the browser and to a plain request.
    client
        .goto(&connect_url)
        .await
        .expect("opens the link again");
    let title = wait_text(client, "#title", |t| !t.is_empty()).await;
    assert_eq!(title, "This link is not valid");
    assert_eq!(raw_request("POST", &connect_url, None, &[]).status, 404);

    // A schedule made over HTTP starts the run, which is watched on the runs page: from no
    // connection to a finished scheduled run with only HTTP calls and a browser.
    let (status, body) = service.call(
        "PUT",
        "/v1/workflows/account-check",
        Some(ADMIN_KEY),
        Some(watched_workflow().to_string().into_bytes()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, schedule) = service.json(
        "POST",
        "/v1/tenants/acme/schedules",
        Some(key),
        &json!({"workflow": "account-check", "every_secs": 1}),
    );
    assert_eq!(status, 201, "{schedule}");
    let schedule_path = format!(
        "/v1/tenants/acme/schedules/{}",
        schedule["id"].as_i64().expect("a schedule id")
    );
    let run = first_scheduled_run(service, key, &schedule_path).await;
    // One fire is enough to watch; the schedule is paused so no second run joins the page.
    let (status, paused) = service.call("POST", &format!("{schedule_path}/pause"), Some(key), None);
    assert_eq!(status, 200, "{paused}");
    let page_url = link(
        service,
        "/v1/tenants/acme/page-links",
        key,
        &json!({"page": "runs"}),
    );
    assert!(
        page_url.starts_with(&format!("{}/pages/open/pbp_", service.base_url)),
        "{page_url}"
    );
    client.goto(&page_url).await.expect("opens the page link");
    wait_text(client, "#title", |t| t == "Runs of acme").await;
    let on_runs_page = client.current_url().await.expect("a URL");
    assert_eq!(
        on_runs_page.path(),
        "/pages/runs",
        "the token leaves the address bar"
    );

    // Watch without reloading: every state the page goes through, until the run ends.
    let mut seen: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut live_screenshot = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(shown) = run_on_page(client, run).await
            && seen.last() != Some(&shown)
        {
            // Part-way through the `for_each`: the picture of a run in progress.
            if !live_screenshot
                && shown
                    .1
                    .get(1)
                    .is_some_and(|(s, progress)| s == "running" && progress.contains('/'))
            {
                screenshot(client, "runs-live").await;
                live_screenshot = true;
            }
            seen.push(shown);
        }
        if seen
            .last()
            .is_some_and(|(status, _)| status != "queued" && status != "running")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end on the page: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the runs page went through {} states", seen.len());
    let (status, steps) = seen.last().expect("a last state");
    assert_eq!(status, "completed", "{seen:?}");
    assert!(steps.iter().all(|(s, _)| s == "completed"), "{steps:?}");
    assert_eq!(steps[1].1, format!("{CALLS}/{CALLS} calls"), "{steps:?}");
    assert!(
        seen.iter().any(|(status, _)| status == "running"),
        "the page showed the run running before it ended: {seen:?}"
    );
    let partial = seen.iter().any(|(_, steps)| {
        steps.get(1).is_some_and(|(status, progress)| {
            status == "running"
                && !progress.starts_with(&format!("{CALLS}/"))
                && progress.contains('/')
        })
    });
    assert!(
        partial,
        "the for_each's progress was seen part-way, live: {seen:?}"
    );
    let outputs = wait_text(client, &format!("#run-{run} pre.outputs"), |t| {
        !t.is_empty()
    })
    .await;
    let outputs: Value = serde_json::from_str(&outputs).expect("outputs shown as JSON");
    assert_eq!(
        outputs,
        json!({"organization": "Plugboard Sandbox Inc.", "summaries": CALLS})
    );
    screenshot(client, "runs").await;

    // The session: an HttpOnly, SameSite=Strict cookie for /pages; no key on the page.
    let cookies = client.get_all_cookies().await.expect("the cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "plugboard_page")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert_eq!(session.path(), Some("/pages"));
    let source = client.source().await.expect("the page source");
    assert!(
        !source.contains(key) && !source.contains("pbk_"),
        "no key on the page"
    );
    let readable = client
        .execute("return document.cookie", vec![])
        .await
        .expect("a script runs");
    assert_eq!(readable, json!(""), "no script can read the session");

    // The spent page link is refused; without the cookie, neither page nor data is served.
    client
        .goto(&page_url)
        .await
        .expect("opens the page link again");
    let title = wait_text(client, "#title", |t| !t.is_empty()).await;
    assert_eq!(title, "This link is not valid");
    assert_eq!(raw_request("POST", &page_url, None, &[]).status, 404);
    let base = &service.base_url;
    assert_eq!(
        raw_request("GET", &format!("{base}/pages/runs"), None, &[]).status,
        401
    );
    for path in [
        "/pages/data/runs".to_owned(),
        format!("/pages/data/runs/{run}"),
    ] {
        assert_eq!(
            raw_request("GET", &format!("{base}{path}"), None, &[]).status,
            401,
            "{path}"
        );
    }

    // Another tenant's session sees none of acme's runs, and ends with its tenant.
    let other_key = create_tenant(service, "other");
    let (status, _) = service.json(
        "POST",
        "/v1/tenants/acme/page-links",
        Some(&other_key),
        &json!({"page": "runs"}),
    );
    assert_eq!(status, 404, "another tenant's key makes no link for acme");
    let other_link = link(
        service,
        "/v1/tenants/other/page-links",
        &other_key,
        &json!({"page": "runs"}),
    );
    let opened = raw_request("POST", &other_link, None, &[]);
    assert_eq!(opened.status, 303, "{}", opened.body);
    let set_cookie = opened
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/pages"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    assert_eq!(
        with_cookie(base, "/pages/data/runs", &cookie),
        (200, "[]".to_owned())
    );
    assert_eq!(
        with_cookie(base, &format!("/pages/data/runs/{run}"), &cookie).0,
        404
    );
    assert_eq!(
        with_cookie(base, &format!("/pages/data/runs/{run}/events"), &cookie).0,
        404
    );
    assert_eq!(with_cookie(base, "/pages/runs", &cookie).0, 200);
    let (status, _) = service.call("DELETE", "/v1/tenants/other", Some(ADMIN_KEY), None);
    assert_eq!(status, 204);
    assert_eq!(with_cookie(base, "/pages/data/runs", &cookie).0, 401);
    assert_eq!(with_cookie(base, "/pages/runs", &cookie).0, 401);

    // Neither the session nor a key reaches the service's log.
    let log = service.stderr();
    let session_value = cookie.split_once('=').expect("name=value").1;
    for secret in [session_value, key, other_key.as_str()] {
        assert!(!log.contains(secret), "a secret in the service's log");
    }
}

/// The id of the first run the schedule at `path` started (its `last_run`), waited for.
async fn first_scheduled_run(service: &ServiceProcess, key: &str, path: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, shown) = service.call("GET", path, Some(key), None);
        assert_eq!(status, 200, "{shown}");
        if let Some(run) = shown["last_run"]["id"].as_i64() {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule never fired: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn expired_links_are_refused() {
    let dir = temp_dir("service-pages-expiry");
    let service = ServiceProcess::start_sandbox(
        &dir.join("state.db"),
        Some(ADMIN_KEY),
        &["--install-expiry", "1s"],
    );
    let key = create_tenant(&service, "acme");
    let page_url = link(
        &service,
        "/v1/tenants/acme/page-links",
        &key,
        &json!({"page": "runs"}),
    );
    let connect_url = link(
        &service,
        "/v1/tenants/acme/connect-links",
        &key,
        &json!({"connector": "constant-contact", "name": "cc"}),
    );
    assert_eq!(raw_request("GET", &page_url, None, &[]).status, 200);
    // A form post from another site spends nothing and opens nothing.
    let from_elsewhere = [
        "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site",
        // An older browser, without Sec-Fetch-Site.
        "Origin: https://evil.example",
    ];
    for (url, header) in [&page_url, &connect_url]
        .into_iter()
        .flat_map(|url| from_elsewhere.map(|header| (url, header)))
    {
        let path = url.trim_start_matches(&service.base_url);
        let (status, answer) = send(&service.base_url, "POST", path, header);
        assert_eq!(status, 403, "{url}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("set-cookie"),
            "no session for another site's post: {answer}"
        );
        assert_eq!(
            raw_request("GET", url, None, &[]).status,
            200,
            "{url} is still usable"
        );
    }
    std::thread::sleep(Duration::from_millis(2_100));
    for url in [&page_url, &connect_url] {
        let shown = raw_request("GET", url, None, &[]);
        assert_eq!(shown.status, 404, "{url}");
        assert!(
            shown.body.contains("This link is not valid"),
            "{}",
            shown.body
        );
        let used = raw_request("POST", url, None, &[]);
        assert_eq!(used.status, 404, "{url}");
        assert!(
            used.header("set-cookie").is_none(),
            "no session from an expired link"
        );
    }
    // An unknown page is refused with the pages there are.
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/acme/page-links",
        Some(&key),
        &json!({"page": "<script>"}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unknown_page", "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
