//! A tag's track on a plan of known size: a particle filter in the signal domain.
//!
//! Each particle is a guess of where the tag is and how it moves: standing, or walking at
//! a constant velocity with a random acceleration, turning back at the plan's edges. Every
//! RSSI sample weighs each guess by how likely the path-loss model makes that sample from
//! there — once, when it arrives, with less weight the older it is — and the guesses are
//! then redrawn in proportion to their weights. The sample's likelihood is a mixture:
//! mostly the model's Gaussian noise, partly a multipath fade (a signal only ever
//! weakened), so a fade moves the track a little instead of pulling it metres away. No
//! fit per report, no inversion of the model: the noise averages out where it is made, in
//! dBm. Tuned with `securityvision simulate --score` (BENCHMARKS.md, "Positioning
//! accuracy").

use super::locate::PathLoss;

/// Particles per tag: 20 bytes each (f32 position and velocity, standing or walking).
pub(super) const PARTICLES: usize = 200;
/// The walking model: random acceleration (m/s², standard deviation) and top speed (m/s).
const ACCELERATION: f32 = 3.0;
const MAX_SPEED: f32 = 2.0;
/// People also stand still: a particle stands or walks, and changes at this rate (per
/// second). A standing guess does not drift, so a tag that stands has a steady position.
const SWITCH_RATE: f32 = 0.1;
/// Speed (m/s, standard deviation) of a guess that starts walking, and how far (m) a
/// standing guess may have been wrong by, per second.
const START_SPEED: f32 = 1.0;
const STANDING_DRIFT: f32 = 0.02;
/// The signal model as the filter sees it: the noise (dB, standard deviation) and the
/// share of samples weakened by a fade, by about this much (dB).
const NOISE_DB: f32 = 3.0;
const FADE_SHARE: f32 = 0.15;
const FADE_DB: f32 = 7.0;
/// A sample this old (seconds) counts for 1/e of a fresh one.
const AGE_SCALE_S: f32 = 2.0;

#[derive(Debug, Clone, Copy)]
struct Particle {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    walking: bool,
}

/// One RSSI sample for the filter: the gateway's position (metres) and model, the RSSI
/// and how old it is (seconds) when the filter takes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) path_loss: PathLoss,
    pub(super) rssi: f64,
    pub(super) age_s: f64,
}

#[derive(Debug, Clone)]
pub(super) struct Filter {
    particles: Vec<Particle>,
    /// Deterministic per tag (xorshift64*): the same readings give the same track.
    rng: u64,
    size: (f32, f32),
    /// The weighted mean and spread after the latest step.
    estimate: (f64, f64, f64),
}

impl Filter {
    /// A filter knowing nothing yet: guesses spread evenly over the plan, standing still.
    pub(super) fn new(seed: u64, (width, height): (f64, f64)) -> Filter {
        let mut filter = Filter {
            particles: Vec::with_capacity(PARTICLES),
            rng: splitmix(seed) | 1,
            size: (width as f32, height as f32),
            estimate: (
                width / 2.0,
                height / 2.0,
                (width * width + height * height).sqrt(),
            ),
        };
        for i in 0..PARTICLES {
            let (x, y) = (
                filter.uniform() * filter.size.0,
                filter.uniform() * filter.size.1,
            );
            filter.particles.push(Particle {
                x,
                y,
                vx: 0.0,
                vy: 0.0,
                walking: i % 2 == 0,
            });
        }
        filter
    }

    /// The tracked position (metres) and its uncertainty (metres, one standard deviation
    /// of the distance).
    pub(super) fn estimate(&self) -> (f64, f64, f64) {
        self.estimate
    }

