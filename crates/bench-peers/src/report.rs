//! The whole run (every workload, every client), its table and its chart.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::BenchError;
use crate::github::{EXCHANGE_LATENCY, Github};
use crate::peer::Peer;
use crate::workload::{
    ColdBurst, Expiry, ExpiryPlan, Fault, FaultPlan, FaultRun, Warm, cold_burst, expiry, fault,
    warm,
};

/// The clients that run every workload but the cold burst's clone-per-task variant.
const MAIN_PEERS: [Peer; 4] = [
    Peer::Ours,
    Peer::Octocrab,
    Peer::OctocrabWithOurLayer,
    Peer::Floor,
];

/// The clients that run the fault workload: the floor never exchanges, so no fault reaches it.
const FAULT_PEERS: [Peer; 3] = [Peer::Ours, Peer::Octocrab, Peer::OctocrabWithOurLayer];

/// What a run does: sizes of the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Requests of the cold burst, all at once.
    pub cold_requests: usize,
    /// Sequential requests of the warm workload.
    pub warm_requests: usize,
    /// The expiry workload.
    pub expiry: ExpiryPlan,
    /// Each fault run.
    pub faults: FaultPlan,
}

impl Default for Plan {
    /// 1,000 cold requests; 10,000 warm ones; 50 callers for 30 s with 40-second tokens; faults:
    /// a request every 10 ms for 10 s.
    fn default() -> Self {
        Self {
            cold_requests: 1_000,
            warm_requests: 10_000,
            expiry: ExpiryPlan {
                callers: 50,
                run: Duration::from_secs(30),
                token_ttl: Duration::from_secs(40),
                waited_at_least: Duration::from_millis(100),
            },
            faults: FaultPlan {
                every: Duration::from_millis(10),
                run: Duration::from_secs(10),
            },
        }
    }
}

impl Plan {
    /// The default plan, with `PEERS_EXPIRY_SECS` (the expiry run) and `PEERS_FAULT_SECS` (each
    /// fault run) in whole seconds when set: `PEERS_EXPIRY_SECS=5 PEERS_FAULT_SECS=2` makes a
    /// quick check of the whole bench.
    pub fn from_env() -> Self {
        let secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
        };
        let mut plan = Self::default();
        if let Some(run) = secs("PEERS_EXPIRY_SECS") {
            plan.expiry.run = run;
        }
        if let Some(run) = secs("PEERS_FAULT_SECS") {
            plan.faults.run = run;
        }
        plan
    }
}

/// One client's figures; `None` where it does not run a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The client.
    pub peer: Peer,
    /// The cold burst.
    pub cold: Option<ColdBurst>,
    /// The warm workload.
    pub warm: Option<Warm>,
    /// The expiry workload.
    pub expiry: Option<Expiry>,
    /// Each fault, in [`Fault::ALL`]'s order.
    pub faults: Vec<(Fault, FaultRun)>,
}

/// Every figure of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// What was run.
    pub plan: Plan,
    /// One per client, in [`Peer::ALL`]'s order.
    pub columns: Vec<Column>,
}

/// Runs every workload for every client against `github`, one after the other, telling
/// `progress` what starts.
pub async fn run(
    github: &Github,
    plan: Plan,
    mut progress: impl FnMut(&str),
) -> Result<Report, BenchError> {
    let mut columns: Vec<Column> = Peer::ALL
        .iter()
        .map(|&peer| Column {
            peer,
            cold: None,
            warm: None,
            expiry: None,
            faults: Vec::new(),
        })
        .collect();
    let index = |peer: Peer| Peer::ALL.iter().position(|p| *p == peer).unwrap_or(0);
    for peer in Peer::ALL {
        progress(&format!("cold burst: {}", peer.label()));
        columns[index(peer)].cold = Some(cold_burst(github, peer, plan.cold_requests).await?);
    }
    progress("warm: every client, taking turns");
    for (peer, figures) in MAIN_PEERS
        .iter()
        .zip(warm(github, &MAIN_PEERS, plan.warm_requests).await?)
    {
        columns[index(*peer)].warm = Some(figures);
    }
    for peer in MAIN_PEERS {
        progress(&format!("expiry: {}", peer.label()));
        columns[index(peer)].expiry = Some(expiry(github, peer, plan.expiry).await?);
    }
    for f in Fault::ALL {
        for peer in FAULT_PEERS {
            progress(&format!("fault {}: {}", f.label(), peer.label()));
            let run = fault(github, peer, f, plan.faults).await?;
            columns[index(peer)].faults.push((f, run));
        }
    }
    Ok(Report { plan, columns })
}

/// `n` with a comma every three digits.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millis(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{} ms", thousands(d.as_millis() as u64))
    }
}

fn micros(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}

