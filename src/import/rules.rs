//! The mapping rules for values the original accepted and this appliance refuses, each a
//! pure function (the README's table lists them).

use std::path::{Component, Path, PathBuf};

pub const ROLES: &[&str] = &["OPERATOR", "ADMIN", "SUPERADMIN"];
pub const DEVICE_TYPES: &[&str] = &["BLE_GATEWAY", "CAMERA", "ACCESS_CONTROLLER"];
pub const SEVERITIES: &[&str] = crate::incidents::SEVERITIES;

/// An enumeration value in the spelling we store (trimmed, upper case), if it is one of
/// `allowed`.
pub fn known(value: &str, allowed: &[&str]) -> Option<String> {
    let upper = value.trim().to_uppercase();
    allowed.contains(&upper.as_str()).then_some(upper)
}

/// A user's role: the original's free text, mapped to OPERATOR (the least privilege)
/// when it is not one we know; the note says so.
pub fn role(value: &str) -> (String, Option<String>) {
    match known(value, ROLES) {
        Some(role) => (role, None),
        None => (
            "OPERATOR".to_string(),
            Some(format!(
                "role {value:?} is not OPERATOR, ADMIN or SUPERADMIN: mapped to OPERATOR"
            )),
        ),
    }
}

/// An incident's status: unknown ones become RESOLVED when the incident was closed, else
/// OPEN.
pub fn incident_status(value: &str, closed: bool) -> (String, Option<String>) {
    let statuses = crate::incidents::STATUSES;
    match known(value, statuses) {
        Some(status) => (status, None),
        None => {
            let mapped = if closed { "RESOLVED" } else { "OPEN" };
            (
                mapped.to_string(),
                Some(format!("status {value:?} is not known: mapped to {mapped}")),
            )
        }
    }
}

/// A severity: unknown ones become MEDIUM (the original's default).
pub fn severity(column: &str, value: &str) -> (String, Option<String>) {
    match known(value, SEVERITIES) {
        Some(severity) => (severity, None),
        None => (
            "MEDIUM".to_string(),
            Some(format!(
                "{column} {value:?} is not LOW, MEDIUM, HIGH or CRITICAL: mapped to MEDIUM"
            )),
        ),
    }
}

/// A device position as fractions (0–1) of its plan. The original stored whatever unit its
/// console used: positions already within 0–1 are kept; positions within the plan's
/// `width` × `height` are divided by them; anything else (outside the plan, one coordinate
/// only, no plan) is dropped, and the note says why.
pub fn plan_fraction(
    x: Option<f64>,
    y: Option<f64>,
    on_plan: bool,
    plan_size: Option<(f64, f64)>,
) -> (Option<(f64, f64)>, Option<String>) {
    let (x, y) = match (x, y) {
        (None, None) => return (None, None),
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => (x, y),
        _ => {
            return (
                None,
                Some("position has one coordinate only: dropped".to_string()),
            );
        }
    };
    if !on_plan {
        return (
            None,
            Some(format!("position ({x}, {y}) without a floor plan: dropped")),
        );
    }
    let unit = 0.0..=1.0;
    if unit.contains(&x) && unit.contains(&y) {
        return (Some((x, y)), None);
    }
    match plan_size {
        Some((w, h)) if w > 0.0 && h > 0.0 && (0.0..=w).contains(&x) && (0.0..=h).contains(&y) => (
            Some((x / w, y / h)),
            Some(format!(
                "position ({x}, {y}) in plan units ({w} × {h}): converted to fractions"
            )),
        ),
        _ => (
            None,
            Some(format!(
                "position ({x}, {y}) is outside the plan (fractions 0–1, or within its width and height): dropped"
            )),
        ),
    }
}

/// The file under `media_dir` that a URL of the original's media names: the URL's path
/// (scheme, host and query left out), or its longest tail that exists there (the original
/// served `<media_root>` at `/media`, and sites moved it). Never outside `media_dir`.
pub fn media_file(media_dir: &Path, url: &str) -> Option<PathBuf> {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| {
        rest.find('/').map_or("", |slash| &rest[slash..])
    });
    let path = without_scheme.split(['?', '#']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let safe = parts.iter().all(|p| {
        let component = Path::new(p).components().next();
        matches!(component, Some(Component::Normal(_))) && !p.contains('\\')
    });
    if !safe {
        return None;
    }
    (0..parts.len())
        .map(|start| {
            parts[start..]
                .iter()
                .fold(media_dir.to_path_buf(), |dir, p| dir.join(p))
        })
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_enumerations_map_to_what_we_store() {
        assert_eq!(role(" admin ").0, "ADMIN");
        let (mapped, note) = role("Supervisor");
        assert_eq!(mapped, "OPERATOR");
        assert!(note.unwrap().contains("Supervisor"));
        assert_eq!(incident_status("resolved", true).0, "RESOLVED");
        assert_eq!(incident_status("WAITING", true).0, "RESOLVED");
        assert_eq!(incident_status("WAITING", false).0, "OPEN");
        assert_eq!(severity("severity", "urgent").0, "MEDIUM");
        assert_eq!(severity("severity", "high").0, "HIGH");
    }

    #[test]
    fn positions_become_plan_fractions_or_are_dropped() {
        assert_eq!(plan_fraction(None, None, true, None), (None, None));
        assert_eq!(
            plan_fraction(Some(0.5), Some(0.25), true, None).0,
            Some((0.5, 0.25))
        );
        let (pos, note) = plan_fraction(Some(400.0), Some(150.0), true, Some((800.0, 600.0)));
        assert_eq!(pos, Some((0.5, 0.25)));
        assert!(note.unwrap().contains("converted"));
        assert_eq!(
            plan_fraction(Some(900.0), Some(150.0), true, Some((800.0, 600.0))).0,
            None
        );
        assert_eq!(plan_fraction(Some(-0.1), Some(0.5), true, None).0, None);
        assert_eq!(plan_fraction(Some(0.5), None, true, None).0, None);
        assert_eq!(plan_fraction(Some(0.5), Some(0.5), false, None).0, None);
    }

    #[test]
    fn media_urls_resolve_inside_the_media_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("floor_plans")).unwrap();
        std::fs::write(dir.path().join("floor_plans/floor_1.png"), b"x").unwrap();
        let found = dir.path().join("floor_plans/floor_1.png");
        for url in [
            "http://old:8000/media/floor_plans/floor_1.png",
            "/media/floor_plans/floor_1.png?v=2",
            "floor_plans/floor_1.png",
        ] {
            assert_eq!(media_file(dir.path(), url), Some(found.clone()), "{url}");
        }
        assert_eq!(
            media_file(dir.path(), "/media/../floor_plans/floor_1.png"),
            None
        );
        assert_eq!(
            media_file(dir.path(), "/media/floor_plans/missing.png"),
            None
        );
    }
}
