//! The console in its real Tauri window, driven through tauri-driver and
//! WebKitWebDriver (run under Xvfb: scripts/test.sh does).
//!
//! Needs the binary built with `--features custom-protocol`, so that it embeds
//! ui/dist instead of asking for the Vite dev server.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

#[path = "support/smtp.rs"]
mod smtp;

const WAIT: Duration = Duration::from_secs(30);
/// The instant the app runs at: the demo's usage ends the day before.
const NOW: &str = "2026-11-24T15:00:00Z";

/// A port free now and never handed to another test of this run: tests start
/// drivers in parallel, and a port released here may be given out again
/// before its driver binds it.
fn free_port() -> u16 {
    static HANDED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

/// tauri-driver, stopped with SIGTERM on drop (SIGKILL would orphan
/// WebKitWebDriver on its port).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts tauri-driver and waits until it and the WebKitWebDriver it
    /// starts both listen; should another process have taken either port
    /// meanwhile, starts again on two others.
    fn start(home: &Path) -> Driver {
        for attempt in 1..=3 {
            let port = free_port();
            let native_port = free_port();
            let mut child = Command::new(tauri_driver())
                .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
                .env("HOME", home)
                .env("XDG_DATA_HOME", home.join("data"))
                .env("XDG_CONFIG_HOME", home.join("config"))
                .env("XDG_CACHE_HOME", home.join("cache"))
                // The app's clock and its save dialogs, fixed (a native dialog cannot be driven).
                .env("METERDESK_NOW", NOW)
                .env("METERDESK_DIALOG_DIR", home.join("saved"))
                // The user's format: dates and numbers as a US English desktop writes them.
                .env("LANG", "en_US.UTF-8")
                .env("LC_ALL", "en_US.UTF-8")
                .stdout(Stdio::null())
                .spawn()
                .expect("tauri-driver must be installed (cargo install tauri-driver --locked; scripts/test.sh does)");
            let listening = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            let deadline = Instant::now() + WAIT;
            loop {
                if listening(port) && listening(native_port) {
                    return Driver { child, port };
                }
                if Instant::now() >= deadline || child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!(
                "tauri-driver did not listen on ports {port} and {native_port} (attempt {attempt}); trying two others"
            );
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
        panic!("tauri-driver did not listen after 3 attempts");
    }

    /// Opens the app in a new session. On a busy machine the driver may drop
    /// a request while WebKitWebDriver is still starting: that is retried
    /// until the deadline.
    async fn session(&self, workspace: &Path) -> Client {
        self.session_of(Path::new(env!("CARGO_BIN_EXE_meterdesk")), workspace).await
    }

    /// Opens `app` (the built binary, or the installed one) on a workspace.
    async fn session_of(&self, app: &Path, workspace: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("tauri:options".into(), json!({ "application": app, "args": ["--workspace", workspace] }));
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + WAIT;
        loop {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(caps.clone());
            match tokio::time::timeout(WAIT, builder.connect(&url)).await.expect("WebDriver session timed out") {
                Ok(client) => return client,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("WebDriver session not opened yet ({e}); trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("WebDriver session: {e:?}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn tauri_driver() -> PathBuf {
    let cargo_bin = dirs_home().join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() { cargo_bin } else { PathBuf::from("tauri-driver") }
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default()
}

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    // A selector starting with "/" is XPath (to find by text), otherwise CSS.
    let locator = if css.starts_with('/') { Locator::XPath(css) } else { Locator::Css(css) };
    c.wait().at_most(WAIT).for_element(locator).await.unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Whether the element is where it will stay: present, fully opaque and
/// untransformed up to the root, and no finite CSS transition or animation
/// running anywhere. A Mantine modal or drawer is mounted first in its
/// starting pose (scaled, shifted, transparent) and only a frame or more later
/// moves in; under load that gap is long, and a position sampled twice inside
/// it looks steady while the element is about to move: the click then lands
/// beside it and is lost. This asks the page for the settled state instead.
const SETTLED: &str = "
    const el = arguments[0].startsWith('/')
        ? document.evaluate(arguments[0], document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue
        : document.querySelector(arguments[0]);
    if (!el) return 'absent';
    // A disabled control ignores a click: wait until what enables it has loaded.
    if (el.disabled || el.getAttribute('aria-disabled') === 'true' || el.hasAttribute('data-disabled')) return 'disabled';
    const moving = document.getAnimations().some((a) => {
        const t = a.effect && a.effect.getComputedTiming();
        return a.playState !== 'finished' && a.playState !== 'idle' && t && t.iterations !== Infinity;
    });
    if (moving) return 'a transition is running';
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
        const s = getComputedStyle(n);
        if (parseFloat(s.opacity) < 1) return 'not yet opaque';
        if (s.transform !== 'none' && s.transform !== 'matrix(1, 0, 0, 1, 0, 0)') return 'still transformed';
    }
    return 'settled';";

async fn wait_settled(c: &Client, css: &str) {
    poll(c, &format!("{css} settled"), async || {
        let state = c.execute(SETTLED, vec![serde_json::json!(css)]).await.map_err(|e| e.to_string())?;
        match state.as_str() {
            Some("settled") => Ok(()),
            other => Err(format!("{css}: {}", other.unwrap_or("?"))),
        }
    })
    .await
}

/// Clicks once the element has settled (see [`SETTLED`]). WebDriver refuses a
/// click that another element would receive (an overlay still fading): that
/// refusal clicked nothing, so it is tried again; a click is never repeated.
async fn click(c: &Client, css: &str) {
    wait_settled(c, css).await;
    let deadline = Instant::now() + WAIT;
    loop {
        match find(c, css).await.click().await {
            Ok(()) => return,
            Err(e)
                if Instant::now() < deadline
                    && matches!(e, fantoccini::error::CmdError::Standard(ref w) if w.error == fantoccini::error::ErrorStatus::ElementClickIntercepted || w.error == fantoccini::error::ErrorStatus::ElementNotInteractable) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot click {css}: {e:?}"),
        }
    }
}

async fn type_into(c: &Client, css: &str, text: &str) {
    find(c, css).await.send_keys(text).await.unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
}

/// The element's DOM text (WebDriver's rendered text skips truncated cells).
async fn dom_text(c: &Client, css: &str) -> String {
    find(c, css).await.prop("textContent").await.ok().flatten().unwrap_or_default()
}

/// Asks `probe` every 50 ms until it gives a value. Past the deadline, keeps a
/// screenshot named after `awaited` and fails with what the last probe said.
async fn poll<T>(c: &Client, awaited: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(why) if Instant::now() >= deadline => {
                failure_screenshot(c, awaited).await;
                panic!("{why}");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Clicks the checkbox until it is `checked` (a click can be lost once, while
/// the dialog holding it settles: CI saw "all" stay chosen after one click).
/// A click takes effect before WebDriver returns (React commits a discrete
/// event's update at once), so the next look sees it and never clicks twice.
async fn set_checked(c: &Client, css: &str, checked: bool) {
    let now = find(c, css).await.prop("checked").await.ok().flatten().unwrap_or_default() == "true";
    if now != checked {
        click(c, css).await;
    }
    wait_prop(c, css, "checked", |v| (v == "true") == checked).await;
}

/// Waits until the element's DOM property `prop` satisfies `ok`, returning it.
async fn wait_prop(c: &Client, css: &str, prop: &str, ok: impl Fn(&str) -> bool) -> String {
    poll(c, css, async || {
        let value = find(c, css).await.prop(prop).await.ok().flatten().unwrap_or_default();
        if ok(&value) { Ok(value) } else { Err(format!("{css} still has {prop} {value:?}")) }
    })
    .await
}

/// Keeps what the window shows as `name` in the artifacts, once the page has
/// painted what the last wait found in the DOM (two animation frames later).
async fn screenshot(c: &Client, name: &str) {
    let painted = "const done = arguments[arguments.length - 1];
                   requestAnimationFrame(() => requestAnimationFrame(() => done(true)));";
    c.execute_async(painted, vec![]).await.unwrap();
    std::fs::write(artifacts().join(name), c.screenshot().await.unwrap()).unwrap();
}

/// Keeps what the window showed when a wait failed, named after what was awaited.
async fn failure_screenshot(c: &Client, awaited: &str) {
    let name: String = awaited.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(artifacts().join(format!("failed-{name}.png")), png);
    }
}

/// Waits until the element's text satisfies `ok`, returning it.
async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    wait_prop(c, css, "textContent", ok).await
}

/// Waits until the element is shown (e.g. once a panel has opened).
async fn wait_displayed(c: &Client, css: &str) {
    poll(c, css, async || {
        if find(c, css).await.is_displayed().await.unwrap_or(false) {
            Ok(())
        } else {
            Err(format!("{css} is never shown"))
        }
    })
    .await
}

/// Waits until nothing matches `css` (e.g. once a dialog has closed).
async fn wait_gone(c: &Client, css: &str) {
    poll(c, css, async || match c.find_all(Locator::Css(css)).await {
        Ok(found) if found.is_empty() => Ok(()),
        _ => Err(format!("{css} is still there")),
    })
    .await
}

/// Waits until an input holds `value` (e.g. once a form has loaded).
async fn wait_value(c: &Client, css: &str, value: &str) {
    wait_prop(c, css, "value", |v| v == value).await;
}

/// Opens a select and picks the option with this text from its own list (the
/// list of a select closed just before may still be fading out).
async fn choose(c: &Client, select_css: &str, option: &str) {
    click(c, select_css).await;
    let deadline = Instant::now() + WAIT;
    let list = loop {
        match find(c, select_css).await.attr("aria-controls").await.ok().flatten() {
            Some(id) if !id.is_empty() => break id,
            _ => assert!(Instant::now() < deadline, "{select_css} opened no list"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    click(c, &format!("//*[@id='{list}']//div[@role='option' and normalize-space(.)='{option}']")).await;
}

/// Builds the demo workspace in `dir` with the CLI and returns its path: with
/// its usage as of 2026-11-24 (August to October), or without usage.
fn demo_workspace(dir: &Path, usage: bool) -> PathBuf {
    let workspace = dir.join("demo.meterdesk");
    // Invoices are numbered from INV-2026-00001 in these tests: no history.
    let usage = if usage { ["--as-of", "2026-11-24", "--no-history"].as_slice() } else { ["--no-usage"].as_slice() };
    let built = Command::new(env!("CARGO_BIN_EXE_meterdesk")).arg("demo").arg(&workspace).args(usage).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    workspace
}

/// `meterdesk --workspace WORKSPACE --json ARGS` at [`NOW`]: its parsed stdout (it must succeed).
fn cli_json(workspace: &Path, args: &[&str]) -> serde_json::Value {
    cli_json_at(NOW, workspace, args)
}

/// [`cli_json`] as if the clock said `now`.
fn cli_json_at(now: &str, workspace: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .env("METERDESK_NOW", now)
        .args(["--workspace", workspace.to_str().unwrap(), "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A temporary folder (the app's HOME and the workspaces) and a running driver.
fn sandbox() -> (tempfile::TempDir, Driver) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("saved")).unwrap();
    let driver = Driver::start(&home);
    (tmp, driver)
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn create_a_customer_see_it_listed_and_find_it_after_reopening() {
    let (tmp, driver) = sandbox();
    let workspace = tmp.path().join("e2e.meterdesk");

    // First run: a new, empty workspace.
    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-customers]").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "No customers").await;
    click(&c, "[data-testid=customer-new]").await;
    type_into(&c, "[data-testid=customer-id]", "globex").await;
    type_into(&c, "[data-testid=customer-name]", "Globex Corp").await;
    type_into(&c, "[data-testid=customer-email]", "ap@globex.test").await;
    click(&c, "[data-testid=customer-save]").await;
    // Its page opens (to put it on a plan); Alt+Left goes back to the list.
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == "Globex Corp").await;
    find(&c, "body").await.send_keys("\u{E00A}\u{E012}\u{E000}").await.unwrap();
    let row = dom_text(&c, "[data-testid=customer-row-globex]").await;
    screenshot(&c, "created.png").await;
    assert!(row.contains("Globex Corp") && row.contains("ap@globex.test"), "row reads {row:?}");
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;

    // Ctrl+F goes to the search; Ctrl+N starts a new customer.
    find(&c, "body").await.send_keys("\u{E009}f\u{E000}").await.unwrap();
    poll(&c, "the search has the focus", async || {
        let focused =
            c.execute("return document.activeElement.dataset.testid || ''", vec![]).await.map_err(|e| e.to_string())?;
        if focused == "customer-search" { Ok(()) } else { Err(format!("focus on {focused}")) }
    })
    .await;
    // A duplicate id is refused with the engine's message next to the field.
    type_into(&c, "[data-testid=customer-search]", "\u{E009}n\u{E000}").await;
    type_into(&c, "[data-testid=customer-id]", "globex").await;
    type_into(&c, "[data-testid=customer-name]", "Globex again").await;
    click(&c, "[data-testid=customer-save]").await;
    let page = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//form[@data-testid='customer-form']//*[contains(text(), 'already exists')]"))
        .await;
    assert!(page.is_ok(), "the duplicate id was not reported next to its field");
    screenshot(&c, "customers.png").await;
    c.close().await.unwrap();

    // Second run on the same file: the customer is still there.
    let c = driver.session(&workspace).await;
    wait_text(&c, "[data-testid=stat-active-customers]", |t| t == "1").await;
    click(&c, "[data-testid=nav-customers]").await;
    let row = dom_text(&c, "[data-testid=customer-row-globex]").await;
    assert!(row.contains("Globex Corp"), "after reopening the row reads {row:?}");
    screenshot(&c, "reopened.png").await;
    c.close().await.unwrap();
}

/// Types `text` into the field and measures, in the page, how long each key
/// keeps the page busy: from its input event to the first task after it, by
/// which React has rendered and committed the change (animation frames are
/// throttled under Xvfb, so paint is not in the figure). Median and worst, ms.
async fn echo_of(c: &Client, css: &str, text: &str) -> (f64, f64) {
    c.execute(
        "window.__echo = [];
         if (!window.__echoListening) {
           window.__echoListening = true;
           document.addEventListener('input', () => {
             const t0 = performance.now();
             setTimeout(() => window.__echo.push(performance.now() - t0), 0);
           }, true);
         }",
        vec![],
    )
    .await
    .unwrap();
    type_into(c, css, text).await;
    let keys = text.chars().count();
    let mut ms = poll(c, "every key measured", async || {
        let v = c.execute("return window.__echo", vec![]).await.map_err(|e| e.to_string())?;
        let ms: Vec<f64> = v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
        if ms.len() >= keys { Ok(ms) } else { Err(format!("{} of {keys} keys measured", ms.len())) }
    })
    .await;
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

/// Replaces an input's whole value the way a person does: to the end, erase, type.
async fn replace_text(c: &Client, css: &str, text: &str) {
    let current = find(c, css).await.prop("value").await.ok().flatten().unwrap_or_default();
    // U+E010 is End and U+E003 Backspace in WebDriver's key codes.
    let erase = format!("\u{E010}{}", "\u{E003}".repeat(current.chars().count()));
    type_into(c, css, &(erase + text)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn settings_refuse_a_bad_prefix_by_its_field_then_save() {
    let (tmp, driver) = sandbox();
    let workspace = tmp.path().join("settings.meterdesk");
    let c = driver.session(&workspace).await;

    // Keyboard navigation: Ctrl+9 opens Settings, the ninth page (U+E009 holds Control).
    find(&c, "[data-testid=nav-dashboard]").await.send_keys("\u{E009}9\u{E000}").await.unwrap();
    wait_value(&c, "[data-testid=settings-company]", "My company").await;
    // Dark, then back to the system's (the default).
    click(&c, "//*[@data-testid='settings-appearance']//label[normalize-space(.)='Dark']").await;
    wait_attr(&c, "html", "data-mantine-color-scheme", |v| v == "dark").await;
    screenshot(&c, "settings-dark.png").await;
    click(&c, "//*[@data-testid='settings-appearance']//label[normalize-space(.)='As the system']").await;
    wait_attr(&c, "html", "data-mantine-color-scheme", |v| v == "light").await;
    replace_text(&c, "[data-testid=settings-company]", "Globex Billing Co").await;
    replace_text(&c, "[data-testid=settings-prefix]", "inv 2026").await;
    click(&c, "[data-testid=settings-save]").await;
    let error = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//form[@data-testid='settings-form']//*[contains(text(), 'must be 1 to 10 characters')]",
        ))
        .await;
    screenshot(&c, "settings-invalid.png").await;
    assert!(error.is_ok(), "the bad invoice prefix was not reported by its field");
    // Nothing was saved: the header still shows the old name.
    assert!(dom_text(&c, "[data-testid=workspace-menu]").await.contains("My company"));

    replace_text(&c, "[data-testid=settings-prefix]", "GBX").await;
    choose(&c, "[data-testid=settings-paper]", "Letter (8.5 × 11 in)").await;
    click(&c, ".mantine-Switch-track").await;
    wait_prop(&c, "[data-testid=settings-appendix]", "checked", |v| v == "true").await;
    // Payment details: an IBAN with a mistyped character is refused under its field, in words.
    click(&c, "//*[@data-testid='settings-pay-kind']//label[normalize-space(.)='IBAN and BIC']").await;
    type_into(&c, "[data-testid=settings-pay-payee]", "Globex Billing Co").await;
    type_into(&c, "[data-testid=settings-pay-iban]", "GB82 WEST 1234 5698 7654 23").await;
    click(&c, "[data-testid=settings-save]").await;
    find(
        &c,
        "//form[@data-testid='settings-form']//*[contains(text(), 'has wrong check digits: a character is mistyped')]",
    )
    .await;
    assert!(dom_text(&c, "[data-testid=workspace-menu]").await.contains("My company"), "nothing saved");
    replace_text(&c, "[data-testid=settings-pay-iban]", "gb82 west 1234 5698 7654 32").await;
    click(&c, "[data-testid=settings-save]").await;
    wait_text(&c, "[data-testid=workspace-menu]", |t| t.contains("Globex Billing Co")).await;
    // Stored as the bank writes it; the catalog carries it.
    wait_value(&c, "[data-testid=settings-pay-iban]", "GB82WEST12345698765432").await;
    screenshot(&c, "settings-payment.png").await;
    let catalog = cli_json(&workspace, &["export", "catalog"]);
    assert_eq!(
        catalog["workspace"]["payment"],
        json!({ "payee": "Globex Billing Co", "iban": "GB82WEST12345698765432" })
    );
    // The tamper check runs from here too (no invoices yet: an intact, empty chain).
    click(&c, "[data-testid=settings-verify]").await;
    wait_text(&c, "[data-testid=settings-verified]", |t| t == "All 0 finalized invoices are intact.").await;
    c.close().await.unwrap();

    // Another workspace, then back to the first through the recent list.
    let c = driver.session(&tmp.path().join("other.meterdesk")).await;
    wait_text(&c, "[data-testid=workspace-menu]", |t| t.contains("My company")).await;
    click(&c, "[data-testid=workspace-menu]").await;
    let recent = format!("[data-testid=\"recent-{}\"]", workspace.display());
    click(&c, &recent).await;
    wait_text(&c, "[data-testid=workspace-menu]", |t| t.contains("Globex Billing Co")).await;
    // The paper was stored with the rest.
    click(&c, "[data-testid=nav-settings]").await;
    wait_value(&c, "[data-testid=settings-paper]", "Letter (8.5 × 11 in)").await;
    wait_prop(&c, "[data-testid=settings-appendix]", "checked", |v| v == "true").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_demo_workspace_shows_its_customers_and_meters() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let c = driver.session(&workspace).await;

    wait_text(&c, "[data-testid=stat-active-customers]", |t| t == "49").await;
    click(&c, "[data-testid=nav-customers]").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "49 customers").await;
    let row = dom_text(&c, "[data-testid=customer-row-aperture-analytics]").await;
    assert!(row.contains("Aperture Analytics") && row.contains("EUR"), "row reads {row:?}");
    screenshot(&c, "demo-customers.png").await;
    type_into(&c, "[data-testid=customer-search]", "wonka").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "2 customers").await;

    click(&c, "[data-testid=nav-meters]").await;
    let tokens = wait_text(&c, "[data-testid=meter-row-input_tokens]", |t| !t.is_empty()).await;
    assert!(tokens.contains("the total of tokens") && tokens.contains("each model"), "row reads {tokens:?}");
    let seats = dom_text(&c, "[data-testid=meter-row-active_seats]").await;
    assert!(seats.contains("the number of distinct user_id values"), "row reads {seats:?}");
    screenshot(&c, "demo-meters.png").await;

    // Costs: the provider's cut of Oct 15 ends the older gpt-4o rate; shown per 1M tokens.
    click(&c, "[data-testid=nav-costs]").await;
    let old = wait_text(&c, "[data-testid=cost-row-input_tokens-gpt-4o-2025-01-01]", |t| !t.is_empty()).await;
    assert!(
        old.contains("Jan 1, 2025") && old.contains("Oct 15, 2026") && old.contains("2.2 USD"),
        "row reads {old:?}"
    );
    let cut = dom_text(&c, "[data-testid=cost-row-input_tokens-gpt-4o-2026-10-15]").await;
    assert!(cut.contains("in force") && cut.contains("1.4 USD"), "row reads {cut:?}");
    // A negative cost is refused by its field; 150 per 1M API calls from today is saved.
    choose(&c, "[data-testid=cost-meter]", "API calls").await;
    type_into(&c, "[data-testid=cost-price]", "-5").await;
    click(&c, "[data-testid=cost-save]").await;
    wait_text(&c, ".mantine-InputWrapper-error", |t| t == "a unit cost cannot be negative").await;
    replace_text(&c, "[data-testid=cost-price]", "150").await;
    click(&c, "[data-testid=cost-save]").await;
    let added = wait_text(&c, "[data-testid=cost-row-api_calls-all-2026-11-24]", |t| !t.is_empty()).await;
    assert!(added.contains("Nov 24, 2026") && added.contains("150 USD"), "row reads {added:?}");
    wait_text(&c, "[data-testid=cost-row-api_calls-all-2025-01-01]", |t| t.contains("Nov 24, 2026")).await;
    screenshot(&c, "costs.png").await;
    let exported = cli_json(&workspace, &["export", "catalog"]);
    let saved = exported["costs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["meter"] == "api_calls" && r["from"] == "2026-11-24")
        .cloned();
    assert_eq!(saved.map(|r| r["unit_cost"].clone()), Some(json!("0.00015")));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_dashboard_shows_the_reports_figures_and_opens_a_customer_worth_a_look() {
    let (tmp, driver) = sandbox();
    // The demo as a first start has it: fourteen months of invoices before its usage.
    let workspace = tmp.path().join("history.meterdesk");
    let built = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["demo", workspace.to_str().unwrap(), "--as-of", "2026-11-24"])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let revenue = cli_json(&workspace, &["report", "revenue", "--from", "2025-12", "--to", "2026-11"]);
    let usd: Vec<&serde_json::Value> = revenue.as_array().unwrap().iter().filter(|r| r["currency"] == "USD").collect();
    let with_nrr = usd.iter().rev().find(|r| r["nrr"].is_string()).unwrap();
    let latest = usd.last().unwrap();
    let receivables = cli_json(&workspace, &["report", "receivables", "--on", "2026-11-24"]);
    let signals = cli_json(&workspace, &["report", "signals"]);

    let c = driver.session(&workspace).await;
    let shown = Instant::now();
    wait_text(&c, "[data-testid=stat-mrr]", |t| t == format!("{} USD", grouped(latest["mrr"].as_str().unwrap()))).await;
    eprintln!("dashboard painted {} ms after the window opened on it", shown.elapsed().as_millis());
    wait_text(&c, "[data-testid=stat-nrr]", |t| t == format!("{} %", with_nrr["nrr"].as_str().unwrap())).await;
    wait_text(&c, "[data-testid=stat-unbilled]", |t| {
        t == format!("{} USD", grouped(latest["unbilled"].as_str().unwrap()))
    })
    .await;
    for row in receivables.as_array().unwrap() {
        let currency = row["currency"].as_str().unwrap();
        let text = dom_text(&c, &format!("[data-testid=aging-{currency}]")).await;
        for field in ["not_due", "d1_30", "d31_60", "d61_90", "over_90"] {
            assert!(text.contains(&grouped(row[field].as_str().unwrap())), "{currency} {field}: {text}");
        }
    }
    let overdue = receivables.as_array().unwrap().iter().find(|r| r["currency"] == "USD").map(|r| r["overdue"].clone());
    if let Some(overdue) = overdue {
        wait_text(&c, "[data-testid=stat-overdue]", |t| t == format!("{} USD", grouped(overdue.as_str().unwrap())))
            .await;
    }
    // Each figure opens the list behind it, whose total is the figure: the MRR by customer...
    click(&c, "[data-testid=stat-mrr]").await;
    let mrr = grouped(latest["mrr"].as_str().unwrap());
    wait_text(&c, "[data-testid=figure-totals]", |t| t.ends_with(&mrr)).await;
    screenshot(&c, "figure-mrr.png").await;
    // ...a customer of which opens its page;
    let first = dom_text(&c, "[data-testid=figure-row-0]").await;
    click(&c, "[data-testid=figure-row-0] td").await;
    wait_text(&c, "[data-testid=customer-page-name]", |t| first.starts_with(t)).await;
    click(&c, "[data-testid=nav-dashboard]").await;
    // the oldest overdue invoices in US dollars, one of which opens that invoice.
    let usd = receivables.as_array().unwrap().iter().find(|r| r["currency"] == "USD").expect("USD owed");
    click(&c, "[data-testid=aging-USD-over90]").await;
    let over = grouped(usd["over_90"].as_str().unwrap());
    let totals = wait_text(&c, "[data-testid=figure-totals]", |t| t.ends_with(&over)).await;
    assert!(totals.starts_with("Total"), "{totals}");
    let number = wait_attr(&c, "[data-testid=figure-row-0]", "data-document", |d| d.starts_with("INV-")).await;
    click(&c, "[data-testid=figure-row-0] td").await;
    wait_text(&c, "[data-testid=invoice-number]", |t| t == number).await;
    // Its drawer closed, back to the dashboard.
    click(&c, ".mantine-Drawer-close").await;
    click(&c, "[data-testid=nav-dashboard]").await;
    wait_text(&c, "[data-testid=stat-mrr]", |t| !t.is_empty()).await;
    // Every signal of the report, and the power user running o3 at a loss among them.
    for s in signals.as_array().unwrap() {
        let id = format!("[data-testid=signal-{}-{}]", s["customer"].as_str().unwrap(), s["kind"].as_str().unwrap());
        assert!(dom_text(&c, &id).await.contains(s["reason"].as_str().unwrap()), "{id}");
    }
    let power =
        signals.as_array().unwrap().iter().find(|s| s["kind"] == "power_user").expect("a power user in the demo");
    screenshot(&c, "dashboard.png").await;
    // A signal opens the customer's page.
    let customer = power["customer"].as_str().unwrap();
    click(&c, &format!("[data-testid=signal-{customer}-power_user]")).await;
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == power["customer_name"].as_str().unwrap()).await;
    // Its page shows October's margin as the margin report gives it.
    let margin = cli_json(&workspace, &["report", "margin", "--period", "2026-10", "--customer", customer]);
    let m = &margin[0];
    let currency = m["currency"].as_str().unwrap();
    let text = wait_text(&c, &format!("[data-testid=customer-margin-{currency}]"), |t| !t.is_empty()).await;
    let expected = format!(
        "Margin {} {currency} ({} %)",
        grouped(m["margin"].as_str().unwrap()),
        m["margin_percent"].as_str().unwrap()
    );
    assert!(
        text.contains(&expected)
            && text.contains(&format!("Revenue {} {currency}", grouped(m["revenue"].as_str().unwrap()))),
        "{text} lacks {expected}"
    );
    // And its signals, with the same reasons.
    let listed = dom_text(&c, "[data-testid=customer-signal-list]").await;
    assert!(listed.contains(power["reason"].as_str().unwrap()), "{listed}");
    screenshot(&c, "customer-margin.png").await;

    // Opening the dashboard raised every signal into the inbox, once.
    let is_signal = |a: &&serde_json::Value| a["kind"] == "churn_risk" || a["kind"] == "power_user";
    let open = invoke(&c, "alerts_list", json!({ "acknowledged": false })).await;
    let raised: Vec<&serde_json::Value> = open.as_array().unwrap().iter().filter(is_signal).collect();
    assert_eq!(raised.len(), signals.as_array().unwrap().len(), "{open}");
    let alert = raised.iter().find(|a| a["kind"] == "power_user" && a["customer"] == customer).expect("raised");
    assert_eq!(alert["message"], power["reason"]);
    click(&c, "[data-testid=nav-dashboard]").await;
    click(&c, "[data-testid=alerts-bell]").await;
    let id = alert["id"].as_i64().unwrap();
    let text = wait_text(&c, &format!("[data-testid=alert-{id}]"), |t| !t.is_empty()).await;
    assert!(text.contains("Power user") && text.contains(power["reason"].as_str().unwrap()), "{text}");
    wait_settled(&c, &format!("[data-testid=alert-{id}]")).await;
    screenshot(&c, "inbox-signals.png").await;
    click(&c, &format!("[data-testid=alert-open-customer-{id}]")).await;
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == power["customer_name"].as_str().unwrap()).await;
    // The dashboard computed again (another visit) raises nothing new, acknowledged or not.
    click(&c, "[data-testid=nav-dashboard]").await;
    wait_text(&c, "[data-testid=stat-mrr]", |t| !t.is_empty()).await;
    let before: usize =
        wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |v| !v.is_empty()).await.parse().unwrap();
    let todo = dom_text(&c, "[data-testid=todo-alerts]").await;
    assert!(todo.ends_with(&before.to_string()), "the to-do counts the inbox's alerts: {todo} vs {before}");
    // The to-do opens the inbox.
    click(&c, "[data-testid=todo-alerts]").await;
    click(&c, &format!("[data-testid=alert-ack-{id}]")).await;
    wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |v| v == (before - 1).to_string()).await;
    let all = invoke(&c, "alerts_list", json!({ "acknowledged": true })).await;
    let signal_alerts = all.as_array().unwrap().iter().filter(is_signal).count();
    assert_eq!(signal_alerts, raised.len(), "{all}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn import_events_through_the_wizard_then_read_a_months_usage() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), false);
    // The file the open dialog answers with (the scoped folder's newest CSV).
    let events = tmp.path().join("home/saved/october.csv");
    std::fs::write(
        &events,
        "id,customer,type,timestamp\n\
         u1,globex-labs,api_calls,2026-10-05T12:00:00Z\n\
         u2,globex-labs,api_calls,2026-10-31T23:30:00-04:00\n\
         u3,globex-labs,api_calls,2026-11-01T00:30:00-04:00\n\
         u4,nobody,api_calls,2026-10-05T12:00:00Z\n",
    )
    .unwrap();
    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-usage]").await;
    click(&c, "[data-testid=import-browse]").await;
    wait_value(&c, "[data-testid=import-path]", &events.display().to_string()).await;
    click(&c, "[data-testid=import-preview]").await;
    let rejected = wait_text(&c, "[data-testid=import-preview-errors]", |t| !t.is_empty()).await;
    assert!(rejected.contains("no customer with id \"nobody\""), "preview rejects read {rejected:?}");
    click(&c, "[data-testid=import-run]").await;
    wait_text(&c, "[data-testid=import-counts]", |t| t == "3 accepted, 0 duplicates, 1 rejected").await;
    // The events list on the same page counts the new events at once.
    wait_text(&c, "[data-testid=explorer-total]", |t| t == "3 events").await;

    // The rejected row is saved beside the file, as written, to fix and import again.
    let rejects = tmp.path().join("home/saved/october-rejects.csv");
    wait_value(&c, "[data-testid=rejects-path]", &rejects.display().to_string()).await;
    click(&c, "[data-testid=rejects-save]").await;
    wait_text(&c, "[data-testid=rejects-saved]", |t| t.starts_with("Saved 1 rejected row to")).await;
    assert_eq!(
        std::fs::read_to_string(&rejects).unwrap(),
        "id,customer,type,timestamp\nu4,nobody,api_calls,2026-10-05T12:00:00Z\n"
    );
    // The rejection waits in the inbox until marked as seen (beside the signals the
    // dashboard raised: this demo's customers sent no events, all churn risks).
    click(&c, "[data-testid=alerts-bell]").await;
    let inbox = dom_text(&c, "[data-testid=inbox-rejected-1]").await;
    assert!(inbox.contains("Import #1 of october.csv: 1 row was rejected (3 accepted)"), "{inbox}");
    let before: usize =
        wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |v| !v.is_empty()).await.parse().unwrap();
    click(&c, "[data-testid=inbox-rejected-seen-1]").await;
    wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |n| n == (before - 1).to_string()).await;
    let left = c.find_all(Locator::Css("[data-testid=inbox-rejected-1]")).await.unwrap();
    assert!(left.is_empty(), "seen: no longer in the inbox");
    c.find(Locator::Css(".mantine-Drawer-close")).await.unwrap().click().await.unwrap();

    // October in the demo's zone (New York) holds u1 and u2, not u3. The month opens on the
    // last complete one (today is November 24th); the customer is found by name.
    choose(&c, "[data-testid=usage-meter]", "API calls").await;
    wait_text(&c, "[data-testid=usage-month]", |t| t == "October 2026").await;
    type_into(&c, "[data-testid=usage-customer]", "globex").await;
    choose(&c, "[data-testid=usage-customer]", "Globex Labs (globex-labs)").await;
    click(&c, "[data-testid=usage-look]").await;
    wait_text(&c, "[data-testid=usage-value]", |t| t == "2").await;
    let said = dom_text(&c, "[data-testid=usage-result]").await;
    assert!(said.contains("2 API calls") || said.contains("2 calls") || said.contains("in October 2026"), "{said}");
    assert!(said.contains("Oct 1 – 31, 2026") && said.contains("America/New_York"), "{said}");
    // The day-by-day chart draws a bar for each of the two days with calls.
    find(&c, "[data-testid=usage-chart] svg .recharts-bar-rectangle").await;
    screenshot(&c, "usage.png").await;

    // The import is in the history; nothing of it is invoiced, so it rolls back.
    let row = wait_text(&c, "[data-testid=import-row-1]", |t| t.contains("october.csv")).await;
    assert!(row.contains("completed"), "{row}");
    click(&c, "[data-testid=import-rollback-1]").await;
    click(&c, "[data-testid=rollback-confirm]").await;
    wait_text(&c, "[data-testid=import-row-1]", |t| t.contains("rolled back")).await;
    // The events list below counts again: the rolled-back events are gone from it.
    wait_text(&c, "[data-testid=explorer-total]", |t| t == "0 events").await;
    screenshot(&c, "import-history.png").await;
    click(&c, "[data-testid=usage-look]").await;
    wait_text(&c, "[data-testid=usage-value]", |t| t == "0").await;
    // Its ids went with it: the same file imports again, nothing a duplicate. (Written again,
    // it is the newest CSV of the folder, which the open dialog answers with.)
    std::fs::write(&events, std::fs::read(&events).unwrap()).unwrap();
    click(&c, "[data-testid=import-browse]").await;
    wait_value(&c, "[data-testid=import-path]", &events.display().to_string()).await;
    click(&c, "[data-testid=import-preview]").await;
    click(&c, "[data-testid=import-run]").await;
    wait_text(&c, "[data-testid=import-counts]", |t| t == "3 accepted, 0 duplicates, 1 rejected").await;
    wait_text(&c, "[data-testid=import-row-2]", |t| t.contains("october.csv")).await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn a_csv_with_other_column_names_is_mapped_saved_and_imported() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), false);
    let events = tmp.path().join("home/saved/gateway.csv");
    std::fs::write(
        &events,
        "event_id,account,kind,at,region\n\
         g1,globex-labs,api_calls,1791201600,eu\n\
         g2,initech-labs,api_calls,1791201601,us\n",
    )
    .unwrap();
    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-usage]").await;
    click(&c, "[data-testid=import-browse]").await;
    wait_value(&c, "[data-testid=import-path]", &events.display().to_string()).await;
    click(&c, "[data-testid=import-preview]").await;
    wait_text(&c, "[data-testid=import-mapping]", |t| t.contains("no column named \"id\", \"customer\"")).await;
    for (field, column) in [("id", "event_id"), ("customer", "account"), ("event_type", "kind"), ("timestamp", "at")] {
        choose(&c, &format!("[data-testid=mapping-{field}]"), column).await;
        wait_value(&c, &format!("[data-testid=mapping-{field}]"), column).await;
    }
    wait_text(&c, "[data-testid=import-preview-result]", |t| t.contains("2 valid, 0 rejected")).await;
    type_into(&c, "[data-testid=mapping-name]", "gateway export").await;
    click(&c, "[data-testid=mapping-save]").await;
    screenshot(&c, "import-mapping.png").await;
    click(&c, "[data-testid=import-run]").await;
    wait_text(&c, "[data-testid=import-counts]", |t| t == "2 accepted, 0 duplicates, 0 rejected").await;
    c.close().await.unwrap();

    // The mapping is kept in the workspace, for the CLI too.
    let listed = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", workspace.to_str().unwrap(), "--json", "mapping", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("gateway export"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn a_new_meter_previews_its_value_on_imported_usage_then_saves() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    // What the stored input_tokens meter says for gpt-4o: the new meter must agree.
    let cli = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", workspace.to_str().unwrap(), "--json", "usage", "--meter", "input_tokens"])
        .args(["--customer", "globex-labs", "--group", "gpt-4o"])
        .args(["--from", "2026-10-01T00:00:00-04:00", "--to", "2026-11-01T00:00:00-04:00"])
        .output()
        .unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let expected = expected["value"].as_str().unwrap().to_string();
    assert_ne!(expected, "0");

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-meters]").await;
    click(&c, "[data-testid=meter-new]").await;
    type_into(&c, "[data-testid=meter-code]", "gpt4o_input").await;
    type_into(&c, "[data-testid=meter-name]", "GPT-4o input tokens").await;
    type_into(&c, "[data-testid=meter-event]", "input_tokens").await;
    choose(&c, "[data-testid=meter-aggregation]", "sum of a property").await;
    type_into(&c, "[data-testid=meter-preview-customer]", "globex-labs").await;
    replace_text(&c, "[data-testid=meter-preview-month]", "2026-10").await;
    // Without its property the preview names what is missing.
    wait_text(&c, "[data-testid=meter-preview-problem]", |t| t.starts_with("Property: ")).await;
    type_into(&c, "[data-testid=meter-property]", "tokens").await;
    click(&c, "[data-testid=meter-filter-add]").await;
    type_into(&c, "[data-testid=meter-filter-key-0]", "model").await;
    type_into(&c, "[data-testid=meter-filter-value-0]", "gpt-4o").await;
    wait_text(&c, "[data-testid=meter-preview-value]", |t| t.replace(',', "") == expected).await;
    screenshot(&c, "meter-editor.png").await;
    click(&c, "[data-testid=meter-save]").await;
    wait_text(&c, "[data-testid=meter-row-gpt4o_input]", |t| t.contains("GPT-4o input tokens")).await;

    // A meter that counts stored events keeps how it computes.
    click(&c, "[data-testid=meter-row-input_tokens] td").await;
    choose(&c, "[data-testid=meter-aggregation]", "maximum of a property").await;
    click(&c, "[data-testid=meter-save]").await;
    wait_text(&c, "[data-testid=meter-refused]", |t| t.contains("already counts stored events")).await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_events_explorer_filters_and_scrolls_a_million_events() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let stored: i64 = rusqlite::Connection::open(&workspace)
        .unwrap()
        .query_row("SELECT sum(events) FROM event_chunks", [], |r| r.get(0))
        .unwrap();
    assert!(stored > 1_000_000);
    // Stark Labs' API calls on October 1st (New York), as the usage command counts them.
    let cli = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", workspace.to_str().unwrap(), "--json", "usage", "--meter", "api_calls"])
        .args(["--customer", "stark-labs", "--from", "2026-10-01T00:00:00-04:00", "--to", "2026-10-02T00:00:00-04:00"])
        .output()
        .unwrap();
    let calls: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let calls = calls["value"].as_str().unwrap().to_string();

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-usage]").await;
    let digits = |t: &str| t.chars().filter(char::is_ascii_digit).collect::<String>();
    wait_text(&c, "[data-testid=explorer-total]", |t| digits(t) == stored.to_string()).await;
    // Far down the list: the rows there are fetched, and only the visible ones are in the page.
    c.execute("document.querySelector('[data-testid=explorer-list]').scrollTop = 20000000;", vec![]).await.unwrap();
    wait_text(&c, "[data-testid=explorer-list]", |t| !t.contains('…') && t.contains("evt_")).await;
    let shown = c.find_all(Locator::Css("[data-testid=explorer-list] [role=listitem]")).await.unwrap().len();
    assert!(shown < 100, "{shown} rows in the page");

    type_into(&c, "[data-testid=explorer-customer]", "stark-labs").await;
    choose(&c, "[data-testid=explorer-meter]", "API calls").await;
    // One day, October 1st in New York, typed as the user writes it.
    type_into(&c, "[data-testid=explorer-from]", "Oct 1, 2026").await;
    type_into(&c, "[data-testid=explorer-to]", "Oct 1, 2026").await;
    wait_text(&c, "[data-testid=explorer-total]", |t| digits(t) == calls).await;
    let first = dom_text(&c, "[data-testid=explorer-list] [role=listitem]").await;
    assert!(first.contains("stark-labs") && first.contains("api_calls") && first.contains("Oct 1, 2026"), "{first}");
    screenshot(&c, "explorer.png").await;
    c.close().await.unwrap();
}

