//! The built pages embedded in the binary: `playground/dist/` as the build
//! script found it (see `build.rs`), looked up by path, with a content type
//! and an ETag worked out at build time. Empty when the pages were not
//! built; the server works the same without them.

/// `(path under dist/, bytes, ETag)` of every built file, sorted by path.
static FILES: &[(&str, &[u8], &str)] = include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// Its content.
    pub(crate) bytes: &'static [u8],
    /// Its strong ETag, quoted.
    pub(crate) etag: &'static str,
    /// Its media type.
    pub(crate) content_type: &'static str,
}

/// The file at `path` (`index.html`, `assets/chat.js`), if it was built.
pub(crate) fn get(path: &str) -> Option<Asset> {
    let at = FILES.binary_search_by(|(name, _, _)| (*name).cmp(path)).ok()?;
    let (name, bytes, etag) = FILES[at];
    Some(Asset { bytes, etag, content_type: content_type(name) })
}

/// Whether the pages were built into this binary.
pub(crate) fn built() -> bool {
    get("index.html").is_some() && get("playground.html").is_some()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("ttf") => "font/ttf",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_file() {
        assert!(FILES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (name, bytes, _) in FILES {
            assert_eq!(get(name).map(|a| a.bytes.len()), Some(bytes.len()), "{name}");
        }
        assert!(get("no/such/file.js").is_none());
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("assets/chat.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/codicon-37A3DWZT.ttf"), "font/ttf");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
