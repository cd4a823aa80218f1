//! Where GitHub is: the REST API base, the web (OAuth) base, the uploads base and the GraphQL
//! endpoint.

use std::fmt;
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// The GitHub deployment a layer talks to.
///
/// A credential is added only to requests for the API base, the uploads base (release assets)
/// and the GraphQL endpoint, each pinned exactly (scheme, host, port and path prefix): see
/// [`is_pinned`](Self::is_pinned). OAuth exchanges go to [`web_base`](Self::web_base).
///
/// | deployment | constructor | API | uploads | GraphQL |
/// | --- | --- | --- | --- | --- |
/// | github.com | [`github_com`](Self::github_com) | `https://api.github.com` | `https://uploads.github.com` | `https://api.github.com/graphql` |
/// | GHE.com (data residency) | [`ghe_com`](Self::ghe_com), [`enterprise`](Self::enterprise) | `https://api.SUBDOMAIN.ghe.com` | `https://uploads.SUBDOMAIN.ghe.com` | `https://api.SUBDOMAIN.ghe.com/graphql` |
/// | GitHub Enterprise Server | [`enterprise`](Self::enterprise) | `https://HOST/api/v3` | `https://HOST/api/uploads` | `https://HOST/api/graphql` |
/// | one server for all (the emulator) | [`single`](Self::single) | the base | the base | the base + `/graphql` |
///
/// ```
/// use tower_github_auth::Endpoints;
///
/// let dotcom = Endpoints::github_com();
/// assert_eq!(dotcom.api_base(), "https://api.github.com");
/// assert_eq!(dotcom.web_base(), "https://github.com");
/// assert_eq!(dotcom.uploads_base(), "https://uploads.github.com");
///
/// // GitHub Enterprise Server from its one URL.
/// let ghes = Endpoints::enterprise("https://github.example.com")?;
/// assert_eq!(ghes.api_base(), "https://github.example.com/api/v3");
/// assert_eq!(ghes.web_base(), "https://github.example.com");
/// assert_eq!(ghes.uploads_base(), "https://github.example.com/api/uploads");
/// assert_eq!(ghes.graphql_url(), "https://github.example.com/api/graphql");
///
/// // GHE.com is no Enterprise Server: no `/api/v3`.
/// let ghe_com = Endpoints::enterprise("https://octo.ghe.com")?;
/// assert_eq!(ghe_com, Endpoints::ghe_com("octo")?);
/// assert_eq!(ghe_com.api_base(), "https://api.octo.ghe.com");
/// assert_eq!(ghe_com.uploads_base(), "https://uploads.octo.ghe.com");
///
/// // The emulator (or any server that serves everything from one base).
/// let local = Endpoints::single("http://127.0.0.1:8080")?;
/// assert_eq!(local.api_base(), local.web_base());
/// assert_eq!(local.api_base(), local.uploads_base());
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    api: Base,
    web: Base,
    uploads: Base,
    /// The GraphQL endpoint: its path is the endpoint's, not a prefix.
    graphql: Base,
}

/// Cloned without allocating (the texts are shared): every stack, and every stack built per
/// request, holds a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Base {
    /// The URL as text, without a trailing slash.
    text: Arc<str>,
    scheme: Scheme,
    authority: Authority,
    port: u16,
    /// Path prefix without a trailing slash (`""` or `/api/v3`).
    path: Arc<str>,
}

impl Base {
    fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidBaseUrl {
            url: url.to_owned(),
            reason,
        };
        let trimmed = url.trim_end_matches('/');
        let uri: Uri = trimmed.parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or(invalid("no scheme"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(invalid("the scheme must be http or https"));
        }
        let authority = uri.authority().cloned().ok_or(invalid("no host"))?;
        if uri.query().is_some() {
            return Err(invalid("a base URL has no query"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == Scheme::HTTPS { 443 } else { 80 });
        let path = uri.path().trim_end_matches('/').into();
        Ok(Self {
            text: trimmed.into(),
            scheme,
            authority,
            port,
            path,
        })
    }

    /// Whether `uri` has this base's scheme, host and port.
    fn matches(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return false;
        };
        if *scheme != self.scheme {
            return false;
        }
        // Fast path: the authority exactly as configured (byte for byte, then in any case).
        let (given, ours) = (authority.as_str(), self.authority.as_str());
        if given == ours || given.eq_ignore_ascii_case(ours) {
            return true;
        }
        if !authority.host().eq_ignore_ascii_case(self.authority.host()) {
            return false;
        }
        let default = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        authority.port_u16().unwrap_or(default) == self.port
    }

    /// The path of `uri` below this base (`""` for the base itself), when `uri` is on this
    /// base's origin and below its path prefix, segment by segment (`/api/v3x` is not below
    /// `/api/v3`).
    fn below<'a>(&self, uri: &'a Uri) -> Option<&'a str> {
        if !self.matches(uri) {
            return None;
        }
        let rest = uri.path().strip_prefix(&*self.path)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// Whether `uri` is this very endpoint (origin and whole path; any query).
    fn is(&self, uri: &Uri) -> bool {
        self.matches(uri) && uri.path().trim_end_matches('/') == &*self.path
    }

