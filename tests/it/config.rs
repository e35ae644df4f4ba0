//! Configuration layering and validation (no database needed).

use std::collections::HashMap;
use std::path::PathBuf;

use securityvision::config::{ConfigError, LogFormat, Overrides, load_from};

fn load(
    file: Option<&str>,
    env: &[(&str, &str)],
    overrides: Overrides,
) -> Result<securityvision::config::Loaded, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = overrides;
    if let Some(text) = file {
        let path = dir.path().join("sv.toml");
        std::fs::write(&path, text).unwrap();
        overrides.config_file = Some(path);
    } else if overrides.config_file.is_none() {
        overrides.config_file = Some(PathBuf::from("/dev/null"));
    }
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names: Vec<String> = env.keys().cloned().collect();
    load_from(&overrides, |name| env.get(name).cloned(), names.into_iter())
}

#[test]
fn defaults_make_a_working_appliance() {
    let config = load(None, &[], Overrides::default()).unwrap().config;
    assert_eq!(config.http.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.mqtt.listen, Some("0.0.0.0:1883".parse().unwrap()));
    assert!(config.database_url().starts_with("sqlite://"));
    assert!(config.database_url().ends_with("securityvision.db"));
    assert!(config.auth.jwt_secret.is_none(), "no built-in signing key");
    assert!(config.http.cors_origins.is_empty());
}

#[test]
fn precedence_is_defaults_file_environment_flags() {
    let file = "[http]\nlisten = \"127.0.0.1:1000\"\n[mqtt]\nlisten = \"127.0.0.1:2000\"\n[log]\nformat = \"json\"\n[auth]\ntoken_ttl_minutes = 30\n";
    let env = [
        ("SV_MQTT_LISTEN", "127.0.0.1:2001"),
        ("SV_HTTP_LISTEN", "127.0.0.1:1001"),
    ];
    let flags = Overrides {
        http_listen: Some("127.0.0.1:1002".into()),
        ..Overrides::default()
    };
    let config = load(Some(file), &env, flags).unwrap().config;
    assert_eq!(
        config.http.listen.to_string(),
        "127.0.0.1:1002",
        "flag beats env and file"
    );
    assert_eq!(
        config.mqtt.listen,
        Some("127.0.0.1:2001".parse().unwrap()),
        "env beats file"
    );
    assert_eq!(config.log.format, LogFormat::Json, "file beats default");
    assert_eq!(config.auth.token_ttl_minutes, 30);
    assert_eq!(config.auth.max_failed_logins, 10, "default kept");
}

