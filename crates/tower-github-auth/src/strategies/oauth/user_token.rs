//! [`OAuthTokenAuth`]: acting as a user, with a user access token that may expire and refresh.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tower_layer::Layer;
use tracing::Instrument;

use crate::cache::{Fresh, Policy, Slot};
use crate::client::{HttpClient, RequestBody, ResponseBody};
use crate::clock::Clock;
use crate::credential::{Mint, Minted};
use crate::endpoints::Endpoints;
use crate::error::{BoxError, Error, Exchange, RefreshImpossible};
use crate::fleet::{
    Adopted, Fleet, Held, Newer, PUBLISH_RETRY_MAX, Shareable, Through, lock_life, release,
    store_key,
};
use crate::observe::{self, Counters};
use crate::rate_limit::{RateLimit, RateLimits, Resource};
use crate::service::AuthService;
use crate::service::auth::Auth;
use crate::service::replay::Replaying;
use crate::side::{Limits, Side};
use crate::store::{Lease, Saved, TokenStore};
use crate::strategies::oauth::client::ClientCredentials;
use crate::strategies::oauth::grant::{
    ACCESS_TOKEN_PATH, FirstGrant, Granted, OAuthClient, TokenSet,
};
use crate::subject::Subject;

/// The counters of every user token's slot (label `cache="user"`).
static USER_COUNTERS: std::sync::OnceLock<Arc<Counters>> = std::sync::OnceLock::new();

/// The caller's hook, boxed.
type Hook = Arc<dyn Fn(TokenSet) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// How the next credential is obtained.
#[derive(Clone)]
enum Next {
    /// The token the caller gave: used as is while valid, refreshed otherwise.
    Given,
    /// The first grant (a web-flow code, the device flow), kept until it succeeds.
    First(Arc<dyn FirstGrant>),
    /// A token was obtained: the next one comes from a refresh.
    Refresh,
}

/// What every clone of a user-token layer shares.
pub(crate) struct UserToken {
    client: OAuthClient,
    clock: Arc<Clock>,
    slot: Arc<Slot<TokenSet>>,
    policy: Policy,
    hook: Option<Hook>,
    /// Where a fleet shares this user's token (and spends each refresh token once).
    fleet: Option<Fleet>,
    /// The user's key in the fleet's store, as given to the builder.
    user: Option<String>,
    /// How long the store's exchange lock is held at most.
    lock_for: Duration,
    state: Mutex<TokenState>,
}

struct TokenState {
    next: Next,
    /// The set in use: what [`OAuthTokenAuth::cached_token`] returns.
    current: TokenSet,
    /// The newest refresh token GitHub issued: the only one that works, even when the hook
    /// refused the set it came with.
    refresh_token: Option<SecretString>,
    refresh_token_expires_at: Option<SystemTime>,
    /// Refresh tokens this replica spent (the last few): a stored set that still carries one is
    /// older than what this replica holds, and is never taken back.
    spent: VecDeque<SecretString>,
    /// When `current` was issued (GitHub's clock), when known.
    current_issued_at: Option<SystemTime>,
    /// The generation of the newest set this replica holds (the one `refresh_token` came with),
    /// as the fleet's store orders sets (`fleet.rs`); 0 for a set given to the builder.
    generation: u64,
    /// The newest set this replica could not save to the store yet.
    pending: Option<Pending>,
    /// Whether a task is saving `pending` again.
    publishing: bool,
    /// The store's exchange lock, kept while `pending` is not saved: its publisher releases it
    /// once it is.
    pending_lease: Option<Lease>,
    /// GitHub just refused the refresh token held here (another replica spent it): the lock, if
    /// held, is kept while this replica waits for the fleet's newer set, so that the others wait
    /// for it too rather than spend the same token.
    awaiting_newer: bool,
    /// The lock kept meanwhile: released by [`UserToken::release_kept`] once the wait is over.
    awaiting_lease: Option<Lease>,
}

/// A rotated set not saved yet: saved again until the store takes it or holds a newer one.
#[derive(Clone)]
struct Pending {
    set: TokenSet,
    issued_at: SystemTime,
    generation: u64,
}

/// The low bit of a user set's generation: an `on_refresh` hook accepted it (or there is no
/// hook). A set stored without it is never sent: whoever finds it refreshes with its refresh
/// token, and the new set goes through a hook first.
const ACCEPTED: u64 = 1;
/// The first retry of a pending save, doubling up to [`PUBLISH_RETRY_MAX`].
const PUBLISH_RETRY: Duration = Duration::from_millis(100);

/// The generation of the set a refresh of generation `generation` brings (not yet accepted).
fn rotated(generation: u64) -> u64 {
    (generation | ACCEPTED).saturating_add(1)
}

/// The generation of a new sign-in at `now`: a new family, above every earlier sign-in's (the
/// sign-in time in the high 32 bits) and above `generation`.
fn signed_in(now: SystemTime, generation: u64) -> u64 {
    let family = crate::fleet::secs(now).min(u64::from(u32::MAX)) << 32;
    family.max(rotated(generation))
}

/// How many spent refresh tokens a replica remembers.
const SPENT_REMEMBERED: usize = 8;

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let next = match &st.next {
            Next::Given => "given token",
            Next::First(grant) => grant.name(),
            Next::Refresh => "refresh",
        };
        f.debug_struct("UserToken")
            .field("client", &self.client)
            .field("next", &next)
            .field("token_set", &st.current)
            .field("on_refresh", &self.hook.as_ref().map(|_| "<hook>"))
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

