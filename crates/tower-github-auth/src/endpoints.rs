//! Where GitHub is: the REST API base and the web (OAuth) base.

use std::fmt;
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// The GitHub deployment a layer talks to.
///
/// A credential is added only to requests whose scheme, host and port are those of
/// [`api_base`](Self::api_base); OAuth exchanges go to [`web_base`](Self::web_base).
///
/// ```
/// use tower_github_auth::Endpoints;
///
/// let dotcom = Endpoints::github_com();
/// assert_eq!(dotcom.api_base(), "https://api.github.com");
/// assert_eq!(dotcom.web_base(), "https://github.com");
///
/// // GitHub Enterprise Server from its one URL.
/// let ghes = Endpoints::enterprise("https://github.example.com")?;
/// assert_eq!(ghes.api_base(), "https://github.example.com/api/v3");
/// assert_eq!(ghes.web_base(), "https://github.example.com");
///
/// // The emulator (or any server that serves both from one base).
/// let local = Endpoints::single("http://127.0.0.1:8080")?;
/// assert_eq!(local.api_base(), local.web_base());
/// # Ok::<(), tower_github_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    api: Base,
    web: Base,
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
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::github_com()
    }
}

impl Endpoints {
    /// github.com: `https://api.github.com` and `https://github.com`.
    pub fn github_com() -> Self {
        Self {
            api: Base::parse("https://api.github.com").expect("static URL"),
            web: Base::parse("https://github.com").expect("static URL"),
        }
    }

    /// GitHub Enterprise Server from its one URL: the API at `/api/v3`, OAuth at the host root.
    ///
    /// `https://github.example.com` and `https://github.example.com/api/v3` both work.
    pub fn enterprise(url: &str) -> Result<Self, Error> {
        let root = Base::parse(url)?;
        let host = root.path.strip_suffix("/api/v3").unwrap_or(&root.path);
        let host_root = format!(
            "{}://{}{}",
            root.scheme,
            root.authority,
            host.trim_end_matches('/')
        );
        Ok(Self {
            api: Base::parse(&format!("{host_root}/api/v3"))?,
            web: Base::parse(&host_root)?,
        })
    }

    /// Separate API and web bases, as given.
    pub fn new(api_base: &str, web_base: &str) -> Result<Self, Error> {
        Ok(Self {
            api: Base::parse(api_base)?,
            web: Base::parse(web_base)?,
        })
    }

    /// One URL serving both the API and OAuth, such as the `github-auth-emulator`.
    pub fn single(base: &str) -> Result<Self, Error> {
        Self::new(base, base)
    }

    /// The variables [`from_env`](Self::from_env) reads: the API base, then the web base, as
    /// GitHub Actions sets them for the host a workflow runs on.
    pub const ENV_VARIABLES: [&'static str; 2] = ["GITHUB_API_URL", "GITHUB_SERVER_URL"];

    /// The deployment the process environment names, as GitHub Actions sets it: the API base
    /// from `GITHUB_API_URL`, the web base from `GITHUB_SERVER_URL`; github.com when neither is
    /// set (or both are empty).
    ///
    /// - both set: taken as they are (github.com, GHE.com and GitHub Enterprise Server runners
    ///   set both);
    /// - only `GITHUB_API_URL`: as [`from_api_url`](Self::from_api_url) reads it;
    /// - only `GITHUB_SERVER_URL`: `https://github.com` is github.com, `https://SUBDOMAIN.ghe.com`
    ///   has its API at `https://api.SUBDOMAIN.ghe.com`, any other host is a GitHub Enterprise
    ///   Server (API at `/api/v3`).
    ///
    /// `GITHUB_GRAPHQL_URL` is not read: GraphQL is served on the API's host everywhere
    /// (`https://api.github.com/graphql`, `https://api.SUBDOMAIN.ghe.com/graphql`,
    /// `https://HOST/api/graphql`), so the host pin already lets the credential go there.
    ///
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
    /// assert!(endpoints.is_api(&"https://ghe.example.com/api/graphql".parse().unwrap()));
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
        let [api_var, web_var] = Self::ENV_VARIABLES;
        match (set(api_var), set(web_var)) {
            (Some(api), Some(web)) => Self::new(&api, &web),
            (Some(api), None) => Self::from_api_url(&api),
            (None, Some(web)) => Self::from_server_url(&web),
            (None, None) => Ok(Self::github_com()),
        }
    }

