//! Listing: the `Blaxel-Version` switch between a bare array and `{data, meta}`, and cursor
//! paging with `limit`, `sort`, `q`, `anchor` and `status`, as the reference defines them.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use modelgate_domain::timestamp::{now_micros, Micros};
use modelgate_domain::Status;
use modelgate_store::{ListQuery, Position, ResourceKind, ResourceRecord, SortOrder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

/// The version from which list endpoints answer `{data, meta}`.
pub const PAGINATED_VERSION: &str = "2026-04-28";
/// The version assumed when a request sends none.
pub const DEFAULT_VERSION: &str = "2026-04-16";
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
const MAX_QUERY_LEN: usize = 200;
const CURSOR_LIFETIME_MICROS: Micros = 24 * 3600 * 1_000_000;

/// The API version a request asked for with `Blaxel-Version: YYYY-MM-DD[.preview]`.
#[derive(Debug, Clone)]
pub struct ApiVersion(String);

impl ApiVersion {
    /// Parses a header value; `None` if it is not a version.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let date = text.strip_suffix(".preview").unwrap_or(text);
        let bytes = date.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() });
        let month: u32 = date.get(5..7)?.parse().ok()?;
        let day: u32 = date.get(8..10)?.parse().ok()?;
        (shape_ok && (1..=12).contains(&month) && (1..=31).contains(&day)).then(|| ApiVersion(date.to_string()))
    }

    /// Whether lists answer `{data, meta}` with paging for this version.
    pub fn is_paginated(&self) -> bool {
        self.0.as_str() >= PAGINATED_VERSION
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("blaxel-version") {
            None => Ok(ApiVersion(DEFAULT_VERSION.to_string())),
            Some(value) => value.to_str().ok().and_then(ApiVersion::parse).ok_or_else(|| {
                ApiError::InvalidApiVersion(format!(
                    "Blaxel-Version '{}' is not a version: use YYYY-MM-DD, e.g. {PAGINATED_VERSION}",
                    String::from_utf8_lossy(value.as_bytes())
                ))
            }),
        }
    }
}

/// Query parameters of a listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Opaque cursor from a previous page's `meta.nextCursor`
    pub cursor: Option<String>,
    /// Maximum number of items per page (default 50, clamped to 200)
    pub limit: Option<String>,
    /// `createdAt:desc` (default), `createdAt:asc`, `name:asc` or `name:desc`
    pub sort: Option<String>,
    /// Substring search across name, displayName and labels (2 characters or more)
    pub q: Option<String>,
    /// `end`: start from the last page (createdAt sorts only)
    pub anchor: Option<String>,
    /// Comma-separated statuses to keep, e.g. `DEPLOYED,FAILED` (models only)
    pub status: Option<String>,
}

/// Pagination metadata returned with a page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginationMeta {
    /// True when more pages are available beyond this one
    pub has_more: bool,
    /// Cursor for the next page; empty when there are no more pages
    pub next_cursor: String,
    /// Total number of items in the workspace, ignoring filters
    pub total: i64,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Fingerprint of workspace, kind, sort and filters.
    f: String,
    /// When the cursor was issued.
    t: Micros,
    /// Position of the last item returned.
    c: Micros,
    n: String,
}

/// A validated listing request, ready for the store.
pub struct Listing {
    pub paginated: bool,
    pub query: ListQuery,
    fingerprint: String,
    page_size: i64,
}

fn parse_sort(text: &str) -> Result<SortOrder, ApiError> {
    match text {
        "createdAt:desc" => Ok(SortOrder::CreatedDesc),
        "createdAt:asc" => Ok(SortOrder::CreatedAsc),
        "name:asc" => Ok(SortOrder::NameAsc),
        "name:desc" => Ok(SortOrder::NameDesc),
        other => Err(ApiError::BadRequest(format!(
            "sort '{other}' is not supported; use createdAt:desc, createdAt:asc, name:asc or name:desc"
        ))),
    }
}

fn parse_statuses(text: &str) -> Result<Vec<String>, ApiError> {
    let mut statuses = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let status = Status::parse(part).ok_or_else(|| {
            let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::BadRequest(format!("status '{part}' is not a status; use any of {}", known.join(", ")))
        })?;
        if !statuses.contains(&status.as_str().to_string()) {
            statuses.push(status.as_str().to_string());
        }
    }
    // Selecting every status is the same as selecting none.
    if statuses.len() == Status::ALL.len() {
        statuses.clear();
    }
    Ok(statuses)
}

