//! The settings as flags, variables and a file give them: defaults, checks, layering.

use std::time::Duration;

use herald_api::{CorsOrigin, TrustedProxy};
use herald_core::apikey::PlainKey;
use herald_notifier::schedule::RetrySchedule;

use super::*;

fn parse(args: &[&str]) -> Result<Settings, SettingsError> {
    let mut argv = vec!["herald", "serve"];
    argv.extend_from_slice(args);
    Settings::load(argv)
}

fn redis(settings: &Settings) -> &RedisSettings {
    match &settings.backend {
        Backend::Redis(redis) => redis,
        Backend::Memory => panic!("not on Redis"),
    }
}

#[test]
fn defaults_run_every_role_on_the_embedded_backend() {
    let settings = parse(&[]).unwrap();
    assert_eq!(
        settings.server.roles,
        [Role::Api, Role::Worker, Role::Notifier]
    );
    assert!(matches!(settings.backend, Backend::Memory));
    assert_eq!(settings.notifier.retry_schedule, RetrySchedule::default());
    assert_eq!(settings.notifier.timeout, Duration::from_secs(15));
    assert!(!settings.notifier.allow_private_targets);
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.jobs.lease_timeout, Duration::from_secs(30));
    assert_eq!(settings.jobs.retention, Duration::from_secs(48 * 3600));
    assert_eq!(settings.api.sse_heartbeat, Duration::from_secs(15));
    assert_eq!(settings.api.sse_retry, Duration::from_secs(3));
    assert!(settings.api.cors_origins.is_empty());
    let on_redis = parse(&["--redis-url", "redis://127.0.0.1:1"]).unwrap();
    let redis = redis(&on_redis);
    assert_eq!(redis.prefix, "herald");
    assert_eq!(redis.timeouts.connect, Duration::from_secs(1));
    assert_eq!(redis.timeouts.command, Duration::from_secs(1));
}

#[test]
fn writes_are_acknowledged_locally_unless_replicated_acks_are_asked_for() {
    let local = parse(&["--redis-url", "redis://127.0.0.1:1"]).unwrap();
    assert_eq!(redis(&local).ack, RedisAck::Local);
    let replicated = parse(&[
        "--redis-url",
        "redis://127.0.0.1:1",
        "--redis-ack",
        "replicated",
        "--redis-ack-timeout",
        "250ms",
    ])
    .unwrap();
    assert_eq!(
        redis(&replicated).ack,
        RedisAck::Replicated {
            timeout: Duration::from_millis(250)
        }
    );
    let file = "[server]\nredis_url = \"redis://127.0.0.1:1\"\nredis_ack = \"replicated\"\n";
    let from_file = load_with_file(file, &[]).unwrap();
    assert_eq!(
        redis(&from_file).ack,
        RedisAck::Replicated {
            timeout: Duration::from_secs(1)
        }
    );
    assert!(parse(&["--redis-ack", "quorum"]).is_err());
}

