//! The store's foundations, in one story on each backend: migrations and their status,
//! the first administrator and settings, users (create, look up, page, change, delete, the
//! last-admin guard), the audit log, the generic by-id / page / exists / delete queries of
//! `store/record.rs` (through buildings), and group memberships.
//!
//! The other public store functions are the queries of one feature each (devices, tags,
//! readings, alerts, incidents, webhooks, …). They are not repeated here: the feature's
//! tests drive them through the real application on both engines (`backend_tests!`), e.g.
//! `store/readings.rs` by `ingest.rs` and `consistency.rs`, `store/alerts.rs` by
//! `alerts.rs`, `store/webhooks.rs` by `webhooks.rs`, `store/cambus.rs` by `cambus.rs`.
//! [`every_store_query_has_a_caller`] keeps that honest to the extent a source scan can:
//! each `pub async fn` of `src/store` must be called by a test or by the application. It
//! catches a query nobody calls (dead code, untested by construction); it does not prove
//! which test reaches a query the application calls.

use securityvision::store::StoreError;
use securityvision::store::people::{Person, PersonGroup};
use securityvision::store::site::Building;
use securityvision::store::users::{NewUser, UpdateError};

use crate::common::{TestDatabase, backend_tests};

fn new_user(email: &str, role: &str) -> NewUser {
    NewUser {
        email: email.into(),
        full_name: "Story".into(),
        hashed_password: "$argon2id$placeholder".into(),
        role: role.into(),
        is_active: true,
        is_superuser: false,
        must_change_password: false,
    }
}