    /// The absolute URI of a path below this base; an error if the path is not one.
    fn join(&self, path_and_query: &str) -> Result<Uri, Error> {
        let invalid = || Error::InvalidPath {
            path: path_and_query.to_owned(),
        };
        // `http` would silently drop a `#fragment`: a path must not carry one.
        if !path_and_query.starts_with('/') || path_and_query.contains('#') {
            return Err(invalid());
        }
        let mut full = String::with_capacity(self.path.len() + path_and_query.len());
        full.push_str(&self.path);
        full.push_str(path_and_query);
        let pq = PathAndQuery::try_from(full).map_err(|_| invalid())?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| invalid())
    }

    /// This base as a URI (`/` for an empty path).
    fn to_uri(&self) -> Uri {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .expect("the parts of a URL parsed before")
    }

    /// `:PORT` when the URL names a port, else nothing.
    fn port_suffix(&self) -> String {
        self.authority
            .port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default()
    }

    /// `scheme://authority` followed by `path`.
    fn origin_with(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.authority)
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::github_com()
    }
}

impl Endpoints {
    /// github.com: `https://api.github.com`, `https://github.com`, uploads at
    /// `https://uploads.github.com`, GraphQL at `https://api.github.com/graphql`.
    pub fn github_com() -> Self {
        Self::new("https://api.github.com", "https://github.com").expect("static URLs")
    }

    /// GitHub Enterprise Cloud with data residency, `SUBDOMAIN.ghe.com`: the API at
    /// `https://api.SUBDOMAIN.ghe.com` (no `/api/v3`: it is no Enterprise Server), OAuth at
    /// `https://SUBDOMAIN.ghe.com`, uploads at `https://uploads.SUBDOMAIN.ghe.com`, GraphQL at
    /// `https://api.SUBDOMAIN.ghe.com/graphql`.
    ///
    /// [`Error::InvalidBaseUrl`] when `subdomain` is not one DNS label (letters, digits, `-`).
    ///
    /// ```
    /// use tower_github_auth::Endpoints;
    ///
    /// let octo = Endpoints::ghe_com("octo")?;
    /// assert_eq!(octo.api_base(), "https://api.octo.ghe.com");
    /// assert_eq!(octo.web_base(), "https://octo.ghe.com");
    /// assert!(Endpoints::ghe_com("octo.evil").is_err());
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
    pub fn ghe_com(subdomain: &str) -> Result<Self, Error> {
        let label = !subdomain.is_empty()
            && subdomain.len() <= 63
            && subdomain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !subdomain.starts_with('-')
            && !subdomain.ends_with('-');
        if !label {
            return Err(Error::InvalidBaseUrl {
                url: format!("https://{subdomain}.ghe.com"),
                reason: "a GHE.com subdomain is one DNS label (letters, digits and `-`)",
            });
        }
        let subdomain = subdomain.to_ascii_lowercase();
        Self::new(
            &format!("https://api.{subdomain}.ghe.com"),
            &format!("https://{subdomain}.ghe.com"),
        )
    }

    /// A GitHub Enterprise deployment from its one URL.
    ///
    /// - GitHub Enterprise Server (`https://HOST`, or its API URL `https://HOST/api/v3`): the
    ///   API at `/api/v3`, OAuth at the host root, uploads at `/api/uploads`, GraphQL at
    ///   `/api/graphql`;
    /// - GHE.com (`https://SUBDOMAIN.ghe.com` or `https://api.SUBDOMAIN.ghe.com`): as
    ///   [`ghe_com`](Self::ghe_com), without `/api/v3`;
    /// - `https://github.com` or `https://api.github.com`: [`github_com`](Self::github_com).
    pub fn enterprise(url: &str) -> Result<Self, Error> {
        let root = Base::parse(url)?;
        let host = root.path.strip_suffix("/api/v3").unwrap_or(&root.path);
        let name = root.authority.host().to_ascii_lowercase();
        if host.is_empty() && root.authority.port().is_none() && root.scheme == Scheme::HTTPS {
            if name == "github.com" || name == "api.github.com" {
                return Ok(Self::github_com());
            }
            let subdomain = ghe_com_subdomain(&name, "api.").or(ghe_com_subdomain(&name, ""));
            if let Some(subdomain) = subdomain {
                return Self::ghe_com(subdomain);
            }
        }
        let host_root = root.origin_with(host.trim_end_matches('/'));
        Ok(Self {
            api: Base::parse(&format!("{host_root}/api/v3"))?,
            web: Base::parse(&host_root)?,
            uploads: Base::parse(&format!("{host_root}/api/uploads"))?,
            graphql: Base::parse(&format!("{host_root}/api/graphql"))?,
        })
    }