impl UserToken {
    fn lock(&self) -> MutexGuard<'_, TokenState> {
        // No code panics while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next credential: the first grant until it succeeds, the given token while usable,
    /// else a refresh (`force` skips the given token).
    async fn next(self: Arc<Self>, side: Side, force: bool) -> Result<Fresh<TokenSet>, Error> {
        let next = self.lock().next.clone();
        let exchange = match &next {
            Next::First(grant) => grant.exchange(),
            Next::Given | Next::Refresh => Exchange::Refresh,
        };
        let granted = match next {
            Next::Given => {
                let given = {
                    let mut st = self.lock();
                    st.next = Next::Refresh;
                    st.current.clone()
                };
                if !force && self.usable(&given) && !self.refused(&given) {
                    // Not new: the caller has it already, so no hook.
                    return given.fresh();
                }
                self.refresh(&side).await?
            }
            // Kept in place until it succeeds: a failed (or panicked) first grant runs again.
            Next::First(grant) => grant.obtain(&side, &self.client).await?,
            Next::Refresh => self.refresh(&side).await?,
        };
        self.lock().next = Next::Refresh;
        self.accept(granted, exchange).await
    }

    /// Whether a given token can be sent as it is.
    fn usable(&self, set: &TokenSet) -> bool {
        let margin = Policy::default().min_validity;
        set.access_token.is_some()
            && set
                .expires_at
                .is_none_or(|at| at > self.clock.github_now() + margin)
    }

    /// Whether GitHub refused `set`'s access token here (a 401): it is not sent again.
    fn refused(&self, set: &TokenSet) -> bool {
        self.slot
            .refused()
            .is_some_and(|refused| set.clone().fresh().is_ok_and(|f| f.header == refused))
    }

    /// `grant_type=refresh_token` with the newest refresh token.
    async fn refresh(&self, side: &Side) -> Result<Granted, Error> {
        let (token, expires_at) = {
            let mut st = self.lock();
            // With a store only: the newer pair may come from there. Alone, GitHub's answer is
            // the one to give.
            if self.fleet.is_some()
                && st.refresh_token.as_ref().is_some_and(|token| {
                    st.spent
                        .iter()
                        .any(|spent| spent.expose_secret() == token.expose_secret())
                })
            {
                // GitHub refused it already: it would only be refused again. The caller waits
                // for the fleet's newer pair instead.
                st.awaiting_newer = true;
                return Err(Error::RefreshImpossible {
                    reason: RefreshImpossible::RefreshTokenSpent,
                });
            }
            (st.refresh_token.clone(), st.refresh_token_expires_at)
        };
        let Some(token) = token else {
            return Err(Error::RefreshImpossible {
                reason: RefreshImpossible::NoRefreshToken,
            });
        };
        if expires_at.is_some_and(|at| at <= self.clock.github_now()) {
            return Err(Error::RefreshImpossible {
                reason: RefreshImpossible::RefreshTokenExpired,
            });
        }
        let client_id = &self.client.client_id;
        observe::record_for("client_id", client_id);
        tracing::debug!(%client_id, "refreshing a user token");
        let mut form = vec![("client_id", client_id.as_str())];
        if let Some(secret) = &self.client.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        form.push(("grant_type", "refresh_token"));
        form.push(("refresh_token", token.expose_secret()));
        let granted = side
            .oauth(Exchange::Refresh, ACCESS_TOKEN_PATH, &form)
            .await;
        if let Err(err) = &granted
            && err.oauth_error() == Some("bad_refresh_token")
        {
            self.refresh_token_refused(&token);
        }
        granted
    }

    /// GitHub refused `token` (spent by another replica, which took it from the store): it is
    /// spent, and so is a pending set carrying it. A stored set carrying another refresh token
    /// is then taken over whatever its generation (the store may have lost the newer sets and
    /// started again low: a Redis restarted empty, a replica started from the hook's copy).
    fn refresh_token_refused(&self, token: &SecretString) {
        let mut st = self.lock();
        let is = |t: &SecretString| t.expose_secret() == token.expose_secret();
        st.awaiting_newer = true;
        if !st.spent.iter().any(is) {
            if st.spent.len() == SPENT_REMEMBERED {
                st.spent.pop_front();
            }
            st.spent.push_back(token.clone());
        }
        if st
            .pending
            .as_ref()
            .is_some_and(|p| p.set.refresh_token.as_ref().is_some_and(is))
        {
            st.pending = None;
        }
    }

