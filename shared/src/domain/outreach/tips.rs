//! How-to content sent after the order that bought a product: per SKU, or per family of
//! SKUs by prefix (`TEA-*`), each tip with a title, text, a link and an optional video
//! (mailed as a thumbnail that links to it, never embedded).

use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, Sku};

/// One tip of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tip {
    /// The products it is for: exact SKUs, or a prefix ending in `*` for a family.
    pub skus: Vec<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Where to read more (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A video about it (https); YouTube videos get a thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
}

impl Tip {
    /// A tip of one line for `sku`, as the older tips file gives them.
    pub fn line(sku: &Sku, line: String) -> Self {
        Self {
            skus: vec![sku.as_str().to_owned()],
            title: line,
            text: None,
            link: None,
            video_url: None,
        }
    }

    /// Whether it is for `sku`.
    pub fn covers(&self, sku: &str) -> bool {
        self.skus
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => sku.starts_with(prefix),
                None => sku == pattern,
            })
    }

    /// The still image of its video, where the host has one at a known address.
    pub fn thumbnail(&self) -> Option<String> {
        let url = url::Url::parse(self.video_url.as_deref()?).ok()?;
        let id = match url.host_str()? {
            "www.youtube.com" | "youtube.com" | "m.youtube.com" => url
                .query_pairs()
                .find(|(k, _)| k == "v")
                .map(|(_, v)| v.into_owned()),
            "youtu.be" => url.path_segments()?.next().map(str::to_owned),
            _ => None,
        }?;
        let sound = (6..=20).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        sound.then(|| format!("https://img.youtube.com/vi/{id}/hqdefault.jpg"))
    }
}

/// Most tips a catalogue holds.
pub const MAX_TIPS: usize = 200;

/// What is wrong with a tips catalogue, each with its path.
pub fn tip_problems(tips: &[Tip]) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if tips.len() > MAX_TIPS {
        problems.push(FieldError::new(
            "tips",
            format!("must list at most {MAX_TIPS} tips"),
        ));
    }
    for (n, tip) in tips.iter().enumerate() {
        let at = |field: &str| format!("tips[{n}].{field}");
        if tip.skus.is_empty() || tip.skus.len() > 50 {
            problems.push(FieldError::new(
                at("skus"),
                "must list 1 to 50 SKUs or prefixes",
            ));
        }
        for (s, pattern) in tip.skus.iter().enumerate() {
            let sku = pattern.strip_suffix('*').unwrap_or(pattern);
            if Sku::parse("sku", sku).is_err() || sku.contains('*') {
                problems.push(FieldError::new(
                    format!("tips[{n}].skus[{s}]"),
                    "must be a SKU, or a SKU prefix ending in '*'",
                ));
            }
        }
        if tip.title.trim().is_empty() || tip.title.chars().count() > 200 {
            problems.push(FieldError::new(at("title"), "must be 1 to 200 characters"));
        }
        if tip.text.as_ref().is_some_and(|t| t.chars().count() > 2_000) {
            problems.push(FieldError::new(
                at("text"),
                "must be at most 2000 characters",
            ));
        }
        for (field, value) in [("link", &tip.link), ("video_url", &tip.video_url)] {
            let Some(value) = value else { continue };
            let https = url::Url::parse(value)
                .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
            if !https || value.len() > 500 {
                problems.push(FieldError::new(
                    at(field),
                    "must be an https address of at most 500 characters",
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(skus: &[&str], video: Option<&str>) -> Tip {
        Tip {
            skus: skus.iter().map(|s| (*s).to_owned()).collect(),
            title: "Brewing".into(),
            text: None,
            link: Some("https://shop.example/brew".into()),
            video_url: video.map(Into::into),
        }
    }

    #[test]
    fn tips_cover_skus_and_families_and_youtube_videos_get_a_thumbnail() {
        let t = tip(
            &["MUG-BLUE", "TEA-*"],
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        );
        assert!(t.covers("TEA-SENCHA") && t.covers("MUG-BLUE") && !t.covers("MUG-RED"));
        assert_eq!(
            t.thumbnail().as_deref(),
            Some("https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg")
        );
        let short = tip(&["A"], Some("https://youtu.be/dQw4w9WgXcQ"));
        assert!(short.thumbnail().is_some());
        let vimeo = tip(&["A"], Some("https://vimeo.com/76979871"));
        assert_eq!(vimeo.thumbnail(), None, "a plain link instead");
        assert!(tip_problems(&[t]).is_empty());
    }

    #[test]
    fn links_must_be_https_and_skus_sound() {
        let mut t = tip(&["TEA-*-X*"], Some("javascript:alert(1)"));
        t.link = Some("http://shop.example".into());
        let fields: Vec<String> = tip_problems(&[t]).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["tips[0].skus[0]", "tips[0].link", "tips[0].video_url"]
        );
    }
}