#[test]
fn the_original_backends_variable_names_are_accepted() {
    let secret = "an-old-site-secret-that-is-long-enough-1234";
    let env = [
        ("DATABASE_URL", "postgresql://u:pw@db/rtls"),
        ("SVPOS_SECRET_KEY", secret),
        ("SVPOS_ACCESS_TOKEN_EXPIRE_MINUTES", "60"),
        ("PUBLIC_BASE_URL", "https://rtls.example"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    assert_eq!(
        config.database.url.as_deref(),
        Some("postgresql://u:pw@db/rtls")
    );
    assert_eq!(config.auth.jwt_secret.as_deref(), Some(secret));
    assert_eq!(config.auth.token_ttl_minutes, 60);
    assert_eq!(
        config.http.public_base_url.as_deref(),
        Some("https://rtls.example")
    );

    let env = [
        ("DATABASE_URL", "postgres://old/db"),
        ("SV_DATABASE_URL", "postgres://new/db"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    assert_eq!(
        config.database.url.as_deref(),
        Some("postgres://new/db"),
        "SV_ names win over aliases"
    );
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt");
    std::fs::write(&path, "a-secret-read-from-a-file-0123456789\n").unwrap();
    let env = [("SV_JWT_SECRET_FILE", path.to_str().unwrap())];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    assert_eq!(
        config.auth.jwt_secret.as_deref(),
        Some("a-secret-read-from-a-file-0123456789")
    );

    let err = load(
        None,
        &[("SV_JWT_SECRET_FILE", "/nonexistent/jwt")],
        Overrides::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("SV_JWT_SECRET_FILE"), "{err}");
}

#[test]
fn bad_values_name_the_key_the_value_and_what_is_allowed() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("SV_HTTP_LISTEN", "8080")], "http.listen", "ADDR:PORT"),
        (
            &[("SV_DATABASE_URL", "mysql://x/y")],
            "database.url",
            "postgres://",
        ),
        (&[("SV_LOG_FORMAT", "xml")], "log.format", "text, json"),
        (
            &[("SV_TOKEN_TTL_MINUTES", "0")],
            "auth.token_ttl_minutes",
            "1 to 43200",
        ),
        (
            &[("SV_TOKEN_TTL_MINUTES", "soon")],
            "auth.token_ttl_minutes",
            "minutes",
        ),
        (
            &[("SVPOS_SECRET_KEY", "change-me-in-production")],
            "auth.jwt_secret",
            "well-known",
        ),
        (
            &[("SV_JWT_SECRET", "short")],
            "auth.jwt_secret",
            "32 characters",
        ),
        (
            &[("SV_HTTP_CORS_ORIGINS", "console.example")],
            "http.cors_origins",
            "https://",
        ),
        (
            &[("SV_ADMIN_EMAIL", "nobody")],
            "auth.admin_email",
            "e-mail",
        ),
        (
            &[("SV_BOOTSTRAP_ADMIN", "maybe")],
            "auth.bootstrap_admin",
            "true or false",
        ),
    ];
    for (env, key, allowed) in cases {
        let err = load(None, env, Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{env:?} accepted"));
        let text = err.to_string();
        assert!(
            text.contains(key) && text.contains(allowed),
            "{env:?}: {text}"
        );
        assert!(
            !text.contains("change-me-in-production"),
            "secret echoed: {text}"
        );
    }
    let err = load(None, &[("SV_HTTP_LISTEN", "8080")], Overrides::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("SV_HTTP_LISTEN") && err.to_string().contains("\"8080\""),
        "{err}"
    );
}

#[test]
fn unknown_keys_in_the_file_are_errors_and_unknown_variables_warnings() {
    let err = load(
        Some("[http]\nlisten_addr = \"0.0.0.0:1\"\n"),
        &[],
        Overrides::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("listen_addr"), "{err}");
    let err = load(Some("[http]\nlisten = 8080\n"), &[], Overrides::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("listen"), "{err}");

    let loaded = load(
        None,
        &[("SV_HTTP_LISTN", "x"), ("SV_TEST_ANYTHING", "y")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("SV_HTTP_LISTN"));
}

#[test]
fn config_show_redacts_secrets() {
    let env = [
        ("SV_DATABASE_URL", "postgres://sv:hunter2-password@db/sv"),
        ("SV_JWT_SECRET", "a-very-secret-signing-key-0123456789"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    let shown = config.to_redacted_toml();
    assert!(
        !shown.contains("hunter2") && !shown.contains("a-very-secret"),
        "{shown}"
    );
    assert!(shown.contains("postgres://sv:<redacted>@db/sv"), "{shown}");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("a-very-secret"),
        "{debug}"
    );
}

#[test]
fn the_example_file_parses_and_documents_every_key() {
    let example = securityvision::config::EXAMPLE;
    let config = load(Some(example), &[], Overrides::default())
        .unwrap()
        .config;
    let defaults = load(None, &[], Overrides::default()).unwrap().config;
    assert_eq!(
        config.to_redacted_toml(),
        defaults.to_redacted_toml(),
        "the example states the defaults"
    );
    let shown: toml::Table = toml::from_str(&defaults.to_redacted_toml()).unwrap();
    for (section, value) in &shown {
        let keys: Vec<String> = match value.as_table() {
            Some(table) => table.keys().cloned().collect(),
            None => vec![section.clone()],
        };
        for key in keys {
            assert!(
                example.contains(&format!("{key} =")),
                "{section}.{key} is not documented in config/securityvision.toml"
            );
        }
    }
}