#[test]
fn the_redis_password_is_not_shown_by_the_settings() {
    let settings = parse(&["--redis-url", "redis://:hunter2@127.0.0.1:1"]).unwrap();
    assert_eq!(
        redis(&settings).url.expose(),
        "redis://:hunter2@127.0.0.1:1"
    );
    let debug = format!("{settings:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn the_mode_is_development_unless_production_is_asked_for() {
    let settings = parse(&[]).unwrap();
    assert_eq!(settings.server.mode, Mode::Development);
    assert!(settings.server.bootstrap_admin_key.is_none());
    let settings = parse(&["--mode", "production"]).unwrap();
    assert_eq!(settings.server.mode, Mode::Production);
    assert!(parse(&["--mode", "staging"]).is_err());
}

#[test]
fn a_bootstrap_admin_key_is_parsed_and_a_bad_one_is_refused_without_echoing_it() {
    let key = PlainKey::generate();
    let settings = parse(&["--bootstrap-admin-key", &key.reveal()]).unwrap();
    assert_eq!(settings.server.bootstrap_admin_key, Some(key.clone()));
    assert!(!format!("{settings:?}").contains(&key.reveal()));

    let typo = format!("{}!", key.reveal());
    let error = parse(&["--bootstrap-admin-key", &typo])
        .unwrap_err()
        .to_string();
    assert!(error.contains("herald keys generate"), "{error}");
    assert!(!error.contains(&typo), "{error}");
}

#[test]
fn token_settings_are_parsed_bounded_and_never_echoed() {
    let tokens = parse(&[]).unwrap().api.tokens;
    assert!(tokens.secret.is_none() && tokens.previous.is_none());
    assert_eq!(tokens.ttl, Duration::from_secs(3600));

    let current = "c".repeat(32);
    let previous = "p".repeat(40);
    let settings = parse(&[
        "--token-secret",
        &current,
        "--token-secret-previous",
        &previous,
        "--token-ttl",
        "10m",
    ])
    .unwrap();
    let tokens = &settings.api.tokens;
    assert!(tokens.secret.is_some() && tokens.previous.is_some());
    assert_eq!(tokens.ttl, Duration::from_secs(600));
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(&current) && !debug.contains(&previous),
        "{debug}"
    );

    let short = "s".repeat(31);
    let error = parse(&["--token-secret", &short]).unwrap_err().to_string();
    assert!(error.contains("at least 32 bytes"), "{error}");
    assert!(!error.contains(&short), "{error}");
    assert!(parse(&["--token-ttl", "25h"]).is_err());
}

#[test]
fn a_bare_herald_serves_with_the_defaults() {
    let settings = Settings::load(["herald"]).unwrap();
    assert_eq!(
        settings.server.roles,
        [Role::Api, Role::Worker, Role::Notifier]
    );
}

#[test]
fn serve_flags_work_without_the_serve_command() {
    let settings =
        Settings::load(["herald", "--bind", "127.0.0.1:9999", "--roles", "worker"]).unwrap();
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:9999");
    assert_eq!(settings.server.roles, [Role::Worker]);
}

#[test]
fn a_keys_command_is_told_apart_from_serving() {
    let invocation = Invocation::parse(["herald", "keys", "generate"]).unwrap();
    assert!(matches!(invocation, Invocation::Keys(_)));
    let invocation = Invocation::parse(["herald", "serve", "--roles", "api"]).unwrap();
    let Invocation::Serve(settings) = invocation else {
        panic!("serving");
    };
    assert_eq!(settings.server.roles, [Role::Api]);
}

#[test]
fn roles_are_a_comma_separated_list() {
    let roles = |list: &str| parse(&["--roles", list]).map(|s| s.server.roles);
    assert_eq!(roles("worker").unwrap(), [Role::Worker]);
    assert_eq!(roles("api,worker").unwrap(), [Role::Api, Role::Worker]);
    assert_eq!(roles("notifier").unwrap(), [Role::Notifier]);
    assert!(roles("janitor").is_err());
}

