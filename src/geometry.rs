//! Polygons drawn on a floor plan (zones), in plan fractions like every position the API
//! shows: validated once when drawn, then asked whether a tag's position is inside, with
//! a margin at the border so that a tag standing on the line does not flap in and out.

use thiserror::Error;

/// The most vertices a zone may have: each position is tested against every edge.
pub const MAX_VERTICES: usize = 100;

/// A point on a plan: x and y as fractions of the plan's width and height (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// Why a polygon cannot be a zone; the text is the `detail` the API answers.
#[derive(Debug, Error, PartialEq)]
pub enum PolygonError {
    #[error("a zone needs at least 3 points, got {0}")]
    TooFewPoints(usize),
    #[error("a zone has at most {MAX_VERTICES} points, got {0}")]
    TooManyPoints(usize),
    #[error("point {0} is outside the plan: x and y go from 0 to 1")]
    OutsideThePlan(usize),
    #[error("points {0} and {1} are the same")]
    RepeatedPoint(usize, usize),
    #[error("the edges from point {0} and from point {1} cross")]
    SelfCrossing(usize, usize),
    #[error("the points lie on one line: the zone has no area")]
    NoArea,
}

/// A simple polygon (its edges do not cross), vertices in order, closed implicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    vertices: Vec<Point>,
}

impl Polygon {
    /// Checks `vertices` (numbered from 1 in errors, as an operator counts them).
    pub fn new(vertices: Vec<Point>) -> Result<Self, PolygonError> {
        let n = vertices.len();
        if n < 3 {
            return Err(PolygonError::TooFewPoints(n));
        }
        if n > MAX_VERTICES {
            return Err(PolygonError::TooManyPoints(n));
        }
        let on_plan = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if let Some(i) = vertices.iter().position(|p| !on_plan(p.x) || !on_plan(p.y)) {
            return Err(PolygonError::OutsideThePlan(i + 1));
        }
        for i in 0..n {
            for j in i + 1..n {
                if vertices[i] == vertices[j] {
                    return Err(PolygonError::RepeatedPoint(i + 1, j + 1));
                }
            }
        }
        let polygon = Polygon { vertices };
        for i in 0..n {
            // Edges that share a vertex meet there by construction; only the others count.
            for j in i + 2..n {
                if i == 0 && j == n - 1 {
                    continue;
                }
                if segments_touch(polygon.edge(i), polygon.edge(j)) {
                    return Err(PolygonError::SelfCrossing(i + 1, j + 1));
                }
            }
        }
        if polygon.area_in(Scale::FRACTIONS) < f64::EPSILON {
            return Err(PolygonError::NoArea);
        }
        Ok(polygon)
    }

    pub fn vertices(&self) -> &[Point] {
        &self.vertices
    }