    /// The deployment whose REST API base is `url`, with its web base found from it:
    ///
    /// - `https://api.github.com`: github.com;
    /// - `https://api.SUBDOMAIN.ghe.com` (GitHub Enterprise Cloud with data residency): web base
    ///   `https://SUBDOMAIN.ghe.com`;
    /// - a URL ending in `/api/v3`: GitHub Enterprise Server ([`enterprise`](Self::enterprise));
    /// - anything else (the emulator, a proxy): one base for both ([`single`](Self::single)).
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
            let web = format!("{}://{subdomain}.ghe.com", api.scheme);
            return Ok(Self {
                web: Base::parse(&web)?,
                api,
            });
        }
        if api.path.ends_with("/api/v3") {
            return Self::enterprise(url);
        }
        Ok(Self {
            web: api.clone(),
            api,
        })
    }

    /// The deployment whose web base is `url` (`GITHUB_SERVER_URL` alone).
    fn from_server_url(url: &str) -> Result<Self, Error> {
        let web = Base::parse(url)?;
        let host = web.authority.host().to_ascii_lowercase();
        if web.path.is_empty() && host == "github.com" && web.scheme == Scheme::HTTPS {
            return Ok(Self::github_com());
        }
        if web.path.is_empty()
            && let Some(subdomain) = ghe_com_subdomain(&host, "")
        {
            let api = format!("{}://api.{subdomain}.ghe.com", web.scheme);
            return Ok(Self {
                api: Base::parse(&api)?,
                web,
            });
        }
        Self::enterprise(url)
    }

    /// The REST API base, without a trailing slash.
    pub fn api_base(&self) -> &str {
        &self.api.text
    }

    /// The web base for OAuth and the device flow, without a trailing slash.
    pub fn web_base(&self) -> &str {
        &self.web.text
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

    /// Whether `uri` points at the API base (scheme, host and port): the host pin.
    pub fn is_api(&self, uri: &Uri) -> bool {
        self.api.matches(uri)
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

    /// The path of `uri` below the API base, when it is on the API base.
    pub(crate) fn api_path<'a>(&self, uri: &'a Uri) -> Option<&'a str> {
        if !self.is_api(uri) {
            return None;
        }
        if self.api.path.is_empty() {
            // github.com and the emulator: every path on the host is an API path.
            return Some(uri.path());
        }
        uri.path().strip_prefix(&*self.api.path)
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

    #[test]
    fn bare_paths_resolve_against_the_api_base() {
        let e = Endpoints::enterprise("https://ghe.example.com/").unwrap();
        let mut uri: Uri = "/repos/octo/one?per_page=1".parse().unwrap();
        e.resolve(&mut uri);
        assert_eq!(
            uri.to_string(),
            "https://ghe.example.com/api/v3/repos/octo/one?per_page=1"
        );
        assert_eq!(e.api_path(&uri), Some("/repos/octo/one"));
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
            assert!(endpoints.is_api(&graphql));
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
            assert!(endpoints.is_api(&"https://ghe.example.com/api/graphql".parse().unwrap()));
        }
    }

    #[test]
    fn the_environment_of_a_ghe_com_runner_is_its_subdomain() {
        let runner = [
            ("GITHUB_API_URL", "https://api.octo.ghe.com"),
            ("GITHUB_SERVER_URL", "https://octo.ghe.com"),
        ];
        for pairs in [&runner[..], &runner[..1], &runner[1..2]] {
            let endpoints = Endpoints::from_vars(vars(pairs)).unwrap();
            assert_eq!(
                endpoints.api_base(),
                "https://api.octo.ghe.com",
                "{pairs:?}"
            );
            assert_eq!(endpoints.web_base(), "https://octo.ghe.com", "{pairs:?}");
        }
    }

    #[test]
    fn an_api_url_alone_names_its_web_base() {
        let loopback = Endpoints::from_api_url("http://127.0.0.1:8787/").unwrap();
        assert_eq!(
            loopback,
            Endpoints::single("http://127.0.0.1:8787").unwrap()
        );
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

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["", "api.github.com", "ftp://x", "https://x/?q=1"] {
            assert!(Endpoints::single(bad).is_err(), "{bad}");
        }
    }
}
