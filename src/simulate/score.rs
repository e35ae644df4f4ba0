//! Scenario files and `simulate --score`: how well the appliance's locator places tags
//! in a described world, before a single gateway is bought.
//!
//! The world is what the site really is (where the gateways hang, their true path-loss
//! parameters, the noise and fades, people walking); the appliance sees only what it
//! would be told (the gateways' positions and heights, its configured path-loss
//! parameters, or the world's own with `--calibrated`). The readings go through the same
//! `TagState` the ingest pipeline uses, in simulated time, without a broker.

use std::collections::HashMap;
use std::time::Instant;

use rand::Rng;
use serde::Deserialize;

use super::Scenario;
use super::reference::reference_score;
use crate::ingest::locate::{Anchor, PathLoss, TagState};

/// The built-in scenario (`scenarios/room.toml`).
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/room.toml");

/// A world to simulate, as a scenario file describes it (TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    /// The floor plan's size (metres): what the appliance knows of the area.
    pub width_m: f64,
    pub height_m: f64,
    /// Where people walk, a polygon of (x, y) in metres [default: the whole plan].
    #[serde(default)]
    pub area: Vec<[f64; 2]>,
    /// Named rooms (polygons) for the wrong-room rate; an estimate outside every room is
    /// in the wrong one.
    #[serde(default)]
    pub rooms: Vec<Room>,
    pub gateways: Vec<Gateway>,
    #[serde(default = "default_walkers")]
    pub walkers: usize,
    #[serde(default = "default_walk_speed")]
    pub walk_speed_m_s: f64,
    /// RSSI noise (dB, standard deviation), the share of readings in a multipath fade and
    /// how much a fade weakens them (dB).
    pub noise_db: f64,
    #[serde(default)]
    pub fade_rate: f64,
    #[serde(default = "default_fade_db")]
    pub fade_db: f64,
    #[serde(default = "default_sensitivity")]
    pub sensitivity_dbm: f64,
    /// How long to walk (seconds) and how often every gateway reports.
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    #[serde(default = "default_report_interval")]
    pub report_interval_s: f64,
    /// What the appliance is configured with (`positioning.*`) before calibration.
    #[serde(default)]
    pub appliance: Appliance,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    pub name: String,
    pub polygon: Vec<[f64; 2]>,
}

/// A gateway as it really is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    pub x: f64,
    pub y: f64,
    /// Above the tags (metres).
    #[serde(default = "default_height")]
    pub height_m: f64,
    pub rssi_at_1m: f64,
    pub path_loss_exponent: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appliance {
    pub rssi_at_1m: f64,
    pub path_loss_exponent: f64,
}

impl Default for Appliance {
    fn default() -> Self {
        let site = crate::config::PositioningConfig::default();
        Appliance {
            rssi_at_1m: site.rssi_at_1m,
            path_loss_exponent: site.path_loss_exponent,
        }
    }
}

fn default_walkers() -> usize {
    20
}
fn default_walk_speed() -> f64 {
    1.2
}
fn default_fade_db() -> f64 {
    6.0
}
fn default_sensitivity() -> f64 {
    -100.0
}
fn default_duration() -> f64 {
    200.0
}
fn default_report_interval() -> f64 {
    0.5
}
fn default_height() -> f64 {
    2.5
}