    /// Whether `p` is inside (even-odd rule; a point exactly on an edge may go either way,
    /// which [`Polygon::holds`] makes harmless).
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        for (a, b) in (0..self.vertices.len()).map(|i| self.edge(i)) {
            if (a.y > p.y) != (b.y > p.y) {
                let x_at_y = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
                if p.x < x_at_y {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// The distance from `p` to the nearest edge, in the units of `scale`.
    pub fn distance_to_border(&self, p: Point, scale: Scale) -> f64 {
        (0..self.vertices.len())
            .map(|i| {
                let (a, b) = self.edge(i);
                distance_to_segment(scale.apply(p), scale.apply(a), scale.apply(b))
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Whether a tag at `p` counts as inside, given whether it was: it enters only once
    /// inside by at least `margin`, and leaves only once outside by at least `margin`
    /// (`margin` in the units of `scale`: metres on a plan of known size, typically the
    /// position's accuracy). Within the margin it keeps what it was.
    pub fn holds(&self, p: Point, was_inside: bool, margin: f64, scale: Scale) -> bool {
        let inside = self.contains(p);
        if inside == was_inside {
            return inside;
        }
        if self.distance_to_border(p, scale) >= margin {
            inside
        } else {
            was_inside
        }
    }

    fn edge(&self, i: usize) -> (Point, Point) {
        let n = self.vertices.len();
        (self.vertices[i], self.vertices[(i + 1) % n])
    }

    /// The area (shoelace formula), in the square units of `scale`.
    pub fn area_in(&self, scale: Scale) -> f64 {
        let twice: f64 = (0..self.vertices.len())
            .map(|i| {
                let (a, b) = self.edge(i);
                let (a, b) = (scale.apply(a), scale.apply(b));
                a.x * b.y - b.x * a.y
            })
            .sum();
        twice.abs() / 2.0
    }
}

/// How plan fractions turn into lengths: a plan's size in metres when known, else
/// fractions themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub width: f64,
    pub height: f64,
}

impl Scale {
    pub const FRACTIONS: Scale = Scale {
        width: 1.0,
        height: 1.0,
    };

    fn apply(self, p: Point) -> Point {
        Point {
            x: p.x * self.width,
            y: p.y * self.height,
        }
    }
}

/// Twice the signed area of the triangle a, b, c: its sign says on which side of a→b c is.
fn cross(a: Point, b: Point, c: Point) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

/// Whether two segments cross or touch (collinear overlap included).
fn segments_touch((a, b): (Point, Point), (c, d): (Point, Point)) -> bool {
    let (d1, d2) = (cross(c, d, a), cross(c, d, b));
    let (d3, d4) = (cross(a, b, c), cross(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    let within = |p: Point, q: Point, r: Point| {
        r.x >= p.x.min(q.x) && r.x <= p.x.max(q.x) && r.y >= p.y.min(q.y) && r.y <= p.y.max(q.y)
    };
    (d1 == 0.0 && within(c, d, a))
        || (d2 == 0.0 && within(c, d, b))
        || (d3 == 0.0 && within(a, b, c))
        || (d4 == 0.0 && within(a, b, d))
}

fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared == 0.0 {
        0.0
    } else {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / length_squared).clamp(0.0, 1.0)
    };
    let (x, y) = (a.x + t * dx, a.y + t * dy);
    (p.x - x).hypot(p.y - y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(coordinates: &[(f64, f64)]) -> Vec<Point> {
        coordinates.iter().map(|&(x, y)| Point { x, y }).collect()
    }

    fn square() -> Polygon {
        Polygon::new(points(&[(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)])).unwrap()
    }

    #[test]
    fn bad_polygons_are_refused_with_the_point_named() {
        let cases = [
            (vec![(0.1, 0.1), (0.2, 0.2)], PolygonError::TooFewPoints(2)),
            (
                vec![(0.1, 0.1), (1.2, 0.2), (0.1, 0.5)],
                PolygonError::OutsideThePlan(2),
            ),
            (
                vec![(0.1, 0.1), (f64::NAN, 0.2), (0.1, 0.5)],
                PolygonError::OutsideThePlan(2),
            ),
            (
                vec![(0.1, 0.1), (0.5, 0.1), (0.1, 0.1), (0.1, 0.5)],
                PolygonError::RepeatedPoint(1, 3),
            ),
            // A bow tie: the edge 1→2 crosses the edge 3→4.
            (
                vec![(0.1, 0.1), (0.5, 0.5), (0.5, 0.1), (0.1, 0.5)],
                PolygonError::SelfCrossing(1, 3),
            ),
            (
                vec![(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)],
                PolygonError::NoArea,
            ),
        ];
        for (coordinates, expected) in cases {
            assert_eq!(
                Polygon::new(points(&coordinates)),
                Err(expected),
                "{coordinates:?}"
            );
        }
        let many: Vec<(f64, f64)> = (0..=MAX_VERTICES)
            .map(|i| {
                let angle = i as f64 / (MAX_VERTICES + 1) as f64 * std::f64::consts::TAU;
                (0.5 + 0.4 * angle.cos(), 0.5 + 0.4 * angle.sin())
            })
            .collect();
        assert_eq!(
            Polygon::new(points(&many)),
            Err(PolygonError::TooManyPoints(MAX_VERTICES + 1))
        );
        assert!(Polygon::new(points(&many[..MAX_VERTICES])).is_ok());
    }

    #[test]
    fn inside_and_outside_of_a_concave_zone() {
        // An L: the notch at the top right is outside.
        let l = Polygon::new(points(&[
            (0.1, 0.1),
            (0.3, 0.1),
            (0.3, 0.3),
            (0.5, 0.3),
            (0.5, 0.5),
            (0.1, 0.5),
        ]))
        .unwrap();
        assert!(l.contains(Point { x: 0.2, y: 0.2 }));
        assert!(l.contains(Point { x: 0.4, y: 0.4 }));
        assert!(!l.contains(Point { x: 0.4, y: 0.2 }), "the notch");
        assert!(!l.contains(Point { x: 0.9, y: 0.9 }));
        assert!((l.area_in(Scale::FRACTIONS) - 0.12).abs() < 1e-9);
    }

    #[test]
    fn distances_are_measured_in_metres_on_a_plan_of_known_size() {
        let plan = Scale {
            width: 20.0,
            height: 10.0,
        };
        let zone = square();
        // 0.1 of the width from the left edge: 2 m; 0.1 of the height from the top: 1 m.
        let d = zone.distance_to_border(Point { x: 0.3, y: 0.3 }, plan);
        assert!((d - 1.0).abs() < 1e-9, "{d}");
        let outside = zone.distance_to_border(Point { x: 0.7, y: 0.4 }, plan);
        assert!((outside - 2.0).abs() < 1e-9, "{outside}");
    }

    #[test]
    fn a_tag_on_the_border_does_not_flap() {
        let zone = square();
        let plan = Scale {
            width: 10.0,
            height: 10.0,
        };
        let margin = 1.0;
        // Walking in from the left along y = 0.4: the border is at x = 0.2 (2 m).
        let walk = [
            0.05, 0.15, 0.19, 0.21, 0.19, 0.21, 0.25, 0.35, 0.25, 0.19, 0.15, 0.05,
        ];
        let mut inside = false;
        let mut changes = Vec::new();
        for x in walk {
            let now = zone.holds(Point { x, y: 0.4 }, inside, margin, plan);
            if now != inside {
                changes.push((x, now));
            }
            inside = now;
        }
        assert_eq!(
            changes,
            [(0.35, true), (0.05, false)],
            "one entry, one exit"
        );
        // Without a margin, every crossing counts.
        let mut inside = false;
        let mut flips = 0;
        for x in walk {
            let now = zone.holds(Point { x, y: 0.4 }, inside, 0.0, plan);
            flips += usize::from(now != inside);
            inside = now;
        }
        assert_eq!(flips, 4);
    }
}
