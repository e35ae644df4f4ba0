//! Login, tokens, signup, password changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, mint_token};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

backend_tests! {
    async fn login_with_json_and_with_the_oauth2_form(backend: Backend) {
        let app = TestApp::start(backend).await;
        let password = app.admin_password.clone().unwrap();

        let token = app.login("admin@localhost", &password).await;
        let (status, me) = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["email"], "admin@localhost");
        assert_eq!(me["role"], "ADMIN");
        assert_eq!(me["is_superuser"], true);
        assert_eq!(me["must_change_password"], true);
        assert!(me.get("hashed_password").is_none() && me.get("password").is_none());

        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .form(&[("username", "ADMIN@localhost"), ("password", password.as_str()), ("grant_type", "password")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert!(body["expires_in"].as_i64().unwrap() > 3600);
        let (status, _) = app.get("/api/v1/auth/me", body["access_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn wrong_password_and_unknown_email_are_400_with_detail(backend: Backend) {
        let app = TestApp::start(backend).await;
        for (email, password) in [("admin@localhost", "wrong-password"), ("nobody@localhost", "whatever")] {
            let body = json!({"email": email, "password": password});
            let (status, value) = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(detail(&value), "E-mail ou senha inválidos");
        }
        let (status, value) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "admin@localhost"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(value["detail"][0]["loc"], json!(["body", "password"]));
        let (status, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "not-an-email", "password": "x"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn missing_malformed_expired_and_forged_tokens_are_401(backend: Backend) {
        let app = TestApp::start(backend).await;
        let secret = std::fs::read_to_string(app.data_dir().join("jwt-secret")).unwrap();
        let secret = secret.trim().as_bytes();

        let response = app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(detail(&response.json().await.unwrap()), "Not authenticated");

        let good = mint_token(secret, json!({"sub": "1", "role": "ADMIN", "iat": now(), "exp": now() + 600}));
        let (status, _) = app.get("/api/v1/auth/me", &good).await;
        assert_eq!(status, StatusCode::OK, "a correctly signed token must be accepted");

        let cases = [
            ("expired", mint_token(secret, json!({"sub": "1", "role": "ADMIN", "iat": now() - 7200, "exp": now() - 3600}))),
            ("forged", mint_token(b"not-the-secret-not-the-secret-00", json!({"sub": "1", "role": "ADMIN", "exp": now() + 600}))),
            ("unknown user", mint_token(secret, json!({"sub": "999", "role": "ADMIN", "exp": now() + 600}))),
            ("non-numeric subject", mint_token(secret, json!({"sub": "admin", "role": "ADMIN", "exp": now() + 600}))),
            ("no expiry", mint_token(secret, json!({"sub": "1", "role": "ADMIN"}))),
            ("garbage", "abc.def.ghi".to_string()),
        ];
        for (what, token) in cases {
            let (status, body) = app.get("/api/v1/auth/me", &token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} token");
            assert_eq!(detail(&body), "Não foi possível validar as credenciais", "{what}");
        }
        let response = app.client.get(app.url("/api/v1/auth/me")).header("authorization", format!("Basic {good}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "only the Bearer scheme is accepted");
    }

    async fn inactive_users_cannot_log_in_and_their_tokens_stop_working(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (id, token) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let (status, _) = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(status, StatusCode::OK);

        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"is_active": false}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a deactivation ends earlier sessions");

        let body = json!({"email": "op@example.com", "password": "user-password-1"});
        let (status, value) = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(detail(&value), "Usuário inativo");
    }

    async fn operators_get_403_on_admin_routes(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        for (method, path) in [(Method::GET, "/api/v1/users/"), (Method::GET, "/api/v1/users/1"), (Method::DELETE, "/api/v1/users/1")] {
            let (status, body) = app.call(method, path, Some(&operator), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(detail(&body), "Permissão insuficiente para acessar este recurso.");
        }
        let body = json!({"email": "x@example.com", "full_name": "X", "password": "password-123"});
        let (status, _) = app.call(Method::POST, "/api/v1/users/", Some(&operator), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    async fn signup_is_closed_once_an_admin_exists(backend: Backend) {
        let app = TestApp::start(backend).await;
        let body = json!({"email": "second@example.com", "full_name": "Second", "password": "password-123"});
        let (status, value) = app.call(Method::POST, "/api/v1/auth/signup", None, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(detail(&value), "Signup desabilitado. Apenas admins podem criar usuários.");
    }

    async fn concurrent_signups_on_an_empty_database_make_exactly_one_admin(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.auth.bootstrap_admin = false).await;
        assert!(app.admin_password.is_none());
        let attempts = (0..8).map(|i| {
            let body = json!({"email": format!("admin{i}@example.com"), "full_name": "First", "password": "password-123", "role": "OPERATOR"});
            app.call(Method::POST, "/api/v1/auth/signup", None, Some(body))
        });
        let results = futures_util::future::join_all(attempts).await;
        let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::OK).map(|(_, v)| v).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(results.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::FORBIDDEN), "{results:?}");
        assert_eq!(winners[0]["role"], "ADMIN", "signup forces the admin role");
        assert_eq!(winners[0]["is_superuser"], true);
        let email = winners[0]["email"].as_str().unwrap();
        let token = app.login(email, "password-123").await;
        let (status, users) = app.get("/api/v1/users", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(users.as_array().unwrap().len(), 1);
    }

    async fn legacy_passlib_bcrypt_sha256_hashes_verify_and_are_upgraded(backend: Backend) {
        let app = TestApp::start(backend).await;
        let fixture: Value = serde_json::from_str(include_str!("../fixtures/passlib_bcrypt_sha256.json")).unwrap();
        for (i, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
            let email = format!("legacy{i}@example.com");
            let hash = case["hash"].as_str().unwrap();
            let password = case["password"].as_str().unwrap();
            app.store.create_user(&securityvision::store::users::NewUser {
                email: email.clone(),
                full_name: "Imported".into(),
                hashed_password: hash.into(),
                role: "OPERATOR".into(),
                is_active: true,
                is_superuser: false,
                must_change_password: false,
            }).await.unwrap();

            let body = json!({"email": email, "password": format!("{password}x")});
            let (status, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "wrong password accepted for {hash}");

            app.login(&email, password).await;
            let stored = app.store.user_by_email(&email).await.unwrap().unwrap().hashed_password;
            assert!(stored.starts_with("$argon2id$"), "hash {hash} was not upgraded: {stored}");
            app.login(&email, password).await;
        }
    }

    async fn changing_the_password_ends_older_sessions(backend: Backend) {
        let app = TestApp::start(backend).await;
        let old_password = app.admin_password.clone().unwrap();
        let old_token = app.admin_token().await;

        let body = json!({"current_password": "wrong", "new_password": "a-new-password-1"});
        let (status, value) = app.post("/api/v1/auth/change-password", &old_token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(value["detail"][0]["loc"], json!(["body", "current_password"]));

        let body = json!({"current_password": old_password, "new_password": "short"});
        let (status, _) = app.post("/api/v1/auth/change-password", &old_token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let body = json!({"current_password": old_password, "new_password": "a-new-password-1"});
        let (status, value) = app.post("/api/v1/auth/change-password", &old_token, body).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let new_token = value["access_token"].as_str().unwrap().to_string();

        let (status, _) = app.get("/api/v1/auth/me", &old_token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, me) = app.get("/api/v1/auth/me", &new_token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["must_change_password"], false);
        app.login("admin@localhost", "a-new-password-1").await;
    }

    async fn repeated_failures_lock_the_account_for_a_while(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.auth.max_failed_logins = 3).await;
        let password = app.admin_password.clone().unwrap();
        for _ in 0..3 {
            let body = json!({"email": "admin@localhost", "password": "wrong-password"});
            let (status, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }
        let body = json!({"email": "admin@localhost", "password": password});
        let (status, value) = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{value}");
        assert!(!detail(&value).is_empty());
    }
}