fn fault_cell(run: &FaultRun) -> String {
    let mut cell = format!("{} / {}", thousands(run.failed), thousands(run.requests));
    if let Some(last) = run.last_failure {
        let _ = write!(cell, " (last at {:.1} s)", last.as_secs_f64());
    }
    cell
}

impl Report {
    fn column(&self, peer: Peer) -> Option<&Column> {
        self.columns.iter().find(|c| c.peer == peer)
    }

    fn fault(&self, peer: Peer, f: Fault) -> Option<&FaultRun> {
        self.column(peer)?
            .faults
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, run)| run)
    }

    /// The workloads' settings, in a few lines.
    pub fn settings(&self) -> String {
        let p = &self.plan;
        format!(
            "Token exchanges answered after {} ms (about github.com's time). Every request: GET {}, body read.\n\
             cold burst: {} concurrent requests (one task each) on a cold cache.\n\
             warm: {} sequential requests with the token cached, the clients taking turns in 10 rounds.\n\
             expiry: {} callers for {} s, installation tokens of {} s; \"waited\" = took >= {} ms; a caller pauses {} ms after an error.\n\
             faults: a fresh client; a request every {} ms for {} s ({} requests); \"last at\" = when the last failed one was sent.",
            EXCHANGE_LATENCY.as_millis(),
            crate::peer::PATH,
            thousands(p.cold_requests as u64),
            thousands(p.warm_requests as u64),
            p.expiry.callers,
            p.expiry.run.as_secs(),
            p.expiry.token_ttl.as_secs(),
            p.expiry.waited_at_least.as_millis(),
            crate::workload::ERROR_PAUSE.as_millis(),
            p.faults.every.as_millis(),
            p.faults.run.as_secs(),
            thousands(p.faults.requests()),
        )
    }

    /// The figures as a Markdown table: a row per figure, a column per client (`–` where a
    /// client does not run that workload).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "| |");
        for c in &self.columns {
            let _ = write!(out, " {} |", c.peer.label());
        }
        let _ = write!(out, "\n| --- |");
        for _ in &self.columns {
            let _ = write!(out, " --- |");
        }
        out.push('\n');
        let mut row = |name: &str, cell: &dyn Fn(&Column) -> Option<String>| {
            let _ = write!(out, "| {name} |");
            for c in &self.columns {
                let _ = write!(out, " {} |", cell(c).unwrap_or_else(|| "–".to_owned()));
            }
            out.push('\n');
        };
        let cold = self.plan.cold_requests as u64;
        row(
            &format!("cold burst ({}): token exchanges", thousands(cold)),
            &|c| c.cold.as_ref().map(|b| thousands(b.exchanges)),
        );
        row("cold burst: JWTs the emulator received", &|c| {
            c.cold.as_ref().map(|b| thousands(b.jwts))
        });
        row("cold burst: all answered after", &|c| {
            c.cold.as_ref().map(|b| millis(b.all_answered))
        });
        row("cold burst: failed", &|c| {
            c.cold.as_ref().map(|b| thousands(b.failed))
        });
        row(
            &format!(
                "warm ({} sequential): requests/s",
                thousands(self.plan.warm_requests as u64)
            ),
            &|c| {
                c.warm
                    .as_ref()
                    .map(|w| thousands(w.per_second.round() as u64))
            },
        );
        row("warm: median / p99 per request", &|c| {
            c.warm
                .as_ref()
                .map(|w| format!("{} / {}", micros(w.median), micros(w.p99)))
        });
        row("warm: failed", &|c| {
            c.warm.as_ref().map(|w| thousands(w.failed))
        });
        let e = &self.plan.expiry;
        row(
            &format!(
                "expiry ({} callers, {} s, {} s tokens): token exchanges",
                e.callers,
                e.run.as_secs(),
                e.token_ttl.as_secs()
            ),
            &|c| c.expiry.as_ref().map(|x| thousands(x.exchanges)),
        );
        row("expiry: requests", &|c| {
            c.expiry.as_ref().map(|x| thousands(x.requests))
        });
        row(
            &format!(
                "expiry: requests that waited on an exchange (>= {} ms)",
                e.waited_at_least.as_millis()
            ),
            &|c| c.expiry.as_ref().map(|x| thousands(x.waited)),
        );
        row("expiry: failed", &|c| {
            c.expiry.as_ref().map(|x| thousands(x.failed))
        });
        for f in Fault::ALL {
            row(&format!("fault, {}: failed", f.label()), &|c| {
                c.faults
                    .iter()
                    .find(|(g, _)| *g == f)
                    .map(|(_, run)| fault_cell(run))
            });
        }
        out
    }

    /// What the failures under each fault were, client by client (empty when none failed).
    pub fn failure_kinds(&self) -> String {
        let mut out = String::new();
        for f in Fault::ALL {
            for peer in Peer::ALL {
                let Some(run) = self.fault(peer, f) else {
                    continue;
                };
                for (kind, n) in &run.failures {
                    let _ = writeln!(
                        out,
                        "{} / {}: {} x {kind} ({} exchanges)",
                        f.label(),
                        peer.label(),
                        thousands(*n),
                        run.exchanges
                    );
                }
            }
        }
        out
    }

    /// The same figures as bar charts, one panel per figure, in an SVG file at `path`.
    pub fn write_svg(&self, path: &Path) -> Result<(), BenchError> {
        let panels = self.panels();
        let rows = panels.len().div_ceil(2);
        let height = 90 + 250 * u32::try_from(rows).unwrap_or(u32::MAX / 500);
        let root = SVGBackend::new(path, (1240, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let (head, body) = root.split_vertically(90);
        head.draw(&Text::new(
            "tower-github-auth and octocrab, side by side (one run, one emulator)",
            (20, 18),
            ("sans-serif", 24).into_font(),
        ))
        .map_err(chart_error)?;
        head.draw(&Text::new(
            format!(
                "exchanges answered after {} ms; GET {} (body read); bench-peers, `cargo bench -p bench-peers --bench peers`",
                EXCHANGE_LATENCY.as_millis(),
                crate::peer::PATH
            ),
            (20, 56),
            ("sans-serif", 15).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(chart_error)?;
        for (area, panel) in body.split_evenly((rows, 2)).iter().zip(&panels) {
            panel.draw(area)?;
        }
        root.present().map_err(chart_error)?;
        Ok(())
    }

    fn panels(&self) -> Vec<Panel> {
        let mut panels = Vec::new();
        let bars = |f: &dyn Fn(&Column) -> Option<(f64, String)>| -> Vec<Bar> {
            self.columns
                .iter()
                .filter_map(|c| {
                    f(c).map(|(value, label)| Bar {
                        peer: c.peer,
                        value,
                        label,
                    })
                })
                .collect()
        };
        let cold = thousands(self.plan.cold_requests as u64);
        panels.push(Panel {
            title: format!("Cold burst of {cold}: token exchanges (fewer is better)"),
            bars: bars(&|c| {
                c.cold
                    .as_ref()
                    .map(|b| (b.exchanges as f64, thousands(b.exchanges)))
            }),
        });
        panels.push(Panel {
            title: format!("Cold burst of {cold}: all answered after, ms"),
            bars: bars(&|c| {
                c.cold
                    .as_ref()
                    .map(|b| (b.all_answered.as_secs_f64() * 1e3, millis(b.all_answered)))
            }),
        });
        panels.push(Panel {
            title: "Warm: median time per request, µs (less is better)".to_owned(),
            bars: bars(&|c| {
                c.warm
                    .as_ref()
                    .map(|w| (w.median.as_secs_f64() * 1e6, micros(w.median)))
            }),
        });
        panels.push(Panel {
            title: "Warm: sequential requests per second".to_owned(),
            bars: bars(&|c| {
                c.warm
                    .as_ref()
                    .map(|w| (w.per_second, thousands(w.per_second.round() as u64)))
            }),
        });
        let e = &self.plan.expiry;
        panels.push(Panel {
            title: format!(
                "Expiry ({} s tokens, {} callers, {} s): token exchanges",
                e.token_ttl.as_secs(),
                e.callers,
                e.run.as_secs()
            ),
            bars: bars(&|c| {
                c.expiry
                    .as_ref()
                    .map(|x| (x.exchanges as f64, thousands(x.exchanges)))
            }),
        });
        panels.push(Panel {
            title: format!(
                "Expiry: requests that waited on an exchange (>= {} ms)",
                e.waited_at_least.as_millis()
            ),
            bars: bars(&|c| {
                c.expiry
                    .as_ref()
                    .map(|x| (x.waited as f64, thousands(x.waited)))
            }),
        });
        for f in Fault::ALL {
            panels.push(Panel {
                title: format!(
                    "Fault, {}: requests failed of {}",
                    f.label(),
                    thousands(self.plan.faults.requests())
                ),
                bars: bars(&|c| {
                    c.faults
                        .iter()
                        .find(|(g, _)| *g == f)
                        .map(|(_, run)| (run.failed as f64, thousands(run.failed)))
                }),
            });
        }
        panels
    }
}

fn chart_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Chart(e.to_string())
}

/// The colour of a client's bars.
fn colour(peer: Peer) -> RGBColor {
    match peer {
        Peer::Ours => RGBColor(31, 119, 180),
        Peer::Octocrab => RGBColor(230, 110, 0),
        Peer::OctocrabCloned => RGBColor(250, 180, 110),
        Peer::OctocrabWithOurLayer => RGBColor(44, 160, 44),
        Peer::Floor => RGBColor(150, 150, 150),
    }
}

struct Bar {
    peer: Peer,
    value: f64,
    label: String,
}

/// One horizontal bar chart: a bar per client, the first client on top.
struct Panel {
    title: String,
    bars: Vec<Bar>,
}

impl Panel {
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), BenchError> {
        let n = self.bars.len();
        let max = self.bars.iter().map(|b| b.value).fold(0.0, f64::max);
        // Room right of the longest bar for its label; an all-zero panel still has an axis.
        let x_end = if max > 0.0 { max * 1.3 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(24)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..x_end, (0..n).into_segmented())
            .map_err(chart_error)?;
        // Row 0 is drawn at the bottom: the first bar goes in the top row.
        let row = |i: usize| n - 1 - i;
        let names: Vec<&str> = self.bars.iter().rev().map(|b| b.peer.label()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(1)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).copied().unwrap_or("").to_owned(),
                _ => String::new(),
            })
            .x_labels(5)
            .x_label_formatter(&|x| short(*x))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                let mut rect = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row(i))),
                        (bar.value, SegmentValue::Exact(row(i) + 1)),
                    ],
                    colour(bar.peer).filled(),
                );
                rect.set_margin(5, 5, 0, 0);
                rect
            }))
            .map_err(chart_error)?;
        let label_style =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
                Text::new(
                    bar.label.clone(),
                    (bar.value + x_end * 0.01, SegmentValue::CenterOf(row(i))),
                    label_style.clone(),
                )
            }))
            .map_err(chart_error)?;
        Ok(())
    }
}

