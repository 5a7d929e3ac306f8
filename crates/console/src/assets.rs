//! The console's files, embedded in the binary at build time from `web/`: hand-written ES
//! modules, one style sheet and the page, with nothing generated from them (no build step).

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// Path under the assets' prefix (`js/main.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset { path: $path, content_type: $content_type, bytes: include_bytes!(concat!("../web/", $path)) }
    };
}

/// Every file the page loads. A file in `web/` that is missing here fails a test.
pub const ASSETS: &[Asset] = &[
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/format.js", JS),
    asset!("js/list.js", JS),
    asset!("js/forms.js", JS),
    asset!("js/pages/signin.js", JS),
    asset!("js/pages/overview.js", JS),
    asset!("js/pages/models.js", JS),
    asset!("js/pages/connections.js", JS),
    asset!("js/pages/policies.js", JS),
    asset!("js/pages/keys.js", JS),
    asset!("js/pages/workspaces.js", JS),
    asset!("js/pages/usage.js", JS),
    asset!("js/pages/playground.js", JS),
];

/// The page shell; `{{ASSETS}}` stands for the assets' versioned prefix.
pub const INDEX_HTML: &str = include_str!("../web/index.html");

/// A digest of every file: the assets' URLs change whenever any file does, so they can be
/// cached for ever.
pub fn version() -> String {
    let mut hasher = Sha256::new();
    for asset in ASSETS {
        hasher.update(asset.path.as_bytes());
        hasher.update([0]);
        hasher.update(asset.bytes);
    }
    hasher.finalize().iter().take(6).map(|byte| format!("{byte:02x}")).collect()
}

/// The embedded file at `path`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}
