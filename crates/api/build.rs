//! Rebuilds the crate when the web console's files change, a file added to
//! `crates/api/console/` included: `include_dir!` cannot tell Cargo which files it read.

fn main() {
    println!("cargo::rerun-if-changed=console");
    println!("cargo::rerun-if-changed=../../clients/typescript/dist/index.js");
}