    /// The fleet's path for this token, if it has a store.
    fn through<'a>(
        &'a self,
        fleet: &'a Fleet,
        adopt: &'a (dyn Fn(&TokenSet, u64, SystemTime) -> Adopted + Send + Sync),
        held: Option<Held<TokenSet>>,
    ) -> Through<'a, TokenSet> {
        Through {
            fleet,
            clock: &self.clock,
            policy: self.policy,
            lock_for: self.lock_for,
            adopt,
            refused: self.slot.refused(),
            held,
            save_minted: false,
            hand_over: None,
            spends: true,
        }
    }

    /// A set another replica stored, of `generation`: the fleet's newest, whose refresh token
    /// is the only one that works, when newer than the one held here (or whatever its generation
    /// once GitHub refused the refresh token held here). Refused ([`Adopted::Older`])
    /// when it is older, or carries a refresh token this replica spent (the store missed this
    /// replica's newer set, whose save is pending). A set no hook accepted yet gives its refresh
    /// token only ([`Adopted::RefreshOnly`]).
    fn adopt(&self, set: &TokenSet, generation: u64, issued_at: SystemTime) -> Adopted {
        let mut st = self.lock();
        let same = |a: &Option<SecretString>, b: &Option<SecretString>| {
            a.as_ref().map(ExposeSecret::expose_secret)
                == b.as_ref().map(ExposeSecret::expose_secret)
        };
        if let Some(stored) = &set.refresh_token
            && st
                .spent
                .iter()
                .any(|spent| spent.expose_secret() == stored.expose_secret())
        {
            tracing::debug!("the store holds an older user token set: keeping this replica's");
            return Adopted::Older;
        }
        let accepted = generation & ACCEPTED != 0;
        let held_here = same(&st.refresh_token, &set.refresh_token);
        // GitHub refused the refresh token held here: any set not carrying a spent one is newer.
        let ours_spent = st.refresh_token.as_ref().is_some_and(|ours| {
            st.spent
                .iter()
                .any(|spent| spent.expose_secret() == ours.expose_secret())
        });
        if generation < st.generation || (generation == st.generation && !held_here) {
            // Generation 0 is unordered: a set given to the builder, or stored before sets
            // carried their order. Any stored set is taken over then.
            if st.generation != 0 && !ours_spent {
                tracing::debug!("the store holds an older user token set: keeping this replica's");
                return Adopted::Older;
            }
        }
        if held_here {
            st.generation = st.generation.max(generation);
            if accepted && same(&st.current.access_token, &set.access_token) {
                st.next = Next::Refresh;
                return Adopted::Same;
            }
        }
        tracing::debug!("taking over the user token set another replica stored");
        st.refresh_token.clone_from(&set.refresh_token);
        st.refresh_token_expires_at = set.refresh_token_expires_at;
        st.generation = generation;
        st.next = Next::Refresh;
        if st
            .pending
            .as_ref()
            .is_some_and(|p| p.generation <= generation)
        {
            st.pending = None;
        }
        if !accepted {
            return Adopted::RefreshOnly;
        }
        st.current = set.clone();
        st.current_issued_at = Some(issued_at);
        Adopted::Newer
    }

    /// The set in use, to keep serving while the store cannot take the lock: the newest one
    /// this replica holds, unless GitHub refused it here.
    fn held(&self) -> Option<Held<TokenSet>> {
        let st = self.lock();
        let newest = st
            .current
            .refresh_token
            .as_ref()
            .map(ExposeSecret::expose_secret)
            == st.refresh_token.as_ref().map(ExposeSecret::expose_secret);
        let held = (newest && st.current.access_token.is_some()).then(|| Held {
            value: st.current.clone(),
            issued_at: st.current_issued_at,
        });
        drop(st);
        held.filter(|held| !self.refused(&held.value))
    }

    /// The next credential through the fleet's store when there is one (`force`: a refresh
    /// even if the stored set is usable).
    async fn next_shared(
        self: Arc<Self>,
        side: Side,
        force: bool,
    ) -> Result<Fresh<TokenSet>, Error> {
        let Some(fleet) = self.fleet.clone() else {
            return self.next(side, force).await;
        };
        if matches!(self.lock().next, Next::First(_)) {
            // A new sign-in (a code, the device flow) is who this layer acts as from now on,
            // whatever the store holds: its set is stored as a new family, above the old one.
            return self.next(side, force).await;
        }
        let adopter = Arc::clone(&self);
        let adopt =
            move |set: &TokenSet, generation, issued_at| adopter.adopt(set, generation, issued_at);
        let user = Arc::clone(&self);
        let keeper = Arc::clone(&self);
        let hand_over = move |lease: Lease| keeper.keep_lock_while_pending(lease);
        let mut through = self.through(&fleet, &adopt, self.held());
        through.hand_over = Some(&hand_over);
        if !force && self.ended_early() {
            // GitHub refused the access token before it expired: most likely another replica
            // refreshed (ending it) and its pair is on its way to the store. Waiting for it
            // spends no refresh token that may be spent already.
            tracing::debug!("user token refused before expiry: waiting for the fleet's newer set");
            if let Newer::Usable(fresh) = through.await_newer().await {
                return Ok(fresh);
            }
        }
        let again = Arc::clone(&self);
        let side_again = side.clone();
        let obtained = through
            .obtain(force, move || user.next(side, force).boxed())
            .await;
        let obtained = match obtained {
            Err(err) if spent_elsewhere(&err) => {
                // Another replica spent it while the store could not tell us: its pair is on
                // its way to the store (its save is retried), wait for it (holding the lock, if
                // this replica refreshed under it).
                tracing::debug!("refresh token already spent: waiting for the fleet's newer set");
                let newer = through.await_newer().await;
                self.release_kept(&fleet).await;
                match newer {
                    Newer::Usable(fresh) => Ok(fresh),
                    // Due already: refresh with the refresh token just taken over.
                    Newer::Taken => {
                        through
                            .obtain(false, move || again.next(side_again, false).boxed())
                            .await
                    }
                    Newer::Nothing => Err(err),
                }
            }
            other => other,
        };
        self.release_kept(&fleet).await;
        obtained
    }

    /// Releases the lock kept while this replica waited for the set that spent its refresh
    /// token (not one kept for a pending save: its publisher releases that).
    async fn release_kept(&self, fleet: &Fleet) {
        let lease = {
            let mut st = self.lock();
            st.awaiting_newer = false;
            st.awaiting_lease.take()
        };
        if let Some(lease) = lease {
            release(fleet, &lease).await;
        }
    }

    /// Whether GitHub refused the set in use here before it expired (a 401).
    fn ended_early(&self) -> bool {
        let current = self.lock().current.clone();
        let now = self.clock.github_now();
        current.expires_at.is_none_or(|at| at > now) && self.refused(&current)
    }

    /// A new set from GitHub: keep its refresh token, store it, hand it to the hook, then use it.
    async fn accept(
        self: &Arc<Self>,
        granted: Granted,
        exchange: Exchange,
    ) -> Result<Fresh<TokenSet>, Error> {
        let issued_at = self.clock.github_now();
        let set = granted.into_set(issued_at);
        let generation = {
            let mut st = self.lock();
            // The old refresh token is spent whatever happens next: only this one works now.
            if let Some(spent) = st.refresh_token.take() {
                if st.spent.len() == SPENT_REMEMBERED {
                    st.spent.pop_front();
                }
                st.spent.push_back(spent);
            }
            st.refresh_token.clone_from(&set.refresh_token);
            st.refresh_token_expires_at = set.refresh_token_expires_at;
            st.generation = match exchange {
                Exchange::Refresh => rotated(st.generation),
                _ => signed_in(issued_at, st.generation),
            };
            st.generation
        };
        // The fleet learns the new pair before anyone uses it (the hook included): the old
        // refresh token is spent for every replica, and this one must never be lost. Until a
        // hook accepted it, it is stored as not accepted: no replica sends its access token.
        let hooked = self.hook.is_some();
        self.publish(
            &set,
            issued_at,
            if hooked {
                generation
            } else {
                generation | ACCEPTED
            },
        )
        .await;
        let fresh = set.clone().fresh()?;
        if let Some(hook) = &self.hook {
            hook(set.clone())
                .await
                .map_err(|e| Error::Hook(Arc::from(e)))?;
            {
                let mut st = self.lock();
                if st.generation == generation {
                    st.generation |= ACCEPTED;
                }
            }
            self.publish(&set, issued_at, generation | ACCEPTED).await;
        }
        // Checked after the hook: the set's refresh token is the only one that works now, so it
        // is handed on even when the access token is unusable.
        if set
            .expires_at
            .is_some_and(|at| at <= self.clock.github_now())
        {
            return Err(Error::InvalidResponse {
                exchange,
                reason: "the new access token's `expires_in` is zero".to_owned(),
                subject: None,
            });
        }
        let mut st = self.lock();
        st.current = set;
        st.current_issued_at = Some(issued_at);
        Ok(fresh)
    }

    /// After a mint under the store's lock: keeps the lock while the new pair's save is pending
    /// (its publisher releases it once saved) or while this replica waits for the set that
    /// spent its refresh token ([`Self::release_kept`]), else gives it back to be released.
    fn keep_lock_while_pending(&self, lease: Lease) -> Option<Lease> {
        let mut st = self.lock();
        if st.awaiting_newer {
            st.awaiting_lease = Some(lease);
            return None;
        }
        if st.pending.is_some() && st.publishing {
            st.pending_lease = Some(lease);
            return None;
        }
        Some(lease)
    }

    /// Saves `set` (of `generation`) to the fleet's store; when the store fails, keeps it
    /// pending and saves it again in the background until the store takes it or holds a newer
    /// set.
    async fn publish(self: &Arc<Self>, set: &TokenSet, issued_at: SystemTime, generation: u64) {
        let Some(fleet) = &self.fleet else {
            return;
        };
        let pending = Pending {
            set: set.clone(),
            issued_at,
            generation,
        };
        self.lock().pending = Some(pending.clone());
        if self.save_pending(fleet, &pending).await.is_err() {
            self.publish_later();
        }
    }

    /// One save of `pending`: `Ok` once it is settled (stored, or superseded by a newer set).
    async fn save_pending(&self, fleet: &Fleet, pending: &Pending) -> Result<(), ()> {
        if self
            .lock()
            .pending
            .as_ref()
            .is_none_or(|p| p.generation != pending.generation)
        {
            // Saved meanwhile, superseded, or its refresh token turned out spent.
            return Ok(());
        }
        let adopt = |_: &TokenSet, _, _| Adopted::Older;
        let saved = self
            .through(fleet, &adopt, None)
            .save(
                &pending.set,
                pending.issued_at,
                pending.set.expires_at,
                pending.generation,
            )
            .await?;
        if saved == Saved::Superseded {
            tracing::debug!("the store holds a newer user token set than the one saved");
        }
        let lease = {
            let mut st = self.lock();
            if st
                .pending
                .as_ref()
                .is_some_and(|p| p.generation == pending.generation)
            {
                st.pending = None;
            }
            st.pending
                .is_none()
                .then(|| st.pending_lease.take())
                .flatten()
        };
        if let Some(lease) = lease {
            release(fleet, &lease).await;
        }
        Ok(())
    }

    /// Starts the task that saves the pending set again (one per user token at a time).
    fn publish_later(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut st = self.lock();
            if st.publishing {
                return;
            }
            st.publishing = true;
        }
        let user = Arc::downgrade(self);
        let guard = Publishing(Some(user.clone()));
        // Its own span (it may outlive the request that started it), linked to that request's.
        let span = tracing::debug_span!(parent: None, "pending user token save");
        span.follows_from(tracing::Span::current());
        runtime.spawn(
            async move {
                let mut guard = guard;
                let mut pause = PUBLISH_RETRY;
                loop {
                    tokio::time::sleep(pause).await;
                    let Some(user) = user.upgrade() else {
                        return;
                    };
                    let Some(fleet) = user.fleet.clone() else {
                        return;
                    };
                    let (pending, dropped) = {
                        let mut st = user.lock();
                        let now = user.clock.github_now();
                        // Worth saving while its refresh token works.
                        if st.pending.as_ref().is_some_and(|p| {
                            p.set.refresh_token.is_none()
                                || p.set.refresh_token_expires_at.is_some_and(|at| at <= now)
                        }) {
                            st.pending = None;
                        }
                        if let Some(pending) = st.pending.clone() {
                            (Some(pending), None)
                        } else {
                            st.publishing = false;
                            guard.disarm();
                            (None, st.pending_lease.take())
                        }
                    };
                    let Some(pending) = pending else {
                        // A lock kept for a pending set that was dropped: let it go now.
                        if let Some(lease) = dropped {
                            release(&fleet, &lease).await;
                        }
                        return;
                    };
                    pause = match user.save_pending(&fleet, &pending).await {
                        Ok(()) => PUBLISH_RETRY,
                        Err(()) => pause.saturating_mul(2).min(PUBLISH_RETRY_MAX),
                    };
                }
            }
            .instrument(span),
        );
    }
}

