//! [`VerifyWebhook`]: reads, verifies and deduplicates a delivery, then calls the inner service.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode, header, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower_service::Service;

use crate::{
    config::Config,
    delivery::{DeliveryKey, Headers, delivery_id},
    error::Error,
    future::ResponseFuture,
    signature::SIGNATURE_HEADER,
    store::{DeliveryStore, StoreUnavailable},
};

/// The service [`WebhookLayer`](crate::WebhookLayer) makes: the inner service sees only verified
/// deliveries, as a `Request<Full<Bytes>>` (the raw body) with a [`Delivery`](crate::Delivery) in
/// its extensions.
#[derive(Clone)]
pub struct VerifyWebhook<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for VerifyWebhook<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyWebhook")
            .field("inner", &self.inner)
            .field("secrets", &self.config.secrets)
            .finish_non_exhaustive()
    }
}

impl<S> VerifyWebhook<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VerifyWebhook<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        ResponseFuture {
            inner: Box::pin(handle(inner, self.config.clone(), req)),
        }
    }
}

fn answer<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}

/// The refusal's answer: its status and an empty body, whatever the check.
fn refuse<B: Default>(id: &str, err: &Error) -> Response<B> {
    let status = err.status();
    tracing::warn!(delivery = id, status = status.as_u16(), error = %err, "webhook delivery refused");
    answer(status)
}

async fn handle<S, ReqBody, ResBody>(
    mut inner: S,
    config: Arc<Config>,
    req: Request<ReqBody>,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Default,
{
    let (parts, body) = req.into_parts();
    let id = delivery_id(&parts.headers).unwrap_or("-").to_owned();
    let (delivery, signature) = match verify(&config, &parts, body).await {
        Ok(verified) => verified,
        Err(err) => return Ok(refuse(&id, &err)),
    };

    let mut mark = None;
    if let Some(store) = &config.store {
        let key = DeliveryKey::new(&delivery.id, signature.as_bytes());
        let marked =
            tokio::time::timeout(config.store_timeout, store.mark(key, config.window)).await;
        let failure = match marked {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => {
                tracing::info!(
                    delivery = id,
                    event = delivery.event,
                    "duplicate webhook delivery answered 200 without running the handler"
                );
                return Ok(answer(StatusCode::OK));
            }
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some(format!("no answer within {:?}", config.store_timeout)),
        };
        match (failure, config.on_store_unavailable) {
            (None, _) => mark = Some(Mark::new(store.clone(), key, config.store_timeout)),
            (Some(detail), StoreUnavailable::Refuse) => {
                return Ok(refuse(&id, &Error::StoreUnavailable { detail }));
            }
            (Some(detail), StoreUnavailable::ProcessAnyway) => tracing::warn!(
                delivery = id,
                error = detail,
                "the delivery store is unavailable: the delivery is processed without replay protection"
            ),
        }
    }

    let mut req = Request::from_parts(parts, Full::new(delivery.body().clone()));
    req.extensions_mut().insert(delivery);
    let result = inner.call(req).await;
    if let Some(mark) = mark {
        let failed = result
            .as_ref()
            .map_or(true, |response| response.status().is_server_error());
        if failed {
            // The handler failed: GitHub's redelivery must run it again.
            mark.forget(&id).await;
        } else {
            mark.keep();
        }
    }
    result
}

/// Checks a request in the order cheapest first: size announced, headers, body, signature,
/// payload. Returns the delivery and its signature header.
async fn verify<B: Body>(
    config: &Config,
    parts: &Parts,
    body: B,
) -> Result<(crate::Delivery, String), Error> {
    let limit = config.body_limit;
    let too_large = Error::TooLarge { limit };
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) || body.size_hint().lower() > limit as u64 {
        return Err(too_large);
    }
    let headers = Headers::read(&parts.headers)?;
    let signature = parts
        .headers
        .get(SIGNATURE_HEADER)
        .ok_or(Error::MissingSignature)?
        .to_str()
        .map_err(|_| Error::MalformedSignature)?
        .to_owned();
    let body = tokio::time::timeout(config.body_timeout, read(body, limit))
        .await
        .map_err(|_| Error::BodyTimeout(config.body_timeout))??;
    config.secrets.verify(&body, signature.as_bytes())?;
    Ok((headers.delivery(body)?, signature))
}