/// "5953.75" → "5,953.75", as the console groups digits.
fn grouped(amount: &str) -> String {
    meterdesk_engine::pdf::group_digits(amount)
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_invoices_page_previews_every_customer_and_explains_a_line() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let cli = |args: &[&str]| {
        cli_json(&workspace, &[["invoice", "preview", "--period", "2026-10"].as_slice(), args].concat())
    };
    let globex = cli(&["--customer", "globex-labs"]);
    let total = globex["total"].as_str().unwrap().to_string();
    let all = cli(&[]);
    let drafts = all.as_array().unwrap();
    // Amounts sort within a currency, currencies in order: the dearest in EUR comes first.
    let dearest = drafts
        .iter()
        .filter(|d| d["currency"] == "EUR")
        .max_by(|a, b| {
            let n = |d: &serde_json::Value| d["total"].as_str().unwrap().parse::<f64>().unwrap();
            n(a).total_cmp(&n(b))
        })
        .unwrap()["subscription"]
        .as_str()
        .unwrap()
        .to_string();

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-invoices]").await;
    // The month with the latest usage comes first: October (the demo's usage runs August to October).
    wait_value(&c, "[data-testid=drafts-month]", "2026-10").await;
    wait_text(&c, "[data-testid=drafts-total-sub_globex-labs]", |t| t == format!("{} USD", grouped(&total))).await;
    let rows = c.find_all(Locator::Css("[data-testid=drafts-table] tbody tr")).await.unwrap().len();
    assert_eq!(rows, drafts.len(), "one row per draft");
    // The per-currency sum is the engine's (the UI adds no money): the CLI's USD totals added exactly.
    let usd = drafts
        .iter()
        .filter(|d| d["currency"] == "USD")
        .map(|d| d["total"].as_str().unwrap().parse::<meterdesk_engine::Dec>().unwrap().0)
        .reduce(|a, b| a + b)
        .unwrap();
    wait_text(&c, "[data-testid=drafts-sum-USD]", |t| t == format!("{} USD", grouped(&usd.to_string()))).await;
    // Sorted by total, dearest first (within the first currency).
    click(&c, "[data-testid=drafts-sort-total]").await;
    let first = find(&c, "[data-testid=drafts-table] tbody tr").await.attr("data-testid").await.unwrap().unwrap();
    assert_eq!(first, format!("drafts-row-{dearest}"));
    screenshot(&c, "invoices.png").await;
    // Export: the save dialog answers in the scoped folder; one row per draft.
    click(&c, "[data-testid=drafts-export]").await;
    let csv = String::from_utf8(wait_file(&c, &tmp.path().join("home/saved/drafts-2026-10.csv")).await).unwrap();
    assert_eq!(csv.lines().count(), drafts.len() + 1);
    let row = csv.lines().find(|l| l.starts_with("globex-labs,")).unwrap();
    // Total, amount due, then the spend cap (none here).
    assert!(row.ends_with(&format!(",{total},{total},0.00")), "{row}");

    // Globex Labs' draft: every line expands into its arithmetic.
    click(&c, "[data-testid=drafts-row-sub_globex-labs] td").await;
    wait_text(&c, "[data-testid=draft-total]", |t| t == format!("{} USD", grouped(&total))).await;
    // The period's last day is the engine's, as the CLI gives it (2026-10-01 to 2026-10-31),
    // written as the user writes dates.
    assert_eq!((&globex["first_day"], &globex["last_day"]), (&json!("2026-10-01"), &json!("2026-10-31")));
    let period = "Period Oct 1 – 31, 2026".to_string();
    assert!(dom_text(&c, "[data-testid=draft-sub_globex-labs]").await.contains(&period), "{period}");
    let line = globex["lines"][1].clone();
    assert_eq!(line["meter"], "input_tokens");
    wait_text(&c, "[data-testid=draft-line-1-amount]", |t| t == grouped(line["amount"].as_str().unwrap())).await;
    assert!(!find(&c, "[data-testid=draft-line-1-steps]").await.is_displayed().await.unwrap(), "closed at first");
    click(&c, "[data-testid=draft-line-1] button").await;
    wait_displayed(&c, "[data-testid=draft-line-1-events]").await;
    let steps = dom_text(&c, "[data-testid=draft-line-1-steps]").await;
    let label = line["steps"][0]["label"].as_str().unwrap();
    assert!(steps.contains(label), "{steps} lacks {label}");
    // Its margin, and the draft's, as the engine computed them (the CLI's JSON).
    let percent = line["margin_percent"].as_str().expect("the demo prices input tokens' cost");
    wait_text(&c, "[data-testid=draft-line-1-margin]", |t| t == format!("{percent} %")).await;
    let margin = &globex["margin"];
    let shown = dom_text(&c, "[data-testid=draft-margin]").await;
    for part in [
        format!("Revenue {}", grouped(margin["revenue"].as_str().unwrap())),
        format!("usage cost {}", grouped(margin["cost"].as_str().unwrap())),
        format!(
            "margin {} USD ({} %)",
            grouped(margin["margin"].as_str().unwrap()),
            margin["margin_percent"].as_str().unwrap()
        ),
    ] {
        assert!(shown.contains(&part), "{shown} lacks {part}");
    }
    screenshot(&c, "draft.png").await;

    // The line's events, in the explorer.
    click(&c, "[data-testid=draft-line-1-events]").await;
    wait_value(&c, "[data-testid=explorer-customer]", "globex-labs").await;
    let digits = |t: &str| t.chars().filter(char::is_ascii_digit).collect::<String>();
    wait_text(&c, "[data-testid=explorer-total]", |t| {
        t.ends_with("events") && digits(t).parse::<u64>().unwrap_or(0) > 0
    })
    .await;
    let first = wait_text(&c, "[data-testid=explorer-list] [role=listitem]", |t| t.contains("globex-labs")).await;
    assert!(first.contains("input_tokens") && first.contains("Oct") && first.contains("2026"), "{first}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_plan_editor_prices_a_tier_change_on_real_usage_before_saving() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let run = cli_json;
    let preview = |ws: &Path| {
        run(ws, &["invoice", "preview", "--customer", "aperture-labs", "--period", "2026-10"])["total"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let now_total = preview(&workspace);
    // The expected total, independently: on a copy, the Pro plan with its first gpt-4o input tier at
    // 0.000005 (was 0.0000025), applied as a catalog, and Aperture Labs moved to that version.
    let copy = tmp.path().join("copy.meterdesk");
    std::fs::copy(&workspace, &copy).unwrap();
    let catalog = run(&copy, &["export", "catalog"]);
    let mut pro = catalog["plans"].as_array().unwrap().iter().find(|p| p["code"] == "pro").unwrap().clone();
    assert_eq!(pro["charges"][0]["tiers"][0]["unit_price"], "0.0000025");
    pro["charges"][0]["tiers"][0]["unit_price"] = json!("0.000005");
    let mut sub =
        catalog["subscriptions"].as_array().unwrap().iter().find(|s| s["id"] == "sub_aperture-labs").unwrap().clone();
    sub["plan_version"] = json!(2);
    let plans = tmp.path().join("plans.json");
    std::fs::write(&plans, json!({ "plans": [pro] }).to_string()).unwrap();
    run(&copy, &["apply", plans.to_str().unwrap()]);
    let subs = tmp.path().join("subs.json");
    std::fs::write(&subs, json!({ "subscriptions": [sub] }).to_string()).unwrap();
    run(&copy, &["apply", subs.to_str().unwrap()]);
    let dearer = preview(&copy);
    assert_ne!(dearer, now_total);

    let c = driver.session(&workspace).await;
    // Baseline for the echo figure below: the same keys into the settings' company name.
    click(&c, "[data-testid=nav-settings]").await;
    wait_displayed(&c, "[data-testid=settings-company]").await;
    let baseline = echo_of(&c, "[data-testid=settings-company]", " (edited)").await;
    eprintln!(
        "typing in a plain field (settings): busy {:.1} ms median, {:.1} ms worst per key",
        baseline.0, baseline.1
    );
    click(&c, "[data-testid=nav-plans]").await;
    click(&c, "[data-testid=plan-row-pro] td").await;
    wait_value(&c, "[data-testid=plan-trial-month]", "October 2026").await;
    let proposed = "[data-testid=plan-trial-sub_aperture-labs-proposed]";
    let difference = "[data-testid=plan-trial-sub_aperture-labs-difference]";
    wait_text(&c, proposed, |t| t.starts_with(&grouped(&now_total))).await;
    wait_text(&c, "[data-testid=plan-trial-table] thead", |t| t.contains("Draft (USD)")).await;
    wait_text(&c, difference, |t| t == "0.00 (0.0 %)").await;
    // Each calculator starts from its charge's real usage: the median of the Pro subscribers'
    // gpt-4o input tokens in October, as the CLI's drafts read them.
    let drafts = run(&workspace, &["invoice", "preview", "--period", "2026-10"]);
    let mut tokens: Vec<(f64, String)> = drafts
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["plan"] == "pro")
        .flat_map(|d| d["lines"].as_array().unwrap().iter())
        .filter(|l| l["meter"] == "input_tokens" && l["group"] == "gpt-4o")
        .map(|l| l["quantity"].as_str().unwrap().to_string())
        .filter(|q| q.parse::<f64>().unwrap() > 0.0)
        .map(|q| (q.parse::<f64>().unwrap(), q))
        .collect();
    tokens.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = tokens[(tokens.len() - 1) / 2].1.clone();
    wait_value(&c, "[data-testid=charge-0-calc]", &median).await;
    let said =
        dom_text(&c, "//*[@data-testid='charge-0-calc']/ancestor::div[contains(@class,'mantine-InputWrapper-root')]")
            .await;
    assert!(said.contains(&format!("The median usage of {} subscribers in October 2026", tokens.len())), "{said}");
    // Token prices read per million tokens: 0.0000025 a token is 2.5.
    wait_value(&c, "[data-testid=charge-0-tiers-0-unit-price]", "2.5").await;
    let header = dom_text(&c, "[data-testid=charge-0-tiers] thead").await;
    assert!(header.contains("Price per 1,000,000 tokens"), "{header}");
    // Typing echo while the panel prices real usage (a figure for the notes, not a pass/fail timing).
    let (median, worst) = echo_of(&c, "[data-testid=plan-name]", " (edited)").await;
    eprintln!("typing in the plan editor: busy {median:.1} ms median, {worst:.1} ms worst per key");
    replace_text(&c, "[data-testid=plan-name]", "Pro").await;
    // A tier price that is not a number is named under its cell, and nothing is priced.
    replace_text(&c, "[data-testid=charge-0-tiers-0-unit-price]", "5o").await;
    wait_text(&c, "[data-testid=plan-problems]", |t| t == "1 problem").await;
    find(&c, "[data-testid=charge-0-tiers-0-unit-price][aria-invalid=true]").await;
    // Listed beside the editor in words, not as a JSON path.
    let listed = dom_text(&c, "[data-testid=plan-problem-list]").await;
    assert!(listed.contains("Charge 1 (Input tokens, gpt-4o), tier 1, price: "), "{listed}");
    assert!(!find(&c, "[data-testid=plan-save]").await.is_enabled().await.unwrap());
    // 5 per million tokens is 0.000005 a token (what the catalog check below reads back).
    replace_text(&c, "[data-testid=charge-0-tiers-0-unit-price]", "5").await;
    wait_text(&c, "[data-testid=plan-problems]", |t| t == "Ready to save").await;
    wait_text(&c, proposed, |t| t.starts_with(&grouped(&dearer))).await;
    // The difference per customer and for all subscribers, signed, with its percent.
    let more = wait_text(&c, difference, |t| t.starts_with('+') && t.ends_with("%)")).await;
    let total = dom_text(&c, "[data-testid=plan-trial-total-USD]").await;
    assert!(total.starts_with("All ") && total.contains("USD+") && total.ends_with("%)"), "{total}; {more}");
    // The calculator prices 1.2M tokens on the edited tiers: 1,200,000 × 0.000005 = 6.00.
    replace_text(&c, "[data-testid=charge-0-calc]", "1200000").await;
    wait_text(&c, "[data-testid=charge-0-calc-amount]", |t| t == "6.00 USD").await;
    screenshot(&c, "plan-editor.png").await;

    // Leaving with the change unsaved asks first; keeping it stays in the editor.
    click(&c, "[data-testid=nav-customers]").await;
    wait_text(&c, "[data-testid=leave-unsaved]", |t| t.contains("your changes to plan Pro")).await;
    click(&c, "[data-testid=leave-stay]").await;
    wait_text(&c, "[data-testid=plan-problems]", |t| t == "Ready to save").await;

    // Saved with Ctrl+S from the field: a new version, while the subscribers keep theirs.
    type_into(&c, "[data-testid=charge-0-tiers-0-unit-price]", "\u{E009}s\u{E000}").await;
    wait_text(&c, "//h2[starts-with(normalize-space(.), 'Plan Pro')]/following-sibling::*[1]", |t| {
        t.contains("version 2")
    })
    .await;
    wait_text(&c, "[data-testid=plan-problems]", |t| t == "No changes").await;
    assert!(!find(&c, "[data-testid=plan-save]").await.is_enabled().await.unwrap(), "nothing to save");
    // Nothing unsaved: leaving asks nothing.
    click(&c, "[data-testid=plan-back]").await;
    wait_displayed(&c, "[data-testid=plan-row-pro]").await;
    c.close().await.unwrap();
    assert_eq!(preview(&workspace), now_total, "subscriptions keep version 1");
    let exported = run(&workspace, &["export", "catalog"]);
    let pro = exported["plans"].as_array().unwrap().iter().find(|p| p["code"] == "pro").unwrap().clone();
    assert_eq!(pro["charges"][0]["tiers"][0]["unit_price"], "0.000005");
}

/// Waits until the element's attribute satisfies `ok`, returning it.
async fn wait_attr(c: &Client, css: &str, attr: &str, ok: impl Fn(&str) -> bool) -> String {
    poll(c, css, async || {
        let value = find(c, css).await.attr(attr).await.ok().flatten().unwrap_or_default();
        if ok(&value) { Ok(value) } else { Err(format!("{css} still has {attr}={value:?}")) }
    })
    .await
}

/// Waits until a file exists with content, and reads it.
async fn wait_file(c: &Client, path: &Path) -> Vec<u8> {
    poll(c, &path.display().to_string(), async || match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(format!("{} was never written", path.display())),
    })
    .await
}

