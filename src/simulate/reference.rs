//! `simulate --score --reference`: how well any locator could do on a scenario.
//!
//! The reference filter knows what no appliance can: how the simulated people walk
//! (straight at the scenario's speed to a random waypoint in the area, then to the next)
//! and the world's radio (each gateway's true path loss, the noise, the fades and the
//! rounding to whole dBm). Its estimate is the mean of the exact Bayesian posterior, drawn
//! with many particles, so on average no locator fed the same readings gets closer. When
//! the appliance's locator is near it, better accuracy needs more information (gateways,
//! readings per round), not better software.

use rand::{Rng, SeedableRng};

use super::score::{ScenarioFile, Score, walk};

/// Particles per tag: four times as many moved the median by under a centimetre.
const PARTICLES: usize = 1000;
/// Jitter (metres, standard deviation per step) on each guess's position and waypoint, so
/// that guesses drawn from the same parent do not stay identical.
const POSITION_JITTER_M: f64 = 0.05;
const WAYPOINT_JITTER_M: f64 = 0.25;

#[derive(Clone, Copy)]
struct Guess {
    x: f64,
    y: f64,
    target: (f64, f64),
}

/// Scores the reference filter on the scenario walked with `seed`.
pub fn reference_score(world: &ScenarioFile, seed: u64) -> Score {
    // Its own random numbers, so that the walk and the readings are the scorer's.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut clouds: Vec<Vec<Guess>> = (0..world.walkers)
        .map(|_| {
            (0..PARTICLES)
                .map(|_| {
                    let (x, y) = world.random_point(&mut rng);
                    let target = world.next_target((x, y), &mut rng);
                    Guess { x, y, target }
                })
                .collect()
        })
        .collect();
    // The readings' noise as the reference knows it: the world's, and the rounding.
    let noise = (world.noise_db.powi(2) + 1.0 / 12.0).sqrt();
    walk(world, seed, |_, heard| {
        // The people walked one report interval since the last round.
        for guess in clouds.iter_mut().flatten() {
            walk_on(guess, world, &mut rng);
        }
        let mut log_weights = vec![vec![0f64; PARTICLES]; world.walkers];
        for &(g, t, rssi) in heard {
            let gateway = &world.gateways[g];
            for (guess, log_weight) in clouds[t].iter().zip(&mut log_weights[t]) {
                let d2 = (guess.x - gateway.x).powi(2)
                    + (guess.y - gateway.y).powi(2)
                    + gateway.height_m.powi(2);
                let expected =
                    gateway.rssi_at_1m - 5.0 * gateway.path_loss_exponent * d2.max(0.01).log10();
                *log_weight += log_likelihood(f64::from(rssi) - expected, noise, world);
            }
        }
        let mut estimates = Vec::with_capacity(world.walkers);
        for (cloud, log_weights) in clouds.iter_mut().zip(&log_weights) {
            let top = log_weights.iter().copied().fold(f64::MIN, f64::max);
            let weights: Vec<f64> = log_weights.iter().map(|l| (l - top).exp()).collect();
            let total: f64 = weights.iter().sum();
            let (x, y) = cloud
                .iter()
                .zip(&weights)
                .fold((0.0, 0.0), |(x, y), (g, w)| {
                    (x + g.x * w / total, y + g.y * w / total)
                });
            estimates.push(Some((x, y)));
            *cloud = resample(cloud, &weights, total, &mut rng);
        }
        estimates
    })
}

/// ln p(error): the world's Gaussian noise, or that noise on a faded reading.
fn log_likelihood(error: f64, noise: f64, world: &ScenarioFile) -> f64 {
    let clear = -0.5 * (error / noise).powi(2);
    let faded = -0.5 * ((error + world.fade_db) / noise).powi(2);
    let top = clear.max(faded);
    top + ((1.0 - world.fade_rate) * (clear - top).exp() + world.fade_rate * (faded - top).exp())
        .max(f64::MIN_POSITIVE)
        .ln()
}

/// One report interval of the simulated walk, with a little jitter kept inside the area.
fn walk_on(guess: &mut Guess, world: &ScenarioFile, rng: &mut impl Rng) {
    let jittered = (
        guess.x + super::gaussian(rng) * POSITION_JITTER_M,
        guess.y + super::gaussian(rng) * POSITION_JITTER_M,
    );
    if world.walkable(jittered.0, jittered.1) {
        (guess.x, guess.y) = jittered;
    }
    let target = (
        guess.target.0 + super::gaussian(rng) * WAYPOINT_JITTER_M,
        guess.target.1 + super::gaussian(rng) * WAYPOINT_JITTER_M,
    );
    if world.walkable(target.0, target.1) {
        guess.target = target;
    }
    let (dx, dy) = (guess.target.0 - guess.x, guess.target.1 - guess.y);
    let distance = (dx * dx + dy * dy).sqrt();
    let step = world.walk_speed_m_s * world.report_interval_s;
    if distance <= step {
        (guess.x, guess.y) = guess.target;
        guess.target = world.next_target(guess.target, rng);
    } else {
        guess.x += dx / distance * step;
        guess.y += dy / distance * step;
    }
}

/// Systematic resampling.
fn resample(cloud: &[Guess], weights: &[f64], total: f64, rng: &mut impl Rng) -> Vec<Guess> {
    let step = total / cloud.len() as f64;
    let mut target = rng.random::<f64>() * step;
    let mut cumulative = 0.0;
    let mut drawn = Vec::with_capacity(cloud.len());
    for (guess, weight) in cloud.iter().zip(weights) {
        cumulative += weight;
        while target < cumulative && drawn.len() < cloud.len() {
            drawn.push(*guess);
            target += step;
        }
    }
    while drawn.len() < cloud.len() {
        drawn.push(cloud[cloud.len() - 1]);
    }
    drawn
}