/// Reads `body` whole, stopping as soon as more than `limit` bytes came. A body of one data
/// frame (what a buffered body is) is taken as it is, without a copy.
async fn read<B: Body>(body: B, limit: usize) -> Result<Bytes, Error> {
    use bytes::Buf;

    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    let mut len: usize = 0;
    while let Some(frame) = body.as_mut().frame().await {
        let frame = frame.map_err(|_| Error::Body)?;
        if let Ok(mut data) = frame.into_data() {
            len = len.saturating_add(data.remaining());
            if len > limit {
                return Err(Error::TooLarge { limit });
            }
            if first.is_none() && more.is_empty() {
                first = Some(data.copy_to_bytes(data.remaining()));
                continue;
            }
            if let Some(first) = first.take() {
                more.extend_from_slice(&first);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                more.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(first.unwrap_or_else(|| more.freeze()))
}

/// A delivery marked seen while its handler runs: forgotten again if the handler fails or its
/// future is dropped (the client went away), so that a redelivery runs it.
struct Mark {
    store: Option<Arc<dyn DeliveryStore>>,
    key: DeliveryKey,
    timeout: std::time::Duration,
}

impl Mark {
    fn new(store: Arc<dyn DeliveryStore>, key: DeliveryKey, timeout: std::time::Duration) -> Self {
        Self {
            store: Some(store),
            key,
            timeout,
        }
    }

    fn keep(mut self) {
        self.store = None;
    }

    async fn forget(mut self, id: &str) {
        let Some(store) = self.store.clone() else {
            return;
        };
        // Armed until the store answered: dropped mid-way (the client went away), the mark
        // forgets in the background instead.
        forget(store, self.key, self.timeout, id).await;
        self.store = None;
    }
}

async fn forget(
    store: Arc<dyn DeliveryStore>,
    key: DeliveryKey,
    timeout: std::time::Duration,
    id: &str,
) {
    match tokio::time::timeout(timeout, store.forget(key)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(
            delivery = id,
            error = %err,
            "the delivery store failed to forget a failed delivery: a redelivery within the window will be taken as a duplicate"
        ),
        Err(_) => tracing::warn!(
            delivery = id,
            "the delivery store did not forget a failed delivery in time: a redelivery within the window may be taken as a duplicate"
        ),
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        // Dropped mid-handler: forget in the background, when there is a runtime to do it on.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (key, timeout) = (self.key, self.timeout);
            runtime.spawn(async move { forget(store, key, timeout, "-").await });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        convert::Infallible,
        pin::Pin,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use bytes::Bytes;
    use futures_util::future::BoxFuture;
    use http::{Request, Response, StatusCode};
    use http_body::Frame;
    use http_body_util::Full;
    use tower::{ServiceExt, service_fn};

    use crate::{
        BoxError, Delivery, DeliveryKey, DeliveryStore, MemoryDeliveryStore, Secrets,
        StoreUnavailable, WebhookLayer,
    };

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &str = r#"{"action":"opened","installation":{"id":42},"issue":{"number":3}}"#;

    /// A handler counting its calls, answering `status` with the delivery's id as its body.
    fn handler(
        calls: Arc<AtomicUsize>,
        status: StatusCode,
    ) -> impl tower_service::Service<
        Request<Full<Bytes>>,
        Response = Response<String>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        service_fn(move |req: Request<Full<Bytes>>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let delivery = req.extensions().get::<Delivery>().cloned().unwrap();
                assert_eq!(delivery.installation_id, Some(42));
                let mut response = Response::new(delivery.id);
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })
    }

    fn request(id: &str, signature: Option<&str>, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
        let mut builder = Request::post("/webhook")
            .header("x-github-event", "issues")
            .header("x-github-delivery", id)
            .header("x-github-hook-id", "1")
            .header("x-github-hook-installation-target-type", "integration")
            .header("x-github-hook-installation-target-id", "1");
        if let Some(signature) = signature {
            builder = builder.header("x-hub-signature-256", signature);
        }
        builder.body(Full::new(body.into())).unwrap()
    }

    fn signed(id: &str) -> Request<Full<Bytes>> {
        request(id, Some(&Secrets::new(SECRET).sign(BODY.as_bytes())), BODY)
    }

    async fn send<B>(layer: &WebhookLayer, calls: &Arc<AtomicUsize>, req: Request<B>) -> StatusCode
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        send_to(layer, calls, StatusCode::NO_CONTENT, req).await
    }

    async fn send_to<B>(
        layer: &WebhookLayer,
        calls: &Arc<AtomicUsize>,
        status: StatusCode,
        req: Request<B>,
    ) -> StatusCode
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        let service = tower_layer::Layer::layer(layer, handler(calls.clone(), status));
        let response = service.oneshot(req).await.unwrap();
        if response.status() != status {
            // A refusal or a duplicate says nothing in its body.
            assert_eq!(response.body(), "");
        }
        response.status()
    }

    #[tokio::test]
    async fn a_signed_delivery_reaches_the_handler_with_its_body_and_delivery() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET);
        let service = tower_layer::Layer::layer(
            &layer,
            service_fn(|req: Request<Full<Bytes>>| async move {
                let delivery = req.extensions().get::<Delivery>().cloned().unwrap();
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                assert_eq!(&body, delivery.body());
                assert_eq!(delivery.event, "issues");
                assert_eq!(delivery.action.as_deref(), Some("opened"));
                assert_eq!(delivery.hook_id, Some(1));
                Ok::<_, Infallible>(Response::new(String::from_utf8(body.to_vec()).unwrap()))
            }),
        );
        let response = service.oneshot(signed("a")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), BODY);
        assert_eq!(
            send(&layer, &calls, signed("b")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn every_refusal_path_answers_its_status_without_the_handler() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET);
        let good = Secrets::new(SECRET).sign(BODY.as_bytes());
        let digits = &good["sha256=".len()..];
        let cases: Vec<(Request<Full<Bytes>>, StatusCode)> = vec![
            (request("a", None, BODY), StatusCode::UNAUTHORIZED),
            (
                request(
                    "b",
                    Some(&Secrets::new("wrong").sign(BODY.as_bytes())),
                    BODY,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                request("c", Some(&format!("sha1={digits}")), BODY),
                StatusCode::UNAUTHORIZED,
            ),
            (
                request("d", Some(&good[..good.len() - 1]), BODY),
                StatusCode::UNAUTHORIZED,
            ),
            (
                request("e", Some(&format!("{good}0")), BODY),
                StatusCode::UNAUTHORIZED,
            ),
            (
                request(
                    "f",
                    Some(&format!("sha256={}", digits.to_uppercase())),
                    BODY,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            // Signed correctly, but not JSON.
            (
                request("g", Some(&Secrets::new(SECRET).sign(b"a=1")), "a=1"),
                StatusCode::BAD_REQUEST,
            ),
            // The body changed after signing.
            (
                request("h", Some(&good), BODY.replace("42", "43")),
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (req, status) in cases {
            assert_eq!(send(&layer, &calls, req).await, status);
        }
        let mut no_event = signed("i");
        no_event.headers_mut().remove("x-github-event");
        assert_eq!(
            send(&layer, &calls, no_event).await,
            StatusCode::BAD_REQUEST
        );
        let mut no_id = signed("j");
        no_id.headers_mut().remove("x-github-delivery");
        assert_eq!(send(&layer, &calls, no_id).await, StatusCode::BAD_REQUEST);
        let mut bad_hook = signed("k");
        bad_hook
            .headers_mut()
            .insert("x-github-hook-id", "x".parse().unwrap());
        assert_eq!(
            send(&layer, &calls, bad_hook).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    /// A streamed body: its chunks, then `then` (an error, or nothing ever); counts the frames
    /// read.
    struct Streamed {
        chunks: VecDeque<Bytes>,
        then: Then,
        read: Arc<AtomicUsize>,
    }

    enum Then {
        End,
        Fail,
        Stall,
    }

    impl http_body::Body for Streamed {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if let Some(chunk) = self.chunks.pop_front() {
                self.read.fetch_add(1, Ordering::SeqCst);
                return std::task::Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            match self.then {
                Then::End => std::task::Poll::Ready(None),
                Then::Fail => std::task::Poll::Ready(Some(Err(std::io::Error::other("reset")))),
                Then::Stall => std::task::Poll::Pending,
            }
        }
    }

    fn streamed(
        body: &[u8],
        chunk: usize,
        then: Then,
        signature: &str,
        read: &Arc<AtomicUsize>,
    ) -> Request<Streamed> {
        let chunks = body.chunks(chunk).map(Bytes::copy_from_slice).collect();
        let (parts, _) = request("s", Some(signature), "").into_parts();
        Request::from_parts(
            parts,
            Streamed {
                chunks,
                then,
                read: read.clone(),
            },
        )
    }

    /// A JSON body of exactly `len` bytes.
    fn json_of(len: usize) -> Vec<u8> {
        let head = br#"{"installation":{"id":42},"pad":""#;
        let mut body = head.to_vec();
        body.resize(len - 2, b'x');
        body.extend_from_slice(b"\"}");
        body
    }

    #[tokio::test]
    async fn a_body_at_the_limit_passes_and_one_byte_over_is_413() {
        let calls = Arc::new(AtomicUsize::new(0));
        let limit = 4096;
        let layer = WebhookLayer::new(SECRET).body_limit(limit);
        let read = Arc::new(AtomicUsize::new(0));
        for (len, status) in [
            (limit, StatusCode::NO_CONTENT),
            (limit + 1, StatusCode::PAYLOAD_TOO_LARGE),
        ] {
            let body = json_of(len);
            let signature = Secrets::new(SECRET).sign(&body);
            // Announced (Content-Length), and streamed in chunks without a length.
            let mut announced = request(&format!("n{len}"), Some(&signature), body.clone());
            announced
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, len.into());
            assert_eq!(send(&layer, &calls, announced).await, status);
            let chunked = streamed(&body, 1000, Then::End, &signature, &read);
            assert_eq!(send(&layer, &calls, chunked).await, status, "{len}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_the_limit_is_not_read_further() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET).body_limit(1000);
        let signature = Secrets::new(SECRET).sign(b"{}");
        // Announced too large: refused before a byte is read (the body would stall forever).
        let read = Arc::new(AtomicUsize::new(0));
        let (parts, _) = request("a", Some(&signature), "").into_parts();
        let mut req = Request::from_parts(
            parts,
            Streamed {
                chunks: VecDeque::new(),
                then: Then::Stall,
                read: read.clone(),
            },
        );
        req.headers_mut()
            .insert(http::header::CONTENT_LENGTH, 1001.into());
        assert_eq!(
            send(&layer, &calls, req).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // Streamed: reading stops at the chunk that passes the limit, though more would come.
        let body = vec![b' '; 5000];
        let req = streamed(&body, 600, Then::Stall, &signature, &read);
        assert_eq!(
            send(&layer, &calls, req).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(read.load(Ordering::SeqCst), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_or_stalled_body_is_refused() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET).body_timeout(Duration::from_secs(5));
        let signature = Secrets::new(SECRET).sign(BODY.as_bytes());
        let read = Arc::new(AtomicUsize::new(0));
        let broken = streamed(BODY.as_bytes(), 10, Then::Fail, &signature, &read);
        assert_eq!(send(&layer, &calls, broken).await, StatusCode::BAD_REQUEST);
        let stalled = streamed(BODY.as_bytes(), 10, Then::Stall, &signature, &read);
        assert_eq!(
            send(&layer, &calls, stalled).await,
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn rotation_accepts_every_configured_secret() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new("new").secret("old");
        for (id, secret, status) in [
            ("a", "new", StatusCode::NO_CONTENT),
            ("b", "old", StatusCode::NO_CONTENT),
            ("c", "older", StatusCode::UNAUTHORIZED),
        ] {
            let req = request(id, Some(&Secrets::new(secret).sign(BODY.as_bytes())), BODY);
            assert_eq!(send(&layer, &calls, req).await, status);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_duplicate_is_answered_200_without_the_handler() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET);
        assert_eq!(
            send(&layer, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(send(&layer, &calls, signed("a")).await, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another delivery id is another delivery.
        assert_eq!(
            send(&layer, &calls, signed("b")).await,
            StatusCode::NO_CONTENT
        );
        // The same id with another signature (a new secret) too.
        let resigned = request("a", Some(&Secrets::new("new").sign(BODY.as_bytes())), BODY);
        let rotated = WebhookLayer::new(SECRET).secret("new");
        let rotated = rotated.store(MemoryDeliveryStore::default());
        assert_eq!(
            send(&rotated, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            send(&rotated, &calls, resigned).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Without replay protection every copy runs.
        let open = WebhookLayer::new(SECRET).no_replay_protection();
        assert_eq!(
            send(&open, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            send(&open, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_is_new_again_after_the_window() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET).replay_window(Duration::from_secs(60));
        assert_eq!(
            send(&layer, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(send(&layer, &calls, signed("a")).await, StatusCode::OK);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            send(&layer, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_handler_lets_the_redelivery_run_and_a_4xx_does_not() {
        let calls = Arc::new(AtomicUsize::new(0));
        let layer = WebhookLayer::new(SECRET);
        let failing = StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(send_to(&layer, &calls, failing, signed("a")).await, failing);
        assert_eq!(
            send(&layer, &calls, signed("a")).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(send(&layer, &calls, signed("a")).await, StatusCode::OK);
        let refused = StatusCode::UNPROCESSABLE_ENTITY;
        assert_eq!(send_to(&layer, &calls, refused, signed("b")).await, refused);
        assert_eq!(send(&layer, &calls, signed("b")).await, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_handler_forgets_its_mark() {
        let store = Arc::new(MemoryDeliveryStore::default());
        let layer = WebhookLayer::new(SECRET).store(store.clone());
        let started = Arc::new(tokio::sync::Notify::new());
        let service = tower_layer::Layer::layer(&layer, {
            let started = started.clone();
            service_fn(move |_: Request<Full<Bytes>>| {
                let started = started.clone();
                async move {
                    started.notify_one();
                    std::future::pending::<Result<Response<String>, Infallible>>().await
                }
            })
        });
        let call = tokio::spawn(service.oneshot(signed("a")));
        started.notified().await;
        let key = DeliveryKey::new("a", Secrets::new(SECRET).sign(BODY.as_bytes()).as_bytes());
        assert!(!store.mark(key, Duration::from_secs(60)).await.unwrap());
        call.abort();
        let _ = call.await;
        // The forget runs in a spawned task.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(store.mark(key, Duration::from_secs(60)).await.unwrap());
    }

    /// The in-process store, whose first `forget` never ends (a slow store).
    struct SlowForget {
        inner: MemoryDeliveryStore,
        forgets: AtomicUsize,
        started: tokio::sync::Notify,
    }

    impl DeliveryStore for SlowForget {
        fn mark(&self, key: DeliveryKey, ttl: Duration) -> BoxFuture<'_, Result<bool, BoxError>> {
            self.inner.mark(key, ttl)
        }

        fn forget(&self, key: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>> {
            if self.forgets.fetch_add(1, Ordering::SeqCst) == 0 {
                self.started.notify_one();
                Box::pin(std::future::pending())
            } else {
                self.inner.forget(key)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_handler_dropped_while_forgetting_still_forgets() {
        let store = Arc::new(SlowForget {
            inner: MemoryDeliveryStore::default(),
            forgets: AtomicUsize::new(0),
            started: tokio::sync::Notify::new(),
        });
        let layer = WebhookLayer::new(SECRET)
            .store(store.clone())
            .store_timeout(Duration::from_secs(3600));
        let calls = Arc::new(AtomicUsize::new(0));
        let service =
            tower_layer::Layer::layer(&layer, handler(calls, StatusCode::INTERNAL_SERVER_ERROR));
        let call = tokio::spawn(service.oneshot(signed("a")));
        store.started.notified().await;
        // The connection goes away while the failed delivery is being forgotten.
        call.abort();
        let _ = call.await;
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let key = DeliveryKey::new("a", Secrets::new(SECRET).sign(BODY.as_bytes()).as_bytes());
        assert!(
            store
                .inner
                .mark(key, Duration::from_secs(60))
                .await
                .unwrap()
        );
    }

    /// A store that fails, or never answers.
    struct Broken {
        hang: bool,
    }

    impl DeliveryStore for Broken {
        fn mark(&self, _: DeliveryKey, _: Duration) -> BoxFuture<'_, Result<bool, BoxError>> {
            if self.hang {
                Box::pin(std::future::pending())
            } else {
                Box::pin(async { Err("connection refused".into()) })
            }
        }

        fn forget(&self, _: DeliveryKey) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Err("connection refused".into()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_away_follows_the_policy_and_never_hangs() {
        let calls = Arc::new(AtomicUsize::new(0));
        for hang in [false, true] {
            let anyway = WebhookLayer::new(SECRET).store(Broken { hang });
            assert_eq!(
                send(&anyway, &calls, signed("a")).await,
                StatusCode::NO_CONTENT
            );
            assert_eq!(
                send(&anyway, &calls, signed("a")).await,
                StatusCode::NO_CONTENT
            );
            let refuse = WebhookLayer::new(SECRET)
                .store(Broken { hang })
                .store_timeout(Duration::from_millis(200))
                .on_store_unavailable(StoreUnavailable::Refuse);
            assert_eq!(
                send(&refuse, &calls, signed("a")).await,
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn debug_shows_no_secret() {
        let layer = WebhookLayer::new("hunter2-secret").secret("other-secret");
        let shown = format!("{layer:?}");
        assert!(shown.contains("Secrets(2 × ***)"), "{shown}");
        assert!(!shown.contains("secret\""));
        assert!(!shown.contains("hunter2"));
    }

    /// A `fmt` subscriber's output, kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_refusal_logs_the_delivery_id_at_warn_never_the_body_nor_a_secret() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let secret = "hunter2-webhook-secret";
        let body = r#"{"installation":{"id":42},"token":"BODY-MARKER"}"#;
        let signature = Secrets::new("wrong").sign(body.as_bytes());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let calls = Arc::new(AtomicUsize::new(0));
                let layer = WebhookLayer::new(secret);
                let req = request("d-7f3a", Some(&signature), body);
                assert_eq!(send(&layer, &calls, req).await, StatusCode::UNAUTHORIZED);
            });
        });
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(logged.contains("d-7f3a"), "{logged}");
        assert!(logged.contains("status=401"), "{logged}");
        assert!(!logged.contains("hunter2"), "{logged}");
        assert!(!logged.contains("BODY-MARKER"), "{logged}");
        assert!(!logged.contains(&signature["sha256=".len()..]), "{logged}");
    }
}
