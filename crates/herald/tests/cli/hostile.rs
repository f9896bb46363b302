//! Hostile configuration: any text as the configuration file, any table as a job type, any
//! `HERALD_JOB_TYPES__…` variable. Start-up answers with a value or an error that names the
//! file (or the variable), never a panic. Case counts are bounded to keep the suite fast.

use std::path::Path;

use herald::file::{ConfigFile, FileError, TYPE_OVERRIDE_PREFIX, env_name};
use herald::job_types::assemble;
use herald_core::JobLimits;
use herald_testkit::props::config;
use herald_worker::Registry;
use proptest::prelude::*;
use toml::{Table, Value};

const PATH: &str = "/etc/herald/hostile.toml";

fn parse(text: &str) -> Result<ConfigFile, FileError> {
    ConfigFile::parse(Path::new(PATH), text)
}

/// The keys a job type's table may hold, and a few it may not.
const KEYS: [&str; 22] = [
    "handler",
    "command",
    "url",
    "method",
    "headers",
    "env",
    "set_env",
    "working_dir",
    "result_content_type",
    "max_result_bytes",
    "max_response_bytes",
    "connect_timeout",
    "timeout",
    "max_attempts",
    "retry_backoff",
    "base",
    "max",
    "retention",
    "max_payload_bytes",
    "concurrency",
    "comand",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A setting's value: the strings job types use (handlers, durations, names), odd numbers,
/// and nested arrays and tables.
fn toml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "exec",
            "http",
            "external",
            "shell",
            "10m",
            "0s",
            "soon",
            "1s",
            "48h",
            "99999999999999999999h",
            "sh",
            "",
            "\0",
            "http://127.0.0.1:9/x",
            "GET",
            "BR EW",
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0i64..20).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Value::Table(map.into_iter().collect())),
        ]
    })
}

fn job_type_table() -> impl Strategy<Value = Table> {
    prop::collection::btree_map(key(), toml_value(), 0..7).prop_map(|map| map.into_iter().collect())
}

fn job_type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "demo.sleep",
            "demo.report",
            "report.build",
            "x",
            "bad name!"
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._:\\-]{0,12}",
        any::<String>(),
    ]
}

/// A whole file as a table: `[server]` and `[job_types]` usually of the right shape.
fn file_table() -> impl Strategy<Value = Table> {
    let job_types = prop_oneof![
        4 => prop::collection::btree_map(job_type_name(), job_type_table(), 0..4)
            .prop_map(|map| Value::Table(map.into_iter().map(|(k, v)| (k, Value::Table(v))).collect())),
        1 => toml_value(),
    ];
    let server = prop_oneof![
        4 => job_type_table().prop_map(Value::Table),
        1 => toml_value(),
    ];
    (
        proptest::option::of(server),
        proptest::option::of(job_types),
        proptest::option::of((key(), toml_value())),
    )
        .prop_map(|(server, job_types, stray)| {
            let mut root = Table::new();
            if let Some(server) = server {
                root.insert("server".to_owned(), server);
            }
            if let Some(job_types) = job_types {
                root.insert("job_types".to_owned(), job_types);
            }
            if let Some((key, value)) = stray {
                root.insert(key, value);
            }
            root
        })
}

/// Text that is nearly a configuration file: lines of it, shuffled with garbage.
fn toml_ish_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[server]".to_owned()),
        Just("[job_types.\"report.build\"]".to_owned()),
        Just("[job_types]".to_owned()),
        Just("[[job_types]]".to_owned()),
        Just("handler = \"exec\"".to_owned()),
        Just("command = [\"true\"]".to_owned()),
        Just("timeout = \"10m\"".to_owned()),
        Just("bind = 127.0.0.1:8080".to_owned()),
        Just("x = { a = [1, 2, { b = \"".to_owned()),
        "[a-z_]{1,10} = [0-9\"\\[\\]{}a-z,. ]{0,20}",
        any::<String>(),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

