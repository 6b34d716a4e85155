//! What a request names besides its body: the id in its path, its query parameters.

use lambda_http::Request;

use super::ApiError;
use crate::domain::CustomerId;

/// The id segment of `/v1/customers/{id}...`.
pub(super) fn customer_in_path(req: &Request) -> Result<CustomerId, ApiError> {
    let raw = req
        .uri()
        .path()
        .strip_prefix("/v1/customers/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let decoded = percent_decode(raw).ok_or_else(|| {
        ApiError::Invalid(crate::domain::FieldError::new(
            "id",
            "is not valid percent-encoding",
        ))
    })?;
    Ok(CustomerId::parse("id", &decoded)?)
}

/// The query parameter `name`, percent-decoded (`+` as a space).
pub(super) fn query_param(req: &Request, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name)
            .then(|| percent_decode(&value.replace('+', " ")))
            .flatten()
    })
}

pub(super) fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b").as_deref(), Some("a@b"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