impl ScenarioFile {
    /// Reads a scenario file and checks that it describes a world.
    pub fn parse(text: &str) -> anyhow::Result<ScenarioFile> {
        let file: ScenarioFile = toml::from_str(text)?;
        let on_plan = |[x, y]: [f64; 2]| {
            (0.0..=file.width_m).contains(&x) && (0.0..=file.height_m).contains(&y)
        };
        anyhow::ensure!(
            file.width_m > 0.0 && file.height_m > 0.0,
            "width_m and height_m must be positive"
        );
        anyhow::ensure!(!file.gateways.is_empty(), "a scenario needs gateways");
        anyhow::ensure!(
            file.gateways.iter().all(|g| on_plan([g.x, g.y])),
            "every gateway must be on the plan (0..width_m, 0..height_m)"
        );
        anyhow::ensure!(
            file.area.is_empty() || (file.area.len() >= 3 && file.area.iter().all(|p| on_plan(*p))),
            "area: at least 3 points, all on the plan"
        );
        anyhow::ensure!(
            file.rooms.iter().all(|r| r.polygon.len() >= 3),
            "every room needs a polygon of at least 3 points"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&file.fade_rate),
            "fade_rate is a share (0 to 1)"
        );
        anyhow::ensure!(
            file.report_interval_s > 0.0 && file.duration_s > 0.0,
            "duration_s and report_interval_s must be positive"
        );
        Ok(file)
    }

    /// `count` gateways spread evenly over a `width × height` room, each with the path-loss
    /// model the appliance assumes by default, and no noise.
    pub fn grid(count: usize, width: f64, height: f64) -> ScenarioFile {
        let columns = (count as f64).sqrt().ceil().max(1.0) as usize;
        let rows = count.div_ceil(columns).max(1);
        let appliance = Appliance::default();
        let gateways = (0..count)
            .map(|i| {
                let (c, r) = (i % columns, i / columns);
                Gateway {
                    x: width * (c as f64 + 0.5) / columns as f64,
                    y: height * (r as f64 + 0.5) / rows as f64,
                    height_m: default_height(),
                    rssi_at_1m: appliance.rssi_at_1m,
                    path_loss_exponent: appliance.path_loss_exponent,
                }
            })
            .collect();
        ScenarioFile {
            name: "grid".into(),
            width_m: width,
            height_m: height,
            area: Vec::new(),
            rooms: Vec::new(),
            gateways,
            walkers: default_walkers(),
            walk_speed_m_s: default_walk_speed(),
            noise_db: 0.0,
            fade_rate: 0.1,
            fade_db: default_fade_db(),
            sensitivity_dbm: default_sensitivity(),
            duration_s: default_duration(),
            report_interval_s: default_report_interval(),
            appliance,
        }
    }

    /// Whether people can stand at (x, y).
    pub fn walkable(&self, x: f64, y: f64) -> bool {
        if self.area.is_empty() {
            (0.0..=self.width_m).contains(&x) && (0.0..=self.height_m).contains(&y)
        } else {
            inside(&self.area, x, y)
        }
    }

    pub(super) fn random_point(&self, rng: &mut impl Rng) -> (f64, f64) {
        loop {
            let (x, y) = (
                rng.random_range(0.0..self.width_m),
                rng.random_range(0.0..self.height_m),
            );
            if self.walkable(x, y) {
                return (x, y);
            }
        }
    }

    /// A waypoint that a straight walk from `from` reaches without leaving the area.
    pub(super) fn next_target(&self, from: (f64, f64), rng: &mut impl Rng) -> (f64, f64) {
        loop {
            let to = self.random_point(rng);
            let clear = (1..20).all(|i| {
                let f = f64::from(i) / 20.0;
                self.walkable(from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f)
            });
            if clear {
                return to;
            }
        }
    }

    fn room(&self, x: f64, y: f64) -> Option<usize> {
        self.rooms.iter().position(|r| inside(&r.polygon, x, y))
    }
}