    /// Moves the guesses `dt` seconds on, then weighs them by `samples`.
    pub(super) fn step(&mut self, dt: f64, samples: &[Sample]) {
        self.predict(dt as f32);
        if samples.is_empty() {
            return;
        }
        let mut log_weights = vec![0f32; self.particles.len()];
        for sample in samples {
            let weight = (-(sample.age_s.max(0.0) as f32) / AGE_SCALE_S).exp();
            let (gx, gy) = (sample.x as f32, sample.y as f32);
            let h2 = (sample.path_loss.height_m * sample.path_loss.height_m) as f32;
            let a = sample.path_loss.rssi_at_1m as f32;
            // 10·n·log10(d) = 5·n·log10(d²) = (5·n / ln 10)·ln(d²)
            let slope = 5.0 * sample.path_loss.exponent as f32 / std::f32::consts::LN_10;
            let rssi = sample.rssi as f32;
            for (particle, log_weight) in self.particles.iter().zip(&mut log_weights) {
                let d2 = ((particle.x - gx).powi(2) + (particle.y - gy).powi(2) + h2).max(0.01);
                let error = rssi - (a - slope * d2.ln());
                *log_weight += weight * log_likelihood(error);
            }
        }
        let top = log_weights.iter().copied().fold(f32::MIN, f32::max);
        let weights: Vec<f32> = log_weights.iter().map(|l| (l - top).exp()).collect();
        let total: f32 = weights.iter().sum();
        let (mut mx, mut my) = (0.0, 0.0);
        for (p, w) in self.particles.iter().zip(&weights) {
            mx += p.x * w;
            my += p.y * w;
        }
        (mx, my) = (mx / total, my / total);
        let mut spread = 0.0;
        for (p, w) in self.particles.iter().zip(&weights) {
            spread += ((p.x - mx).powi(2) + (p.y - my).powi(2)) * w;
        }
        self.estimate = (
            f64::from(mx),
            f64::from(my),
            f64::from((spread / total).sqrt()),
        );
        self.resample(&weights, total);
    }

    fn predict(&mut self, dt: f32) {
        if dt <= 0.0 {
            return;
        }
        let kick = ACCELERATION * dt;
        let switch = SWITCH_RATE * dt;
        let drift = STANDING_DRIFT * dt.sqrt();
        let (width, height) = self.size;
        for i in 0..self.particles.len() {
            let switched = self.uniform() < switch;
            let (nx, ny) = (self.normal(), self.normal());
            let p = &mut self.particles[i];
            if switched {
                p.walking = !p.walking;
                (p.vx, p.vy) = if p.walking {
                    (nx * START_SPEED, ny * START_SPEED)
                } else {
                    (0.0, 0.0)
                };
            } else if p.walking {
                p.vx += nx * kick;
                p.vy += ny * kick;
            } else {
                p.x += nx * drift;
                p.y += ny * drift;
            }
            let speed = (p.vx * p.vx + p.vy * p.vy).sqrt();
            if speed > MAX_SPEED {
                p.vx *= MAX_SPEED / speed;
                p.vy *= MAX_SPEED / speed;
            }
            p.x += p.vx * dt;
            p.y += p.vy * dt;
            // A walker at the plan's edge turns back.
            if !(0.0..=width).contains(&p.x) {
                p.x = p.x.clamp(0.0, width);
                p.vx = -p.vx;
            }
            if !(0.0..=height).contains(&p.y) {
                p.y = p.y.clamp(0.0, height);
                p.vy = -p.vy;
            }
        }
    }

    /// Systematic resampling: draws the guesses again in proportion to their weights.
    fn resample(&mut self, weights: &[f32], total: f32) {
        let n = self.particles.len();
        let step = total / n as f32;
        let mut target = self.uniform() * step;
        let mut cumulative = 0.0;
        let mut drawn = Vec::with_capacity(n);
        let mut i = 0;
        for (particle, w) in self.particles.iter().zip(weights) {
            cumulative += w;
            while target < cumulative && i < n {
                drawn.push(*particle);
                target += step;
                i += 1;
            }
        }
        // Rounding can leave the last few undrawn: they repeat the last guess.
        while drawn.len() < n {
            drawn.push(*self.particles.last().expect("particles"));
        }
        self.particles = drawn;
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// About standard normal: four uniforms summed (cheap, and walkers do not need tails).
    fn normal(&mut self) -> f32 {
        let sum: f32 = (0..4).map(|_| self.uniform()).sum();
        (sum - 2.0) * 3f32.sqrt()
    }
}

/// ln p(error) up to a constant: the model's noise, or a fade that weakened the sample.
/// No floor: a signal far louder than the model allows anywhere still says "nearer".
fn log_likelihood(error: f32) -> f32 {
    let noise = -0.5 * (error / NOISE_DB).powi(2);
    let fade = -0.5 * ((error + FADE_DB) / NOISE_DB).powi(2);
    let top = noise.max(fade);
    top + ((1.0 - FADE_SHARE) * (noise - top).exp() + FADE_SHARE * (fade - top).exp()).ln()
}

/// Spreads a small seed (a tag id) over all 64 bits.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