backend_tests! {
    async fn store_story(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let store = securityvision::store::Store::connect(&db.url, 4).await.unwrap();

        // Migrations: all pending on an empty database, none after, idempotent.
        let before = store.migration_status().await.unwrap();
        assert!(!before.is_empty() && before.iter().all(|m| !m.applied));
        assert!(matches!(store.ensure_schema_current().await, Err(StoreError::SchemaOutdated(n)) if n == before.len()));
        assert_eq!(store.migrate().await.unwrap(), before.len());
        assert_eq!(store.migrate().await.unwrap(), 0);
        assert!(store.migration_status().await.unwrap().iter().all(|m| m.applied));
        store.ensure_schema_current().await.unwrap();
        store.ping().await.unwrap();

        // First admin: claimed once.
        assert!(!store.first_admin_exists().await.unwrap());
        let mut admin = new_user("root@example.com", "ADMIN");
        admin.is_superuser = true;
        let root = store.create_first_admin(&admin).await.unwrap().expect("first admin created");
        assert!(store.create_first_admin(&new_user("other@example.com", "ADMIN")).await.unwrap().is_none());
        assert!(store.first_admin_exists().await.unwrap());
        assert_eq!(store.count_active_admins().await.unwrap(), 1);
        assert!(store.setting("first_admin_created").await.unwrap().is_some());
        store.mark_first_admin_created("again@example.com").await.unwrap();

        // Users: create, unique e-mail, lookups, paging.
        let op = store.create_user(&new_user("op@example.com", "OPERATOR")).await.unwrap();
        assert!(matches!(store.create_user(&new_user("op@example.com", "OPERATOR")).await, Err(StoreError::Conflict(_))));
        assert_eq!(store.user_by_id(op.id).await.unwrap().email, "op@example.com");
        assert!(matches!(store.user_by_id(9999).await, Err(StoreError::NotFound)));
        assert_eq!(store.user_by_email("op@example.com").await.unwrap().unwrap().id, op.id);
        assert!(store.user_by_email("none@example.com").await.unwrap().is_none());
        let all = store.list_users(0, 10).await.unwrap();
        assert_eq!(all.iter().map(|u| u.id).collect::<Vec<_>>(), vec![root.id, op.id]);
        assert_eq!(store.list_users(1, 10).await.unwrap().len(), 1);
        assert_eq!(store.list_users(0, 0).await.unwrap().len(), 0);

        // Timestamps read back exactly as written, in UTC.
        assert_eq!(op.created_at, op.updated_at);
        let reread = store.user_by_id(op.id).await.unwrap();
        assert_eq!(reread.created_at, op.created_at);

        // Updates: applied, refused by the closure, or refused as the last admin.
        let stamp = securityvision::store::now();
        let updated = store.change_user(op.id, |u| {
            u.full_name = "Operator".into();
            u.chatwoot_agent_id = Some(12);
            u.tokens_valid_after = Some(stamp);
            Ok::<_, ()>(())
        }).await.unwrap();
        assert_eq!((updated.full_name.as_str(), updated.chatwoot_agent_id), ("Operator", Some(12)));
        assert_eq!(updated.tokens_valid_after, Some(stamp));
        assert!(updated.updated_at > op.updated_at);
        assert!(matches!(store.change_user(op.id, |_| Err::<(), _>("no")).await, Err(UpdateError::Refused("no"))));
        assert!(matches!(store.change_user(root.id, |u| { u.is_active = false; Ok::<_, ()>(()) }).await, Err(UpdateError::LastAdmin)));
        assert!(store.user_by_id(root.id).await.unwrap().is_active, "the refused update was rolled back");
        assert!(matches!(store.change_user(9999, |_| Ok::<_, ()>(())).await, Err(UpdateError::Store(StoreError::NotFound))));
        let clash = store.change_user(op.id, |u| { u.email = "root@example.com".into(); Ok::<_, ()>(()) }).await;
        assert!(matches!(clash, Err(UpdateError::Store(StoreError::Conflict(_)))));

        // Deletes.
        assert!(matches!(store.delete_user(root.id).await, Err(UpdateError::LastAdmin)));
        store.delete_user(op.id).await.unwrap();
        assert!(matches!(store.delete_user(op.id).await, Err(UpdateError::Store(StoreError::NotFound))));

        // Audit log: newest first, filtered by entity, JSON details round-trip.
        store.audit(Some(root.id), "create", "user", Some(5), serde_json::json!({"email": "x@y"})).await.unwrap();
        store.audit(None, "bootstrap", "building", None, serde_json::json!({})).await.unwrap();
        let entries = store.audit_entries(None, 0, 10).await.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].action, "bootstrap");
        let users_only = store.audit_entries(Some("user"), 0, 10).await.unwrap();
        assert_eq!(users_only.len(), 1);
        assert_eq!(users_only[0].details.as_ref().unwrap().0["email"], "x@y");
        assert_eq!(users_only[0].user_id, Some(root.id));

        // Entities: `save_` inserts a row with id 0 and updates any other; the generic
        // by-id, page, exists and delete queries serve every entity.
        let hq = store.save_building(&Building { name: "HQ".into(), code: "HQ".into(), ..Default::default() }).await.unwrap();
        let annex = store.save_building(&Building { name: "Annex".into(), code: "AX".into(), ..Default::default() }).await.unwrap();
        let renamed = store.save_building(&Building { name: "Head office".into(), ..hq.clone() }).await.unwrap();
        assert_eq!((renamed.id, renamed.name.as_str(), renamed.created_at), (hq.id, "Head office", hq.created_at));
        assert!(renamed.updated_at > hq.updated_at);
        assert!(matches!(store.save_building(&Building { id: 9999, ..hq.clone() }).await, Err(StoreError::NotFound)));
        assert_eq!(store.fetch_by_id::<Building>(hq.id).await.unwrap().name, "Head office");
        let page: Vec<Building> = store.fetch_page(1, 10).await.unwrap();
        assert_eq!(page.iter().map(|b| b.id).collect::<Vec<_>>(), vec![annex.id]);
        assert!(store.exists::<Building>(annex.id).await.unwrap());
        store.delete_by_id::<Building>(annex.id).await.unwrap();
        assert!(!store.exists::<Building>(annex.id).await.unwrap());
        assert!(matches!(store.delete_by_id::<Building>(annex.id).await, Err(StoreError::NotFound)));

        // Memberships: only those of the people asked for.
        let staff = store.save_person_group(&PersonGroup { name: "Staff".into(), ..Default::default() }).await.unwrap();
        let ana = store.save_person(&Person { full_name: "Ana".into(), active: true, ..Default::default() }, Some(&[staff.id])).await.unwrap();
        let bob = store.save_person(&Person { full_name: "Bob".into(), active: true, ..Default::default() }, Some(&[staff.id])).await.unwrap();
        let of_bob = store.memberships(&[bob.id]).await.unwrap();
        assert_eq!(of_bob.iter().map(|m| (m.person_id, m.group_name.as_str())).collect::<Vec<_>>(), vec![(bob.id, "Staff")]);
        assert_eq!(store.memberships(&[ana.id, bob.id]).await.unwrap().len(), 2);
        assert!(store.memberships(&[]).await.unwrap().is_empty());

        store.close().await;
    }
}

/// The `.rs` files under `dir`, with their text.
fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            all.push((path, text));
        }
    }
    all
}

#[test]
fn every_store_query_has_a_caller() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let store = sources(&root.join("src/store"));
    let mut queries: Vec<(String, String)> = Vec::new();
    for (path, text) in &store {
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("pub async fn ") {
                let name = rest.split(['(', '<']).next().unwrap().to_string();
                queries.push((
                    name,
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    assert!(
        queries.len() > 100,
        "the scan found only {} queries",
        queries.len()
    );
    let callers: Vec<(std::path::PathBuf, String)> = sources(&root.join("src"))
        .into_iter()
        .chain(sources(&root.join("tests/it")))
        .collect();
    let called = |name: &str| {
        let patterns = [
            format!(".{name}("),
            format!(".{name}::<"),
            format!("::{name}("),
        ];
        callers
            .iter()
            .any(|(_, text)| patterns.iter().any(|p| text.contains(p.as_str())))
    };
    let uncalled: Vec<String> = queries
        .iter()
        .filter(|(name, _)| !called(name))
        .map(|(name, file)| format!("{file}: {name}"))
        .collect();
    assert!(
        uncalled.is_empty(),
        "store queries that nothing calls (remove them, or test them here): {uncalled:#?}"
    );
}