/// Calls a command as the webview can, with any arguments: its result, or
/// "error: " and the error's JSON.
async fn invoke(c: &Client, command: &str, args: serde_json::Value) -> serde_json::Value {
    c.execute_async(
        "const done = arguments[arguments.length - 1];
         window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1])
           .then(done, (e) => done('error: ' + JSON.stringify(e)));",
        vec![json!(command), args],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_webview_cannot_read_or_write_a_file_the_user_did_not_choose() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    cli_json(&workspace, &["invoice", "finalize", "--period", "2026-10", "--customer", "globex-labs"]);
    let number = cli_json(&workspace, &["invoice", "list"])[0]["number"].as_str().unwrap().to_string();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret.csv");
    std::fs::write(&secret, "id,customer,type,timestamp\ns1,globex-labs,api_calls,2026-10-05T12:00:00Z\n").unwrap();
    let c = driver.session(&workspace).await;
    find(&c, "[data-testid=nav-usage]").await;

    let refused = |reply: &serde_json::Value| {
        let text = reply.as_str().unwrap_or_default().to_string();
        assert!(text.starts_with("error: ") && text.contains("chosen in its file dialogs"), "{reply}");
    };
    // Writes anywhere but a chosen file: refused, nothing written.
    let pdf = outside.join("overwritten.pdf");
    refused(&invoke(&c, "document_pdf_save", json!({ "number": number, "path": pdf })).await);
    refused(&invoke(&c, "documents_pdf_save", json!({ "numbers": [number], "folder": outside })).await);
    refused(&invoke(&c, "invoices_csv_save", json!({ "from": "2026-01-01", "to": "2026-12-31", "path": pdf })).await);
    refused(&invoke(&c, "drafts_csv_save", json!({ "month": "2026-10", "path": pdf })).await);
    refused(&invoke(&c, "events_rejects_save", json!({ "importId": 1, "path": pdf })).await);
    // A way out of the scoped folder is outside it.
    let escape = tmp.path().join("home/saved/../../outside/escape.pdf");
    refused(&invoke(&c, "document_pdf_save", json!({ "number": number, "path": escape })).await);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "only the secret is there");
    // Reads: neither previewed nor imported.
    let columns = serde_json::Value::Null;
    refused(&invoke(&c, "events_preview", json!({ "path": secret, "format": null, "columns": columns })).await);
    refused(&invoke(&c, "events_preview", json!({ "path": "/etc/passwd", "format": "csv", "columns": null })).await);
    // No workspace created or opened but one of the recent list.
    let made = outside.join("made.meterdesk");
    let reply = invoke(&c, "workspace_open", json!({ "path": made })).await;
    assert!(reply.as_str().unwrap_or_default().contains("not a recently opened workspace"), "{reply}");
    assert!(!made.exists());
    let reply = invoke(&c, "workspace_create", json!({ "path": made })).await;
    assert!(reply.as_str().unwrap_or_default().starts_with("error: "), "{reply}");
    assert!(!made.exists());
    // A file the save dialog answered with (here: in the scoped folder) is written.
    let chosen = invoke(&c, "pdf_save_dialog", json!({ "title": "Save", "fileName": format!("{number}.pdf") })).await;
    assert_eq!(invoke(&c, "document_pdf_save", json!({ "number": number, "path": chosen })).await, json!(null));
    assert!(pdftotext(Path::new(chosen.as_str().unwrap())).contains(&number));

    // No browser context menu on the page; editable fields keep theirs (paste).
    let prevented = |css: &str| {
        format!(
            "const e = new MouseEvent('contextmenu', {{ bubbles: true, cancelable: true }});
             document.querySelector('{css}').dispatchEvent(e);
             return e.defaultPrevented;"
        )
    };
    assert_eq!(c.execute(&prevented("[data-testid=nav-usage]"), vec![]).await.unwrap(), json!(true));
    click(&c, "[data-testid=nav-usage]").await;
    find(&c, "[data-testid=import-path]").await;
    assert_eq!(c.execute(&prevented("[data-testid=import-path]"), vec![]).await.unwrap(), json!(false));
    c.close().await.unwrap();
}