/// The task saving a pending set, while it runs: if it is dropped before it ends (its runtime
/// shut down), the next failed save starts another instead of counting on it.
struct Publishing(Option<std::sync::Weak<UserToken>>);

impl Publishing {
    /// The task ends by itself (`publishing` cleared under the lock).
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        if let Some(user) = self.0.take().and_then(|user| user.upgrade()) {
            user.lock().publishing = false;
        }
    }
}

/// Whether `err` says another replica spent the refresh token used (GitHub refused it now, or
/// did before).
fn spent_elsewhere(err: &Error) -> bool {
    err.oauth_error() == Some("bad_refresh_token")
        || matches!(
            err,
            Error::RefreshImpossible {
                reason: RefreshImpossible::RefreshTokenSpent
            }
        )
}

/// A user token as a cached credential.
#[derive(Clone, Debug)]
struct UserCredential(Arc<UserToken>);

impl Mint for UserCredential {
    type Value = TokenSet;
    const REPLICATES: bool = false;

    fn slot(&self) -> &Arc<Slot<TokenSet>> {
        &self.0.slot
    }

    fn mint(&self, side: Side) -> BoxFuture<'static, Result<Fresh<TokenSet>, Error>> {
        Arc::clone(&self.0).next_shared(side, false).boxed()
    }

    fn subject(&self) -> Subject {
        Subject::User {
            client_id: self.0.client.client_id.clone(),
            user: self.0.user.clone(),
        }
    }
}