/// Even-odd rule; points on the edge may fall either way.
fn inside(polygon: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let ([xi, yi], [xj, yj]) = (polygon[i], polygon[j]);
        if (yi > y) != (yj > y) && x <= (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The errors of one run.
#[derive(Debug, Clone, Default)]
pub struct Score {
    /// Distance (metres) between each estimate and where the tag was.
    pub errors: Vec<f64>,
    /// Estimates in another room than the tag (when the scenario names rooms).
    pub wrong_room: usize,
    pub readings: u64,
    /// Time spent in the locator (hearing and positioning).
    pub locator_seconds: f64,
}

impl Score {
    pub fn merge(&mut self, other: Score) {
        self.errors.extend(other.errors);
        self.wrong_room += other.wrong_room;
        self.readings += other.readings;
        self.locator_seconds += other.locator_seconds;
    }

    /// The error at quantile `q` (0–1).
    pub fn quantile(&self, q: f64) -> f64 {
        let mut errors = self.errors.clone();
        errors.sort_by(f64::total_cmp);
        errors
            .get(((errors.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    }

    pub fn wrong_room_rate(&self) -> f64 {
        self.wrong_room as f64 / self.errors.len().max(1) as f64
    }

    pub fn micros_per_reading(&self) -> f64 {
        self.locator_seconds * 1e6 / self.readings.max(1) as f64
    }
}

/// Seconds of each run that are not scored: the tracks settle.
const WARM_UP_S: f64 = 5.0;

/// Walks the scenario with `seed` and scores the locator's estimates against the truth;
/// `calibrated`: the appliance knows each gateway's true path-loss parameters.
pub fn score(world: &ScenarioFile, seed: u64, calibrated: bool) -> Score {
    const PLAN: i64 = 1;
    let (width, height) = (world.width_m, world.height_m);
    let anchors: HashMap<i64, Anchor> = world
        .gateways
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (rssi_at_1m, exponent) = if calibrated {
                (g.rssi_at_1m, g.path_loss_exponent)
            } else {
                (
                    world.appliance.rssi_at_1m,
                    world.appliance.path_loss_exponent,
                )
            };
            let anchor = Anchor {
                floor_plan_id: PLAN,
                x: g.x / width,
                y: g.y / height,
                path_loss: PathLoss {
                    rssi_at_1m,
                    exponent,
                    height_m: g.height_m,
                },
            };
            (i as i64 + 1, anchor)
        })
        .collect();
    let plan_sizes = HashMap::from([(PLAN, (width, height))]);
    let mut states: Vec<TagState> = (0..world.walkers).map(|_| TagState::default()).collect();
    let start = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    walk(world, seed, |n, heard| {
        let at = start
            + chrono::Duration::milliseconds((n as f64 * world.report_interval_s * 1000.0) as i64);
        for &(g, t, rssi) in heard {
            states[t].hear(g as i64 + 1, Some(rssi), at);
        }
        states
            .iter_mut()
            .enumerate()
            .map(|(t, state)| {
                let p = state.position(t as i64 + 1, &anchors, &plan_sizes)?;
                Some((p.x_m?, p.y_m?))
            })
            .collect()
    })
}

/// Walks the scenario with `seed`, one report round at a time; `locate` takes round `n`'s
/// readings (gateway, tag, RSSI) and returns each tag's estimate (metres), which is scored
/// against where the tag was.
pub(super) fn walk(
    world: &ScenarioFile,
    seed: u64,
    mut locate: impl FnMut(usize, &[(usize, usize, i32)]) -> Vec<Option<(f64, f64)>>,
) -> Score {
    let mut scenario = Scenario::from_file(world.clone(), seed);
    let step = world.report_interval_s;
    let mut score = Score::default();
    let steps = (world.duration_s / step).round() as usize;
    for n in 1..=steps {
        scenario.advance(step);
        let heard = scenario.hear();
        let timer = Instant::now();
        let positions = locate(n, &heard);
        score.locator_seconds += timer.elapsed().as_secs_f64();
        score.readings += heard.len() as u64;
        if (n as f64) * step < WARM_UP_S {
            continue;
        }
        for (tag, position) in scenario.tags.iter().zip(positions) {
            let Some((x, y)) = position else {
                continue;
            };
            score
                .errors
                .push(((x - tag.x).powi(2) + (y - tag.y).powi(2)).sqrt());
            if !world.rooms.is_empty() && world.room(x, y) != world.room(tag.x, tag.y) {
                score.wrong_room += 1;
            }
        }
    }
    score
}

/// `simulate --score`: runs `runs` seeds from `seed` and prints each run's and the total
/// figures, and the reference filter's (`reference.rs`) with `reference`.
pub fn print_scores(world: &ScenarioFile, seed: u64, runs: u64, calibrated: bool, reference: bool) {
    let parameters = if calibrated {
        "calibrated (each gateway's true values)".to_string()
    } else {
        format!(
            "{} dBm at 1 m, exponent {}",
            world.appliance.rssi_at_1m, world.appliance.path_loss_exponent
        )
    };
    println!(
        "scenario {}: {} gateways, {} x {} m, {} walkers, {} s, noise {} dB, fades {}% of {} dB; appliance parameters: {parameters}",
        world.name,
        world.gateways.len(),
        world.width_m,
        world.height_m,
        world.walkers,
        world.duration_s,
        world.noise_db,
        world.fade_rate * 100.0,
        world.fade_db,
    );
    let (mut total, mut reference_total) = (Score::default(), Score::default());
    for seed in seed..seed + runs.max(1) {
        let run = score(world, seed, calibrated);
        println!("seed {seed}: {}", summary(world, &run));
        total.merge(run);
        if reference {
            let run = reference_score(world, seed);
            println!("seed {seed}, reference: {}", summary(world, &run));
            reference_total.merge(run);
        }
    }
    if runs > 1 {
        println!("all: {}", summary(world, &total));
        if reference {
            println!("all, reference: {}", summary(world, &reference_total));
        }
    }
    println!(
        "locator: {:.1} µs per reading ({} readings)",
        total.micros_per_reading(),
        total.readings
    );
}

fn summary(world: &ScenarioFile, score: &Score) -> String {
    let rooms = if world.rooms.is_empty() {
        String::new()
    } else {
        format!(", wrong room {:.1}%", 100.0 * score.wrong_room_rate())
    };
    format!(
        "median {:.2} m, p95 {:.2} m{rooms} ({} estimates)",
        score.quantile(0.5),
        score.quantile(0.95),
        score.errors.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scenarios_parse() {
        for text in [
            DEFAULT_SCENARIO,
            include_str!("../../scenarios/l-shape.toml"),
        ] {
            let world = ScenarioFile::parse(text).unwrap();
            assert!(world.rooms.len() >= 2, "{}", world.name);
        }
    }

    #[test]
    fn walkers_stay_in_an_l_shaped_area() {
        let world = ScenarioFile::parse(include_str!("../../scenarios/l-shape.toml")).unwrap();
        let mut scenario = Scenario::from_file(world.clone(), 3);
        for _ in 0..400 {
            scenario.advance(0.5);
            for tag in &scenario.tags {
                assert!(world.walkable(tag.x, tag.y), "({}, {})", tag.x, tag.y);
            }
        }
    }

    #[test]
    fn the_same_seed_scores_the_same() {
        let mut world = ScenarioFile::parse(DEFAULT_SCENARIO).unwrap();
        world.duration_s = 20.0;
        let (a, b) = (score(&world, 4, true), score(&world, 4, true));
        assert_eq!(a.errors, b.errors);
        assert!(!a.errors.is_empty());
    }

    #[test]
    fn a_calibrated_room_is_located_within_a_metre_half_of_the_time() {
        let mut world = ScenarioFile::parse(DEFAULT_SCENARIO).unwrap();
        world.duration_s = 60.0;
        let score = score(&world, 1, true);
        let (median, p95) = (score.quantile(0.5), score.quantile(0.95));
        assert!(median < 1.0 && p95 < 2.5, "median {median} m, p95 {p95} m");
    }

    #[test]
    fn the_reference_filter_does_better_than_the_locator_on_the_same_readings() {
        for text in [
            DEFAULT_SCENARIO,
            include_str!("../../scenarios/l-shape.toml"),
        ] {
            let mut world = ScenarioFile::parse(text).unwrap();
            world.duration_s = 30.0;
            let (locator, reference) = (score(&world, 2, true), reference_score(&world, 2));
            assert_eq!(
                locator.errors.len(),
                reference.errors.len(),
                "{}",
                world.name
            );
            assert!(
                reference.quantile(0.5) < locator.quantile(0.5) && reference.quantile(0.5) > 0.0,
                "{}: reference {} m, locator {} m",
                world.name,
                reference.quantile(0.5),
                locator.quantile(0.5)
            );
        }
    }

    #[test]
    fn a_polygon_knows_its_inside() {
        let l = [
            [0.0, 0.0],
            [20.0, 0.0],
            [20.0, 6.0],
            [8.0, 6.0],
            [8.0, 12.0],
            [0.0, 12.0],
        ];
        assert!(inside(&l, 4.0, 10.0));
        assert!(inside(&l, 15.0, 3.0));
        assert!(!inside(&l, 15.0, 10.0));
    }
}
