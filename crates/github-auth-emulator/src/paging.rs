//! GitHub's pagination: `per_page` (default 30, at most 100) and `page` (from 1) in the query,
//! and a `Link` header with `prev`, `next`, `last` and `first` when there is more than one page.

use axum::response::Response;
use http::{HeaderValue, header};

use crate::{state::Shared, wire::Incoming};

/// The page size when the request names none.
const DEFAULT_PER_PAGE: usize = 30;
/// The largest page GitHub hands out.
const MAX_PER_PAGE: usize = 100;

/// The page a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    /// From 1.
    pub(crate) number: usize,
    pub(crate) per_page: usize,
}

impl Page {
    /// `page` and `per_page` from the query; missing or unreadable values take the defaults, a
    /// `per_page` above 100 is 100.
    pub(crate) fn of(req: &Incoming) -> Self {
        let mut page = Self {
            number: 1,
            per_page: DEFAULT_PER_PAGE,
        };
        for (key, value) in query_pairs(req) {
            match key.as_str() {
                "page" => {
                    if let Some(n) = value.parse().ok().filter(|&n| n > 0) {
                        page.number = n;
                    }
                }
                "per_page" => {
                    if let Some(n) = value.parse::<usize>().ok().filter(|&n| n > 0) {
                        page.per_page = n.min(MAX_PER_PAGE);
                    }
                }
                _ => {}
            }
        }
        page
    }

    /// The items of this page (empty past the last page).
    pub(crate) fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.number - 1).saturating_mul(self.per_page);
        let start = start.min(items.len());
        let end = start.saturating_add(self.per_page).min(items.len());
        &items[start..end]
    }

    /// The number of the last page for `total` items (1 when there are none).
    fn last(&self, total: usize) -> usize {
        total.div_ceil(self.per_page).max(1)
    }

    /// The `Link` header for `total` items, in GitHub's order (`prev`, `next`, `last`, `first`);
    /// `None` when everything fits on the first page. The URLs keep the request's path and other
    /// query parameters.
    pub(crate) fn link(
        &self,
        shared: &Shared,
        req: &Incoming,
        total: usize,
    ) -> Option<HeaderValue> {
        let last = self.last(total);
        if last == 1 && self.number == 1 {
            return None;
        }
        let others: Vec<(String, String)> = query_pairs(req)
            .into_iter()
            .filter(|(key, _)| key != "page")
            .collect();
        let url = |number: usize| {
            let mut pairs = others.clone();
            pairs.push(("page".to_owned(), number.to_string()));
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            format!("<{}{}?{query}>", shared.base_url, req.path)
        };
        let mut links = Vec::new();
        if self.number > 1 {
            let prev = (self.number - 1).min(last);
            links.push(format!("{}; rel=\"prev\"", url(prev)));
        }
        if self.number < last {
            links.push(format!("{}; rel=\"next\"", url(self.number + 1)));
            links.push(format!("{}; rel=\"last\"", url(last)));
        }
        if self.number > 1 {
            links.push(format!("{}; rel=\"first\"", url(1)));
        }
        HeaderValue::from_str(&links.join(", ")).ok()
    }
}

/// Adds a `Link` header, if any, to an answer.
pub(crate) fn with_link(mut response: Response, link: Option<HeaderValue>) -> Response {
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// The query's pairs, in order (none if it does not parse).
fn query_pairs(req: &Incoming) -> Vec<(String, String)> {
    req.query
        .as_deref()
        .and_then(|query| serde_urlencoded::from_str(query).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(number: usize, per_page: usize) -> Page {
        Page { number, per_page }
    }

    #[test]
    fn slices_pages() {
        let items = [1, 2, 3, 4, 5];
        assert_eq!(page(1, 2).slice(&items), [1, 2]);
        assert_eq!(page(3, 2).slice(&items), [5]);
        assert!(page(4, 2).slice(&items).is_empty());
        assert!(page(usize::MAX, 100).slice(&items).is_empty());
        assert_eq!(page(1, 30).last(0), 1);
        assert_eq!(page(1, 2).last(5), 3);
    }
}