/// Configures a user layer before its shared state exists: [`OAuthTokenAuth::builder`] (a
/// token you stored), [`OAuthAppAuth::as_web_user`](crate::OAuthAppAuth::as_web_user) (a
/// web-flow code), [`OAuthDeviceAuth::builder`](crate::OAuthDeviceAuth::builder) (the device
/// flow). `G` is what the first token comes from; `build()` makes the layer.
///
/// The methods here are the same for every user layer; each `G` adds its own.
pub struct UserAuthBuilder<G> {
    client: OAuthClient,
    pub(crate) grant: G,
    endpoints: Endpoints,
    clock: Arc<Clock>,
    refresh_margin: Duration,
    replay: Replaying,
    limits: Limits,
    hook: Option<Hook>,
    /// The fleet's store, and the identity of this user in it.
    store: Option<(Arc<dyn TokenStore>, String)>,
}

impl<G: fmt::Debug> fmt::Debug for UserAuthBuilder<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAuthBuilder")
            .field("client", &self.client)
            .field("grant", &self.grant)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .field("replay_unauthorized", &self.replay)
            .field("limits", &self.limits)
            .field("on_refresh", &self.hook.as_ref().map(|_| "<hook>"))
            .field("token_store", &self.store.as_ref().map(|(store, _)| store))
            .finish_non_exhaustive()
    }
}