fn pdftotext(path: &Path) -> String {
    let out = Command::new("pdftotext").args(["-layout"]).arg(path).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn the_review_step_finalizes_an_invoice_then_its_pdf_is_saved_it_is_credited_and_paid() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let saved = tmp.path().join("home/saved");
    let cli = |args: &[&str]| cli_json(&workspace, args);
    let draft = cli(&["invoice", "preview", "--period", "2026-10", "--customer", "globex-labs"]);
    let total = draft["total"].as_str().unwrap().to_string();

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-invoices]").await;
    wait_value(&c, "[data-testid=drafts-month]", "2026-10").await;
    click(&c, "[data-testid=drafts-finalize]").await;
    // The advance fees side lists the fee-only drafts the CLI gives, then back to the periods' invoices.
    wait_displayed(&c, "[data-testid=review-row-sub_globex-labs]").await;
    let advance = cli(&["invoice", "preview", "--period", "2026-10", "--advance"]);
    let advance = advance.as_array().unwrap();
    assert!(!advance.is_empty());
    click(&c, "//label[normalize-space(.)='Advance fees']").await;
    wait_displayed(&c, "[data-testid=review-table][data-kind=advance]").await;
    let rows = c.find_all(Locator::Css("[data-testid=review-table] tbody tr")).await.unwrap().len();
    assert_eq!(rows, advance.len(), "one row per advance draft");
    click(&c, "//label[normalize-space(.)='Period invoices']").await;
    // Every October period has ended on November 24th: all are chosen at first; keep Globex Labs only.
    wait_displayed(&c, "[data-testid=review-table][data-kind=period] [data-testid=review-row-sub_globex-labs]").await;
    set_checked(&c, "[data-testid=review-all]", false).await;
    wait_text(&c, "[data-testid=review-confirm]", |t| t == "Finalize 0 invoices").await;
    click(&c, "[data-testid=review-pick-sub_globex-labs]").await;
    wait_text(&c, "[data-testid=review-totals]", |t| t == format!("1 × · {} USD", grouped(&total))).await;
    screenshot(&c, "finalize-review.png").await;
    click(&c, "[data-testid=review-confirm]").await;
    wait_text(&c, "[data-testid=review-numbers]", |t| t == "INV-2026-00001").await;
    click(&c, "[data-testid=review-close]").await;

    // The new invoice opens: frozen at the draft's total, open until due.
    wait_text(&c, "[data-testid=invoice-number]", |t| t == "INV-2026-00001").await;
    wait_text(&c, "[data-testid=invoice-total]", |t| t == format!("{} USD", grouped(&total))).await;
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "open").await;
    click(&c, "[data-testid=invoice-tab-pdf]").await;
    wait_attr(&c, "[data-testid=pdf-preview]", "data-pages", |p| p == "1").await;
    screenshot(&c, "invoice-pdf.png").await;

    // Save PDF: the file is the CLI's PDF of the same invoice, byte for byte.
    // The dialog suggests the number and the customer's name.
    click(&c, "[data-testid=invoice-pdf-save]").await;
    let pdf = wait_file(&c, &saved.join("INV-2026-00001 Globex Labs.pdf")).await;
    // The toast offers to show it in its folder.
    wait_displayed(&c, "[data-testid=show-in-folder]").await;
    let from_cli = tmp.path().join("cli.pdf");
    cli(&["invoice", "pdf", "INV-2026-00001", "--out", from_cli.to_str().unwrap()]);
    assert_eq!(pdf, std::fs::read(&from_cli).unwrap(), "the window saves the invoice's one PDF");
    let text = pdftotext(&saved.join("INV-2026-00001 Globex Labs.pdf"));
    for needle in ["INV-2026-00001", "Globex Labs", "2026-10-01 to 2026-10-31", &format!("{} USD", grouped(&total))] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    // A goodwill credit of 10.00 (tax included) lowers what is owed.
    click(&c, "[data-testid=invoice-credit]").await;
    click(&c, "//label[normalize-space(.)='An amount']").await;
    type_into(&c, "[data-testid=credit-amount]", "10.00").await;
    type_into(&c, "[data-testid=credit-reason]", "Goodwill").await;
    click(&c, "[data-testid=credit-confirm]").await;
    wait_text(&c, "[data-testid=invoice-tab-credits]", |t| t == "Credit notes (1)").await;
    let owed: i64 = total.replace('.', "").parse::<i64>().unwrap() - 1000;
    let owed = format!("{}.{:02}", owed / 100, owed % 100);
    wait_text(&c, "[data-testid=invoice-outstanding]", |t| t == format!("owed {}", grouped(&owed))).await;
    let note = cli(&["invoice", "pdf", "CN-2026-00001", "--out", tmp.path().join("cn.pdf").to_str().unwrap()]);
    assert!(note["path"].as_str().is_some());
    assert!(pdftotext(&tmp.path().join("cn.pdf")).contains("10.00 USD"));

    // A payment of part of it: prefilled with what is owed, refused past it under
    // its field, then 100.00 by bank transfer after a confirmation that says what is left.
    let grouped_owed = grouped(&owed);
    click(&c, "[data-testid=invoice-mark-paid]").await;
    wait_value(&c, "[data-testid=payment-amount]", &owed).await;
    let owed_cents: i64 = owed.replace('.', "").parse().unwrap();
    let amount = |cents: i64| format!("{}.{:02}", cents / 100, cents % 100);
    replace_text(&c, "[data-testid=payment-amount]", &amount(owed_cents + 1)).await;
    type_into(&c, "[data-testid=payment-reference]", "wire 4470").await;
    click(&c, "[data-testid=payment-next]").await;
    click(&c, "[data-testid=payment-confirm]").await;
    wait_text(&c, "//*[contains(@class,'mantine-InputWrapper-error')]", |t| t.contains("still owed")).await;
    replace_text(&c, "[data-testid=payment-amount]", "100.00").await;
    click(&c, "[data-testid=payment-next]").await;
    let left = amount(owed_cents - 10000);
    wait_text(&c, "[data-testid=payment-confirm-text]", |t| {
        t.contains(&format!("{} USD will still be owed", grouped(&left)))
    })
    .await;
    screenshot(&c, "payment-confirm.png").await;
    click(&c, "[data-testid=payment-confirm]").await;
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "partially_paid").await;
    wait_text(&c, "[data-testid=invoice-outstanding]", |t| t == format!("owed {}", grouped(&left))).await;
    assert_eq!(cli(&["invoice", "list"])[0]["standing"], "partially_paid");
    // Undone: reversed with its reason, listed still; what it paid is owed again.
    click(&c, "[data-testid=invoice-tab-payments]").await;
    click(&c, "[data-testid=payment-undo-1]").await;
    type_into(&c, "[data-testid=reverse-reason]", "recorded on the wrong invoice").await;
    click(&c, "[data-testid=reverse-confirm]").await;
    wait_text(&c, "[data-testid=payment-reversed-1]", |t| t == "reversed: recorded on the wrong invoice").await;
    wait_text(&c, "[data-testid=invoice-outstanding]", |t| t == format!("owed {grouped_owed}")).await;
    screenshot(&c, "invoice-payments.png").await;
    // Then all of it, as prefilled: paid; the audit trail says so.
    click(&c, "[data-testid=invoice-mark-paid]").await;
    wait_value(&c, "[data-testid=payment-amount]", &owed).await;
    type_into(&c, "[data-testid=payment-reference]", "wire 4471").await;
    click(&c, "[data-testid=payment-next]").await;
    wait_text(&c, "[data-testid=payment-confirm-text]", |t| t.contains("Nothing will be left owed.")).await;
    click(&c, "[data-testid=payment-confirm]").await;
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "paid").await;
    click(&c, "[data-testid=invoice-tab-trail]").await;
    // The trail in sentences, with who and when (the workspace's zone, the user's format).
    let trail =
        wait_text(&c, "[data-testid=invoice-trail]", |t| t.contains("reference wire 4471: paid in full.")).await;
    assert!(trail.contains("Finalized INV-2026-00001 for "), "{trail}");
    assert!(trail.contains("Recorded a payment (#1) of 100.00 USD on INV-2026-00001"), "{trail}");
    assert!(
        trail.contains("Reversed payment #1 of INV-2026-00001 (100.00 USD): recorded on the wrong invoice."),
        "{trail}"
    );
    assert!(trail.contains("Issued credit note CN-2026-00001 on INV-2026-00001 for 10.00: Goodwill."), "{trail}");
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    assert!(user.is_empty() || trail.contains(&format!("By {user}, Nov 24, 2026")), "{trail}");
    screenshot(&c, "invoice-trail.png").await;
    let shown = cli(&["invoice", "show", "INV-2026-00001"]);
    assert_eq!(shown["paid"]["reference"], "wire 4471");
    assert_eq!(shown["paid"]["date"], shown["issue_date"], "paid on the issue date the form proposed");

    // Paid in full, credited 5.00 more: that much was overpaid, into the customer's wallet.
    click(&c, "[data-testid=invoice-credit]").await;
    click(&c, "//label[normalize-space(.)='An amount']").await;
    type_into(&c, "[data-testid=credit-amount]", "5.00").await;
    click(&c, "//label[normalize-space(.)='Into their wallet']").await;
    type_into(&c, "[data-testid=credit-reason]", "Late delivery").await;
    click(&c, "[data-testid=credit-confirm]").await;
    wait_text(&c, "[data-testid=invoice-tab-credits]", |t| t == "Credit notes (2)").await;
    click(&c, "[data-testid=invoice-tab-credits]").await;
    wait_text(&c, "//tbody/tr[2]/td[@data-testid='credit-note-refund']", |t| t == "5.00 to wallet").await;
    assert_eq!(cli(&["wallet", "balance", "--customer", "globex-labs"])["balance"], "5.00");
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "paid").await;

    // The register lists it as paid; every invoice shown saves into one folder.
    c.find(Locator::Css(".mantine-Drawer-close")).await.unwrap().click().await.unwrap();
    wait_text(&c, "[data-testid=register-standing-INV-2026-00001]", |t| t == "paid").await;
    click(&c, "[data-testid=register-export-pdfs]").await;
    wait_file(&c, &saved.join("INV-2026-00001.pdf")).await;
    screenshot(&c, "register.png").await;
    wait_text(&c, "[data-testid=register-owed-INV-2026-00001]", |t| t == "0.00 USD").await;

    // At 1024×700 nothing that matters is cut: numbers, statuses and amounts fit their cells.
    c.set_window_size(1024, 700).await.unwrap();
    poll(&c, "the register fits 1024 px", async || {
        let cut = c
            .execute(
                "const table = document.querySelector('[data-testid=register-table]');
                 const cut = [...table.querySelectorAll('tbody td')]
                    .filter((td) => td.style.whiteSpace === 'nowrap' && td.scrollWidth > td.clientWidth + 1)
                    .map((td) => td.textContent);
                 for (const label of table.querySelectorAll('.mantine-Badge-label')) {
                    if (label.scrollWidth > label.clientWidth + 1) cut.push('badge ' + label.textContent);
                 }
                 const main = document.querySelector('main');
                 if (table.getBoundingClientRect().right > main.getBoundingClientRect().right + 1) cut.push('the table is wider than the page');
                 return cut;",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        if cut.as_array().is_some_and(|a| a.is_empty()) { Ok(()) } else { Err(format!("cut at 1024 px: {cut}")) }
    })
    .await;
    screenshot(&c, "register-1024.png").await;
    // The credit notes, listed on their own.
    click(&c, "[data-testid=invoices-tab-credit-notes]").await;
    let note = dom_text(&c, "[data-testid=credit-note-row-CN-2026-00001]").await;
    assert!(note.contains("INV-2026-00001") && note.contains("−10.00 USD") && note.contains("Goodwill"), "{note}");
    c.set_window_size(1280, 800).await.unwrap();
    click(&c, "[data-testid=invoices-tab-finalized]").await;

    // The accountants' CSV of what is shown (issued on November 24th): the invoice's rows add up
    // to its total, and the credit note issued that day is there too, taken off.
    click(&c, "[data-testid=register-export-csv]").await;
    click(&c, "[data-testid=register-csv-save]").await;
    let csv = String::from_utf8(wait_file(&c, &saved.join("invoices-2026-11-24-2026-11-24.csv")).await).unwrap();
    // The last columns: gross, document, its type, its date.
    let gross_of = |kind: &str| -> i64 {
        csv.lines()
            .skip(1)
            .map(|l| l.rsplit(',').collect::<Vec<_>>())
            .filter(|cols| cols[1] == kind)
            .map(|cols| cols[3].replace('.', "").parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(gross_of("invoice").to_string(), total.replace('.', ""), "{csv}");
    assert!(gross_of("credit_note") < 0, "{csv}");

    // The drafts say which period is invoiced (the export closed its dialog).
    click(&c, "[data-testid=invoices-tab-drafts]").await;
    wait_text(&c, "[data-testid=drafts-invoiced-sub_globex-labs]", |t| t == "INV-2026-00001").await;

    // Settings show the demo's logo, which the invoice printed.
    click(&c, "[data-testid=nav-settings]").await;
    poll(&c, "settings-logo", async || {
        let width = c
            .execute(
                "const img = document.querySelector('[data-testid=settings-logo] img');
                 if (img) img.scrollIntoView();
                 return img && img.complete ? img.naturalWidth : 0;",
                vec![],
            )
            .await
            .unwrap();
        if width == json!(360) { Ok(()) } else { Err(format!("the logo was not shown (natural width {width})")) }
    })
    .await;
    c.execute("document.querySelector('[data-testid=settings-verify]').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&c, "settings-logo.png").await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn credits_granted_in_a_wallet_are_applied_when_the_invoice_is_finalized() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let cli = |args: &[&str]| cli_json(&workspace, args);
    let draft = cli(&["invoice", "preview", "--period", "2026-10", "--customer", "hooli-labs"]);
    let total = draft["total"].as_str().unwrap().to_string();
    let cents: i64 = total.replace('.', "").parse().unwrap();
    assert!(cents > 10_000, "Hooli Labs' October is more than the 100.00 granted: {total}");
    let due = cents - 10_000;
    let due = format!("{}.{:02}", due / 100, due % 100);

    // A trial credit granted on the 20th, its last day the 22nd: expired by now.
    let trial = ["wallet", "grant", "--customer", "hooli-labs", "--amount", "20", "--kind", "free", "--id", "trial"];
    cli_json_at("2026-11-20T15:00:00Z", &workspace, &[trial.as_slice(), &["--expires", "2026-11-22"]].concat());

    // The overview lists the demo's four wallets and Hooli Labs' empty one.
    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-wallets]").await;
    wait_text(&c, "[data-testid=wallet-row-balance-hooli-labs]", |t| t == "0.00 USD").await;
    let rows = c.find_all(Locator::Css("[data-testid=wallets-table] tbody tr")).await.unwrap().len();
    assert_eq!(rows, 5);
    screenshot(&c, "wallets-overview.png").await;

    // Open Hooli Labs' wallet (its balance over time: 20.00, then nothing) and grant 100.00 of free credit.
    type_into(&c, "[data-testid=wallets-customer]", "hooli-labs").await;
    click(&c, "[data-testid=wallets-open]").await;
    wait_text(&c, "[data-testid=wallet-balance]", |t| t == "0.00 USD").await;
    wait_displayed(&c, "[data-testid=wallet-chart]").await;
    wait_attr(&c, "[data-testid=grant-row-trial]", "data-remaining", |r| r == "0.00").await;
    click(&c, "[data-testid=wallet-grant]").await;
    type_into(&c, "[data-testid=grant-amount]", "100.001").await;
    click(&c, "//label[normalize-space(.)='Free credit']").await;
    click(&c, "[data-testid=grant-confirm]").await;
    // A third decimal is refused by its field, and nothing is granted.
    let refusal = wait_text(&c, ".mantine-InputWrapper-error", |t| t.contains("more decimals")).await;
    assert!(refusal.contains("USD"), "{refusal}");
    replace_text(&c, "[data-testid=grant-amount]", "100.00").await;
    click(&c, "[data-testid=grant-confirm]").await;
    wait_text(&c, "[data-testid=wallet-balance]", |t| t == "100.00 USD").await;
    wait_attr(&c, "[data-testid=grant-row-grant-2]", "data-remaining", |r| r == "100.00").await;
    // The projection takes November's draft so far (the period running on November 24th) and
    // September's and October's, ended and not finalized yet (finalizing them takes credit first).
    let cents = |month: &str, sub: &str| -> i64 {
        let draft = cli(&["invoice", "preview", "--period", month, "--customer", "hooli-labs", "--subscription", sub]);
        draft["total"].as_str().unwrap().replace('.', "").parse().unwrap()
    };
    // September holds two periods: pay as you go until the 15th, then Pro.
    let pending = cents("2026-09", "sub_hooli-labs_payg")
        + cents("2026-09", "sub_hooli-labs")
        + cents("2026-10", "sub_hooli-labs");
    let projected = 10_000 - cents("2026-11", "sub_hooli-labs") - pending;
    let sign = if projected < 0 { "-" } else { "" };
    let projected =
        format!("{sign}{} USD", grouped(&format!("{}.{:02}", projected.abs() / 100, projected.abs() % 100)));
    wait_text(&c, "[data-testid=wallet-projected]", |t| t == projected).await;
    poll(&c, "the grant form closes", async || {
        let open = c.find_all(Locator::Css("[data-testid=grant-confirm]")).await.map(|v| v.len()).unwrap_or(1);
        if open == 0 { Ok(()) } else { Err("the grant form is still open".to_string()) }
    })
    .await;
    screenshot(&c, "wallet-granted.png").await;

    // Finalize Hooli Labs' October from the review step: the credit pays 100.00 of it.
    click(&c, "[data-testid=nav-invoices]").await;
    wait_value(&c, "[data-testid=drafts-month]", "2026-10").await;
    click(&c, "[data-testid=drafts-finalize]").await;
    wait_displayed(&c, "[data-testid=review-table][data-kind=period] [data-testid=review-row-sub_hooli-labs]").await;
    set_checked(&c, "[data-testid=review-all]", false).await;
    wait_text(&c, "[data-testid=review-confirm]", |t| t == "Finalize 0 invoices").await;
    // The review says, before anything is finalized, what the credit takes and what is then due.
    wait_text(&c, "[data-testid=review-credits-sub_hooli-labs]", |t| t == "−100.00").await;
    wait_text(&c, "[data-testid=review-due-sub_hooli-labs]", |t| t == format!("{} USD", grouped(&due))).await;
    screenshot(&c, "review-credits.png").await;
    click(&c, "[data-testid=review-pick-sub_hooli-labs]").await;
    click(&c, "[data-testid=review-confirm]").await;
    wait_text(&c, "[data-testid=review-numbers]", |t| t == "INV-2026-00001").await;
    // The number in the result opens the invoice.
    click(&c, "[data-testid=review-number-INV-2026-00001]").await;
    wait_text(&c, "[data-testid=invoice-number]", |t| t == "INV-2026-00001").await;
    wait_text(&c, "[data-testid=draft-credits]", |t| t == "100.00 USD").await;
    wait_text(&c, "[data-testid=draft-amount]", |t| t == format!("{} USD", grouped(&due))).await;
    wait_text(&c, "[data-testid=invoice-outstanding]", |t| t == format!("owed {}", grouped(&due))).await;
    screenshot(&c, "wallet-invoice.png").await;

    // Back in the wallet: nothing left, and the ledger ties the consumption to the invoice.
    c.find(Locator::Css(".mantine-Drawer-close")).await.unwrap().click().await.unwrap();
    click(&c, "[data-testid=nav-wallets]").await;
    wait_text(&c, "[data-testid=wallet-row-balance-hooli-labs]", |t| t == "0.00 USD").await;
    click(&c, "[data-testid=wallet-row-hooli-labs] td").await;
    wait_text(&c, "[data-testid=wallet-balance]", |t| t == "0.00 USD").await;
    let ledger = wait_text(&c, "[data-testid=wallet-ledger]", |t| t.contains("INV-2026-00001")).await;
    assert!(ledger.contains("consumption") && ledger.contains("-100.00"), "{ledger}");
    screenshot(&c, "wallet-ledger.png").await;
    let balance = cli(&["wallet", "balance", "--customer", "hooli-labs"]);
    assert_eq!(balance["balance"], "0.00");

    // An automatic top-up below 50.00: saving the rule evaluates it at once (the
    // November draft leaves the projected balance negative), and the alerts inbox says so.
    click(&c, "[data-testid=wallet-rules]").await;
    type_into(&c, "[data-testid=rules-topup_below]", "50").await;
    type_into(&c, "[data-testid=rules-topup_amount]", "200").await;
    type_into(&c, "[data-testid=rules-expiry_days]", "ten").await;
    click(&c, "[data-testid=rules-save]").await;
    wait_text(&c, ".mantine-InputWrapper-error", |t| t.contains("whole number")).await;
    replace_text(&c, "[data-testid=rules-expiry_days]", "").await;
    // The signals the dashboard raised are in the inbox already; the top-up adds one.
    let before: usize =
        wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |v| !v.is_empty()).await.parse().unwrap();
    click(&c, "[data-testid=rules-save]").await;
    wait_text(&c, "[data-testid=wallet-balance]", |t| t == "200.00 USD").await;
    wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |n| n == (before + 1).to_string()).await;
    click(&c, "[data-testid=alerts-bell]").await;
    let message =
        wait_text(&c, "[data-kind=topup] [data-testid^=alert-message]", |t| t.contains("Topped up 200.00 USD")).await;
    assert!(message.contains("billed on the next invoice"), "{message}");
    screenshot(&c, "wallet-alerts.png").await;
    click(&c, "[data-testid=alerts-ack-all]").await;
    wait_attr(&c, "[data-testid=alerts-bell]", "data-open", |n| n == "0").await;
    let open = cli(&["wallet", "alerts"]);
    assert_eq!(open, serde_json::json!([]), "acknowledged in the window, gone on the CLI");
    c.find(Locator::Css(".mantine-Drawer-close")).await.unwrap().click().await.unwrap();

    // Take 50.00 off the top-up by hand; the ledger filtered to that grant shows its two entries.
    click(&c, "[data-testid=grant-menu-auto-topup-20261124]").await;
    click(&c, "//button[normalize-space(.)='Adjust…']").await;
    type_into(&c, "[data-testid=adjust-amount]", "-50.00").await;
    type_into(&c, "[data-testid=grant-action-reason]", "half refunded").await;
    click(&c, "[data-testid=grant-action-confirm]").await;
    wait_text(&c, "[data-testid=wallet-balance]", |t| t == "150.00 USD").await;
    choose(&c, "[data-testid=ledger-grant]", "auto-topup-20261124").await;
    poll(&c, "the ledger filtered to one grant", async || {
        let rows = c.find_all(Locator::Css("[data-testid=ledger-row]")).await.map(|v| v.len()).unwrap_or(0);
        if rows == 2 { Ok(()) } else { Err(format!("{rows} ledger rows shown")) }
    })
    .await;
    let filtered = dom_text(&c, "[data-testid=wallet-ledger]").await;
    assert!(filtered.contains("half refunded") && !filtered.contains("INV-2026-00001"), "{filtered}");
    let pdf = tmp.path().join("inv.pdf");
    cli(&["invoice", "pdf", "INV-2026-00001", "--out", pdf.to_str().unwrap()]);
    let text = pdftotext(&pdf);
    assert!(text.contains("Credits applied") && text.contains("100.00"), "{text}");
    assert!(text.contains(&format!("{} USD", grouped(&due))), "the PDF's amount due: {text}");

    // Credit the whole invoice from its sheet: the amount due is credited first, and
    // the 100.00 the wallet paid goes back to the grant it came from.
    click(&c, "[data-testid=nav-invoices]").await;
    click(&c, "[data-testid=invoices-tab-finalized]").await;
    click(&c, "[data-testid=register-row-INV-2026-00001] td:nth-child(2)").await;
    wait_text(&c, "[data-testid=invoice-number]", |t| t == "INV-2026-00001").await;
    click(&c, "[data-testid=invoice-credit]").await;
    type_into(&c, "[data-testid=credit-reason]", "Cancelled order").await;
    click(&c, "[data-testid=credit-confirm]").await;
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "credited").await;
    click(&c, "[data-testid=invoice-tab-credits]").await;
    wait_text(&c, "[data-testid=credit-note-returned]", |t| t == "100.00").await;
    screenshot(&c, "wallet-credit-note.png").await;
    let balance = cli(&["wallet", "balance", "--customer", "hooli-labs"]);
    assert_eq!(balance["balance"], "250.00", "150.00 and the 100.00 given back");
    let grant = balance["grants"].as_array().unwrap().iter().find(|g| g["id"] == "grant-2").unwrap().clone();
    assert_eq!(grant["remaining"], "100.00");
    let note = tmp.path().join("cn.pdf");
    cli(&["invoice", "pdf", "CN-2026-00001", "--out", note.to_str().unwrap()]);
    let text = pdftotext(&note);
    assert!(
        text.contains("Returned to prepaid credit") && text.contains("returns 100.00 USD to prepaid credit"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn a_message_queued_while_the_server_was_down_goes_when_the_console_starts() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let mail = |port: u16| {
        let file = tmp.path().join(format!("mail-{port}.json"));
        std::fs::write(
            &file,
            json!({ "workspace": { "mail": { "host": "localhost", "port": port, "security": "none",
                    "from": "Acme AI Billing <billing@acme.example>" } } })
            .to_string(),
        )
        .unwrap();
        cli_json(&workspace, &["apply", file.to_str().unwrap()]);
    };
    // Nobody listens: the invoice is queued with why, and the command says so.
    mail(free_port());
    cli_json(&workspace, &["invoice", "finalize", "--period", "2026-10", "--customer", "globex-labs"]);
    let queued = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .env("METERDESK_NOW", NOW)
        .args(["--workspace", workspace.to_str().unwrap(), "--json", "invoice", "send", "INV-2026-00001"])
        .output()
        .unwrap();
    assert_eq!(queued.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&queued.stdout).unwrap();
    assert_eq!(report["status"], "queued", "{report}");

    // The server is up when the console starts: the message goes without a click.
    let server = smtp::SmtpServer::start(smtp::Secure::Plain, None);
    mail(server.port);
    let c = driver.session(&workspace).await;
    let received = poll(&c, "the queued invoice at the server", async || {
        let received = server.received();
        if received.is_empty() { Err("nothing received yet".to_string()) } else { Ok(received) }
    })
    .await;
    assert_eq!(received.len(), 1);
    let message = mail_parser::MessageParser::default().parse(&received[0].raw).unwrap();
    assert_eq!(format!("<{}>", message.message_id().unwrap()), report["message_id"].as_str().unwrap());
    click(&c, "[data-testid=nav-invoices]").await;
    click(&c, "[data-testid=invoices-tab-outbox]").await;
    wait_text(&c, "[data-testid=outbox-invoice-INV-2026-00001-0] [data-testid=outbox-status]", |t| t == "sent").await;
    wait_text(&c, "[data-testid=outbox-invoice-INV-2026-00001-0]", |t| t.contains("2 attempts")).await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn an_invoice_is_sent_from_its_sheet_a_reminder_run_and_the_outbox_shows_both() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let server = smtp::SmtpServer::start(smtp::Secure::Plain, None);
    // The demo's mail relay is on this machine: here, the test's server. Terms of 0
    // days, and October finalized on November 10th: due then, 14 days overdue on the 24th.
    let settings = tmp.path().join("mail.json");
    std::fs::write(
        &settings,
        json!({ "workspace": { "payment_terms_days": 0, "mail": { "host": "localhost", "port": server.port,
                "security": "none", "from": "Acme AI Billing <billing@acme.example>" } } })
        .to_string(),
    )
    .unwrap();
    cli_json(&workspace, &["apply", settings.to_str().unwrap()]);
    cli_json_at(
        "2026-11-10T15:00:00Z",
        &workspace,
        &["invoice", "finalize", "--period", "2026-10", "--customer", "globex-labs"],
    );

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-invoices]").await;
    click(&c, "[data-testid=invoices-tab-finalized]").await;
    click(&c, "[data-testid=register-row-INV-2026-00001] td:nth-child(2)").await;
    wait_text(&c, "[data-testid=invoice-standing]", |t| t == "overdue").await;
    click(&c, "[data-testid=invoice-send]").await;
    wait_displayed(&c, "[data-testid=send-confirm]").await;
    screenshot(&c, "invoice-send.png").await;
    click(&c, "[data-testid=send-confirm]").await;
    click(&c, "[data-testid=invoice-tab-trail]").await;
    wait_text(&c, "[data-testid=invoice-trail]", |t| {
        t.contains("Sent invoice INV-2026-00001 to billing@globex-labs.test")
    })
    .await;
    // What the server received: to the billing address, with the invoice's one PDF.
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt, ["billing@globex-labs.test"]);
    let message = mail_parser::MessageParser::default().parse(&received[0].raw).unwrap();
    assert_eq!(message.subject(), Some("Invoice INV-2026-00001 from Acme AI"));
    let pdf = tmp.path().join("inv.pdf");
    cli_json(&workspace, &["invoice", "pdf", "INV-2026-00001", "--out", pdf.to_str().unwrap()]);
    assert_eq!(message.attachment(0).unwrap().contents(), std::fs::read(&pdf).unwrap().as_slice());
    // Sent once: a second send is refused in the dialog, and nothing goes out.
    click(&c, "[data-testid=invoice-send]").await;
    click(&c, "[data-testid=send-confirm]").await;
    wait_text(&c, "[data-testid=send-error]", |t| {
        t.contains("INV-2026-00001 was already sent on 2026-11-24 15:00 UTC")
    })
    .await;
    assert_eq!(server.received().len(), 1);
    click(&c, ".mantine-Modal-close").await;
    wait_gone(&c, ".mantine-Modal-content").await;
    click(&c, ".mantine-Drawer-close").await;
    wait_gone(&c, ".mantine-Drawer-content").await;

    // The reminders due today: the first level for the invoice; run them, then the outbox shows both.
    click(&c, "[data-testid=invoices-tab-outbox]").await;
    wait_text(&c, "[data-testid=reminders-preview]", |t| {
        t.contains("INV-2026-00001") && t.contains("1 (14 days overdue)")
    })
    .await;
    screenshot(&c, "reminders-preview.png").await;
    click(&c, "[data-testid=reminders-run]").await;
    wait_displayed(&c, "[data-testid=reminders-none]").await;
    wait_text(&c, "[data-testid=outbox-reminder-INV-2026-00001-1] [data-testid=outbox-status]", |t| t == "sent").await;
    wait_text(&c, "[data-testid=outbox-invoice-INV-2026-00001-0] [data-testid=outbox-status]", |t| t == "sent").await;
    screenshot(&c, "outbox.png").await;
    let received = server.received();
    assert_eq!(received.len(), 2);
    let reminder = mail_parser::MessageParser::default().parse(&received[1].raw).unwrap();
    assert_eq!(reminder.subject(), Some("Reminder: invoice INV-2026-00001 is overdue"));
    let listed = cli_json(&workspace, &["outbox", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // The customer's statement from its page: the balance the CLI gives, sent by e-mail.
    let statement =
        cli_json(&workspace, &["customers", "statement", "globex-labs", "--from", "2026-01-01", "--to", "2026-11-24"]);
    let owed = statement["currencies"][0]["total_owed"].as_str().unwrap().to_string();
    click(&c, "[data-testid=nav-customers]").await;
    type_into(&c, "[data-testid=customer-search]", "globex-labs").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;
    click(&c, "[data-testid=customer-row-globex-labs]").await;
    click(&c, "[data-testid=customer-statement]").await;
    wait_text(&c, "[data-testid=statement-owed]", |t| t == grouped(&owed)).await;
    wait_text(&c, "[data-testid=statement-closing]", |t| t == grouped(&owed)).await;
    screenshot(&c, "statement.png").await;
    click(&c, "[data-testid=statement-send]").await;
    let received = poll(&c, "the statement at the server", async || {
        let received = server.received();
        if received.len() == 3 { Ok(received) } else { Err(format!("{} messages", received.len())) }
    })
    .await;
    let sent = mail_parser::MessageParser::default().parse(&received[2].raw).unwrap();
    assert_eq!(sent.subject(), Some("Statement of account from Acme AI"));
    let pdf = tmp.path().join("statement.pdf");
    let args = ["customers", "statement", "globex-labs", "--from", "2026-01-01", "--to", "2026-11-24"];
    cli_json(&workspace, &[&args[..], &["--out", pdf.to_str().unwrap()]].concat());
    assert_eq!(sent.attachment(0).unwrap().contents(), std::fs::read(&pdf).unwrap().as_slice());
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn a_finalize_run_is_backed_up_and_restored_from_settings() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), false);
    // October finalized: the run took a backup first.
    let done = cli_json(&workspace, &["invoice", "finalize", "--period", "2026-10"]);
    let finalized = done.as_array().unwrap().len();
    assert!(finalized > 10, "{finalized} invoices");
    let backups = cli_json(&workspace, &["backups"]);
    let name = backups[0]["name"].as_str().unwrap().to_string();
    assert!(name.ends_with("-before-finalize.meterdesk"), "{backups}");

    let c = driver.session(&workspace).await;
    find(&c, "[data-testid=nav-dashboard]").await.send_keys("\u{E009}9\u{E000}").await.unwrap();
    wait_value(&c, "[data-testid=settings-backups-keep]", "10").await;
    click(&c, &format!("[data-testid=\"backup-restore-{name}\"]")).await;
    screenshot(&c, "settings-backups.png").await;
    click(&c, "[data-testid=backup-restore-confirm]").await;
    wait_text(&c, ".mantine-Notification-description", |t| t.starts_with(&format!("Restored {name}."))).await;
    // The workspace is as it was before the run; what it held is kept as a backup of its own.
    assert_eq!(cli_json(&workspace, &["invoice", "list"]), serde_json::json!([]));
    let after = cli_json(&workspace, &["backups"]);
    assert!(
        after.as_array().unwrap().iter().any(|b| b["name"].as_str().unwrap().ends_with("-before-restore.meterdesk")),
        "{after}"
    );
    wait_displayed(&c, "[data-testid=backups-table]").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "custom-protocol"), ignore = "needs --features custom-protocol; scripts/test.sh runs it")]
