//! The quickstart program runs, as a user runs it, on SQLite and, when
//! `ALMACEN_TEST_POSTGRES_URL` / `ALMACEN_TEST_MYSQL_URL` are set, on PostgreSQL and MariaDB
//! (each in a scratch database), and prints what it says it does: the oversell refused and
//! rolled back, the stock left, and the discontinued product still shown on its order.

#[path = "../../scratch.rs"]
mod scratch;

use scratch::{Scratch, server};

/// Run the quickstart binary on `url` and return what it printed; it must succeed.
fn run_quickstart(url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart")).arg(url).output().expect("run the quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "quickstart failed on {url}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn runs_on(url: &str) {
    let scratch = Scratch::create(url).await;
    let target = scratch.url.clone();
    let printed = tokio::task::spawn_blocking(move || run_quickstart(&target)).await;
    scratch.remove().await;
    let printed = printed.unwrap();
    for line in [
        "order 1 placed for ada@example.com, status Pending",
        "second order refused and rolled back: only 3 of Lamp left",
        "lamp stock after orders: 3 (5 - 2)",
        r#"raw SQL report: [{"name":"Lamp","sold":2}]"#,
        "lamp discontinued; products on sale: 2",
        "order 1 for ada@example.com: 2 x Lamp (discontinued)",
        "done",
    ] {
        assert!(printed.lines().any(|l| l == line), "{url}: missing line {line:?} in:\n{printed}");
    }
}

#[tokio::test]
async fn sqlite() {
    runs_on("sqlite").await;
}

#[tokio::test]
async fn postgres() {
    let Some(url) = server("ALMACEN_TEST_POSTGRES_URL") else { return };
    runs_on(&url).await;
}

#[tokio::test]
async fn mariadb() {
    let Some(url) = server("ALMACEN_TEST_MYSQL_URL") else { return };
    runs_on(&url).await;
}
