//! The command line, run as a user would. (Being an integration test of this package also
//! makes `cargo test --workspace` build the `herald` binary the end-to-end tests start.)

use std::process::Command;

// A module file beside this one rather than a `tests/*.rs` file of its own, which would be a
// second test binary to link.
#[path = "cli/hostile.rs"]
mod hostile;

fn herald(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env_remove("HERALD_REDIS_URL")
        .output()
        .expect("run herald")
}

#[test]
fn an_unknown_role_is_refused_with_the_valid_ones_named() {
    let out = herald(&["serve", "--roles", "janitor"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("janitor") && stderr.contains("worker"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_redis_fails_start_up_with_a_clear_message() {
    let port = herald_testkit::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let out = herald(&["serve", "--bind", "127.0.0.1:0", "--redis-url", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed to connect to Redis"), "{stderr}");
}

/// Runs `herald serve --config <file>` with `text` as the file.
fn herald_with_config(text: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!(
        "herald-cli-{}-{}",
        std::process::id(),
        herald_testkit::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("herald.toml");
    std::fs::write(&path, text).unwrap();
    let out = herald(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--config",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

#[test]
fn a_bad_job_type_stops_start_up_naming_the_file_the_type_and_the_setting() {
    let out = herald_with_config(
        "[job_types.\"report.build\"]\nhandler = \"exec\"\ncommand = [\"true\"]\ntimeout = \"ten minutes\"\n",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("herald.toml")
            && stderr.contains("report.build")
            && stderr.contains("`timeout`"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_file_that_is_not_toml_is_refused_with_its_line() {
    let out = herald_with_config("[server]\nbind = 127.0.0.1:8080\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not valid TOML") && stderr.contains("line 2"),
        "{stderr}"
    );
}

#[test]
fn a_bad_server_setting_in_the_file_is_refused_like_the_flag() {
    let out = herald_with_config("[server]\nconcurrency = 0\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("concurrency"), "{stderr}");
}