fn names_the_file(error: &FileError) -> bool {
    error.to_string().contains(PATH)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_as_the_file_is_read_or_refused_naming_the_file(
        text in prop_oneof![any::<String>(), toml_ish_text()],
    ) {
        if let Err(error) = parse(&text) {
            prop_assert!(names_the_file(&error), "{error}");
        }
    }

    #[test]
    fn any_table_as_the_file_is_read_exactly_when_its_shape_is_right(root in file_table()) {
        let Ok(text) = toml::to_string(&root) else {
            return Ok(());
        };
        let shape_is_right = root.get("server").is_none_or(Value::is_table)
            && root
                .get("job_types")
                .is_none_or(|types| types.as_table().is_some_and(|t| t.values().all(Value::is_table)))
            && root.keys().all(|k| k == "server" || k == "job_types");
        match parse(&text) {
            Ok(file) => {
                prop_assert!(shape_is_right, "{text}");
                let expected = root
                    .get("job_types")
                    .and_then(Value::as_table)
                    .map(|t| t.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                prop_assert_eq!(file.job_types.keys().cloned().collect::<Vec<_>>(), expected);
            }
            Err(error) => {
                prop_assert!(!shape_is_right, "{text}\n{error}");
                prop_assert!(names_the_file(&error), "{error}");
            }
        }
    }

    #[test]
    fn any_override_variable_is_applied_or_refused_naming_it(
        names in prop::collection::vec(job_type_name(), 0..3),
        vars in prop::collection::vec(
            (
                prop_oneof![
                    Just(format!("{TYPE_OVERRIDE_PREFIX}REPORT_BUILD__TIMEOUT")),
                    Just(format!("{TYPE_OVERRIDE_PREFIX}REPORT_BUILD")),
                    Just(format!("{TYPE_OVERRIDE_PREFIX}REPORT_BUILD__")),
                    Just(format!("{TYPE_OVERRIDE_PREFIX}X__{}", "__".repeat(3))),
                    "HERALD_JOB_TYPES__[A-Z_]{0,16}",
                    "HERALD_[A-Z_]{0,12}",
                    any::<String>(),
                ],
                prop_oneof![
                    Just("10m".to_owned()),
                    Just("[\"sh\", \"-c\"".to_owned()),
                    Just("{ Authorization = \"Bearer x\" }".to_owned()),
                    any::<String>(),
                ],
            ),
            0..6,
        ),
    ) {
        let mut file = ConfigFile {
            path: PATH.into(),
            job_types: names.iter().map(|n| (n.clone(), Table::new())).collect(),
            ..ConfigFile::default()
        };
        match file.apply_overrides(vars.clone()) {
            Ok(()) => {
                for (variable, _) in &vars {
                    if let Some(rest) = variable.strip_prefix(TYPE_OVERRIDE_PREFIX) {
                        let (type_part, _) = rest.split_once("__").expect("a well-formed name");
                        prop_assert!(names.iter().any(|n| env_name(n) == type_part));
                    }
                }
            }
            Err(error) => {
                let FileError::Override { variable, .. } = &error else {
                    panic!("not an override error: {error}");
                };
                prop_assert!(vars.iter().any(|(v, _)| v == variable));
                prop_assert!(error.to_string().starts_with(variable.as_str()));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_job_type_table_is_assembled_or_refused_naming_the_file_and_the_type(
        types in prop::collection::btree_map(job_type_name(), job_type_table(), 1..4),
    ) {
        let file = ConfigFile {
            path: PATH.into(),
            job_types: types.clone(),
            ..ConfigFile::default()
        };
        match assemble(Registry::with_builtins(), Some(&file), &JobLimits::default(), 1 << 20) {
            Ok(assembled) => {
                for name in types.keys() {
                    prop_assert!(
                        assembled.job_types.iter().any(|(t, _)| t.as_str() == name),
                        "{name:?} is missing"
                    );
                }
            }
            Err(error) => {
                prop_assert!(matches!(error, FileError::Invalid { .. }), "{error}");
                prop_assert!(names_the_file(&error), "{error}");
                let message = error.to_string();
                prop_assert!(
                    types.keys().any(|name| message.contains(&format!("job type `{name}`"))),
                    "{message}"
                );
            }
        }
    }
}