async fn a_customers_page_changes_its_plan_mid_month_ends_it_and_bills_late_usage() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    // October finalized; then 5,000,000 late input tokens of Aperture Labs' land in it.
    cli_json(&workspace, &["invoice", "finalize", "--period", "2026-10"]);
    let late = tmp.path().join("late.ndjson");
    std::fs::write(
        &late,
        json!({"id": "late-e2e-1", "customer": "aperture-labs", "type": "input_tokens",
               "timestamp": "2026-10-20T12:00:00Z", "properties": {"model": "gpt-4o", "tokens": 5_000_000}})
        .to_string(),
    )
    .unwrap();
    let imported = cli_json(&workspace, &["import", late.to_str().unwrap()]);
    assert_eq!(imported["late"], 1, "{imported}");
    let waiting = cli_json(&workspace, &["invoice", "late"]);
    let number = waiting[0]["invoice"].as_str().unwrap().to_string();

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-customers]").await;
    // The list is virtual (rows are placed by transforms): a search puts the customer first.
    type_into(&c, "[data-testid=customer-search]", "aperture-labs").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;
    let opened = Instant::now();
    click(&c, "[data-testid=customer-row-aperture-labs]").await;
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == "Aperture Labs").await;
    wait_displayed(&c, "[data-testid=customer-usage]").await;
    eprintln!("customer page painted {} ms after the click (demo workspace)", opened.elapsed().as_millis());
    let subs = dom_text(&c, "[data-testid=subscriptions-table]").await;
    assert!(subs.contains("Pro") && subs.contains("active"), "{subs}");
    let owed = dom_text(&c, "[data-testid=card-owed]").await;
    assert!(owed.contains("USD"), "{owed}");
    let adds = waiting[0]["adds"]["total"].as_str().unwrap();
    let late_text = dom_text(&c, "[data-testid=customer-late]").await;
    assert!(late_text.contains(&format!("adds {} USD", grouped(adds))), "{late_text}");
    screenshot(&c, "customer-page.png").await;

    // Late usage reaches the inbox, which leads to the list: one adjustment, then nothing waits.
    click(&c, "[data-testid=alerts-bell]").await;
    let inbox = dom_text(&c, "[data-testid=inbox-late]").await;
    assert!(inbox.contains("1 invoice has usage that arrived after it was issued"), "{inbox}");
    click(&c, "[data-testid=inbox-late-open]").await;
    let row = dom_text(&c, &format!("[data-testid=late-row-{number}]")).await;
    assert!(row.contains("Aperture Labs") && row.contains(&format!("{} USD", grouped(adds))), "{row}");
    screenshot(&c, "late-usage.png").await;
    click(&c, &format!("[data-testid=late-issue-{number}]")).await;
    wait_text(&c, "[data-testid=late-issued]", |t| t.contains(&format!("for the late usage of {number}"))).await;
    wait_displayed(&c, "[data-testid=late-empty]").await;
    assert_eq!(cli_json(&workspace, &["invoice", "late"]), json!([]));
    click(&c, "[data-testid=nav-customers]").await;
    type_into(&c, "[data-testid=customer-search]", "aperture-labs").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;
    click(&c, "[data-testid=customer-row-aperture-labs]").await;
    wait_text(&c, "[data-testid=customer-invoices]", |t| t.contains("late usage")).await;

    // A change into invoiced October is refused next to the date; from Nov 15 both drafts show first.
    click(&c, "[data-testid=subscription-change-sub_aperture-labs]").await;
    choose(&c, "[data-testid=subscription-plan]", "Pay as you go (payg)").await;
    replace_text(&c, "[data-testid=subscription-date]", "2026-10-20").await;
    click(&c, "[data-testid=subscription-preview]").await;
    wait_text(&c, "[role=dialog]", |t| t.contains("it can end on 2026-11-01 at the earliest")).await;
    replace_text(&c, "[data-testid=subscription-date]", "2026-11-15").await;
    click(&c, "[data-testid=subscription-preview]").await;
    let preview = wait_text(&c, "[data-testid=change-preview]", |t| t.contains("Pay as you go")).await;
    assert!(preview.contains("14 of 30 days") && preview.contains("16 of 30 days"), "{preview}");
    screenshot(&c, "plan-change-preview.png").await;
    click(&c, "[data-testid=subscription-save]").await;
    wait_displayed(&c, "[data-testid=subscription-row-sub_aperture-labs_2]").await;
    let subs = dom_text(&c, "[data-testid=subscriptions-table]").await;
    assert!(subs.contains("Nov 15, 2026not included"), "{subs}");

    // End the new one on Dec 1.
    click(&c, "[data-testid=subscription-end-sub_aperture-labs_2]").await;
    replace_text(&c, "[data-testid=subscription-date]", "2026-12-01").await;
    click(&c, "[data-testid=subscription-save]").await;
    wait_text(&c, "[data-testid=subscription-row-sub_aperture-labs_2]", |t| t.contains("Dec 1, 2026not included"))
        .await;
    let listed = cli_json(&workspace, &["subscription", "list", "--customer", "aperture-labs"]);
    let ends: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["end"].as_str().unwrap_or("")).collect();
    assert_eq!(ends, ["2026-11-15", "2026-12-01"]);
    screenshot(&c, "customer-subscriptions.png").await;

    // Onboarding: a new customer, then on a plan from its page.
    click(&c, "[data-testid=nav-customers]").await;
    click(&c, "[data-testid=customer-new]").await;
    type_into(&c, "[data-testid=customer-id]", "hooli").await;
    type_into(&c, "[data-testid=customer-name]", "Hooli").await;
    click(&c, "[data-testid=customer-save]").await;
    // A new customer's page opens at once, to put it on a plan.
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == "Hooli").await;
    click(&c, "[data-testid=subscription-new]").await;
    choose(&c, "[data-testid=subscription-plan]", "Pro (pro)").await;
    replace_text(&c, "[data-testid=subscription-date]", "2026-11-20").await;
    click(&c, "[data-testid=subscription-save]").await;
    wait_displayed(&c, "[data-testid=subscription-row-sub_hooli]").await;
    // Its periods begin on the start's day: the first runs Nov 20 to Dec 19, with Pro's 99.00 fee.
    let running = wait_text(&c, "[data-testid=card-running]", |t| t.contains("Nov 20 – Dec 19, 2026")).await;
    assert!(running.contains("99.00 USD"), "{running}");
    screenshot(&c, "customer-onboarded.png").await;

    // Its own prices and discounts: a refused percent is named under its field, then saved.
    click(&c, "[data-testid=subscription-terms-sub_hooli]").await;
    type_into(&c, "[data-testid=terms-price-resolved_conversations]", "0.50").await;
    click(&c, "[data-testid=terms-discount-add]").await;
    wait_displayed(&c, "[data-testid=terms-discount-0]").await;
    type_into(&c, "[data-testid=terms-discount-0-name]", "Launch").await;
    type_into(&c, "[data-testid=terms-discount-0-value]", "150").await;
    click(&c, "[data-testid=terms-save]").await;
    wait_text(&c, "[data-testid=terms-discount-0]", |t| t.contains("must be more than 0 and at most 100")).await;
    replace_text(&c, "[data-testid=terms-discount-0-value]", "10").await;
    click(&c, "[data-testid=terms-save]").await;
    let terms = wait_text(&c, "[data-testid=subscription-row-sub_hooli]", |t| t.contains("Launch")).await;
    assert!(terms.contains("Resolved conversations: unit price 0.50 (overrides the plan)"), "{terms}");
    assert!(terms.contains("Launch: 10 % off the invoice, every period"), "{terms}");
    let listed = cli_json(&workspace, &["subscription", "list", "--customer", "hooli"]);
    assert_eq!(listed[0]["overrides"][0]["unit_price"], "0.50");
    assert_eq!(listed[0]["discounts"][0]["percent"], "10");

    // From a customer's page, an invoice number opens the invoice.
    click(&c, "[data-testid=customer-back]").await;
    replace_text(&c, "[data-testid=customer-search]", "aperture-labs").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;
    click(&c, "[data-testid=customer-row-aperture-labs]").await;
    click(&c, &format!("[data-testid=customer-invoice-{number}]")).await;
    wait_text(&c, "[data-testid=invoice-number]", |t| t == number).await;
    c.close().await.unwrap();
}

