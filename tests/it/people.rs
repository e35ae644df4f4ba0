//! People, tags and person groups.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, drain_events, id};

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(id).collect()
}

backend_tests! {
    async fn people_and_their_tags(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let mut events = app.events.subscribe();

        let ana = app.create("/api/v1/people/", &token, json!({"full_name": "Ana", "document_id": "123", "notes": null}), StatusCode::CREATED).await;
        assert_eq!((ana["active"].as_bool(), ana["status"].as_str(), ana["cpf"].as_str()), (Some(true), Some("ACTIVE"), Some("123")));
        let bob = app.create("/api/v1/people", &token, json!({"name": "Bob", "cpf": "456"}), StatusCode::CREATED).await;
        assert_eq!((bob["full_name"].as_str(), bob["document_id"].as_str()), (Some("Bob"), Some("456")), "the original's aliases");
        let (status, body) = app.post("/api/v1/people", &token, json!({"document_id": "1"})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "full_name"])));
        let (status, updated) = app.put(&format!("/api/v1/people/{}", id(&ana)), &token, json!({"active": false, "email": "ana@example.com"})).await;
        assert_eq!((status, updated["status"].as_str(), updated["full_name"].as_str()), (StatusCode::OK, Some("INACTIVE"), Some("Ana")));
        let (status, body) = app.get("/api/v1/people/999", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Person not found"));

        // Tags: any MAC spelling in, one canonical form out, found by every spelling.
        let tag = app.create("/api/v1/tags/", &token, json!({"mac_address": "aa-bb-cc-dd-ee-ff", "label": "Badge", "person_id": id(&ana), "is_active": true}), StatusCode::CREATED).await;
        assert_eq!((tag["mac_address"].as_str(), tag["active"].as_bool(), tag["is_active"].as_bool()), (Some("AA:BB:CC:DD:EE:FF"), Some(true), Some(true)));
        for spelling in ["aa-bb-cc-dd-ee-ff", "AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff", "AA:BB:CC:DD:EE:FF", "aabb.ccdd.eeff"] {
            let (status, found) = app.get(&format!("/api/v1/tags/by-mac/{spelling}"), &token).await;
            assert_eq!((status, id(&found)), (StatusCode::OK, id(&tag)), "{spelling}");
            let (status, body) = app.post("/api/v1/tags", &token, json!({"mac_address": spelling})).await;
            assert_eq!(status, StatusCode::CONFLICT, "{spelling}: {body}");
        }
        let (status, _) = app.get("/api/v1/tags/by-mac/AABBCCDDEE00", &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.get("/api/v1/tags/by-mac/nonsense", &token).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["path", "mac_address"])));
        let (status, body) = app.post("/api/v1/tags", &token, json!({"mac_address": "12:34"})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "mac_address"])));
        let (status, body) = app.post("/api/v1/tags", &token, json!({"mac_address": "112233445566", "person_id": 999})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "person_id"])));
        let spare = app.create("/api/v1/tags", &token, json!({"mac_address": "112233445566"}), StatusCode::CREATED).await;
        let bobs = app.create("/api/v1/tags", &token, json!({"mac_address": "11:22:33:44:55:77", "person_id": id(&bob)}), StatusCode::CREATED).await;
        let (_, ana_tags) = app.get(&format!("/api/v1/tags/?person_id={}&limit=1", id(&ana)), &token).await;
        assert_eq!(ids(&ana_tags), vec![id(&tag)], "filtered before paging");
        let (status, moved) = app.put(&format!("/api/v1/tags/{}", id(&spare)), &token, json!({"person_id": id(&bob), "mac_address": "11-22-33-44-55-68"})).await;
        assert_eq!((status, moved["mac_address"].as_str()), (StatusCode::OK, Some("11:22:33:44:55:68")));
        let (status, _) = app.put(&format!("/api/v1/tags/{}", id(&spare)), &token, json!({"mac_address": "AABBCCDDEEFF"})).await;
        assert_eq!(status, StatusCode::CONFLICT);

        // Deleting a person unassigns their tags instead of deleting them.
        assert_eq!(app.delete(&format!("/api/v1/people/{}", id(&bob)), &token).await, StatusCode::NO_CONTENT);
        let (_, kept) = app.get(&format!("/api/v1/tags/{}", id(&bobs)), &token).await;
        assert_eq!(kept["person_id"], Value::Null);
        assert_eq!(app.delete(&format!("/api/v1/tags/{}", id(&spare)), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/tags/{}", id(&spare)), &token).await.0, StatusCode::NOT_FOUND);

        let types: Vec<&str> = drain_events(&app, &mut events).await.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["PERSON_CREATED", "PERSON_CREATED", "PERSON_UPDATED", "TAG_CREATED", "TAG_CREATED", "TAG_CREATED", "TAG_UPDATED", "PERSON_DELETED", "TAG_DELETED"]);
    }

    async fn person_groups_and_membership(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let ana = app.create_id("/api/v1/people", &token, json!({"full_name": "Ana"})).await;
        let bob = app.create_id("/api/v1/people", &token, json!({"full_name": "Bob"})).await;
        let visitors = app.create("/api/v1/person-groups/", &token, json!({"name": "Visitors", "description": "guests"}), StatusCode::CREATED).await;
        let staff = app.create("/api/v1/person-groups/", &token, json!({"name": "Staff"}), StatusCode::CREATED).await;
        let (status, _) = app.post("/api/v1/person-groups", &token, json!({"name": "Visitors"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app.post("/api/v1/person-groups", &token, json!({"description": "no name"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let group = format!("/api/v1/person-groups/{}", id(&visitors));

        // Membership routes (they always failed in the original); unknown people are ignored.
        let (status, with) = app.put(&format!("{group}/people"), &token, json!({"people_ids": [ana, bob, 999]})).await;
        assert_eq!(status, StatusCode::OK, "{with}");
        assert_eq!((with["name"].as_str(), ids(&with["people"])), (Some("Visitors"), vec![ana, bob]));
        let (_, members) = app.get(&format!("{group}/people"), &token).await;
        assert_eq!(ids(&members), vec![ana, bob]);
        let (_, with) = app.get(&format!("{group}/with-members"), &token).await;
        assert_eq!(ids(&with["people"]), vec![ana, bob]);
        let (status, _) = app.put(&format!("{group}/people"), &token, json!({"people": [1]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get("/api/v1/person-groups/999/people", &token).await.0, StatusCode::NOT_FOUND);

        // The existing console reads groups on people and writes group_ids through them.
        let (_, people) = app.get("/api/v1/people/", &token).await;
        assert_eq!(people[0]["groups"], json!([{"id": id(&visitors), "name": "Visitors"}]));
        let (status, ana_now) = app.put(&format!("/api/v1/people/{ana}"), &token, json!({"group_ids": [id(&staff)]})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ana_now["groups"], json!([{"id": id(&staff), "name": "Staff"}]));
        let (status, body) = app.put(&format!("/api/v1/people/{ana}"), &token, json!({"group_ids": [999]})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "group_ids"])));
        let (_, members) = app.get(&format!("{group}/people"), &token).await;
        assert_eq!(ids(&members), vec![bob]);

        let (status, renamed) = app.put(&group, &token, json!({"name": "Guests"})).await;
        assert_eq!((status, renamed["description"].as_str()), (StatusCode::OK, Some("guests")));

        // A group that alert rules target cannot be deleted (the rules would widen to everyone).
        let now = "'2026-01-01T00:00:00+00:00'";
        app.sql(&format!("INSERT INTO alert_rules (name, rule_type, group_id, created_at, updated_at) VALUES ('no guests', 'FORBIDDEN_SECTOR', {}, {now}, {now})", id(&visitors))).await;
        assert_eq!(app.delete(&group, &token).await, StatusCode::CONFLICT);
        assert_eq!(app.delete(&format!("/api/v1/person-groups/{}", id(&staff)), &token).await, StatusCode::NO_CONTENT);
        let (_, ana_after) = app.get(&format!("/api/v1/people/{ana}"), &token).await;
        assert_eq!(ana_after["groups"], json!([]), "memberships go with the group");
    }
}
