//! `securityvision seed --demo`: a complete demo site for `securityvision simulate` to move
//! people around in. The ground floor's gateways stand exactly where the simulator's do
//! (same MACs, same grid over a plan of the simulator's default room size) and its people
//! carry the simulator's tags, so `simulate` with its defaults makes them walk on the map.
//! The plan images are drawn here, so the demo needs no files.

use anyhow::Context;
use sqlx::types::Json;

use crate::config::Config;
use crate::simulate::{self, Scenario};
use crate::store::devices::{BLE_GATEWAY, CAMERA, Device};
use crate::store::people::{Person, PersonGroup, Tag};
use crate::store::site::{Building, Floor, FloorPlan};
use crate::store::{Store, StoreError};

pub const BUILDING_CODE: &str = "DEMO";
const PEOPLE: &[&str] = &[
    "Ana Souza",
    "Bruno Lima",
    "Carla Mendes",
    "Diego Alves",
    "Elisa Rocha",
    "Fábio Costa",
    "Gabriela Dias",
    "Hugo Martins",
    "Isabel Nunes",
    "João Pereira",
    "Karina Lopes",
    "Lucas Ribeiro",
];
/// Plan images: pixels per metre.
const SCALE: f64 = 50.0;

/// What was created, for the command's report.
pub struct DemoSite {
    pub building_id: i64,
    pub gateways: usize,
    pub cameras: usize,
    pub people: usize,
}

pub async fn seed(store: &Store, config: &Config) -> anyhow::Result<DemoSite> {
    match store.building_by_code(BUILDING_CODE).await {
        Ok(_) => anyhow::bail!("the demo site already exists (building code {BUILDING_CODE})"),
        Err(StoreError::NotFound) => {}
        Err(err) => return Err(err.into()),
    }
    let (width_m, height_m) = (simulate::DEFAULT_WIDTH_M, simulate::DEFAULT_HEIGHT_M);
    let scenario = Scenario::new(
        simulate::DEFAULT_GATEWAYS,
        simulate::DEFAULT_TAGS,
        width_m,
        height_m,
        0.0,
        1,
    );

    let building = store
        .save_building(&Building {
            name: "Demo HQ".into(),
            code: BUILDING_CODE.into(),
            description: Some("Demo site made by `securityvision seed --demo`".into()),
            ..Default::default()
        })
        .await?;
    let mut gateways = 0;
    let mut cameras = 0;

    // Ground floor: an open office where the simulator's tags walk.
    let ground = add_floor(store, building.id, "Ground floor", 0).await?;
    let office = add_plan(store, config, ground.id, "Open office", width_m, height_m).await?;
    for (mac, x, y) in &scenario.gateways {
        add_device(store, &office, gateway(mac, x / width_m, y / height_m)).await?;
        gateways += 1;
    }
    for (i, (x, y)) in [(0.03, 0.05), (0.97, 0.95)].into_iter().enumerate() {
        add_device(store, &office, camera(&format!("CAM-G{}", i + 1), x, y)).await?;
        cameras += 1;
    }

    // First floor: meeting rooms, gateways that have not reported yet (offline).
    let first = add_floor(store, building.id, "First floor", 1).await?;
    let rooms = add_plan(store, config, first.id, "Meeting rooms", width_m, height_m).await?;
    for (i, (x, y)) in [(0.2, 0.3), (0.5, 0.3), (0.8, 0.3), (0.5, 0.8)]
        .into_iter()
        .enumerate()
    {
        let mac = format!("AC233FC1{:04X}", i + 1);
        add_device(store, &rooms, gateway(&mac, x, y)).await?;
        gateways += 1;
    }
    add_device(store, &rooms, camera("CAM-F1", 0.5, 0.97)).await?;
    cameras += 1;

    let staff = store
        .save_person_group(&PersonGroup {
            name: "Demo staff".into(),
            description: Some("People of the demo site".into()),
            ..Default::default()
        })
        .await?;
    for (name, tag) in PEOPLE.iter().zip(&scenario.tags) {
        let person = store
            .save_person(
                &Person {
                    full_name: (*name).into(),
                    active: true,
                    ..Default::default()
                },
                Some(&[staff.id]),
            )
            .await?;
        store
            .save_tag(&Tag {
                mac_address: tag.mac.clone(),
                label: Some(format!("Badge of {name}")),
                person_id: Some(person.id),
                active: true,
                ..Default::default()
            })
            .await
            .with_context(|| format!("registering tag {}", tag.mac))?;
    }
    Ok(DemoSite {
        building_id: building.id,
        gateways,
        cameras,
        people: PEOPLE.len().min(scenario.tags.len()),
    })
}

async fn add_floor(
    store: &Store,
    building_id: i64,
    name: &str,
    level: i32,
) -> anyhow::Result<Floor> {
    Ok(store
        .save_floor(&Floor {
            building_id,
            name: name.into(),
            level: Some(level),
            ..Default::default()
        })
        .await?)
}

async fn add_plan(
    store: &Store,
    config: &Config,
    floor_id: i64,
    name: &str,
    width_m: f64,
    height_m: f64,
) -> anyhow::Result<FloorPlan> {
    let mut plan = store
        .save_floor_plan(&FloorPlan {
            floor_id,
            name: name.into(),
            width_m: Some(width_m),
            height_m: Some(height_m),
            ..Default::default()
        })
        .await?;
    // The image's name carries the plan's id: stored once the plan exists.
    let png = draw_plan(width_m, height_m);
    let image = crate::media::store_floor_plan_image(config, plan.id, &png)
        .await
        .map_err(|e| anyhow::anyhow!("storing the plan image: {e}"))?;
    plan.image_url = Some(image.url);
    plan.width = Some(image.width as f64);
    plan.height = Some(image.height as f64);
    Ok(store.save_floor_plan(&plan).await?)
}

