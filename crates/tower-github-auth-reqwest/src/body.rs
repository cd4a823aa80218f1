//! Copies of request bodies, for the layers' replay after a 401.

use bytes::Bytes;

/// A copy of a `reqwest::Body` made from bytes, for tower-github-auth's layers to replay a
/// request refused with 401 (`.replay_body_with(copy_reqwest_body)` on `AppAuth`,
/// `AppInstallationAuth` or a user's builder). A streaming body has no copy (`None`): such a
/// request is not replayed, its 401 comes back.
///
/// Not needed for `Bytes` or `Vec<u8>` bodies, which the layers copy themselves.
///
/// ```
/// use tower_github_auth_reqwest::copy_reqwest_body;
///
/// let body = reqwest::Body::from(r#"{"repositories":["one"]}"#);
/// let copy = copy_reqwest_body(&body).expect("a body made of bytes");
/// assert_eq!(copy.as_bytes(), body.as_bytes());
/// ```
pub fn copy_reqwest_body(body: &reqwest::Body) -> Option<reqwest::Body> {
    body.as_bytes()
        .map(|bytes| reqwest::Body::from(Bytes::copy_from_slice(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_made_of_bytes_are_copied_and_streams_are_not() {
        let empty = copy_reqwest_body(&reqwest::Body::from(Bytes::new())).unwrap();
        assert_eq!(empty.as_bytes(), Some(&b""[..]));
        let json = copy_reqwest_body(&reqwest::Body::from(b"{}".to_vec())).unwrap();
        assert_eq!(json.as_bytes(), Some(&b"{}"[..]));
        let stream = reqwest::Body::wrap(http_body_util::Full::new(Bytes::from_static(b"x")));
        assert!(copy_reqwest_body(&stream).is_none());
    }
}
