//! Every figure side by side with octocrab, in one run: tower-github-auth, octocrab's own App
//! installation auth (shared, and cloned per task), octocrab with our layer, and a fixed-header
//! floor, against one in-process emulator. Prints a Markdown table and writes the same figures
//! as an SVG chart (`docs/peers.svg`, or the path in `PEERS_SVG`).
//!
//! `cargo bench -p bench-peers --bench peers` (about five minutes). A quick check:
//! `PEERS_EXPIRY_SECS=5 PEERS_FAULT_SECS=2 cargo bench -p bench-peers --bench peers`.

use std::path::PathBuf;
use std::time::Instant;

use bench_peers::{BenchError, Github, Plan, run};

fn main() -> Result<(), BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let report = runtime.block_on(async {
        let github = Github::start().await?;
        run(&github, Plan::from_env(), |step| {
            eprintln!("[{:>5.1} s] {step}", started.elapsed().as_secs_f64());
        })
        .await
    })?;
    println!("\n{}\n", report.settings());
    println!("{}", report.table());
    let kinds = report.failure_kinds();
    if !kinds.is_empty() {
        println!("failures under the faults, by kind:\n{kinds}");
    }
    let svg = std::env::var_os("PEERS_SVG").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/peers.svg")),
        PathBuf::from,
    );
    report.write_svg(&svg)?;
    println!(
        "chart: {} (whole run {:.0} s)",
        svg.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