    /// Separate API and web bases, as given; the uploads base and the GraphQL endpoint found
    /// from the API base:
    ///
    /// - `https://api.github.com`, `https://api.SUBDOMAIN.ghe.com`: uploads on the host
    ///   `uploads.` instead of `api.`, GraphQL at the API base + `/graphql`;
    /// - an API base ending in `/api/v3` (GitHub Enterprise Server): uploads at `/api/uploads`,
    ///   GraphQL at `/api/graphql` beside it;
    /// - anything else: uploads on the API base, GraphQL at the API base + `/graphql`.
    ///
    /// [`with_uploads_base`](Self::with_uploads_base) and
    /// [`with_graphql_url`](Self::with_graphql_url) set them otherwise.
    pub fn new(api_base: &str, web_base: &str) -> Result<Self, Error> {
        let api = Base::parse(api_base)?;
        let web = Base::parse(web_base)?;
        let name = api.authority.host().to_ascii_lowercase();
        let (uploads, graphql) = if let Some(prefix) = api.path.strip_suffix("/api/v3") {
            (
                api.origin_with(&format!("{prefix}/api/uploads")),
                api.origin_with(&format!("{prefix}/api/graphql")),
            )
        } else if api.path.is_empty()
            && (name == "api.github.com" || ghe_com_subdomain(&name, "api.").is_some())
        {
            let domain = name.strip_prefix("api.").unwrap_or(&name);
            (
                format!("{}://uploads.{domain}{}", api.scheme, api.port_suffix()),
                format!("{}/graphql", api.text),
            )
        } else {
            (api.text.to_string(), format!("{}/graphql", api.text))
        };
        Ok(Self {
            uploads: Base::parse(&uploads)?,
            graphql: Base::parse(&graphql)?,
            api,
            web,
        })
    }

    /// One URL serving the API, OAuth, uploads and GraphQL (at `/graphql`), such as the
    /// `github-auth-emulator`.
    pub fn single(base: &str) -> Result<Self, Error> {
        let one = Base::parse(base)?;
        Ok(Self {
            graphql: Base::parse(&format!("{}/graphql", one.text))?,
            api: one.clone(),
            web: one.clone(),
            uploads: one,
        })
    }

