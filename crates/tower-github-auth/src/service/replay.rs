//! What a replay after a 401 needs of the caller's request, kept while the request is out.

use std::any::Any;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// The caller's request, field by field (cheaper than building a `Request` that is sent only
/// after a 401).
pub(crate) struct Replay<B> {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: B,
}

impl<B: 'static> Replay<B> {
    /// Copies a request whose body is one of the common clonable body types; `None` otherwise.
    pub(crate) fn copy(req: &Request<B>) -> Option<Self> {
        Some(Self {
            body: clone_body(req.body())?,
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            extensions: req.extensions().clone(),
        })
    }
}

impl<B> From<Request<B>> for Replay<B> {
    fn from(req: Request<B>) -> Self {
        let (parts, body) = req.into_parts();
        Self {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
            body,
        }
    }
}

impl<B> From<Replay<B>> for Request<B> {
    fn from(replay: Replay<B>) -> Self {
        let mut req = Request::new(replay.body);
        *req.method_mut() = replay.method;
        *req.uri_mut() = replay.uri;
        *req.version_mut() = replay.version;
        *req.headers_mut() = replay.headers;
        *req.extensions_mut() = replay.extensions;
        req
    }
}

fn clone_body<B: 'static>(body: &B) -> Option<B> {
    fn as_clone<T: Clone + 'static, B: 'static>(body: &B) -> Option<B> {
        let mut out = Some((body as &dyn Any).downcast_ref::<T>()?.clone());
        (&mut out as &mut dyn Any)
            .downcast_mut::<Option<B>>()?
            .take()
    }
    as_clone::<http_body_util::Full<Bytes>, B>(body)
        .or_else(|| as_clone::<http_body_util::Empty<Bytes>, B>(body))
        .or_else(|| as_clone::<String, B>(body))
        .or_else(|| as_clone::<Bytes, B>(body))
        .or_else(|| as_clone::<Vec<u8>, B>(body))
        .or_else(|| as_clone::<&'static str, B>(body))
        .or_else(|| as_clone::<(), B>(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BoxError;
    use http_body_util::{Full, StreamBody};

    #[test]
    fn clonable_bodies_are_copied() {
        type Stream =
            StreamBody<futures_util::stream::Empty<Result<http_body::Frame<Bytes>, BoxError>>>;
        #[derive(Clone, Debug, PartialEq)]
        struct Marker(u32);
        let req = Request::post("/x")
            .header("x-a", "1")
            .header("x-a", "2")
            .version(http::Version::HTTP_2)
            .extension(Marker(7))
            .body(Full::new(Bytes::from_static(b"hi")))
            .unwrap();
        let copy: Request<_> = Replay::copy(&req).unwrap().into();
        let values: Vec<_> = copy.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(copy.method(), http::Method::POST);
        assert_eq!(copy.uri(), "/x");
        assert_eq!(copy.version(), http::Version::HTTP_2);
        assert_eq!(copy.extensions().get::<Marker>(), Some(&Marker(7)));
        assert_eq!(
            futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
                copy.into_body()
            ))
            .unwrap()
            .unwrap()
            .to_bytes(),
            "hi"
        );
        assert!(Replay::copy(&Request::new(String::from("s"))).is_some());

        let streaming: Request<Stream> =
            Request::new(StreamBody::new(futures_util::stream::empty()));
        assert!(Replay::copy(&streaming).is_none());
    }
}
