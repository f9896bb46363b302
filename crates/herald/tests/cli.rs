//! The command line, run as a user would. (Being an integration test of this package also
//! makes `cargo test --workspace` build the `herald` binary the end-to-end tests start.)

use std::process::Command;

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