/// An axis value: whole numbers with thousands separators, `k` past 10,000.
fn short(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{}k", thousands((x / 1_000.0).round() as u64))
    } else if x.fract() == 0.0 || x >= 10.0 {
        thousands(x.round() as u64)
    } else {
        format!("{x:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn sample() -> Report {
        let run = |failed| FaultRun {
            requests: 100,
            failed,
            last_failure: (failed > 0).then_some(Duration::from_millis(7_800)),
            exchanges: 4,
            failures: std::collections::BTreeMap::from([("HTTP 401".to_owned(), failed)]),
        };
        let columns = Peer::ALL
            .iter()
            .enumerate()
            .map(|(i, &peer)| Column {
                peer,
                cold: Some(ColdBurst {
                    requests: 1_000,
                    failed: 0,
                    exchanges: 10 * i as u64,
                    jwts: 10 * i as u64,
                    all_answered: Duration::from_millis(300 + 100 * i as u64),
                }),
                warm: (peer != Peer::OctocrabCloned).then_some(Warm {
                    requests: 10_000,
                    failed: 0,
                    per_second: 5_000.0,
                    median: Duration::from_micros(130),
                    p99: Duration::from_micros(400),
                }),
                expiry: None,
                faults: if FAULT_PEERS.contains(&peer) {
                    Fault::ALL.iter().map(|&f| (f, run(i as u64))).collect()
                } else {
                    Vec::new()
                },
            })
            .collect();
        Report {
            plan: Plan::default(),
            columns,
        }
    }

    #[test]
    fn the_table_has_a_column_per_client_and_a_dash_where_none_ran() {
        let table = sample().table();
        let header = table.lines().next().expect("a header");
        for peer in Peer::ALL {
            assert!(header.contains(peer.label()), "{header}");
        }
        let expiry = table
            .lines()
            .find(|l| l.contains("expiry: requests |"))
            .expect("an expiry row");
        assert_eq!(expiry.matches('–').count(), Peer::ALL.len());
        let lag = table
            .lines()
            .find(|l| l.contains("replication lag"))
            .expect("a fault row");
        // octocrab (shared) is the second column: i = 1 failure of 100, last at 7.8 s.
        assert!(lag.contains("| 1 / 100 (last at 7.8 s) |"), "{lag}");
        assert!(lag.contains("| 0 / 100 |"), "{lag}");
    }

    #[test]
    fn the_chart_is_written_with_every_panel() {
        let path = std::env::temp_dir().join(format!("bench-peers-{}.svg", std::process::id()));
        sample().write_svg(&path).expect("the chart");
        let svg = std::fs::read_to_string(&path).expect("the file");
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"));
        for title in [
            "Cold burst of 1,000: token exchanges",
            "Warm: median",
            "Fault, 3 exchanges",
        ] {
            assert!(svg.contains(title), "{title}");
        }
        assert!(svg.contains("octocrab + our layer"));
        assert!(svg.contains("130 µs"), "the bars' labels");
    }

    #[test]
    fn axis_values_are_short() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(1_500.0), "1,500");
        assert_eq!(short(25_000.0), "25k");
    }
}