/// A spend cap set where the operator meets the customer: refused by its
/// field when not positive, then saved; the October draft shows the Spend cap
/// line and the usage against the cap, as the CLI computes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_spend_cap_set_on_the_customer_page_shows_as_a_line_and_against_the_usage() {
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let before = cli_json(&workspace, &["invoice", "preview", "--customer", "aperture-labs", "--period", "2026-10"]);
    assert!(before["lines"].as_array().unwrap().iter().all(|l| l["kind"] != "cap"), "{before}");
    // A spend rule on Aperture Labs' running (November) draft, raised by an evaluation.
    let rules = tmp.path().join("rules.json");
    std::fs::write(
        &rules,
        json!({ "alerts": [ { "id": "aperture_100", "kind": "spend", "threshold": "100.00", "customer": "aperture-labs" } ] })
            .to_string(),
    )
    .unwrap();
    cli_json(&workspace, &["apply", rules.to_str().unwrap()]);
    let raised = cli_json(&workspace, &["alerts", "evaluate"]);
    assert_eq!(raised.as_array().unwrap().len(), 1, "{raised}");
    let alert_id = raised[0]["id"].as_i64().unwrap();
    let message = raised[0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("past the alert at 100.00 USD (rule aperture_100)"), "{message}");

    let c = driver.session(&workspace).await;
    click(&c, "[data-testid=nav-customers]").await;
    type_into(&c, "[data-testid=customer-search]", "aperture-labs").await;
    wait_text(&c, "[data-testid=customer-total]", |t| t == "1 customer").await;
    click(&c, "[data-testid=customer-row-aperture-labs]").await;
    wait_text(&c, "[data-testid=customer-page-name]", |t| t == "Aperture Labs").await;
    click(&c, "[data-testid=subscription-terms-sub_aperture-labs]").await;
    type_into(&c, "[data-testid=terms-maximum]", "0").await;
    click(&c, "[data-testid=terms-save]").await;
    wait_text(&c, "[data-testid=terms-dialog]", |t| t.contains("a maximum must be more than 0")).await;
    replace_text(&c, "[data-testid=terms-maximum]", "100.00").await;
    click(&c, "[data-testid=terms-save]").await;
    wait_text(&c, "[data-testid=subscription-row-sub_aperture-labs]", |t| t.contains("Spend cap: 100.00 a period"))
        .await;

    // The engine's draft now has the cap line and the allowance.
    let after = cli_json(&workspace, &["invoice", "preview", "--customer", "aperture-labs", "--period", "2026-10"]);
    let lines = after["lines"].as_array().unwrap();
    let at = lines.iter().position(|l| l["kind"] == "cap").expect("a Spend cap line");
    let cap = lines[at]["amount"].as_str().unwrap().to_string();
    assert!(cap.starts_with('-'), "{cap}");
    let used = after["allowance"]["used"].as_str().unwrap();
    let unbilled = after["allowance"]["unbilled"].as_str().unwrap();
    assert_eq!(format!("-{unbilled}"), cap);
    assert_eq!(after["allowance"]["limit"], "100.00");

    click(&c, "[data-testid=nav-invoices]").await;
    wait_value(&c, "[data-testid=drafts-month]", "2026-10").await;
    let total = after["total"].as_str().unwrap();
    wait_text(&c, "[data-testid=drafts-total-sub_aperture-labs]", |t| t == format!("{} USD", grouped(total))).await;
    click(&c, "[data-testid=drafts-row-sub_aperture-labs] td").await;
    wait_text(&c, "[data-testid=draft-total]", |t| t == format!("{} USD", grouped(total))).await;
    let line = dom_text(&c, &format!("[data-testid=draft-line-{at}]")).await;
    assert!(line.contains("cap") && line.contains("Spend cap") && line.contains(&grouped(&cap)), "{line}");
    let allowance = dom_text(&c, "[data-testid=draft-allowance]").await;
    let words =
        format!("Usage {} of the 100.00 USD cap: {} above the cap is not billed", grouped(used), grouped(unbilled));
    assert!(allowance.contains(&words), "{allowance} / {words}");
    screenshot(&c, "spend-cap-draft.png").await;

    // The spend alert waits in the inbox, in words, until acknowledged there.
    c.find(Locator::Css("body")).await.unwrap().send_keys("\u{e00c}").await.unwrap();
    click(&c, "[data-testid=alerts-bell]").await;
    let shown = dom_text(&c, &format!("[data-testid=alert-{alert_id}]")).await;
    assert!(shown.contains("Spend alert") && shown.contains(&message), "{shown}");
    c.execute(&format!("document.querySelector('[data-testid=alert-{alert_id}]').scrollIntoView()"), vec![])
        .await
        .unwrap();
    screenshot(&c, "spend-alert-inbox.png").await;
    click(&c, &format!("[data-testid=alert-ack-{alert_id}]")).await;
    poll(&c, "the alert acknowledged", async || {
        // The dashboard's signals stay open; the spend alert is no longer among them.
        let open = cli_json(&workspace, &["alerts", "list"]);
        let still = open.as_array().unwrap().iter().any(|a| a["id"] == alert_id);
        if still { Err(format!("alert {alert_id} is still open")) } else { Ok(()) }
    })
    .await;

    // Guardrails: a rule refused by its fields, then saved; the allowances saved for the gateway.
    c.find(Locator::Css("body")).await.unwrap().send_keys("\u{e00c}").await.unwrap();
    click(&c, "[data-testid=nav-guardrails]").await;
    wait_displayed(&c, "[data-testid=rule-row-aperture_100]").await;
    type_into(&c, "[data-testid=rule-id]", "input_1m").await;
    type_into(&c, "[data-testid=rule-value]", "0").await;
    click(&c, "[data-testid=rule-save]").await;
    let refused = wait_text(&c, "[data-testid=rule-form]", |t| t.contains("must be more than 0")).await;
    assert!(refused.contains("a usage rule names the meter it watches"), "{refused}");
    choose(&c, "[data-testid=rule-meter]", "Input tokens").await;
    replace_text(&c, "[data-testid=rule-value]", "1000000").await;
    click(&c, "[data-testid=rule-save]").await;
    let row = wait_text(&c, "[data-testid=rule-row-input_1m]", |t| t.contains("1,000,000")).await;
    assert!(row.contains("Input tokens past 1,000,000 in a period, for every customer"), "{row}");
    let exported = cli_json(&workspace, &["export", "catalog"]);
    let ids: Vec<&str> = exported["alerts"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["aperture_100", "input_1m"]);
    let limit = wait_text(&c, "[data-testid=limit-row-sub_aperture-labs]", |t| t.contains("100.00 USD")).await;
    assert!(limit.contains("Nov 1 – 30, 2026"), "{limit}");
    screenshot(&c, "guardrails.png").await;
    click(&c, "[data-testid=limits-save]").await;
    let saved = wait_file(&c, &tmp.path().join("home/saved/limits.json")).await;
    let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved, cli_json(&workspace, &["limits", "export"]));
    assert_eq!(saved[0]["maximum"], "100.00");
    c.close().await.unwrap();
}

