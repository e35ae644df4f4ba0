//! Stored media: floor-plan images and incident attachments under the media directory,
//! with generated names. The type is recognised from the bytes, never from the file name or
//! the declared type; SVG and HTML (which can carry scripts) are refused. A plan image's
//! name starts with the id of the plan it was stored for: a plan only ever points at (and
//! deletes) its own files; an incident's files live in a directory of their own. Served at
//! `/media/…` by [`crate::api::media`].

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
    #[error(
        "file: not a supported type (PNG, JPEG, GIF or WebP image, PDF, plain text, \
         MP4 or WebM video)"
    )]
    UnsupportedAttachment,
    #[error(
        "The incident's attachments would take more than incidents.attachment_quota_bytes \
         ({quota} bytes; {used} used)"
    )]
    IncidentQuotaUsed { used: u64, quota: u64 },
    #[error("media storage: {0}")]
    Io(#[from] std::io::Error),
}

const FLOOR_PLANS: &str = "floor_plans";
const INCIDENTS: &str = "incidents";

/// One upload at a time measures and writes, so two cannot share the last free bytes.
static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What an attachment is, from its bytes: its extension, content type and the original's
/// message `media_type` (IMAGE, VIDEO or FILE).
pub fn sniff_attachment(bytes: &[u8]) -> Option<(&'static str, &'static str, &'static str)> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    Some(if starts(b"\x89PNG\r\n\x1a\n") {
        ("png", "image/png", "IMAGE")
    } else if starts(b"\xff\xd8\xff") {
        ("jpg", "image/jpeg", "IMAGE")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        ("gif", "image/gif", "IMAGE")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        ("webp", "image/webp", "IMAGE")
    } else if starts(b"%PDF-") {
        ("pdf", "application/pdf", "FILE")
    } else if bytes.get(4..8) == Some(b"ftyp") {
        ("mp4", "video/mp4", "VIDEO")
    } else if starts(b"\x1a\x45\xdf\xa3") {
        ("webm", "video/webm", "VIDEO")
    } else if is_plain_text(bytes) {
        ("txt", "text/plain; charset=utf-8", "FILE")
    } else {
        return None;
    })
}

/// UTF-8 without control characters other than tabs and line ends, and not markup a
/// browser would run.
fn is_plain_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let head = text
        .trim_start()
        .get(..64)
        .unwrap_or(text.trim_start())
        .to_lowercase();
    !bytes.is_empty()
        && !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        && !["<!doctype", "<html", "<svg", "<?xml", "<script"]
            .iter()
            .any(|tag| head.starts_with(tag))
}

pub struct StoredFile {
    pub url: String,
    /// The path under the media root, as `incident_attachments.storage_path` keeps it.
    pub storage_path: String,
    pub content_type: &'static str,
    /// IMAGE, VIDEO or FILE.
    pub kind: &'static str,
}

/// Stores an incident attachment of a supported type under a new name in the incident's
/// directory, within the incident's quota (`incident_used` bytes already taken) and
/// `media.quota_bytes`.
pub async fn store_incident_file(
    config: &Config,
    incident_id: i64,
    bytes: &[u8],
    incident_used: u64,
) -> Result<StoredFile, MediaError> {
    let (extension, content_type, kind) =
        sniff_attachment(bytes).ok_or(MediaError::UnsupportedAttachment)?;
    let quota = config.incidents.attachment_quota_bytes;
    if incident_used + bytes.len() as u64 > quota {
        return Err(MediaError::IncidentQuotaUsed {
            used: incident_used,
            quota,
        });
    }
    let name = format!("{}.{extension}", random_name());
    let dir = config
        .media_root()
        .join(INCIDENTS)
        .join(incident_id.to_string());
    tokio::fs::create_dir_all(&dir).await?;
    let _writing = WRITING.lock().await;
    let used = bytes_under(&config.media_root()).await?;
    let total = config.media.quota_bytes;
    if used + bytes.len() as u64 > total {
        tracing::warn!(used, quota = total, "media quota reached; upload refused");
        return Err(MediaError::QuotaUsed { used, quota: total });
    }
    tokio::fs::write(dir.join(&name), bytes).await?;
    let storage_path = format!("{INCIDENTS}/{incident_id}/{name}");
    Ok(StoredFile {
        url: format!("{}/media/{storage_path}", public_base(config)),
        storage_path,
        content_type,
        kind,
    })
}

/// The incident files the API may serve: their content type and whether a browser may
/// show them inline (images only).
pub fn served_type(path: &Path) -> Option<(&'static str, bool)> {
    Some(match path.extension()?.to_str()? {
        "png" => ("image/png", true),
        "jpg" => ("image/jpeg", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        "pdf" => ("application/pdf", false),
        "txt" => ("text/plain; charset=utf-8", false),
        "mp4" => ("video/mp4", false),
        "webm" => ("video/webm", false),
        _ => return None,
    })
}

fn public_base(config: &Config) -> &str {
    config
        .http
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
}

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
    let (extension, width, height) = inspect_floor_plan_image(bytes)?;
    let name = format!("{plan_id}-{}.{extension}", random_name());
    let dir = config.media_root().join(FLOOR_PLANS);
    tokio::fs::create_dir_all(&dir).await?;
    let _writing = WRITING.lock().await;
    let used = bytes_under(&config.media_root()).await?;
    let quota = config.media.quota_bytes;
    if used + bytes.len() as u64 > quota {
        tracing::warn!(used, quota, "media quota reached; upload refused");
        return Err(MediaError::QuotaUsed { used, quota });
    }
    tokio::fs::write(dir.join(&name), bytes).await?;
    Ok(StoredImage {
        url: format!("{}/media/{FLOOR_PLANS}/{name}", public_base(config)),
        width,
        height,
    })
}

/// What a floor-plan image is, from its bytes: its extension and dimensions (PNG, JPEG or
/// WebP, not empty), or why it is refused.
pub fn inspect_floor_plan_image(bytes: &[u8]) -> Result<(&'static str, usize, usize), MediaError> {
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
    Ok((extension, size.width, size.height))
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

/// Maps a `/media/<dir>/<name>` (a plan image) or `/media/incidents/<id>/<name>` URL
/// (absolute or not) to a file under the media root, accepting only names we generate (no
/// separators, no dot-dot).
pub fn media_path(config: &Config, url: &str) -> Option<PathBuf> {
    let rest = &url[url.find("/media/")? + "/media/".len()..];
    let (dir, name) = rest.split_once('/')?;
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    match dir {
        FLOOR_PLANS => safe(name).then(|| config.media_root().join(dir).join(name)),
        INCIDENTS => {
            let (id, name) = name.split_once('/')?;
            (id.parse::<i64>().is_ok() && safe(name))
                .then(|| config.media_root().join(dir).join(id).join(name))
        }
        _ => None,
    }
}

/// Whether `path` (from [`media_path`]) is an incident's file.
pub fn is_incident_file(config: &Config, path: &Path) -> bool {
    path.starts_with(config.media_root().join(INCIDENTS))
}