impl<G> UserAuthBuilder<G> {
    pub(crate) fn new(
        client: OAuthClient,
        grant: G,
        endpoints: Endpoints,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            client,
            grant,
            endpoints,
            clock,
            refresh_margin: Policy::default().refresh_margin,
            replay: Replaying::default(),
            limits: Limits::default(),
            hook: None,
            store: None,
        }
    }

    /// Talk to another GitHub deployment (GitHub Enterprise Server, the emulator).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Refresh once less than `margin` is left before the token expires (default 5 minutes;
    /// never before half of the token's life has passed). The refresh ends the old token at
    /// GitHub, so the requests that arrive while it runs wait for it.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Whether a request refused with 401 is replayed once with a refreshed token (default: yes,
    /// when its body can be copied: `Full<Bytes>`, `Empty<Bytes>`, `String`, `Bytes`, `Vec<u8>`,
    /// `&'static str`, `()`). Without it, the 401 still drops the token, and reaches the caller.
    pub fn replay_unauthorized(mut self, replay: bool) -> Self {
        self.replay.on = replay;
        self
    }

    /// How to copy a request body of type `B` for a replay after a 401, for a body type that is
    /// not in [`replay_unauthorized`](Self::replay_unauthorized)'s list; `copy` answers `None`
    /// for a body that cannot be copied (a stream), and that request is not replayed. A layer
    /// keeps one copier: a second call replaces the first. A copier for another type than the
    /// inner service's body is never used (the built-in list still is): the layer logs a
    /// warning (`tracing`, target `tower_github_auth`) naming both types at the first such
    /// request. `copy` may be a function or a closure, capturing what it needs.
    ///
    /// octocrab's `OctoBody` is one: its `Clone` shares the body rather than copying it, and its
    /// `try_clone` copies a buffered body but answers `None` for the empty body of a `GET`
    /// (octocrab is not a dependency here; `crates/bench-peers` compiles this):
    ///
    /// ```ignore
    /// .replay_body_with(|body: &OctoBody| {
    ///     body.try_clone().or_else(|| body.is_end_stream().then(OctoBody::empty))
    /// })
    /// ```
    pub fn replay_body_with<B, F>(mut self, copy: F) -> Self
    where
        B: 'static,
        F: Fn(&B) -> Option<B> + Send + Sync + 'static,
    {
        self.replay.body_with(copy);
        self
    }

    /// The deadline of every exchange this layer makes (token mint, lookup, grant, refresh):
    /// request sent and answer read, default 10 s. Past it the exchange fails with
    /// [`Error::Timeout`] for every request waiting on it, and the next attempt (after the
    /// backoff) is a new exchange.
    pub fn exchange_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The `User-Agent` of this layer's requests (those without one of their own) and of its
    /// exchanges with GitHub, instead of `tower-github-auth/<version>`. GitHub asks for the name
    /// of the App or of the user (or organisation), so that it can reach whoever sends
    /// unusual traffic: `HeaderValue::from_static("octo-app/1.2 (ops@example.com)")`.
    pub fn user_agent(mut self, user_agent: http::HeaderValue) -> Self {
        self.limits.user_agent = Some(user_agent);
        self
    }

    /// The OAuth client's `User-Agent`, if it has one.
    pub(crate) fn user_agent_from(mut self, user_agent: Option<&http::HeaderValue>) -> Self {
        self.limits.user_agent = user_agent.cloned();
        self
    }

    /// The largest answer an exchange reads, default 32 MiB (a token narrowed to 500
    /// repositories is answered with about 2.5 MiB of repository objects).
    pub fn max_answer_size(mut self, bytes: usize) -> Self {
        self.limits.max_answer = bytes;
        self
    }

    /// Share this user's token with the other replicas of a fleet through `store` (such as
    /// `tower-github-auth-redis`; a store, an `Arc` of one, or an `Arc<dyn TokenStore>`), under
    /// `user`: a stable identity of the user that you choose (their GitHub user id, your account
    /// id), the same on every replica.
    ///
    /// Refreshes then go through the store's lock, and the rotated pair is written to the store
    /// before the hook and before any request uses it, so each refresh token is spent once
    /// across the fleet and a replica that starts later takes the newest pair from the store.
    /// Stored sets are ordered (each rotation counts; a new sign-in starts a new, higher
    /// family) and a save never replaces a newer set, so the store never goes back to a spent
    /// refresh token. A pair whose save failed is saved again in the background until the store
    /// takes it. While the store cannot take the lock, this replica keeps using its token and
    /// refreshes alone only when it would otherwise expire. A set another replica stored is not
    /// handed to this replica's hook (that replica's hook had it); a set no hook accepted is
    /// never sent (see [`on_refresh`](Self::on_refresh)).
    ///
    /// A first grant (a web-flow code, the device flow) is not replaced by the stored set: the
    /// new sign-in is who the layer acts as, and the fleet follows it.
    pub fn token_store(mut self, store: impl TokenStore, user: impl Into<String>) -> Self {
        self.store = Some((Arc::new(store), user.into()));
        self
    }

    /// Calls `hook` with every new token set, before any request uses it: after the code
    /// exchange or device flow that obtained the first one, and after each refresh (ahead of
    /// expiry, after a 401, or [`OAuthTokenAuth::refresh`]).
    ///
    /// Store the set there: the old refresh token no longer works. If the hook fails, the new
    /// set is not used, the request that waited on it gets [`Error::Hook`], and the next attempt
    /// refreshes with the newest refresh token (the hook then gets that newer set). Hook calls
    /// never overlap and come in the order GitHub issued the sets.
    ///
    /// With a [`token_store`](Self::token_store), one rule for every replica: **an access token
    /// is sent only after a hook accepted its set.** The rotated pair is stored before the hook
    /// runs (its refresh token is the only one left and must never be lost), marked as not
    /// accepted; once the hook accepts it, it is stored again as accepted. A replica that finds
    /// a set no hook accepted (the hook refused it, or its replica died while the hook ran)
    /// does not send its access token: it refreshes with its refresh token, and that newer set
    /// goes through this replica's hook first. So your database never lacks a token the fleet
    /// sends, and the refresh token chain is never broken.
    ///
    /// ```
    /// # use tower_github_auth::{ClientCredentials, OAuthTokenAuth, TokenSet};
    /// let mut stored = TokenSet::default();
    /// stored.refresh_token = Some("ghr_stored".into());
    /// let user = OAuthTokenAuth::builder(ClientCredentials::new("Iv1.client", "secret"))
    ///     .token_set(stored)
    ///     .on_refresh(|set: TokenSet| async move {
    ///         // Write `set` to your database here.
    ///         # let _ = set;
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// ```
    pub fn on_refresh<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(TokenSet) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.hook = Some(Arc::new(move |set| {
            hook(set).map(|r| r.map_err(Into::into)).boxed()
        }));
        self
    }

    /// The user layer, its shared state created here: `first` runs on first use when given,
    /// else `set` is used (and refreshed).
    pub(crate) fn build_token(
        self,
        first: Option<Arc<dyn FirstGrant>>,
        set: TokenSet,
    ) -> OAuthTokenAuth {
        let policy = Policy {
            refresh_margin: self.refresh_margin,
            // A refresh ends the old access token: requests wait for the new one.
            refresh_revokes: true,
            ..Policy::default()
        };
        let user_key = self.store.as_ref().map(|(_, user)| user.clone());
        let fleet = self.store.map(|(store, user)| {
            Fleet::new(
                store,
                store_key(
                    "user",
                    &[self.endpoints.web_base(), &self.client.client_id, &user],
                ),
            )
        });
        let user = UserToken {
            slot: Arc::new(Slot::new(
                policy,
                Arc::clone(&self.clock),
                // One set of counters for every user token of the process: a service holding
                // many users does not keep one each (nothing reads them per user).
                Arc::clone(USER_COUNTERS.get_or_init(|| Arc::new(Counters::new("user")))),
            )),
            policy,
            client: self.client,
            clock: self.clock,
            hook: self.hook,
            fleet,
            user: user_key,
            // The refresh and the hook's first save fit in it; a hook that runs longer is fine:
            // saves are ordered, so a late one never puts an older set back.
            lock_for: lock_life(self.limits.timeout, 3),
            state: Mutex::new(TokenState {
                next: first.map_or(Next::Given, Next::First),
                refresh_token: set.refresh_token.clone(),
                refresh_token_expires_at: set.refresh_token_expires_at,
                spent: VecDeque::new(),
                current: set,
                current_issued_at: None,
                generation: 0,
                pending: None,
                publishing: false,
                pending_lease: None,
                awaiting_newer: false,
                awaiting_lease: None,
            }),
        };
        OAuthTokenAuth {
            user: Arc::new(user),
            endpoints: self.endpoints,
            replay: self.replay,
            limits: self.limits,
            rate_limits: RateLimits::new(),
        }
    }
}

