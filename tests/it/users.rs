//! User administration.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, backend_tests, detail};

backend_tests! {
    async fn admins_create_read_update_and_delete_users(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;

        let body = json!({"email": "Ana@Example.com", "full_name": "Ana", "password": "password-123"});
        let (status, ana) = app.post("/api/v1/users/", &admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{ana}");
        assert_eq!(ana["email"], "ana@example.com");
        assert_eq!(ana["role"], "OPERATOR");
        assert_eq!(ana["is_active"], true);
        assert_eq!(ana["is_superuser"], false);
        assert!(ana["created_at"].as_str().unwrap().ends_with('Z'));
        let id = ana["id"].as_i64().unwrap();

        let body = json!({"email": "ana@example.com", "full_name": "Ana 2", "password": "password-123"});
        let (status, value) = app.post("/api/v1/users", &admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "duplicate e-mail: {value}");
        assert_eq!(detail(&value), "Já existe um usuário com este e-mail");

        let (status, read) = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, ana);

        let body = json!({"full_name": "Ana Maria", "role": "ADMIN", "chatwoot_agent_id": 7});
        let (status, updated) = app.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["full_name"], "Ana Maria");
        assert_eq!(updated["role"], "ADMIN");
        assert_eq!(updated["chatwoot_agent_id"], 7);
        assert!(updated["updated_at"].as_str() > ana["updated_at"].as_str(), "updated_at moves");

        let body = json!({"chatwoot_agent_id": null});
        let (_, updated) = app.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(body)).await;
        assert_eq!(updated["chatwoot_agent_id"], serde_json::Value::Null);
        assert_eq!(updated["full_name"], "Ana Maria", "absent fields are kept");

        // An admin resetting a password: the user logs in with it and must change it.
        let body = json!({"password": "reset-password-9"});
        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::OK);
        let token = app.login("ana@example.com", "reset-password-9").await;
        let (_, me) = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(me["must_change_password"], true);

        let (status, list) = app.get("/api/v1/users/?skip=0&limit=10", &admin).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<i64> = list.as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![1, id], "ordered by id");
        let (_, page) = app.get("/api/v1/users/?skip=1&limit=1", &admin).await;
        assert_eq!(page[0]["id"], id);

        let (status, body) = app.call(Method::DELETE, &format!("/api/v1/users/{id}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_null());
        let (status, body) = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(detail(&body), "Usuário não encontrado");
        let (status, _) = app.call(Method::DELETE, &format!("/api/v1/users/{id}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.call(Method::PATCH, "/api/v1/users/999", Some(&admin), Some(json!({"full_name": "x"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let audit = app.store.audit_entries(Some("user"), 0, 100).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert!(actions.starts_with(&["delete", "update", "update", "update", "create"]), "{actions:?}");
        assert!(audit.iter().all(|e| !e.details.as_ref().unwrap().0.to_string().contains("password-")), "no secrets in the audit log");
    }

    async fn invalid_user_bodies_are_422_naming_the_field(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let cases = [
            (json!({"full_name": "x", "password": "password-123"}), "email"),
            (json!({"email": "nope", "full_name": "x", "password": "password-123"}), "email"),
            (json!({"email": "a@x.io", "full_name": "x", "password": "short"}), "password"),
            (json!({"email": "a@x.io", "full_name": "   ", "password": "password-123"}), "full_name"),
            (json!({"email": "a@x.io", "full_name": "x".repeat(256), "password": "password-123"}), "full_name"),
            (json!({"email": "a@x.io", "full_name": "x", "password": "password-123", "role": "ROOT"}), "role"),
            (json!({"email": "a@x.io", "full_name": "x", "password": "password-123", "is_active": "yes"}), "is_active"),
        ];
        for (body, field) in cases {
            let (status, value) = app.post("/api/v1/users/", &admin, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let locs: Vec<String> = value["detail"].as_array().unwrap().iter().map(|e| e["loc"].to_string()).collect();
            assert!(locs.iter().any(|l| l.contains(field)), "{body} → {value}");
        }
        let (status, value) = app.call(Method::PATCH, "/api/v1/users/1", Some(&admin), Some(json!({"full_name": null}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "null for a required field: {value}");
        let response = app.client.post(app.url("/api/v1/users/")).bearer_auth(&admin)
            .header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let value: serde_json::Value = response.json().await.unwrap();
        assert_eq!(value["detail"][0]["type"], "json_invalid");
        let (status, _) = app.get("/api/v1/users/abc", &admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "non-integer id");
    }

    async fn the_last_active_admin_cannot_be_removed(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        for body in [json!({"is_active": false}), json!({"role": "OPERATOR", "is_superuser": false})] {
            let (status, value) = app.call(Method::PATCH, "/api/v1/users/1", Some(&admin), Some(body)).await;
            assert_eq!(status, StatusCode::CONFLICT, "{value}");
        }
        let (status, _) = app.call(Method::DELETE, "/api/v1/users/1", Some(&admin), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, me) = app.get("/api/v1/auth/me", &admin).await;
        assert_eq!((me["is_active"].as_bool(), me["role"].as_str()), (Some(true), Some("ADMIN")), "refused changes left no trace");

        // With a second admin, the first may go.
        let (second_id, second) = app.user_token(&admin, "second@example.com", "SUPERADMIN").await;
        let (status, _) = app.call(Method::DELETE, "/api/v1/users/1", Some(&second), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.call(Method::DELETE, &format!("/api/v1/users/{second_id}"), Some(&second), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
    }

    async fn only_a_superadmin_grants_superadmin_rights(backend: Backend) {
        let app = TestApp::start(backend).await;
        let root = app.admin_token().await; // the first admin is a superuser
        let (_, plain_admin) = {
            let body = json!({"email": "adm@example.com", "full_name": "Adm", "role": "ADMIN", "password": "password-123"});
            let (status, user) = app.post("/api/v1/users/", &root, body).await;
            assert_eq!(status, StatusCode::CREATED);
            (user["id"].as_i64().unwrap(), app.login("adm@example.com", "password-123").await)
        };
        let body = json!({"email": "boss@example.com", "full_name": "Boss", "role": "SUPERADMIN", "password": "password-123"});
        let (status, _) = app.post("/api/v1/users/", &plain_admin, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, boss) = app.post("/api/v1/users/", &root, body).await;
        assert_eq!(status, StatusCode::CREATED);
        let boss_id = boss["id"].as_i64().unwrap();
        let (status, _) = app.call(Method::DELETE, &format!("/api/v1/users/{boss_id}"), Some(&plain_admin), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(Method::PATCH, "/api/v1/users/2", Some(&plain_admin), Some(json!({"is_superuser": true}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