    /// These endpoints with release assets uploaded to `url` (a proxy, a test server on
    /// loopback): the credential goes to requests below it, pinned like the API base.
    ///
    /// ```
    /// use tower_github_auth::Endpoints;
    ///
    /// let endpoints = Endpoints::single("http://127.0.0.1:8080")?
    ///     .with_uploads_base("http://127.0.0.1:8081")?;
    /// let asset = endpoints.uploads_url("/repos/octo/one/releases/7/assets?name=a.zip")?;
    /// assert_eq!(asset.port_u16(), Some(8081));
    /// assert!(endpoints.is_pinned(&asset));
    /// assert!(!endpoints.is_pinned(&"http://127.0.0.1:8082/repos/octo/one".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_uploads_base(mut self, url: &str) -> Result<Self, Error> {
        self.uploads = Base::parse(url)?;
        Ok(self)
    }

    /// These endpoints with the GraphQL endpoint at `url` exactly (only that path gets the
    /// credential, when it is not below the API base already).
    pub fn with_graphql_url(mut self, url: &str) -> Result<Self, Error> {
        self.graphql = Base::parse(url)?;
        Ok(self)
    }

    /// The variables [`from_env`](Self::from_env) reads: the API base, the web base and the
    /// GraphQL endpoint, as GitHub Actions sets them for the host a workflow runs on.
    pub const ENV_VARIABLES: [&'static str; 3] =
        ["GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_GRAPHQL_URL"];

    /// The deployment the process environment names, as GitHub Actions sets it: the API base
    /// from `GITHUB_API_URL`, the web base from `GITHUB_SERVER_URL`, the GraphQL endpoint from
    /// `GITHUB_GRAPHQL_URL`; github.com when none is set (or all are empty).
    ///
    /// - API and web bases both set: taken as they are ([`new`](Self::new); github.com, GHE.com
    ///   and GitHub Enterprise Server runners set both);
    /// - only `GITHUB_API_URL`: as [`from_api_url`](Self::from_api_url) reads it;
    /// - only `GITHUB_SERVER_URL`: as [`enterprise`](Self::enterprise) reads it
    ///   (`https://github.com` is github.com, `https://SUBDOMAIN.ghe.com` GHE.com, any other host
    ///   a GitHub Enterprise Server);
    /// - `GITHUB_GRAPHQL_URL`, when set, replaces the GraphQL endpoint found from the others
    ///   (on every kind of host Actions sets it to where that endpoint is anyway).
    ///
    /// The uploads base is found from the API base (Actions sets no variable for it).
    /// [`ActionAuth`](crate::ActionAuth) reads its bases with it.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env), reading variables through `var` (for tests, command-line
    /// flags that override the environment, or an environment captured elsewhere).
    ///
    /// ```
    /// use tower_github_auth::Endpoints;
    ///
    /// let ghes = |name: &str| match name {
    ///     "GITHUB_API_URL" => Some("https://ghe.example.com/api/v3".to_owned()),
    ///     "GITHUB_SERVER_URL" => Some("https://ghe.example.com".to_owned()),
    ///     "GITHUB_GRAPHQL_URL" => Some("https://ghe.example.com/api/graphql".to_owned()),
    ///     _ => None,
    /// };
    /// let endpoints = Endpoints::from_vars(ghes)?;
    /// assert_eq!(endpoints, Endpoints::enterprise("https://ghe.example.com")?);
    /// assert!(endpoints.is_pinned(&"https://ghe.example.com/api/graphql".parse().unwrap()));
    ///
    /// assert_eq!(Endpoints::from_vars(|_| None)?, Endpoints::github_com());
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let set = |name: &str| {
            var(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let [api_var, web_var, graphql_var] = Self::ENV_VARIABLES;
        let endpoints = match (set(api_var), set(web_var)) {
            (Some(api), Some(web)) => Self::new(&api, &web),
            (Some(api), None) => Self::from_api_url(&api),
            (None, Some(web)) => Self::enterprise(&web),
            (None, None) => Ok(Self::github_com()),
        }?;
        match set(graphql_var) {
            Some(graphql) => endpoints.with_graphql_url(&graphql),
            None => Ok(endpoints),
        }
    }

    /// The deployment whose REST API base is `url`, with its other bases found from it:
    ///
    /// - `https://api.github.com`: github.com;
    /// - `https://api.SUBDOMAIN.ghe.com` (GitHub Enterprise Cloud with data residency): web base
    ///   `https://SUBDOMAIN.ghe.com`, uploads `https://uploads.SUBDOMAIN.ghe.com`;
    /// - a URL ending in `/api/v3`: GitHub Enterprise Server ([`enterprise`](Self::enterprise));
    /// - anything else (the emulator, a proxy): one base for all ([`single`](Self::single)).
    ///
    /// ```
    /// use tower_github_auth::Endpoints;
    ///
    /// assert_eq!(Endpoints::from_api_url("https://api.github.com/")?, Endpoints::github_com());
    /// let ghe_com = Endpoints::from_api_url("https://api.octo.ghe.com")?;
    /// assert_eq!(ghe_com.web_base(), "https://octo.ghe.com");
    /// let ghes = Endpoints::from_api_url("https://ghe.example.com/api/v3")?;
    /// assert_eq!(ghes.web_base(), "https://ghe.example.com");
    /// let emulator = Endpoints::from_api_url("http://127.0.0.1:8787")?;
    /// assert_eq!(emulator.web_base(), "http://127.0.0.1:8787");
    /// # Ok::<(), tower_github_auth::Error>(())
    /// ```
    pub fn from_api_url(url: &str) -> Result<Self, Error> {
        let api = Base::parse(url)?;
        let host = api.authority.host().to_ascii_lowercase();
        if api.path.is_empty() && host == "api.github.com" && api.scheme == Scheme::HTTPS {
            return Ok(Self::github_com());
        }
        if api.path.is_empty()
            && let Some(subdomain) = ghe_com_subdomain(&host, "api.")
        {
            let web = format!("{}://{subdomain}.ghe.com{}", api.scheme, api.port_suffix());
            return Self::new(&api.text, &web);
        }
        if api.path.ends_with("/api/v3") {
            return Self::enterprise(url);
        }
        Self::single(url)
    }

    /// The REST API base, without a trailing slash.
    pub fn api_base(&self) -> &str {
        &self.api.text
    }

    /// The web base for OAuth and the device flow, without a trailing slash.
    pub fn web_base(&self) -> &str {
        &self.web.text
    }

    /// The base release assets are uploaded to, without a trailing slash.
    pub fn uploads_base(&self) -> &str {
        &self.uploads.text
    }

    /// The GraphQL endpoint (`POST` a JSON `{"query": ...}` to it); it gets the credential
    /// like the API.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use tower::{Layer, ServiceExt};
    /// use tower_github_auth::{AppId, AppInstallationAuth, Endpoints, InstallationId, PrivateKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// // A loopback GitHub for this example; `Endpoints::github_com()` in real life.
    /// let github = github_auth_emulator::Emulator::builder().start().await?;
    /// let endpoints = Endpoints::single(&github.base_url())?;
    ///
    /// let key = PrivateKey::from_pem(github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1)?;
    /// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    /// let service = AppInstallationAuth::new(AppId(1), key, InstallationId(1))
    ///     .endpoints(endpoints.clone())
    ///     .layer(client);
    ///
    /// let query = r#"{"query": "{ viewer { login } }"}"#;
    /// let request = http::Request::post(endpoints.graphql_url()).body(Full::from(query))?;
    /// let response = service.oneshot(request).await?;
    /// assert_eq!(response.status(), 200);
    /// let body = response.into_body().collect().await?.to_bytes();
    /// let answer: serde_json::Value = serde_json::from_slice(&body)?;
    /// assert_eq!(answer["data"]["viewer"]["login"], "emulator-app[bot]");
    /// # Ok(())
    /// # }
    /// ```
    pub fn graphql_url(&self) -> Uri {
        self.graphql.to_uri()
    }

    /// The absolute URL of an API path such as `/repos/octo/one`; [`Error::InvalidPath`] for
    /// anything that is not a path (no leading `/`, characters a URL cannot carry).
    pub fn api_url(&self, path_and_query: &str) -> Result<Uri, Error> {
        self.api.join(path_and_query)
    }

    /// The absolute URL of a web path such as `/login/oauth/access_token`; [`Error::InvalidPath`]
    /// for anything that is not a path.
    pub fn web_url(&self, path_and_query: &str) -> Result<Uri, Error> {
        self.web.join(path_and_query)
    }

    /// The absolute URL of an uploads path such as
    /// `/repos/octo/one/releases/7/assets?name=tool.zip`; [`Error::InvalidPath`] for anything
    /// that is not a path.
    pub fn uploads_url(&self, path_and_query: &str) -> Result<Uri, Error> {
        self.uploads.join(path_and_query)
    }

    /// Whether `uri` points at the API base's origin (scheme, host and port).
    pub fn is_api(&self, uri: &Uri) -> bool {
        self.api.matches(uri)
    }

    /// Whether a request to `uri` gets the credential: the host pin. True below the API base
    /// or the uploads base (scheme, host, port, then the path prefix segment by segment), and
    /// on the GraphQL endpoint itself; false anywhere else (another host or port, `http` for
    /// `https`, `/api/v3x` for `/api/v3`, a bare path before it is resolved).
    pub fn is_pinned(&self, uri: &Uri) -> bool {
        self.credential_path(uri).is_some()
    }

    /// Resolves a bare path (`/repos/octo/one`) against the API base, in place.
    /// Absolute URIs are left alone, and so is a relative one that is not a path (`*`): it
    /// goes nowhere near GitHub, and carries no credential.
    pub(crate) fn resolve(&self, uri: &mut Uri) {
        if uri.scheme().is_none() && uri.authority().is_none() {
            let pq = uri.path_and_query().map_or("/", PathAndQuery::as_str);
            if let Ok(resolved) = self.api.join(pq) {
                *uri = resolved;
            }
        }
    }

    /// The path a credential is chosen for, when `uri` gets one ([`is_pinned`](Self::is_pinned)):
    /// the path below the API base or the uploads base, `/graphql` for the GraphQL endpoint.
    pub(crate) fn credential_path<'a>(&self, uri: &'a Uri) -> Option<&'a str> {
        if let Some(path) = self.api.below(uri) {
            return Some(path);
        }
        if self.graphql.is(uri) {
            return Some("/graphql");
        }
        self.uploads.below(uri)
    }
}