impl Listing {
    /// Validates the parameters of a listing of `kind` in `workspace`.
    pub fn new(
        version: &ApiVersion,
        params: &ListParams,
        workspace: &str,
        kind: ResourceKind,
    ) -> Result<Listing, ApiError> {
        let limit = match params.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if n >= 1 => n.min(MAX_LIMIT),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "limit '{text}' must be an integer from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        let sort = params.sort.as_deref().filter(|s| !s.is_empty()).map(parse_sort).transpose()?.unwrap_or_default();
        let statuses = match (&params.status, kind) {
            (Some(text), ResourceKind::Model) => parse_statuses(text)?,
            (Some(_), _) => return Err(ApiError::BadRequest("this listing has no status filter".into())),
            (None, _) => Vec::new(),
        };
        let search = match params.q.as_deref().map(|q| q.trim().to_lowercase()) {
            Some(q) if q.chars().count() > MAX_QUERY_LEN => {
                return Err(ApiError::BadRequest(format!("q must be at most {MAX_QUERY_LEN} characters")))
            }
            Some(q) if q.chars().count() >= 2 => Some(q),
            _ => None,
        };
        let tail = match params.anchor.as_deref() {
            None | Some("") => false,
            Some("end") if matches!(sort, SortOrder::NameAsc | SortOrder::NameDesc) => {
                return Err(ApiError::BadRequest("anchor=end is only supported for createdAt sorts".into()))
            }
            Some("end") => true,
            Some(other) => {
                return Err(ApiError::BadRequest(format!("anchor '{other}' is not supported; use anchor=end")))
            }
        };
        let fingerprint = {
            let text = format!("{workspace}\n{}\n{sort:?}\n{search:?}\n{statuses:?}", kind.as_str());
            hex_prefix(&Sha256::digest(text.as_bytes()))
        };
        if !version.is_paginated() {
            // Before 2026-04-28 a listing is the whole, unfiltered collection in the default order.
            return Ok(Listing { paginated: false, query: ListQuery::default(), fingerprint, page_size: 0 });
        }
        let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if tail => return Err(ApiError::BadRequest("give either cursor or anchor=end, not both".into())),
            Some(text) => Some(decode_cursor(text, &fingerprint)?),
        };
        let query = ListQuery { sort, after, limit: Some(limit + 1), search, statuses, tail };
        Ok(Listing { paginated: true, query, fingerprint, page_size: limit })
    }

    /// Shapes the rows the store returned into the response: a bare array, or a page with meta.
    pub fn respond<T: Serialize>(
        &self,
        mut records: Vec<ResourceRecord>,
        total: i64,
        render: impl Fn(&ResourceRecord) -> Result<T, ApiError>,
    ) -> Result<Response, ApiError> {
        if !self.paginated {
            let items = records.iter().map(render).collect::<Result<Vec<_>, _>>()?;
            return Ok(Json(items).into_response());
        }
        let page_size = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        let has_more = records.len() > page_size && !self.query.tail;
        if self.query.tail && records.len() > page_size {
            records.drain(..records.len() - page_size);
        }
        records.truncate(page_size);
        let next_cursor = match (has_more, records.last()) {
            (true, Some(last)) => encode_cursor(&Cursor {
                f: self.fingerprint.clone(),
                t: now_micros(),
                c: last.created_at,
                n: last.key.name.clone(),
            }),
            _ => String::new(),
        };
        let data = records.iter().map(render).collect::<Result<Vec<_>, _>>()?;
        let body = serde_json::json!({
            "data": data,
            "meta": PaginationMeta { has_more, next_cursor, total },
        });
        Ok(Json(body).into_response())
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_cursor(text: &str, fingerprint: &str) -> Result<Position, ApiError> {
    let invalid = || ApiError::BadRequest("cursor is not valid: pass back meta.nextCursor unchanged".into());
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.f != fingerprint {
        return Err(ApiError::BadRequest(
            "cursor belongs to another query: keep workspace, sort, q and status the same while paging".into(),
        ));
    }
    // The cursor is the client's bytes: its time may be anything (saturate, don't overflow).
    if now_micros().saturating_sub(cursor.t) > CURSOR_LIFETIME_MICROS {
        return Err(ApiError::BadRequest("cursor has expired (cursors live 24 hours); start again without one".into()));
    }
    Ok(Position { created_at: cursor.c, name: cursor.n })
}

/// The lower-cased text `q` searches: name, display name, label keys and values.
pub fn search_text(name: &str, display_name: Option<&str>, labels: Option<&modelgate_domain::Labels>) -> String {
    let mut text = name.to_lowercase();
    for part in display_name
        .into_iter()
        .chain(labels.into_iter().flat_map(|l| l.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])))
    {
        text.push('\n');
        text.push_str(&part.to_lowercase());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(ApiVersion::parse("2026-04-28").unwrap().is_paginated());
        assert!(ApiVersion::parse("2026-05-01.preview").unwrap().is_paginated());
        assert!(!ApiVersion::parse("2026-04-16").unwrap().is_paginated());
        for bad in ["", "latest", "2026-4-28", "2026-13-01", "2026-04-28x"] {
            assert!(ApiVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cursors_are_bound_to_their_query() {
        let cursor = encode_cursor(&Cursor { f: "abc".into(), t: now_micros(), c: 5, n: "m".into() });
        assert_eq!(decode_cursor(&cursor, "abc").unwrap(), Position { created_at: 5, name: "m".into() });
        assert!(decode_cursor(&cursor, "other").is_err());
        assert!(decode_cursor("not-a-cursor", "abc").is_err());
        let old = encode_cursor(&Cursor {
            f: "abc".into(),
            t: now_micros() - CURSOR_LIFETIME_MICROS - 1,
            c: 5,
            n: "m".into(),
        });
        assert!(decode_cursor(&old, "abc").is_err());
        // Found by the properties: a forged cursor from the start of time overflowed the age
        // (a panic in debug builds); it has expired.
        let forged = encode_cursor(&Cursor { f: "abc".into(), t: i64::MIN, c: 5, n: "m".into() });
        assert!(matches!(decode_cursor(&forged, "abc"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn statuses_are_case_insensitive_and_checked() {
        assert_eq!(parse_statuses("deployed,FAILED").unwrap(), vec!["DEPLOYED", "FAILED"]);
        assert!(parse_statuses("RUNNING").is_err());
        let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert!(parse_statuses(&all.join(",")).unwrap().is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::extract::Query;
    use crate::properties::{config, header_bytes};
    use proptest::prelude::*;

    const KINDS: [ResourceKind; 3] = [ResourceKind::Model, ResourceKind::IntegrationConnection, ResourceKind::Policy];

    fn paginated() -> ApiVersion {
        ApiVersion(PAGINATED_VERSION.into())
    }

    /// The fingerprint of the default listing of models in `w`, which a client can work out.
    fn fingerprint() -> String {
        Listing::new(&paginated(), &ListParams::default(), "w", ResourceKind::Model).unwrap().fingerprint
    }

    /// Any `i64`, its ends often.
    fn extreme() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), i64::MIN..i64::MIN + 1000, -1000i64..1000]
    }

    proptest! {
        #![proptest_config(config(2000))]

        /// A cursor is client bytes: one made for the right query with any contents is read or
        /// refused with a 400.
        #[test]
        fn any_cursor_for_the_query_is_read_or_refused(t in extreme(), c in extreme(), n in ".{0,8}") {
            let cursor = encode_cursor(&Cursor { f: fingerprint(), t, c, n: n.clone() });
            match decode_cursor(&cursor, &fingerprint()) {
                Ok(position) => prop_assert_eq!(position, Position { created_at: c, name: n }),
                Err(error) => prop_assert!(matches!(error, ApiError::BadRequest(_))),
            }
        }

        /// Any listing query, near a valid one, is a listing or a 400; any version header is a
        /// version or none.
        #[test]
        fn any_listing_query_is_read_or_refused(
            query in header_bytes(vec![
                "limit=10&sort=name:asc&q=ab&status=deployed,FAILED".into(),
                "anchor=end&sort=createdAt:asc&limit=999999999999999999999".into(),
                format!("cursor={}", encode_cursor(&Cursor { f: fingerprint(), t: 0, c: 1, n: "m".into() })),
            ]),
            version in ".{0,12}",
        ) {
            ApiVersion::parse(&version);
            let query = String::from_utf8_lossy(&query).replace(['#', ' '], "");
            let Ok(uri) = format!("/v0/models?{query}").parse::<axum::http::Uri>() else { return Ok(()) };
            let params = match Query::<ListParams>::try_from_uri(&uri) {
                Ok(Query(params)) => params,
                Err(error) => {
                    prop_assert!(matches!(error, ApiError::BadRequest(_)));
                    return Ok(());
                }
            };
            for kind in KINDS {
                if let Err(error) = Listing::new(&paginated(), &params, "w", kind) {
                    prop_assert!(matches!(error, ApiError::BadRequest(_)));
                }
            }
        }
    }
}
