//! Stored media: floor-plan images under the media directory, with generated names. The
//! type is recognised from the bytes, never from the file name or the declared type; SVG
//! (which can carry scripts) is refused. A name starts with the id of the plan it was
//! stored for: a plan only ever points at (and deletes) its own files. Served at `/media/…`
//! by [`crate::api::media`].

use std::path::{Path, PathBuf};

use crate::config::Config;

/// Why an image was not stored.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("File must be an image (PNG, JPEG or WebP)")]
    NotAnImage,
    #[error(
        "The media storage quota is used up ({used} of {quota} bytes, media.quota_bytes); \
         delete floor plans or images, or raise the quota"
    )]
    QuotaUsed { used: u64, quota: u64 },
    #[error("media storage: {0}")]
    Io(#[from] std::io::Error),
}

const FLOOR_PLANS: &str = "floor_plans";

pub struct StoredImage {
    pub url: String,
    pub width: usize,
    pub height: usize,
}

/// Checks that `bytes` is a PNG, JPEG or WebP image and writes it under a new name that
/// says which plan it belongs to (`<plan id>-<random>.<ext>`), within `media.quota_bytes`.
pub async fn store_floor_plan_image(
    config: &Config,
    plan_id: i64,
    bytes: &[u8],
) -> Result<StoredImage, MediaError> {
    let extension = match imagesize::image_type(bytes).map_err(|_| MediaError::NotAnImage)? {
        imagesize::ImageType::Png => "png",
        imagesize::ImageType::Jpeg => "jpg",
        imagesize::ImageType::Webp => "webp",
        _ => return Err(MediaError::NotAnImage),
    };
    let size = imagesize::blob_size(bytes).map_err(|_| MediaError::NotAnImage)?;
    if size.width == 0 || size.height == 0 {
        return Err(MediaError::NotAnImage);
    }
    let name = format!("{plan_id}-{}.{extension}", random_name());
    let dir = config.media_root().join(FLOOR_PLANS);
    tokio::fs::create_dir_all(&dir).await?;
    // One upload at a time measures and writes, so two cannot share the last free bytes.
    static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _writing = WRITING.lock().await;
    let used = bytes_under(&config.media_root()).await?;
    let quota = config.media.quota_bytes;
    if used + bytes.len() as u64 > quota {
        tracing::warn!(used, quota, "media quota reached; upload refused");
        return Err(MediaError::QuotaUsed { used, quota });
    }
    tokio::fs::write(dir.join(&name), bytes).await?;
    let base = config
        .http
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    Ok(StoredImage {
        url: format!("{base}/media/{FLOOR_PLANS}/{name}"),
        width: size.width,
        height: size.height,
    })
}

fn random_name() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes the files in `dir` and its subdirectories take.
async fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        while let Some(entry) = entries.next_entry().await? {
            let meta = entry.metadata().await?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// Whether `url` names a file in our media directory (as opposed to an image hosted
/// elsewhere).
pub fn is_ours(config: &Config, url: &str) -> bool {
    media_path(config, url).is_some()
}

/// Whether `url` names a file the appliance stored for plan `plan_id`.
pub fn belongs_to(config: &Config, url: &str, plan_id: i64) -> bool {
    media_path(config, url)
        .and_then(|path| path.file_name()?.to_str().map(str::to_string))
        .is_some_and(|name| name.starts_with(&format!("{plan_id}-")))
}

/// Deletes the files behind the image URLs that plans gave up, `(plan id, url)`: only
/// files the appliance stored for that very plan; other URLs (images hosted elsewhere,
/// another plan's file) are left alone. Failures are only logged.
pub async fn remove_images(config: &Config, released: &[(i64, String)]) {
    for (plan_id, url) in released {
        if !belongs_to(config, url, *plan_id) {
            continue;
        }
        if let Some(path) = media_path(config, url)
            && let Err(err) = tokio::fs::remove_file(&path).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "could not remove an old image");
        }
    }
}

/// Maps a `/media/<dir>/<name>` URL (absolute or not) to a file under the media root,
/// accepting only names we generate (no separators, no dot-dot).
pub fn media_path(config: &Config, url: &str) -> Option<PathBuf> {
    let rest = &url[url.find("/media/")? + "/media/".len()..];
    let (dir, name) = rest.split_once('/')?;
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    (dir == FLOOR_PLANS && safe(name)).then(|| config.media_root().join(dir).join(name))
}