/// The package a user installs: `scripts/package.sh` builds the .deb with the
/// Tauri CLI (release, the UI embedded; `METERDESK_DEB` names another, as
/// scripts/test.sh does with the tested debug binary bundled); this installs it with apt-get, reads
/// what it put where, and starts the installed binary to the painted dashboard.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "installs a system package (root or sudo): scripts/test.sh runs it on the tested binary bundled"]
async fn the_deb_package_installs_and_starts_to_the_painted_dashboard() {
    // apt-get takes a path to a file only when it has a slash before the name: made absolute.
    let named = std::env::var_os("METERDESK_DEB").map(|p| {
        std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("METERDESK_DEB {}: {e}", Path::new(&p).display()))
    });
    let deb = named.unwrap_or_else(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/bundle/deb");
        let mut debs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no {} ({e}): run scripts/package.sh first", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        debs.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
        debs.pop().unwrap_or_else(|| panic!("no .deb in {}: run scripts/package.sh first", dir.display()))
    });
    let size = deb.metadata().unwrap().len();
    // The workspace the installed console opens (built by this build's CLI, before the clock starts).
    let (tmp, driver) = sandbox();
    let workspace = demo_workspace(tmp.path(), true);
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            cmd.arg("apt-get");
        }
        let out = cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args).output().unwrap();
        assert!(out.status.success(), "apt-get {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };

    let started = Instant::now();
    apt(&["install", "-y", "-q", "--reinstall", deb.to_str().unwrap()]);
    let installed = started.elapsed();
    let files = String::from_utf8(Command::new("dpkg").args(["-L", "meterdesk"]).output().unwrap().stdout).unwrap();
    for wanted in [
        "/usr/bin/meterdesk",
        "/usr/share/applications/Meterdesk.desktop",
        "/usr/share/icons/hicolor/128x128/apps/meterdesk.png",
    ] {
        assert!(files.lines().any(|l| l == wanted), "the package lacks {wanted}: {files}");
    }
    // The menu entry starts the installed binary, with its icon, among finance applications.
    let entry = std::fs::read_to_string("/usr/share/applications/Meterdesk.desktop").unwrap();
    for line in ["Exec=meterdesk", "Icon=meterdesk", "Name=Meterdesk", "Type=Application"] {
        assert!(entry.lines().any(|l| l == line), "the desktop entry lacks {line}: {entry}");
    }
    assert!(entry.lines().any(|l| l.starts_with("Categories=") && l.contains("Finance")), "{entry}");
    // The installed binary is also the CLI.
    let version = Command::new("/usr/bin/meterdesk").arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("meterdesk 0.1.0"), "{version:?}");

    // Started from the installed path (the UI embedded in it, nothing read from this checkout).
    let c = driver.session_of(Path::new("/usr/bin/meterdesk"), &workspace).await;
    wait_text(&c, "[data-testid=stat-active-customers]", |t| t == "49").await;
    let painted = started.elapsed();
    screenshot(&c, "installed-dashboard.png").await;
    c.close().await.unwrap();
    eprintln!(
        "the .deb: {size} bytes ({:.1} MB); apt-get install {:.1} s; install to the painted dashboard {:.1} s",
        size as f64 / 1_048_576.0,
        installed.as_secs_f64(),
        painted.as_secs_f64()
    );
    apt(&["remove", "-y", "-q", "meterdesk"]);
}