fn gateway(mac: &str, x: f64, y: f64) -> Device {
    Device {
        name: format!("Gateway {}", crate::mac::display_stored(mac)),
        code: Some(format!("GW_{mac}")),
        device_type: BLE_GATEWAY.into(),
        mac_address: Some(mac.into()),
        pos_x: Some(x),
        pos_y: Some(y),
        manufacturer: Some("Minew".into()),
        ..Default::default()
    }
}

fn camera(code: &str, x: f64, y: f64) -> Device {
    Device {
        name: format!("Camera {code}"),
        code: Some(code.into()),
        device_type: CAMERA.into(),
        pos_x: Some(x),
        pos_y: Some(y),
        manufacturer: Some("Hikvision".into()),
        analytics: Some(Json(vec!["faceDetection".into(), "intrusion".into()])),
        ..Default::default()
    }
}

/// Places a device on a plan (and so on its floor and building).
async fn add_device(store: &Store, plan: &FloorPlan, mut device: Device) -> anyhow::Result<()> {
    let floor = store.floor(plan.floor_id).await?;
    device.floor_plan_id = Some(plan.id);
    device.floor_id = Some(floor.id);
    device.building_id = Some(floor.building_id);
    store.save_device(&device).await?;
    Ok(())
}

/// A plan drawn as a PNG: outer walls, a corridor and rooms along one side, desks.
fn draw_plan(width_m: f64, height_m: f64) -> Vec<u8> {
    let (w, h) = ((width_m * SCALE) as usize, (height_m * SCALE) as usize);
    let mut image = Canvas::new(w, h, [246, 247, 249]);
    let px = |m: f64| (m * SCALE) as usize;
    // Rooms along the top: a quarter of the height deep.
    let room_depth = px(height_m * 0.25);
    let rooms = 4;
    for r in 0..rooms {
        let x0 = w * r / rooms;
        image.fill(x0, 0, w / rooms, room_depth, [226, 234, 244]);
        image.outline(x0, 0, w / rooms, room_depth, 4, [90, 98, 110]);
        // A door gap in each room's lower wall.
        image.fill(
            x0 + w / rooms / 2 - px(0.5),
            room_depth - 4,
            px(1.0),
            4,
            [246, 247, 249],
        );
    }
    // Desks in the open area.
    let mut y = room_depth + px(2.0);
    while y + px(1.6) < h - px(1.0) {
        let mut x = px(1.5);
        while x + px(1.6) < w - px(1.0) {
            image.fill(x, y, px(1.6), px(0.8), [214, 200, 180]);
            x += px(3.0);
        }
        y += px(2.5);
    }
    image.outline(0, 0, w, h, 8, [60, 66, 76]);
    image.png()
}

/// Just enough raster drawing for a plan: filled and outlined rectangles, RGB.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize, background: [u8; 3]) -> Canvas {
        Canvas {
            width,
            height,
            pixels: background.repeat(width * height),
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        for row in y.min(self.height)..(y + h).min(self.height) {
            for col in x.min(self.width)..(x + w).min(self.width) {
                let at = (row * self.width + col) * 3;
                self.pixels[at..at + 3].copy_from_slice(&color);
            }
        }
    }

    fn outline(&mut self, x: usize, y: usize, w: usize, h: usize, t: usize, color: [u8; 3]) {
        self.fill(x, y, w, t, color);
        self.fill(x, (y + h).saturating_sub(t), w, t, color);
        self.fill(x, y, t, h, color);
        self.fill((x + w).saturating_sub(t), y, t, h, color);
    }

    /// Encodes the canvas as an 8-bit RGB PNG (zlib-compressed rows, no filtering).
    fn png(&self) -> Vec<u8> {
        use std::io::Write;
        let mut raw = Vec::with_capacity((self.width * 3 + 1) * self.height);
        for row in self.pixels.chunks(self.width * 3) {
            raw.push(0); // filter type: none
            raw.extend_from_slice(row);
        }
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&raw).expect("writing to memory");
        let data = zlib.finish().expect("writing to memory");

        let mut header = Vec::with_capacity(13);
        header.extend_from_slice(&(self.width as u32).to_be_bytes());
        header.extend_from_slice(&(self.height as u32).to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, body) in [
            (b"IHDR", &header[..]),
            (b"IDAT", &data[..]),
            (b"IEND", &[][..]),
        ] {
            png.extend_from_slice(&(body.len() as u32).to_be_bytes());
            let start = png.len();
            png.extend_from_slice(kind);
            png.extend_from_slice(body);
            let crc = crc32fast::hash(&png[start..]);
            png.extend_from_slice(&crc.to_be_bytes());
        }
        png
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawn_plan_is_a_png_of_the_right_size() {
        let png = draw_plan(20.0, 12.0);
        assert_eq!(
            imagesize::image_type(&png).unwrap(),
            imagesize::ImageType::Png
        );
        let size = imagesize::blob_size(&png).unwrap();
        assert_eq!((size.width, size.height), (1000, 600));
        // Flat colours compress well: far below the 1.8 MB of raw pixels.
        assert!(png.len() < 100_000, "{} bytes", png.len());
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let length = u32::from_be_bytes(png[idat - 4..idat].try_into().unwrap()) as usize;
        let mut rows = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&png[idat + 4..idat + 4 + length]),
            &mut rows,
        )
        .unwrap();
        assert_eq!(rows.len(), (1000 * 3 + 1) * 600);
    }
}
