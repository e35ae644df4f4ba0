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
    #[rustfmt::skip]
    let cases: &[Case] = &[
        (&[("SV_HTTP_LISTEN", "8080")], "http.listen", "ADDR:PORT"),
        (&[("SV_DATABASE_URL", "mysql://x/y")], "database.url", "postgres://"),
        (&[("SV_LOG_FORMAT", "xml")], "log.format", "text, json"),
        (&[("SV_TOKEN_TTL_MINUTES", "0")], "auth.token_ttl_minutes", "1 to 43200"),
        (&[("SV_TOKEN_TTL_MINUTES", "soon")], "auth.token_ttl_minutes", "minutes"),
        (&[("SVPOS_SECRET_KEY", "change-me-in-production")], "auth.jwt_secret", "well-known"),
        (&[("SV_JWT_SECRET", "short")], "auth.jwt_secret", "32 characters"),
        (&[("SV_HTTP_CORS_ORIGINS", "console.example")], "http.cors_origins", "https://"),
        (&[("SV_ADMIN_EMAIL", "nobody")], "auth.admin_email", "e-mail"),
        (&[("SV_BOOTSTRAP_ADMIN", "maybe")], "auth.bootstrap_admin", "true or false"),
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
fn a_renamed_key_is_still_read_under_its_old_name() {
    let loaded = load(
        Some("[database]\nsqlite_tag_index_merge_rows = 5000\n"),
        &[],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(loaded.config.database.sqlite_index_merge_rows, 5000);
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
        ("SV_METRICS_TOKEN", "a-very-secret-metrics-token"),
        ("RTLS_MQTT_PASSWORD", "a-very-secret-broker-password"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    let shown = config.to_redacted_toml();
    assert!(
        !shown.contains("hunter2") && !shown.contains("a-very-secret"),
        "{shown}"
    );
    assert!(shown.contains("postgres://sv:<redacted>@db/sv"), "{shown}");
    for debug in [
        format!("{config:?}"),
        format!("{:?}", config.http),
        format!("{:?}", config.mqtt),
        format!("{:?}", config.auth),
        format!("{:?}", config.database),
    ] {
        assert!(
            !debug.contains("hunter2") && !debug.contains("a-very-secret"),
            "{debug}"
        );
    }
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
    // Every key, those that are off by default too, in its own section.
    for key in securityvision::config::keys() {
        let (section, name) = key.rsplit_once('.').unwrap_or(("", &key));
        let section_text = match section {
            "" => example.split("\n[").next().unwrap().to_string(),
            _ => {
                let start = example
                    .find(&format!("\n[{section}]\n"))
                    .unwrap_or_else(|| panic!("[{section}] is not in config/securityvision.toml"));
                example[start + 1..]
                    .split("\n[")
                    .next()
                    .unwrap()
                    .to_string()
            }
        };
        assert!(
            section_text.lines().any(|line| line
                .trim_start_matches("# ")
                .starts_with(&format!("{name} ="))),
            "{key} is not documented in config/securityvision.toml"
        );
    }
}

#[test]
fn every_key_answers_to_sv_and_its_path_and_the_older_names_still_work() {
    let env = [
        ("SV_MQTT_MAX_KEEP_ALIVE_SECONDS", "120"),
        ("SV_INGEST_QUEUE_BYTES", "12582912"),
        ("SV_AUTH_ADMIN_EMAIL", "ops@site.example"),
        ("SV_TOKEN_TTL_MINUTES", "90"),
        ("SV_DEVICE_OFFLINE_AFTER_SECONDS", "30"),
        ("SV_MQTT_EXTERNAL_PASSWORD", "broker-password"),
        ("RTLS_MQTT_PORT", "8883"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    assert_eq!(config.mqtt.max_keep_alive_seconds, 120);
    assert_eq!(config.ingest.queue_bytes, 12 * 1024 * 1024);
    assert_eq!(config.auth.admin_email, "ops@site.example");
    assert_eq!(config.auth.token_ttl_minutes, 90);
    assert_eq!(config.devices.offline_after_seconds, 30);
    assert_eq!(
        config.mqtt.external_password.as_deref(),
        Some("broker-password")
    );
    assert_eq!(config.mqtt.external_port, 8883);

    let env = [
        ("SV_AUTH_TOKEN_TTL_MINUTES", "45"),
        ("SV_TOKEN_TTL_MINUTES", "90"),
        ("SVPOS_ACCESS_TOKEN_EXPIRE_MINUTES", "120"),
    ];
    let config = load(None, &env, Overrides::default()).unwrap().config;
    assert_eq!(config.auth.token_ttl_minutes, 45, "the derived name wins");
}

#[test]
fn environment_values_are_read_as_before() {
    let file = "[media]\nroot = \"/srv/media\"\n[mqtt]\ntls_listen = \"0.0.0.0:8883\"\n";
    let env = [
        ("RTLS_MQTT_TOPIC", "site/gateways/#"),
        ("CAMBUS_UPLINK_BASE_TOPIC", "site/uplink/"),
        ("SV_LOG_FORMAT", "JSON"),
        ("SV_MQTT_MODE", " External "),
        ("SV_MEDIA_ROOT", ""),
        ("SV_MQTT_TLS_LISTEN", " "),
        ("SV_MQTT_ALLOW_ANONYMOUS", "yes"),
        (
            "SV_HTTP_CORS_ORIGINS",
            "https://a.example, https://b.example,",
        ),
    ];
    let config = load(Some(file), &env, Overrides::default()).unwrap().config;
    assert_eq!(config.mqtt.gateway_tree, "site/gateways");
    assert_eq!(config.cambus.uplink_tree, "site/uplink");
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.mqtt.mode, securityvision::config::MqttMode::External);
    assert_eq!(
        config.media.root, None,
        "an empty value is none, over the file"
    );
    assert_eq!(config.mqtt.tls_listen, None);
    assert!(config.mqtt.allow_anonymous);
    assert_eq!(
        config.http.cors_origins,
        ["https://a.example", "https://b.example"]
    );
}

#[test]
fn a_value_against_a_rule_is_reported_with_where_it_came_from() {
    let refused =
        |file: Option<&str>, env: &[(&str, &str)]| match load(file, env, Overrides::default()) {
            Ok(_) => panic!("{file:?} {env:?} accepted"),
            Err(err) => err.to_string(),
        };
    type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            None,
            &[("SV_DATABASE_MAX_CONNECTIONS", "0")],
            &[
                "database.max_connections = \"0\"",
                "environment variable SV_DATABASE_MAX_CONNECTIONS",
                "1 to 200",
            ],
        ),
        (
            None,
            &[("SV_DATABASE_MAX_CONNECTIONS", "many")],
            &["a whole number, 1 to 200"],
        ),
        (
            Some("[database]\nmax_connections = 500\n"),
            &[],
            &["configuration file", "sv.toml", "1 to 200"],
        ),
        // This rule used to be checked only for values from the environment.
        (
            Some("[cambus]\nuplink_srt_port = 0\n"),
            &[],
            &["cambus.uplink_srt_port"],
        ),
        (
            None,
            &[("SV_MQTT_EXTERNAL_PORT", "70000")],
            &["mqtt.external_port", "70000"],
        ),
    ];
    for (file, env, expected) in cases {
        let err = refused(*file, env);
        assert!(expected.iter().all(|part| err.contains(part)), "{err}");
    }
}

#[test]
fn a_cluster_needs_postgresql_and_an_external_broker() {
    let postgres = ("SV_DATABASE_URL", "postgres://sv:secret@db/sv");
    let external = ("SV_MQTT_MODE", "external");
    let on = ("SV_CLUSTER_ENABLED", "true");
    #[rustfmt::skip]
    let refused: &[(&[(&str, &str)], &str)] = &[
        (&[on], "PostgreSQL"),
        (&[on, external], "PostgreSQL"),
        (&[on, postgres], "mqtt.mode = \"external\""),
        (&[on, postgres, external, ("SV_CLUSTER_LEASE_SECONDS", "1")], "3 to 300"),
    ];
    for (env, why) in refused {
        let err = load(None, env, Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{env:?} accepted"));
        let text = err.to_string();
        assert!(
            text.contains("cluster.") && text.contains(why),
            "{env:?}: {text}"
        );
        assert!(!text.contains("secret"), "password echoed: {text}");
    }
    let config = load(None, &[on, postgres, external], Overrides::default())
        .unwrap()
        .config;
    assert!(config.cluster.enabled);
    assert_eq!(config.cluster.lease_seconds, 10);
    assert_eq!(config.cluster.node_name, "", "empty: the host's name");
}