/// `SUBDOMAIN` of a GHE.com host `{prefix}SUBDOMAIN.ghe.com` (lowercase), when it is one.
fn ghe_com_subdomain<'a>(host: &'a str, prefix: &str) -> Option<&'a str> {
    let subdomain = host.strip_prefix(prefix)?.strip_suffix(".ghe.com")?;
    (!subdomain.is_empty() && !subdomain.contains('.')).then_some(subdomain)
}

/// Everything but RFC 3986's unreserved characters is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A name (owner, repository, organisation, user, client id) as one path segment: a `/`, `#`,
/// `?` or space in it can never change which route a request goes to.
pub(crate) fn segment(name: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(name, SEGMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_pin_checks_scheme_host_and_port() {
        let e = Endpoints::github_com();
        assert!(e.is_api(&"https://api.github.com/repos/o/r".parse().unwrap()));
        assert!(e.is_api(&"https://API.GitHub.com:443/user".parse().unwrap()));
        assert!(!e.is_api(&"http://api.github.com/user".parse().unwrap()));
        assert!(!e.is_api(&"https://api.github.com:8443/user".parse().unwrap()));
        assert!(!e.is_api(&"https://api.github.com.evil.example/user".parse().unwrap()));
        assert!(!e.is_api(&"https://uploads.github.com/x".parse().unwrap()));
        assert!(!e.is_api(&"/user".parse().unwrap()));
    }

    fn pinned(e: &Endpoints, url: &str) -> Option<String> {
        e.credential_path(&url.parse().unwrap()).map(str::to_owned)
    }

    #[test]
    fn github_com_pins_api_uploads_and_graphql() {
        let e = Endpoints::github_com();
        assert_eq!(e.uploads_base(), "https://uploads.github.com");
        assert_eq!(e.graphql_url(), "https://api.github.com/graphql");
        let asset = e
            .uploads_url("/repos/o/r/releases/1/assets?name=a.zip")
            .unwrap();
        assert_eq!(
            asset.to_string(),
            "https://uploads.github.com/repos/o/r/releases/1/assets?name=a.zip"
        );
        assert_eq!(
            pinned(&e, &asset.to_string()).as_deref(),
            Some("/repos/o/r/releases/1/assets")
        );
        assert_eq!(
            pinned(&e, "https://api.github.com/graphql").as_deref(),
            Some("/graphql")
        );
        assert_eq!(
            pinned(&e, "https://UPLOADS.github.com:443/x").as_deref(),
            Some("/x")
        );
        for foreign in [
            "http://uploads.github.com/x",
            "https://uploads.github.com:8443/x",
            "https://uploads.github.com.evil.example/x",
            "https://github.com/x",
            "https://objects.githubusercontent.com/x",
            "/user",
        ] {
            assert_eq!(pinned(&e, foreign), None, "{foreign}");
        }
    }

    #[test]
    fn ghes_pins_its_three_prefixes_segment_by_segment() {
        let e = Endpoints::enterprise("https://ghe.example.com").unwrap();
        assert_eq!(e.uploads_base(), "https://ghe.example.com/api/uploads");
        assert_eq!(e.graphql_url(), "https://ghe.example.com/api/graphql");
        let h = "https://ghe.example.com";
        assert_eq!(
            pinned(&e, &format!("{h}/api/v3/user")).as_deref(),
            Some("/user")
        );
        assert_eq!(
            pinned(
                &e,
                &format!("{h}/api/uploads/repos/o/r/releases/1/assets?name=a")
            )
            .as_deref(),
            Some("/repos/o/r/releases/1/assets")
        );
        // GraphQL is outside /api/v3, and gets the credential as `/graphql`.
        assert_eq!(
            pinned(&e, &format!("{h}/api/graphql")).as_deref(),
            Some("/graphql")
        );
        for foreign in [
            "/api/v3x/user",
            "/api/uploadsx/y",
            "/api/graphql/x",
            "/api/graphqlx",
            "/api/v4/user",
            "/login/oauth/access_token",
            "/",
        ] {
            assert_eq!(pinned(&e, &format!("{h}{foreign}")), None, "{foreign}");
        }
        assert_eq!(pinned(&e, "https://other.example.com/api/v3/user"), None);
        assert_eq!(pinned(&e, "http://ghe.example.com/api/v3/user"), None);
    }

    #[test]
    fn ghe_com_has_no_api_v3_and_its_own_uploads_host() {
        let expected = Endpoints::ghe_com("octo").unwrap();
        for url in [
            "https://octo.ghe.com",
            "https://octo.ghe.com/",
            "https://OCTO.ghe.com/api/v3",
            "https://api.octo.ghe.com",
        ] {
            assert_eq!(Endpoints::enterprise(url).unwrap(), expected, "{url}");
        }
        assert_eq!(expected.api_base(), "https://api.octo.ghe.com");
        assert_eq!(expected.web_base(), "https://octo.ghe.com");
        assert_eq!(expected.uploads_base(), "https://uploads.octo.ghe.com");
        assert_eq!(expected.graphql_url(), "https://api.octo.ghe.com/graphql");
        assert!(!expected.api_base().contains("/api/v3"));
        assert_eq!(
            pinned(
                &expected,
                "https://uploads.octo.ghe.com/repos/o/r/releases/1/assets"
            )
            .as_deref(),
            Some("/repos/o/r/releases/1/assets")
        );
        assert_eq!(pinned(&expected, "https://uploads.other.ghe.com/x"), None);
        assert_eq!(pinned(&expected, "https://octo.ghe.com/x"), None);
        for bad in ["", "a.b", "-octo", "octo-", "oc to", "octo/x"] {
            assert!(Endpoints::ghe_com(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Endpoints::ghe_com("Octo").unwrap(), expected);
    }

    #[test]
    fn enterprise_of_github_com_is_github_com() {
        for url in ["https://github.com", "https://api.github.com/"] {
            assert_eq!(Endpoints::enterprise(url).unwrap(), Endpoints::github_com());
        }
    }

    #[test]
    fn single_serves_uploads_and_graphql_on_its_base() {
        let e = Endpoints::single("http://127.0.0.1:8080").unwrap();
        assert_eq!(e.uploads_base(), "http://127.0.0.1:8080");
        assert_eq!(e.graphql_url(), "http://127.0.0.1:8080/graphql");
        assert_eq!(
            pinned(&e, "http://127.0.0.1:8080/graphql").as_deref(),
            Some("/graphql")
        );
        assert_eq!(pinned(&e, "http://127.0.0.1:8081/graphql"), None);
        let split = e.with_uploads_base("http://127.0.0.1:8081/").unwrap();
        assert_eq!(split.uploads_base(), "http://127.0.0.1:8081");
        assert_eq!(
            pinned(&split, "http://127.0.0.1:8081/a").as_deref(),
            Some("/a")
        );
        assert_eq!(pinned(&split, "http://127.0.0.1:8082/a"), None);
        assert!(split.clone().with_uploads_base("ftp://x").is_err());
        let moved = split.with_graphql_url("http://127.0.0.1:9000/gql").unwrap();
        assert_eq!(
            pinned(&moved, "http://127.0.0.1:9000/gql?x=1").as_deref(),
            Some("/graphql")
        );
        assert_eq!(pinned(&moved, "http://127.0.0.1:9000/other"), None);
    }

    #[test]
    fn bare_paths_resolve_against_the_api_base() {
        let e = Endpoints::enterprise("https://ghe.example.com/").unwrap();
        let mut uri: Uri = "/repos/octo/one?per_page=1".parse().unwrap();
        e.resolve(&mut uri);
        assert_eq!(
            uri.to_string(),
            "https://ghe.example.com/api/v3/repos/octo/one?per_page=1"
        );
        assert_eq!(e.credential_path(&uri), Some("/repos/octo/one"));
        let mut absolute: Uri = "https://elsewhere.example/x".parse().unwrap();
        e.resolve(&mut absolute);
        assert_eq!(absolute.to_string(), "https://elsewhere.example/x");
    }

    #[test]
    fn enterprise_accepts_the_api_url_too() {
        let a = Endpoints::enterprise("https://ghe.example.com/api/v3").unwrap();
        let b = Endpoints::enterprise("https://ghe.example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.web_url("/login/oauth/access_token").unwrap().to_string(),
            "https://ghe.example.com/login/oauth/access_token"
        );
    }

    #[test]
    fn bad_paths_are_errors_not_slash() {
        let e = Endpoints::github_com();
        for bad in ["repos/o/r", "/orgs/octo#x", "/a b", ""] {
            let err = e.api_url(bad).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidPath { path } if path == bad),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            e.api_url("/orgs/octo?per_page=1").unwrap().to_string(),
            "https://api.github.com/orgs/octo?per_page=1"
        );
    }

    #[test]
    fn names_stay_one_segment() {
        assert_eq!(segment("octo-org_1.x~").to_string(), "octo-org_1.x~");
        assert_eq!(segment("octo#").to_string(), "octo%23");
        assert_eq!(segment("a/b?c d").to_string(), "a%2Fb%3Fc%20d");
        let e = Endpoints::github_com();
        let url = e
            .api_url(&format!("/orgs/{}/installation", segment("octo#x")))
            .unwrap();
        assert_eq!(url.path(), "/orgs/octo%23x/installation");
    }

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// What a runner on github.com sets: github.com, with or without the variables.
    #[test]
    fn the_environment_of_a_github_com_runner_is_github_com() {
        let runner = [
            ("GITHUB_API_URL", "https://api.github.com"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_GRAPHQL_URL", "https://api.github.com/graphql"),
        ];
        for pairs in [
            &runner[..],
            &runner[..1],
            &runner[1..2],
            &[],
            &[("GITHUB_API_URL", " "), ("GITHUB_SERVER_URL", "")],
            &[("GITHUB_API_URL", "https://api.github.com/")],
        ] {
            let endpoints = Endpoints::from_vars(vars(pairs)).unwrap();
            assert_eq!(endpoints, Endpoints::github_com(), "{pairs:?}");
            let graphql = "https://api.github.com/graphql".parse().unwrap();
            assert!(endpoints.is_pinned(&graphql));
        }
    }

    /// What a runner of a GitHub Enterprise Server sets, whole or in part.
    #[test]
    fn the_environment_of_a_ghes_runner_is_that_server() {
        let runner = [
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com"),
            ("GITHUB_GRAPHQL_URL", "https://ghe.example.com/api/graphql"),
        ];
        let ghes = Endpoints::enterprise("https://ghe.example.com").unwrap();
        for pairs in [&runner[..], &runner[..1], &runner[1..2]] {
            let endpoints = Endpoints::from_vars(vars(pairs)).unwrap();
            assert_eq!(endpoints, ghes, "{pairs:?}");
            assert_eq!(
                endpoints.graphql_url(),
                "https://ghe.example.com/api/graphql"
            );
            assert_eq!(
                endpoints.uploads_base(),
                "https://ghe.example.com/api/uploads"
            );
            assert!(endpoints.is_pinned(&"https://ghe.example.com/api/graphql".parse().unwrap()));
        }
    }

    #[test]
    fn the_environment_of_a_ghe_com_runner_is_its_subdomain() {
        let runner = [
            ("GITHUB_API_URL", "https://api.octo.ghe.com"),
            ("GITHUB_SERVER_URL", "https://octo.ghe.com"),
            ("GITHUB_GRAPHQL_URL", "https://api.octo.ghe.com/graphql"),
        ];
        let ghe_com = Endpoints::ghe_com("octo").unwrap();
        for pairs in [&runner[..], &runner[..1], &runner[1..2], &runner[..2]] {
            let endpoints = Endpoints::from_vars(vars(pairs)).unwrap();
            assert_eq!(endpoints, ghe_com, "{pairs:?}");
            assert_eq!(endpoints.uploads_base(), "https://uploads.octo.ghe.com");
            assert!(!endpoints.api_base().contains("/api/v3"));
        }
    }

    #[test]
    fn a_graphql_url_from_the_environment_is_pinned_exactly() {
        let proxy = [
            ("GITHUB_API_URL", "http://127.0.0.1:8787"),
            ("GITHUB_GRAPHQL_URL", "http://127.0.0.1:8788/graphql"),
        ];
        let endpoints = Endpoints::from_vars(vars(&proxy)).unwrap();
        assert_eq!(endpoints.graphql_url(), "http://127.0.0.1:8788/graphql");
        assert_eq!(
            pinned(&endpoints, "http://127.0.0.1:8788/graphql").as_deref(),
            Some("/graphql")
        );
        assert_eq!(pinned(&endpoints, "http://127.0.0.1:8788/user"), None);
        assert!(matches!(
            Endpoints::from_vars(vars(&[("GITHUB_GRAPHQL_URL", "graphql")])),
            Err(Error::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn an_api_url_alone_names_its_web_base() {
        let loopback = Endpoints::from_api_url("http://127.0.0.1:8787/").unwrap();
        assert_eq!(
            loopback,
            Endpoints::single("http://127.0.0.1:8787").unwrap()
        );
        // A port (a proxy, a test resolver) stays on the bases found from it.
        let ported = Endpoints::from_api_url("http://api.octo.ghe.com:8080").unwrap();
        assert_eq!(ported.web_base(), "http://octo.ghe.com:8080");
        assert_eq!(ported.uploads_base(), "http://uploads.octo.ghe.com:8080");
        // Not GHE.com: a host only ending like it, or a deeper one.
        for url in [
            "https://api.ghe.com",
            "https://api.a.b.ghe.com",
            "https://api.octo.ghe.com.evil",
        ] {
            let endpoints = Endpoints::from_api_url(url).unwrap();
            assert_eq!(endpoints.web_base(), endpoints.api_base(), "{url}");
        }
        assert!(matches!(
            Endpoints::from_vars(vars(&[("GITHUB_API_URL", "api.github.com")])),
            Err(Error::InvalidBaseUrl { .. })
        ));
    }

    proptest::proptest! {
        /// On a GitHub Enterprise Server, whatever the path: the credential goes exactly to
        /// `/api/v3` and `/api/uploads` and below, and to `/api/graphql` itself, and its path is
        /// the one below the prefix.
        #[test]
        fn the_ghes_pin_is_exact(path in "(/(api|v3|uploads|graphql|v3x|x|)){0,4}") {
            let e = Endpoints::enterprise("https://ghe.example.com").unwrap();
            let got = pinned(&e, &format!("https://ghe.example.com{path}"));
            let below = |prefix: &str| {
                path.strip_prefix(prefix)
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                    .map(str::to_owned)
            };
            let expected = below("/api/v3")
                .or_else(|| (path.trim_end_matches('/') == "/api/graphql").then(|| "/graphql".to_owned()))
                .or_else(|| below("/api/uploads"));
            proptest::prop_assert_eq!(got, expected);
            let elsewhere = format!("https://ghe.example.org{path}");
            proptest::prop_assert_eq!(pinned(&e, &elsewhere), None);
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["", "api.github.com", "ftp://x", "https://x/?q=1"] {
            assert!(Endpoints::single(bad).is_err(), "{bad}");
        }
    }
}
