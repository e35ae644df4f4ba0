//! What the benchmarks share: a floor plan to place gateways on, the administrator's login
//! and the console stream's events. Each benchmark declares `mod common;`.

// Each benchmark is a crate of its own and uses part of this module.
#![allow(dead_code)]

use securityvision::store::Store;
use securityvision::store::devices::{BLE_GATEWAY, Device};
use securityvision::store::site::{Building, Floor, FloorPlan};
use serde_json::{Value, json};

/// A floor plan, on the floor "G" of a building.
pub struct Plan {
    pub building_id: i64,
    pub floor_id: i64,
    pub id: i64,
}

impl Plan {
    /// Saves the building `(name, code)`, its floor and the plan `name` of `size` metres.
    pub async fn save(store: &Store, building: (&str, &str), name: &str, size: (f64, f64)) -> Plan {
        let building = Building {
            name: building.0.into(),
            code: building.1.into(),
            ..Default::default()
        };
        let building = store.save_building(&building).await.unwrap();
        let floor = Floor {
            building_id: building.id,
            name: "G".into(),
            ..Default::default()
        };
        let floor = store.save_floor(&floor).await.unwrap();
        let plan = FloorPlan {
            floor_id: floor.id,
            name: name.into(),
            width_m: Some(size.0),
            height_m: Some(size.1),
            ..Default::default()
        };
        let plan = store.save_floor_plan(&plan).await.unwrap();
        Plan {
            building_id: building.id,
            floor_id: floor.id,
            id: plan.id,
        }
    }

    /// A BLE gateway on the plan, at `at` (fractions of its width and height) if given.
    pub fn gateway(&self, name: String, mac: String, at: Option<(f64, f64)>) -> Device {
        Device {
            name,
            device_type: BLE_GATEWAY.into(),
            mac_address: Some(mac),
            floor_plan_id: Some(self.id),
            floor_id: Some(self.floor_id),
            building_id: Some(self.building_id),
            pos_x: at.map(|(x, _)| x),
            pos_y: at.map(|(_, y)| y),
            ..Default::default()
        }
    }
}

/// POSTs `body` to `url`, with the bearer `token` if given: the JSON answer.
async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Logs in as the first administrator: the access token.
pub async fn login(http: &reqwest::Client, base: &str, password: &str) -> String {
    let body = json!({"email": "admin@localhost", "password": password});
    let login = post(http, format!("{base}/api/v1/auth/login"), None, body).await;
    login["access_token"].as_str().unwrap().to_string()
}

/// [`login`], then the change to `new_password` that a generated password must have
/// before anything else is allowed: the access token.
pub async fn first_login(
    http: &reqwest::Client,
    base: &str,
    password: &str,
    new_password: &str,
) -> String {
    let token = login(http, base, password).await;
    let body = json!({"current_password": password, "new_password": new_password});
    let url = format!("{base}/api/v1/auth/change-password");
    let changed = post(http, url, Some(&token), body).await;
    changed["access_token"]
        .as_str()
        .map_or(token, str::to_string)
}

/// The console stream's events, taken out of the chunks they arrive in.
#[derive(Default)]
pub struct Events {
    buffer: String,
}

impl Events {
    /// Adds `chunk`: the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            events.push(self.buffer.drain(..end + 2).collect());
        }
        events
    }
}

/// The JSON of a stream event's `data:` line.
pub fn data(event: &str) -> Option<Value> {
    let data = event.lines().find_map(|l| l.strip_prefix("data:"))?;
    serde_json::from_str(data.trim()).ok()
}
