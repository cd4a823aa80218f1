//! What a replay after a 401 needs of the caller's request, kept while the request is out.

use std::any::{Any, type_name};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// Whether a request refused with 401 is replayed, and how its body is copied for that: the
/// setting behind every minting layer's `replay_unauthorized` and `replay_body_with`.
#[derive(Clone)]
pub(crate) struct Replaying {
    /// Replay at all (default: yes).
    pub(crate) on: bool,
    /// The caller's own copier for a body type the built-in list does not know.
    copy: Option<Arc<CallerCopier>>,
}

/// A copier the caller gave for bodies of one type: kept as `Any` and found again by its type
/// at each request. Shared by every clone of the layer, and so is its one warning.
struct CallerCopier {
    /// A [`Copier<B>`] for the caller's `B`.
    copy: Box<dyn Any + Send + Sync>,
    /// `B`'s name, for the warning.
    body_type: &'static str,
    /// Whether the warning about requests of another body type was written.
    warned: AtomicBool,
}

/// The caller's copier for bodies of type `B`.
type Copier<B> = Box<dyn Fn(&B) -> Option<B> + Send + Sync>;

impl CallerCopier {
    /// A request whose body is not the copier's type: the copier is never used for it. Said
    /// once per layer, at the first such request, rather than left for a 401 to show.
    #[cold]
    fn mismatch<B>(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                copier_body = self.body_type,
                request_body = type_name::<B>(),
                "replay_body_with was given a copier for another body type than this layer's \
                 requests carry, so it is never used: a request refused with 401 is replayed \
                 only when its body is one of the built-in clonable types; give \
                 replay_body_with a copier for the inner service's request body type"
            );
        }
    }
}

impl Default for Replaying {
    fn default() -> Self {
        Self {
            on: true,
            copy: None,
        }
    }
}

impl fmt::Debug for Replaying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.on, &self.copy) {
            (false, _) => f.write_str("off"),
            (true, None) => f.write_str("on"),
            (true, Some(copier)) => {
                write!(f, "on, with the caller's copier of `{}`", copier.body_type)
            }
        }
    }
}

impl Replaying {
    /// Copies bodies of type `B` with `copy` (`None`: this body cannot be copied).
    pub(crate) fn body_with<B, F>(&mut self, copy: F)
    where
        B: 'static,
        F: Fn(&B) -> Option<B> + Send + Sync + 'static,
    {
        let copy: Copier<B> = Box::new(copy);
        self.copy = Some(Arc::new(CallerCopier {
            copy: Box::new(copy),
            body_type: type_name::<B>(),
            warned: AtomicBool::new(false),
        }));
    }

    /// The copy of `req` a replay sends, when replays are on and its body can be copied.
    #[inline]
    pub(crate) fn copy<B: 'static>(&self, req: &Request<B>) -> Option<Replay<B>> {
        if !self.on {
            return None;
        }
        let body = match self.copy.as_deref() {
            Some(caller) => {
                if let Some(copy) = caller.copy.downcast_ref::<Copier<B>>() {
                    copy(req.body())?
                } else {
                    caller.mismatch::<B>();
                    clone_body(req.body())?
                }
            }
            None => clone_body(req.body())?,
        };
        Some(Replay::with_body(req, body))
    }
}

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

impl<B> Replay<B> {
    /// A copy of `req`'s head, with `body` (a copy of its body).
    fn with_body(req: &Request<B>, body: B) -> Self {
        Self {
            body,
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            extensions: req.extensions().clone(),
        }
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
        let copy: Request<_> = Replaying::default().copy(&req).unwrap().into();
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
        assert!(
            Replaying::default()
                .copy(&Request::new(String::from("s")))
                .is_some()
        );

        let streaming: Request<Stream> =
            Request::new(StreamBody::new(futures_util::stream::empty()));
        assert!(Replaying::default().copy(&streaming).is_none());
    }

    /// A body type outside the built-in list, whose deep copy is a method (like octocrab's).
    #[derive(Debug, PartialEq)]
    struct Own(Option<Bytes>);

    impl Own {
        fn try_copy(&self) -> Option<Self> {
            self.0.clone().map(|b| Own(Some(b)))
        }
    }

    /// A closure holding state is a copier too (not only a `fn`).
    #[test]
    fn a_closure_with_state_is_a_copier() {
        let copies = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&copies);
        let mut replaying = Replaying::default();
        replaying.body_with(move |body: &Own| {
            counted.fetch_add(1, Ordering::Relaxed);
            body.try_copy()
        });
        let req = Request::new(Own(Some(Bytes::from_static(b"hi"))));
        let copy: Request<Own> = replaying.copy(&req).unwrap().into();
        assert_eq!(copy.body(), req.body());
        assert_eq!(copies.load(Ordering::Relaxed), 1);
        // The clones of a layer share the copier and its warning.
        let clone = replaying.clone();
        assert!(clone.copy(&Request::new(())).is_some());
        assert!(
            replaying
                .copy
                .as_ref()
                .unwrap()
                .warned
                .load(Ordering::Relaxed)
        );
    }

    #[test]
    fn the_callers_copier_copies_its_body_type() {
        let req = Request::post("/x")
            .body(Own(Some(Bytes::from_static(b"hi"))))
            .unwrap();
        assert!(
            Replaying::default().copy(&req).is_none(),
            "not a known body"
        );

        let mut replaying = Replaying::default();
        replaying.body_with(Own::try_copy);
        let copy: Request<Own> = replaying.copy(&req).unwrap().into();
        assert_eq!(copy.body(), &Own(Some(Bytes::from_static(b"hi"))));
        assert_eq!(copy.method(), http::Method::POST);
        // A body the copier cannot copy is not replayed.
        assert!(replaying.copy(&Request::new(Own(None))).is_none());
        let warned = |r: &Replaying| r.copy.as_ref().unwrap().warned.load(Ordering::Relaxed);
        assert!(!warned(&replaying), "its own body type: no warning");
        // The built-in list still works beside a copier for another type; the copier is not
        // used for it, and that is flagged (and said once, see tests/logs.rs).
        assert!(replaying.copy(&Request::new(String::from("s"))).is_some());
        assert!(warned(&replaying), "a mismatch is flagged");
        assert!(format!("{replaying:?}").contains("Own"));
        // Replays off: no copy at all.
        replaying.on = false;
        assert!(replaying.copy(&req).is_none());
        assert_eq!(format!("{replaying:?}"), "off");
    }
}
