//! The configuration of every property test, so that a failure can be run again.
//!
//! Each test draws its cases from a seed: the one in `PROPTEST_RNG_SEED` when set, a fixed one
//! on CI (where `CI` is set) so a red build fails the same way on every machine, a fresh random
//! one otherwise so local runs keep exploring. The seed is printed with the command that reruns
//! the test with it (the test harness shows the output of a failing test). A failing case is
//! also saved in `proptest-regressions/` next to the test's sources, to be committed: proptest
//! tries the saved cases first on every later run.
//!
//! It also holds what more than one suite draws cases from ([`json_value`], [`hyphenated_uuid`]).

use std::hash::{BuildHasher as _, RandomState};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use serde_json::Value;

/// The seed of every property test on CI.
pub const CI_SEED: u64 = 11;

/// `cases` cases drawn from this run's seed, which is printed with the command to rerun.
pub fn config(cases: u32) -> Config {
    // `Config::default()` has read `PROPTEST_RNG_SEED` (and proptest's other variables).
    let defaults = Config::default();
    let seed = match defaults.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random if std::env::var_os("CI").is_some() => CI_SEED,
        RngSeed::Random => RandomState::new().hash_one(std::process::id()),
    };
    eprintln!(
        "proptest seed {seed}; to run this test again with it: PROPTEST_RNG_SEED={seed} cargo test {}",
        rerun_arguments()
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..defaults
    }
}

/// `-p <package> --test <target> -- <test> --exact`, as far as this process can tell them:
/// cargo names the package when it runs the test, the binary's name is the target's with a
/// hash, and the harness names each test's thread after the test.
fn rerun_arguments() -> String {
    let mut arguments = Vec::new();
    let package = std::env::var("CARGO_PKG_NAME").ok();
    if let Some(package) = &package {
        arguments.push(format!("-p {package}"));
    }
    let binary = std::env::current_exe().ok().and_then(|path| {
        let stem = path.file_stem()?.to_str()?.to_owned();
        Some(match stem.rsplit_once('-') {
            Some((target, _hash)) => target.to_owned(),
            None => stem,
        })
    });
    match (binary, &package) {
        (Some(binary), Some(package)) if binary == package.replace('-', "_") => {
            arguments.push("--lib".to_owned());
        }
        (Some(binary), _) => arguments.push(format!("--test {binary}")),
        (None, _) => {}
    }
    if let Some(test) = std::thread::current().name().filter(|name| *name != "main") {
        arguments.push(format!("-- {test} --exact"));
    }
    arguments.join(" ")
}

/// Any JSON value up to `depth` levels deep, about `size` nodes in all, arrays and objects of
/// fewer than `branch` items: null, booleans, the integers and finite floats that break naive
/// code, strings from `strings`, object keys from `keys`.
pub fn json_value<S, K>(
    strings: S,
    keys: K,
    depth: u32,
    size: u32,
    branch: u32,
) -> BoxedStrategy<Value>
where
    S: Strategy<Value = String> + 'static,
    K: Strategy<Value = String> + 'static,
{
    let keys = keys.boxed();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |x| x.is_finite())
            .prop_map(Value::from),
        strings.prop_map(Value::from),
    ];
    let items = 0..branch as usize;
    leaf.prop_recursive(depth, size, branch, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), items.clone()).prop_map(Value::from),
            prop::collection::btree_map(keys.clone(), inner, items.clone())
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A UUID written out by hand from its 128 bits, in the canonical hyphenated form.
pub fn hyphenated_uuid(bits: u128) -> String {
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