#[test]
fn webhook_settings_have_flags() {
    let notifier = parse(&[
        "--webhook-retry-schedule",
        "1s,2s",
        "--webhook-timeout",
        "2s",
        "--webhook-allow-private-targets",
    ])
    .unwrap()
    .notifier;
    assert_eq!(
        notifier.retry_schedule.delays(),
        [Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert_eq!(notifier.timeout, Duration::from_secs(2));
    assert!(notifier.allow_private_targets);
    assert!(parse(&["--webhook-retry-schedule", "5s,soon"]).is_err());
}

#[test]
fn the_console_is_on_unless_turned_off() {
    assert!(parse(&[]).unwrap().api.console);
    assert!(!parse(&["--console", "false"]).unwrap().api.console);
    assert!(parse(&["--console", "true"]).unwrap().api.console);
    assert!(parse(&["--console", "maybe"]).is_err());
}

#[test]
fn client_commands_read_their_own_arguments() {
    let parsed = Invocation::parse([
        "herald",
        "jobs",
        "submit",
        "demo.report",
        "--payload",
        "{}",
        "--follow",
        "--url",
        "http://127.0.0.1:9",
    ])
    .unwrap();
    let Invocation::Client(crate::client::ClientCommand::Jobs(jobs)) = parsed else {
        panic!("not a jobs command: {parsed:?}");
    };
    assert_eq!(jobs.connection.url, "http://127.0.0.1:9");
    assert!(matches!(
        jobs.action,
        crate::client::JobsAction::Submit { follow: true, .. }
    ));
    assert!(Invocation::parse(["herald", "webhooks", "replay", "x"]).is_err());
}

#[test]
fn abuse_limits_have_flags_and_env_twins() {
    let defaults = parse(&[]).unwrap().api;
    let rate = defaults.rate_limit;
    assert_eq!((rate.per_second, rate.burst), (100, 200));
    assert_eq!(defaults.max_streams_per_key, 100);
    assert_eq!(defaults.max_waiters_per_key, 100);
    assert_eq!(defaults.max_json_depth, 64);
    assert_eq!(defaults.max_header_bytes, 32 * 1024);
    assert_eq!(defaults.client_request_timeout, Duration::from_secs(5));
    let api = parse(&[
        "--rate-limit",
        "0",
        "--rate-limit-burst",
        "7",
        "--max-streams-per-key",
        "3",
        "--max-waiters-per-key",
        "4",
        "--max-json-depth",
        "16",
        "--client-request-timeout",
        "2s",
        "--client-disconnect-timeout",
        "500ms",
        "--keep-alive",
        "10s",
    ])
    .unwrap()
    .api;
    assert_eq!((api.rate_limit.per_second, api.rate_limit.burst), (0, 7));
    assert_eq!((api.max_streams_per_key, api.max_waiters_per_key), (3, 4));
    assert_eq!(api.max_json_depth, 16);
    assert_eq!(api.client_request_timeout, Duration::from_secs(2));
    assert_eq!(api.client_disconnect_timeout, Duration::from_millis(500));
    assert_eq!(api.keep_alive, Duration::from_secs(10));
    assert!(parse(&["--max-json-depth", "129"]).is_err());
    assert_eq!(
        parse(&["--max-header-bytes", "4096"])
            .unwrap()
            .api
            .max_header_bytes,
        4096
    );
    assert!(parse(&["--max-header-bytes", "200000"]).is_err());
    assert!(parse(&["--rate-limit-burst", "0"]).is_err());
}

#[test]
fn failed_authentications_are_limited_per_address_by_flags_with_env_twins() {
    let defaults = parse(&[]).unwrap().api;
    let limit = defaults.auth_failure_rate_limit;
    assert_eq!((limit.per_second, limit.burst), (5, 20));
    assert!(defaults.trusted_proxies.is_empty());
    let api = parse(&[
        "--auth-failure-rate-limit",
        "0",
        "--auth-failure-rate-limit-burst",
        "3",
        "--trusted-proxies",
        "10.0.0.0/8,192.168.1.7",
    ])
    .unwrap()
    .api;
    let limit = api.auth_failure_rate_limit;
    assert_eq!((limit.per_second, limit.burst), (0, 3));
    assert_eq!(
        api.trusted_proxies,
        [
            TrustedProxy::parse("10.0.0.0/8").unwrap(),
            TrustedProxy::parse("192.168.1.7").unwrap()
        ]
    );
    assert!(parse(&["--auth-failure-rate-limit-burst", "0"]).is_err());
    let error = parse(&["--trusted-proxies", "10.0.0.0/40"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an IP address or network"), "{error}");
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(
        parse(&["--lease-timeout", "2s"])
            .unwrap()
            .jobs
            .lease_timeout,
        Duration::from_secs(2)
    );
    assert!(parse(&["--lease-timeout", "soon"]).is_err());
    assert!(parse(&["--lease-timeout", "0s"]).is_err());
    let settings = parse(&[
        "--redis-url",
        "redis://127.0.0.1:1",
        "--redis-connect-timeout",
        "250ms",
        "--redis-command-timeout",
        "3s",
    ])
    .unwrap();
    let timeouts = redis(&settings).timeouts;
    assert_eq!(timeouts.connect, Duration::from_millis(250));
    assert_eq!(timeouts.command, Duration::from_secs(3));
    assert!(parse(&["--redis-command-timeout", "0s"]).is_err());
    assert!(parse(&["--concurrency", "0"]).is_err());
}

#[test]
fn heartbeats_longer_than_15_seconds_are_refused() {
    assert_eq!(
        parse(&["--sse-heartbeat", "500ms"])
            .unwrap()
            .api
            .sse_heartbeat,
        Duration::from_millis(500)
    );
    assert!(parse(&["--sse-heartbeat", "15s"]).is_ok());
    let err = parse(&["--sse-heartbeat", "16s"]).unwrap_err().to_string();
    assert!(err.contains("at most 15s"), "{err}");
    assert!(parse(&["--sse-heartbeat", "0s"]).is_err());
}

/// Settings from a command line with a configuration file of `text`.
fn load_with_file(text: &str, args: &[&str]) -> Result<Settings, SettingsError> {
    let dir = std::env::temp_dir().join(format!("herald-config-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("herald.toml");
    std::fs::write(&path, text).unwrap();
    let mut argv = vec!["herald".to_owned(), "serve".to_owned()];
    argv.push(format!("--config={}", path.display()));
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let loaded = Settings::load(argv);
    std::fs::remove_dir_all(&dir).unwrap();
    loaded
}

fn unique() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn the_files_server_settings_replace_the_defaults_and_flags_win_over_them() {
    let text = r#"
        [server]
        bind = "127.0.0.1:9191"
        concurrency = 3
        roles = ["api", "worker"]
        webhook_allow_private_targets = true
        lease-timeout = "7s"
        trusted_proxies = ["10.0.0.0/8"]
    "#;
    let settings = load_with_file(text, &[]).unwrap();
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:9191");
    assert_eq!(settings.worker.concurrency, 3);
    assert_eq!(settings.server.roles, [Role::Api, Role::Worker]);
    assert!(settings.notifier.allow_private_targets);
    assert_eq!(settings.jobs.lease_timeout, Duration::from_secs(7));
    assert_eq!(settings.api.trusted_proxies.len(), 1);
    // Untouched settings keep their defaults.
    assert_eq!(settings.jobs.retention, Duration::from_secs(48 * 3600));
    assert!(settings.file.is_some());

    let settings = load_with_file(text, &["--concurrency", "5"]).unwrap();
    assert_eq!(settings.worker.concurrency, 5);
    // A flag that names the default value still wins over the file.
    let settings = load_with_file(text, &["--concurrency", "16"]).unwrap();
    assert_eq!(settings.worker.concurrency, 16);
}

#[test]
fn a_bad_server_setting_in_the_file_is_named() {
    let err = load_with_file("[server]\nbnid = \"x\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.bnid") && err.contains("bind"), "{err}");
    let err = load_with_file("[server]\nconcurrency = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("concurrency"), "{err}");
    assert!(
        err.contains("herald.toml") && err.contains("`server.concurrency`"),
        "{err}"
    );
    let err = load_with_file("[server]\nconfig = \"other.toml\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.config"), "{err}");
    let err = load_with_file("[server]\nmode = \"staging\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`server.mode`") && err.contains("staging"),
        "{err}"
    );
    let err = load_with_file("[server]\ntoken-secret = \"short and secret\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`server.token_secret`") && !err.contains("short and secret"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let argv = ["herald", "--config", "/nonexistent/herald.toml"];
    let err = Settings::load(argv).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/herald.toml"), "{err}");
}

#[test]
fn cors_origins_are_a_comma_separated_list_of_origins() {
    let settings = parse(&["--cors-origins", "https://a.example,http://localhost:5173"]).unwrap();
    let origins: Vec<&str> = settings
        .api
        .cors_origins
        .iter()
        .map(CorsOrigin::as_str)
        .collect();
    assert_eq!(origins, ["https://a.example", "http://localhost:5173"]);
    let err = parse(&["--cors-origins", "https://a.example/app"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("https://a.example/app"), "{err}");
}

#[test]
fn every_serve_flag_has_a_place_in_the_settings() {
    use clap::CommandFactory as _;
    let command = crate::cli::Cli::command();
    let mut flags: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.get_long().is_some())
        .map(|arg| arg.get_id().to_string())
        .filter(|id| !matches!(id.as_str(), "config" | "help" | "version"))
        .collect();
    flags.sort();
    assert_eq!(flags, layers::flags());
}
