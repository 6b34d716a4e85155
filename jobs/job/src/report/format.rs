//! How the report writes numbers, amounts, shares and keys, for the page and its charts
//! alike (the page calls these as template filters).

/// `v` with `decimals` decimals and thousands separated by commas; a dash if not finite.
pub(super) fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.*}", decimals, v.abs());
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let mut out = String::with_capacity(digits.len() + int.len() / 3 + 1);
    if v < 0.0 && digits.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        out.push('−');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A whole number of things, grouped.
pub(super) fn count(n: usize) -> String {
    number(n as f64, 0)
}

/// A whole number with its sign: `+1,200`, `−300`, `0`.
pub(super) fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", number(n as f64, 0))
    } else {
        number(n as f64, 0)
    }
}

pub(super) fn money(v: f64, currency: &str) -> String {
    format!("{} {currency}", number(v, 2))
}

/// A share as a percentage with one decimal; a dash if not finite.
pub(super) fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "–".to_owned()
    }
}

/// `at_risk` → `at risk`, `win_back` → `win back`.
pub(super) fn humanize(key: &str) -> String {
    key.replace('_', " ")
}

/// The `q` quantile of sorted, non-empty `values` (nearest rank).
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Escapes text for HTML element content and quoted attribute values: the five
/// characters that need it there and nothing else, so `/` in a reason stays readable.
pub(super) fn escape_html(text: &str, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    for c in text.chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' => out.write_str("&quot;")?,
            '\'' => out.write_str("&#39;")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}