impl UserAuthBuilder<TokenSet> {
    /// The whole token set you stored (replaces what was set so far).
    pub fn token_set(mut self, set: TokenSet) -> Self {
        self.grant = set;
        self
    }

    /// The access token.
    pub fn access_token(mut self, token: impl Into<SecretString>) -> Self {
        self.grant.access_token = Some(token.into());
        self
    }

    /// When the access token expires (GitHub's clock); it is refreshed before then.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.grant.expires_at = Some(at);
        self
    }

    /// The refresh token that goes with the access token (alone, it is refreshed on first use).
    pub fn refresh_token(mut self, token: impl Into<SecretString>) -> Self {
        self.grant.refresh_token = Some(token.into());
        self
    }

    /// When the refresh token expires (GitHub's clock); past it, a refresh is not attempted and
    /// requests fail with [`Error::RefreshImpossible`].
    pub fn refresh_token_expires_at(mut self, at: SystemTime) -> Self {
        self.grant.refresh_token_expires_at = Some(at);
        self
    }

    /// The layer.
    pub fn build(self) -> OAuthTokenAuth {
        let set = self.grant.clone();
        self.build_token(None, set)
    }
}

/// Authenticates as a user with a user access token (`Authorization: Bearer`), refreshing it
/// ahead of expiry when it has a refresh token. Made by [`OAuthTokenAuth::builder`],
/// [`OAuthAppAuth::as_user`](crate::OAuthAppAuth::as_user), or from a user flow
/// ([`UserFlow::token_auth`](crate::UserFlow::token_auth)).
///
/// Clones are cheap and share the token, its refresh token and the hook: a refresh by one is seen
/// by all. `Debug` shows secrets as `***`.
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use secrecy::ExposeSecret;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth, OAuthTokenAuth, TokenSet};
/// use github_auth_emulator::{DEFAULT_APP_CLIENT_ID as CLIENT_ID, DEFAULT_APP_CLIENT_SECRET as SECRET};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let endpoints = Endpoints::single(&github.base_url())?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// let credentials = ClientCredentials::new(CLIENT_ID, SECRET);
///
/// // The user's token set: access token, refresh token, expiries. In a program, the one you saved
/// // earlier (from a sign-in, or from the `on_refresh` hook below); here, a web-flow sign-in with
/// // a code the emulator issues (see `OAuthWebAuth` for the whole flow).
/// let code = github.issue_web_flow_code("octocat");
/// let stored: TokenSet = OAuthAppAuth::new(credentials.clone())
///     .endpoints(endpoints.clone())
///     .as_web_user(code)
///     .build()
///     .fetch_token(&client)
///     .await?;
///
/// let user = OAuthTokenAuth::builder(credentials)
///     .token_set(stored)
///     .endpoints(endpoints)
///     .on_refresh(|set: TokenSet| async move {
///         // Store `set` here (your database, encrypted): its refresh token is the only one that
///         // works from now on. An error keeps the new set out of use.
///         drop(set);
///         Ok::<_, std::io::Error>(())
///     })
///     .build();
/// let github_as_user = ServiceBuilder::new().layer(user.clone()).service(client.clone());
/// let response = github_as_user
///     .oneshot(http::Request::get("/user").body(Full::default())?)
///     .await?;
/// assert_eq!(response.status(), 200);
///
/// // Refreshes happen by themselves ahead of expiry; one can also be asked for.
/// let fresh = user.refresh(&client).await?;
/// let current = user.cached_token().expect("refreshed");
/// assert_eq!(
///     current.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
///     fresh.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
/// );
/// # Ok(())
/// # }
/// ```
///
/// GitHub's rules: a user token is sent as `Authorization: Bearer`. Tokens of OAuth apps (`gho_`)
/// do not expire. Tokens of GitHub Apps (`ghu_`) usually expire after eight hours and come with a
/// refresh token (`ghr_`, about six months); `POST {web}/login/oauth/access_token` with
/// `grant_type=refresh_token` trades it for a new pair, and **the old refresh token is spent**:
/// whoever keeps the token must save the new pair before using it. Tokens from the device flow
/// refresh without the client secret.
///
/// So here:
/// - the token lives in the crate's token cache: one exchange at a time (two refreshes of the same
///   token never run at once, whichever clone of the layer or manual call asks), refreshed ahead
///   of expiry ([`refresh_margin`](UserAuthBuilder::refresh_margin)), a 401 drops it and the
///   request is replayed once with a refreshed one;
/// - a refresh ends the old access token at GitHub, so unlike installation tokens (which stay
///   valid until they expire) the requests that arrive while it runs wait for it, one round trip
///   every few hours, rather than go out with a token about to be refused; if the refresh fails
///   without GitHub ending the old token, that one is used until it expires (a refused
///   [`on_refresh`](UserAuthBuilder::on_refresh) hook means GitHub did end it: it is dropped);
/// - the latest refresh token is kept in state shared by every clone (and by the
///   [`OAuthWebAuth`](crate::OAuthWebAuth) or [`OAuthDeviceAuth`](crate::OAuthDeviceAuth) it came
///   from); the builder configures everything before that state exists, so a clone cannot
///   change its siblings;
/// - the [`on_refresh`](UserAuthBuilder::on_refresh) hook receives every new [`TokenSet`] before any
///   request uses it; if the hook fails, the new set is not used and the request gets
///   [`Error::Hook`].
#[derive(Clone)]
pub struct OAuthTokenAuth {
    user: Arc<UserToken>,
    endpoints: Endpoints,
    replay: Replaying,
    limits: Limits,
    rate_limits: RateLimits,
}

