//! Login throttles and lockouts live in the database (issue 20, `docs/cluster.md`): attempts
//! spread over two nodes of one site are limited as on one, a restart keeps a lockout, and
//! the counting itself (windows, backoff, forgetting) on both engines.

use reqwest::StatusCode;
use securityvision::store::logins::{LoginCheck, LoginLimits};

use crate::common::{Backend, TestApp, backend_tests, detail, login_status};

/// Two appliances on one PostgreSQL database (SQLite is one file for one process): an
/// attacker alternating between them gets the attempts one node would give, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_spread_over_two_nodes_are_limited_as_on_one() {
    if !crate::common::postgres_available() {
        return;
    }
    let limits = |c: &mut securityvision::config::Config| {
        c.auth.max_failed_logins = 4;
        c.auth.max_failed_logins_per_account = 6;
        c.auth.login_attempts_per_minute = 6;
    };
    let a = TestApp::start_with(Backend::Postgres, limits).await;
    let b = a.another_node(limits).await;
    let admin = a.admin_token().await;
    a.user_token(&admin, "op@example.com", "OPERATOR").await;
    let nodes = [&a, &b];

    // One address against one account: four failures, two on each node, lock the pair on both.
    let attacker = a.client_from("127.0.0.2");
    for i in 0..4 {
        let (status, value) =
            login_status(&attacker, nodes[i % 2], "op@example.com", "wrong-password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "failure {i}: {value}");
    }
    for node in nodes {
        let (status, value) =
            login_status(&attacker, node, "op@example.com", "user-password-1").await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "the pair is locked on each node: {value}"
        );
    }

    // The account: four failures counted so far, two more from elsewhere lock it.
    let other = a.client_from("127.0.0.3");
    for node in nodes {
        assert_eq!(
            login_status(&other, node, "op@example.com", "wrong-password")
                .await
                .0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, value) = login_status(
        &a.client_from("127.0.0.4"),
        &b,
        "op@example.com",
        "user-password-1",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked: {value}"
    );

    // One address's budget: six attempts a minute across both nodes, not six on each.
    let flood = a.client_from("127.0.0.5");
    for i in 0..6 {
        let (status, value) = login_status(
            &flood,
            nodes[i % 2],
            &format!("nobody{i}@example.com"),
            "whatever-1",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}: {value}");
    }
    for node in nodes {
        let (status, value) = login_status(&flood, node, "nobody@example.com", "whatever-1").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{value}");
        assert!(detail(&value).contains("address"), "{value}");
    }
}

backend_tests! {
    async fn a_restart_keeps_a_lockout(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.auth.max_failed_logins = 3).await;
        let password = app.admin_password.clone().unwrap();
        for _ in 0..3 {
            assert_eq!(login_status(&app.client, &app, "admin@localhost", "wrong-password").await.0, StatusCode::BAD_REQUEST);
        }
        assert_eq!(login_status(&app.client, &app, "admin@localhost", &password).await.0, StatusCode::TOO_MANY_REQUESTS);
        let app = app.restart().await;
        let (status, value) = login_status(&app.client, &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the lockout outlived the restart: {value}");
        let (status, value) = login_status(&app.client_from("127.0.0.2"), &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::OK, "only the attacker's address is locked: {value}");
    }

    async fn lockouts_expire_and_come_back_longer_and_are_forgotten(backend: Backend) {
        let app = TestApp::start(backend).await;
        let store = &app.store;
        let limits = LoginLimits { max_failures: 2, max_account_failures: 100, window_ms: 10_000 };
        let count = |at: i64| store.count_login_attempt("a@x", "192.0.2.1", at, limits);
        assert_eq!(count(0).await.unwrap(), LoginCheck::Counted);
        assert_eq!(count(1_000).await.unwrap(), LoginCheck::Counted, "the second failure locks");
        assert_eq!(count(10_999).await.unwrap(), LoginCheck::Locked);
        assert_eq!(
            store.count_login_attempt("a@x", "192.0.2.2", 5_000, limits).await.unwrap(),
            LoginCheck::Counted,
            "another address may try"
        );
        // The lock ends after the window; the next one lasts twice as long.
        assert_eq!(count(11_000).await.unwrap(), LoginCheck::Counted, "the lock expired");
        assert_eq!(count(12_000).await.unwrap(), LoginCheck::Counted);
        assert_eq!(count(31_999).await.unwrap(), LoginCheck::Locked, "backoff doubles");
        assert_eq!(count(32_000).await.unwrap(), LoginCheck::Counted);
        // A count whose window passed starts again.
        assert_eq!(count(42_000).await.unwrap(), LoginCheck::Counted);
        assert_eq!(count(43_000).await.unwrap(), LoginCheck::Counted);
        assert_eq!(count(43_000 + 40_000 - 1).await.unwrap(), LoginCheck::Locked, "the third lockout: 4 windows");

        // The account as a whole, from any address.
        let account = LoginLimits { max_failures: 100, max_account_failures: 3, window_ms: 10_000 };
        for (i, addr) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"].into_iter().enumerate() {
            assert_eq!(store.count_login_attempt("b@x", addr, i as i64, account).await.unwrap(), LoginCheck::Counted);
        }
        assert_eq!(store.count_login_attempt("b@x", "198.51.100.4", 10, account).await.unwrap(), LoginCheck::Locked);
        // The right password on the attempt that locked it unlocks it.
        store.login_succeeded("b@x", "198.51.100.3", 3).await.unwrap();
        assert_eq!(store.count_login_attempt("b@x", "198.51.100.4", 20, account).await.unwrap(), LoginCheck::Counted);

        // Forgetting: only what no check would look at again.
        let rows = || app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM login_failures");
        let before = rows().await.unwrap();
        assert_eq!(store.forget_login_attempts(0, 0).await.unwrap(), 0);
        assert_eq!(rows().await.unwrap(), before);
        store.forget_login_attempts(i64::MAX, 0).await.unwrap();
        assert_eq!(rows().await.unwrap(), "0");

        // The per-address bucket: `per_minute` at once, then one more per 60 s / per_minute.
        let take = |at: i64| store.take_login_token("192.0.2.9", at, 2);
        assert!(take(0).await.unwrap());
        assert!(take(0).await.unwrap());
        assert!(!take(29_999).await.unwrap(), "empty");
        assert!(take(30_000).await.unwrap(), "refilled by one");
        assert!(!take(30_000).await.unwrap());
        assert!(take(1_000_000).await.unwrap() && take(1_000_000).await.unwrap(), "full again, never more");
        assert!(!take(1_000_000).await.unwrap());
        assert_eq!(store.forget_login_attempts(0, 1_000_001).await.unwrap(), 1);
    }
}