impl fmt::Debug for OAuthTokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenAuth")
            .field("user", &self.user)
            .field("endpoints", &self.endpoints)
            .field("replay_unauthorized", &self.replay)
            .field("limits", &self.limits)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

impl OAuthTokenAuth {
    /// A user token of the OAuth client `credentials` (an OAuth app, or a GitHub App's client
    /// credentials), on github.com: give the token with [`token_set`](UserAuthBuilder::token_set)
    /// or [`access_token`](UserAuthBuilder::access_token) (and its refresh token, expiries).
    ///
    /// **What it shares**: each [`build`](UserAuthBuilder::build) makes a new user state (the
    /// token, the latest refresh token, the hook); two layers built from the same stored token
    /// set do not share it, and each would refresh on its own, spending the refresh token the
    /// other needs. Build one per user and clone it (clones share everything, so one refresh is
    /// seen by all); replicas in several processes share a user through
    /// [`token_store`](UserAuthBuilder::token_store).
    pub fn builder(credentials: ClientCredentials) -> UserAuthBuilder<TokenSet> {
        Self::builder_for(OAuthClient::from(credentials))
    }

    /// Like [`builder`](Self::builder), for a token from the device flow of `client_id`: it
    /// refreshes without the client secret.
    pub fn builder_without_secret(client_id: impl Into<String>) -> UserAuthBuilder<TokenSet> {
        Self::builder_for(OAuthClient {
            client_id: client_id.into(),
            client_secret: None,
        })
    }

    pub(crate) fn builder_for(client: OAuthClient) -> UserAuthBuilder<TokenSet> {
        UserAuthBuilder::new(
            client,
            TokenSet::default(),
            Endpoints::default(),
            Arc::new(Clock::default()),
        )
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.user.client.client_id
    }

    /// Where the token is sent.
    pub fn endpoints_ref(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Where GitHub's rate-limit figures for this user are recorded (by default a record of
    /// this layer's own, shared by its clones, across refreshes). GitHub counts per user, across
    /// all of the user's tokens: give every layer of one user the same record, see
    /// [`TokenAuth::rate_limits`](crate::TokenAuth::rate_limits).
    pub fn rate_limits(mut self, record: RateLimits) -> Self {
        self.rate_limits = record;
        self
    }

    /// The record of this user's rate limits.
    pub fn rate_limits_ref(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// What GitHub last reported of `resource`'s rate limit for this user (from the
    /// `x-ratelimit-*` headers of answers through this layer's services); `None` before any.
    pub fn rate_limit(&self, resource: Resource) -> Option<RateLimit> {
        self.rate_limits.get(resource)
    }

    /// The token set in use, without I/O: after a request (or a refresh), the one GitHub issued
    /// last and the hook accepted; `None` before there is an access token.
    pub fn cached_token(&self) -> Option<TokenSet> {
        let set = self.user.lock().current.clone();
        set.access_token.is_some().then_some(set)
    }

    /// A usable token set now: the cached one, or obtained (the first grant, a refresh) through
    /// `inner`, your HTTP client (the service this layer would wrap).
    pub async fn fetch_token<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = Side::new(
            inner,
            &self.endpoints,
            &self.user.clock,
            self.limits.clone(),
        );
        let credential = UserCredential(Arc::clone(&self.user));
        let entry = self.user.slot.obtain(|| credential.mint(side)).await?;
        Ok(entry.value.clone())
    }

    /// Refreshes now, through `inner` (your HTTP client, the service this layer would wrap), even
    /// if the token is still valid; joins a refresh already running instead of starting another.
    /// The hook gets the new set before this returns it.
    pub async fn refresh<S, B, RB>(&self, inner: &S) -> Result<TokenSet, Error>
    where
        S: HttpClient<B, RB>,
        B: RequestBody,
        RB: ResponseBody,
    {
        let side = Side::new(
            inner,
            &self.endpoints,
            &self.user.clock,
            self.limits.clone(),
        );
        let user = Arc::clone(&self.user);
        let entry = self
            .user
            .slot
            .renew(move || user.next_shared(side, true).boxed())
            .await?;
        Ok(entry.value.clone())
    }
}

impl<S> Layer<S> for OAuthTokenAuth {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut auth = Auth::new(
            self.endpoints.clone(),
            Arc::clone(&self.user.clock),
            Minted::new(UserCredential(Arc::clone(&self.user))),
        );
        auth.replay = self.replay.clone();
        auth.limits = self.limits.clone();
        auth.rate_limits = self.rate_limits.clone();
        AuthService::new(inner, auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_tokens() {
        let auth = OAuthTokenAuth::builder(ClientCredentials::new("Iv1.client", "s3cret-client"))
            .access_token("ghu_s3cret-token")
            .refresh_token("ghr_s3cret-refresh")
            .on_refresh(|_set| async { Ok::<_, std::io::Error>(()) })
            .build();
        let text = format!("{auth:?} {:?}", auth.cached_token());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("Iv1.client") && text.contains("***"),
            "{text}"
        );
    }
}
