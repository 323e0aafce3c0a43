//! The portal's answers: the form, a submission, a confirmation link, the stylesheet,
//! the health check and, for the clients of `web.metrics_allow`, the metrics. A submission's outcome never shows: every well-formed one, and
//! every one a bot sent, gets the same redirect to the same neutral page; only what the
//! customer can correct (a field, an old form) comes back to them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{Duration as Span, Utc};
use tower_http::timeout::TimeoutLayer;

use crate::core::decision::Settings;
use crate::core::templates::pages::{self, ErrorPage, FormValues, FormView, Page};
use crate::mail::submission;
use crate::metrics::{self as desk_metrics, Snapshot};
use crate::pipeline::{Confirmation, Handled};
use crate::store::NewPending;

use super::form::{self, Submission, Unreadable, LIMITS};
use super::guard::{client_ip, random_hex, FormToken, TokenProblem};
use super::portal::{Peer, Portal};

/// The cookie the form's token is bound to (double submit: another site can make a
/// browser post, but cannot read or set this).
const COOKIE: &str = "assistenza_form";
/// A form left open longer than this is sent back to be sent again.
const FORM_MAX_AGE_SECS: i64 = 24 * 3600;
/// How long a confirmation link works.
const LINK_VALID_HOURS: i64 = 24;

pub fn router(portal: Arc<Portal>) -> Router {
    let body_limit = portal.cfg.max_upload_bytes as usize;
    let timeout = portal.cfg.timeout;
    Router::new()
        .route("/", get(form_page).post(submit))
        .route("/inviata", get(received))
        .route("/conferma/{link}", get(confirm_page).post(confirm))
        .route("/confermata", get(confirmed))
        .route("/style.css", get(style))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(portal)
}

// ---- pages ------------------------------------------------------------------------------

/// A page of the template set in force, its values made from the settings in force,
/// with the headers every page has.
fn page(
    p: &Portal,
    which: Page,
    values: impl FnOnce(&Settings) -> minijinja::Value,
    status: StatusCode,
) -> Response {
    let pipeline = p.desk.pipeline();
    let settings = &pipeline.settings;
    let (body, problem) = settings.texts.page(which.template(), &values(settings));
    if let Some(problem) = problem {
        tracing::warn!(page = which.template(), "an edited page failed; {problem}");
    }
    if body.is_empty() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Errore interno").into_response();
    }
    let kind = if which == Page::Style {
        "text/css; charset=utf-8"
    } else {
        "text/html; charset=utf-8"
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if which == Page::Style {
            "max-age=3600"
        } else {
            "no-store"
        }),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

fn error_page(p: &Portal, root: &str, which: ErrorPage) -> Response {
    let status = StatusCode::from_u16(which.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = page(p, Page::Error, |s| pages::error(s, root, which), status);
    match which {
        ErrorPage::TooMany { retry_secs } => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_secs.into());
        }
        // The rest of the body is not read: the connection cannot be used again.
        ErrorPage::TooLarge { .. } => {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    response
}

/// Relative, so the portal works under whatever folder the proxy gives it.
fn see_other(location: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(location));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn received(State(p): State<Arc<Portal>>) -> Response {
    let confirmation = p.cfg.require_confirmation;
    page(
        &p,
        Page::Received,
        |s| pages::received(s, confirmation),
        StatusCode::OK,
    )
}

async fn confirmed(State(p): State<Arc<Portal>>) -> Response {
    page(&p, Page::Confirmed, pages::confirmed, StatusCode::OK)
}

async fn style(State(p): State<Arc<Portal>>) -> Response {
    page(&p, Page::Style, pages::style, StatusCode::OK)
}

async fn not_found(State(p): State<Arc<Portal>>, request: Request) -> Response {
    let depth = request.uri().path().matches('/').count().saturating_sub(1);
    error_page(&p, &"../".repeat(depth.min(8)), ErrorPage::NotFound)
}

/// 200 `ok` when the store answers; for the proxy and for monitoring.
async fn healthz(State(p): State<Arc<Portal>>) -> Response {
    let store = p.desk.store();
    let ok = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .map_err(|_| anyhow!("store lock poisoned"))?
            .ping()
    })
    .await;
    match ok {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

/// The desk's metrics in the Prometheus text format, computed from the store now, for
/// the clients of `web.metrics_allow`; any other gets the 404 of an unknown path, so the
/// page does not tell it is there. The mailbox is not measured here (no IMAP login per
/// scrape): `assistenza_mailbox_measured` is 0.
async fn metrics(
    State(p): State<Arc<Portal>>,
    Extension(Peer(peer)): Extension<Peer>,
    request: Request,
) -> Response {
    let ip = client(&p, peer.ip(), request.headers());
    if !p.cfg.metrics_allow.iter().any(|n| n.contains(ip)) {
        tracing::debug!(client = %ip, "portal: /metrics asked by a client not in web.metrics_allow");
        return not_found(State(p), request).await;
    }
    let Ok(_slot) = p.store_slots.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
    };
    let store = p.desk.store();
    let text = tokio::task::spawn_blocking(move || -> Result<String> {
        let store = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
        desk_metrics::render(&Snapshot::of_store(&store, Utc::now())?)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match text {
        Ok(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(desk_metrics::CONTENT_TYPE),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!("portal: /metrics: {e:#}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

// ---- the form ---------------------------------------------------------------------------

/// The browser's cookie when it has a well-formed one.
fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The form with `values`, `errors` and `notice`; a new cookie and token unless the
/// browser's are still good (`token` given back as it came).
fn form_response(
    p: &Portal,
    headers: &HeaderMap,
    values: &FormValues,
    errors: &[(&'static str, &'static str)],
    notice: Option<&'static str>,
    token: Option<&str>,
) -> Result<Response> {
    let (cookie, new_cookie) = match cookie_of(headers) {
        Some(c) => (c, false),
        None => (random_hex(16).map_err(|e| anyhow!(e))?, true),
    };
    let token = match token {
        Some(t) => t.to_string(),
        None => {
            let key = random_hex(16).map_err(|e| anyhow!(e))?;
            FormToken::issue(&p.signer, &cookie, &key, Utc::now().timestamp())
        }
    };
    let limits = pages::FormLimits {
        upload_bytes: p.cfg.max_upload_bytes,
        ..LIMITS
    };
    let view = FormView {
        token: &token,
        values,
        errors,
        notice,
        limits,
        privacy_url: &p.cfg.privacy_url,
        confirmation: p.cfg.require_confirmation,
    };
    let status = if errors.is_empty() && notice.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = page(p, Page::Form, |s| pages::form(s, &view), status);
    if new_cookie {
        let secure = if p.cfg.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let value = format!("{COOKIE}={cookie}; HttpOnly; SameSite=Lax{secure}");
        response
            .headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_str(&value)?);
    }
    Ok(response)
}

async fn form_page(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    form_response(&p, &headers, &FormValues::default(), &[], None, None)
        .unwrap_or_else(|e| unavailable(&p, "", e))
}

fn unavailable(p: &Portal, root: &str, e: anyhow::Error) -> Response {
    tracing::error!("portal: {e:#}");
    error_page(p, root, ErrorPage::Unavailable)
}

fn client(p: &Portal, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    client_ip(peer, &forwarded, &p.cfg.trusted_proxies)
}

async fn submit(
    State(p): State<Arc<Portal>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let ip = client(&p, peer.ip(), &headers);
    if let Err(retry) = p.per_ip.hit(&ip.to_string(), Instant::now()) {
        tracing::info!(client = %ip, "portal: too many submissions from one client");
        return error_page(
            &p,
            "",
            ErrorPage::TooMany {
                retry_secs: retry.as_secs(),
            },
        );
    }
    let too_large = ErrorPage::TooLarge {
        limit_bytes: p.cfg.max_upload_bytes,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > p.cfg.max_upload_bytes) {
        return error_page(&p, "", too_large);
    }
    let sent = match Multipart::from_request(request, &()).await {
        Ok(multipart) => form::read(multipart).await,
        Err(_) => Err(Unreadable::Malformed),
    };
    let sent = match sent {
        Ok(sent) => sent,
        Err(Unreadable::TooLarge) => return error_page(&p, "", too_large),
        Err(Unreadable::Malformed) => return error_page(&p, "", ErrorPage::BadRequest),
    };
    judge(&p, ip, &headers, sent)
        .await
        .unwrap_or_else(|e| unavailable(&p, "", e))
}

/// A readable submission: a bot's is answered as if taken; a customer's with something
/// to correct comes back; the rest is handled.
async fn judge(
    p: &Arc<Portal>,
    ip: IpAddr,
    headers: &HeaderMap,
    mut sent: form::Sent,
) -> Result<Response> {
    if !sent.honeypot.is_empty() {
        tracing::info!(client = %ip, "portal: the hidden field was filled (a bot): nothing recorded");
        return Ok(see_other("inviata"));
    }
    let cookie = cookie_of(headers).unwrap_or_default();
    let now = Utc::now().timestamp();
    let min_fill = p.cfg.min_fill.as_secs() as i64;
    let key = match FormToken::check(
        &p.signer,
        &sent.token,
        &cookie,
        now,
        min_fill,
        FORM_MAX_AGE_SECS,
    ) {
        Ok(token) => token.key,
        Err(TokenProblem::TooFast) => {
            tracing::info!(client = %ip, "portal: a form sent faster than a person can (a bot): nothing recorded");
            return Ok(see_other("inviata"));
        }
        Err(problem) => {
            tracing::info!(client = %ip, ?problem, "portal: form token refused; the form goes back to be sent again");
            let _ = sent.check();
            return form_response(p, headers, &sent.values, &[], Some("resend"), None);
        }
    };
    let submission = match sent.check() {
        Ok(s) => s,
        Err(errors) => {
            return form_response(p, headers, &sent.values, &errors, None, Some(&sent.token));
        }
    };
    if let Err(retry) = p
        .per_address
        .hit(submission.requester.as_str(), Instant::now())
    {
        tracing::info!(client = %ip, "portal: too many submissions for one address");
        return Ok(error_page(
            p,
            "",
            ErrorPage::TooMany {
                retry_secs: retry.as_secs(),
            },
        ));
    }
    let _slot = p.store_slots.acquire().await?;
    let me = Arc::clone(p);
    tokio::task::spawn_blocking(move || me.record(submission, &key, ip))
        .await
        .context("the submission's task panicked")??;
    p.desk.queued();
    Ok(see_other("inviata"))
}

impl Portal {
    /// Records a checked submission: handled at once like an email, or held for its
    /// address to confirm.
    fn record(&self, sub: Submission, key: &str, client: IpAddr) -> Result<()> {
        let pipeline = self.desk.pipeline();
        let desk = &pipeline.settings.support_address;
        let id = submission::message_id(key, desk);
        let now = Utc::now();
        let raw = submission::raw(&sub.fields, &sub.files, desk, &id, &client.to_string(), now)?;
        let msg = submission::message(&sub.fields, sub.files, &id, raw.len(), now);
        let store = self.desk.store();
        let mut store = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
        if !self.cfg.require_confirmation {
            let handled = pipeline
                .submit(&mut store, &msg, &raw, now)
                .map_err(|f| f.error)?;
            log_handled(&handled);
            return Ok(());
        }
        let token = random_hex(16).map_err(|e| anyhow!(e))?;
        let link = format!(
            "{}conferma/{token}.{}",
            self.cfg.public_url,
            self.signer.sign(&["confirm", &token])
        );
        let pending = NewPending {
            token: &token,
            form_key: key,
            address: sub.requester.as_str(),
            fields: &submission::fields_json(&sub.fields),
            raw: &raw,
            created_at: now,
            expires_at: now + Span::hours(LINK_VALID_HOURS),
        };
        let held = pipeline.hold(&mut store, &pending, &msg, &link, now)?;
        tracing::info!(
            ?held,
            "portal: submission held until its address confirms it"
        );
        Ok(())
    }

    /// The stored token of a confirmation link whose signature holds.
    fn link_token<'l>(&self, link: &'l str) -> Option<&'l str> {
        let (token, mac) = link.split_once('.')?;
        (token.len() == 32 && self.signer.verify(&["confirm", token], mac)).then_some(token)
    }
}

fn log_handled(handled: &Handled) {
    match handled {
        Handled::Recorded {
            outcome, warning, ..
        } => {
            tracing::info!(?outcome, "portal: submission handled");
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
        }
        Handled::Duplicate(d) => {
            tracing::info!(
                inbound = d.inbound_id,
                "portal: the same form again (INVIA twice, a retry): nothing new"
            )
        }
        Handled::SetAside { reason, .. } => tracing::warn!(reason, "portal: submission set aside"),
    }
}

// ---- confirmation links -----------------------------------------------------------------

/// Opening a link shows its state and a button; it changes nothing.
async fn confirm_page(State(p): State<Arc<Portal>>, Path(link): Path<String>) -> Response {
    let Some(token) = p.link_token(&link).map(str::to_string) else {
        return confirm_state(&p, "unknown", None);
    };
    let store = p.desk.store();
    let found = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut store = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
        let tx = store.begin()?;
        tx.pending(&token)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match found {
        Ok(None) => confirm_state(&p, "unknown", None),
        Ok(Some(pending)) if pending.confirmed_at.is_some() => confirm_state(&p, "used", None),
        Ok(Some(pending)) if Utc::now() > pending.expires_at => confirm_state(&p, "expired", None),
        Ok(Some(pending)) => confirm_state(&p, "ready", Some(pending.expires_at)),
        Err(e) => unavailable(&p, "../", e),
    }
}

fn confirm_state(p: &Portal, state: &str, valid_until: Option<chrono::DateTime<Utc>>) -> Response {
    let status = match state {
        "ready" | "used" => StatusCode::OK,
        "expired" => StatusCode::GONE,
        _ => StatusCode::NOT_FOUND,
    };
    page(
        p,
        Page::Confirm,
        |s| pages::confirm(s, state, valid_until),
        status,
    )
}

/// Only the button's POST opens the ticket.
async fn confirm(
    State(p): State<Arc<Portal>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Path(link): Path<String>,
) -> Response {
    let ip = client(&p, peer.ip(), &headers);
    if let Err(retry) = p.per_ip.hit(&ip.to_string(), Instant::now()) {
        return error_page(
            &p,
            "../",
            ErrorPage::TooMany {
                retry_secs: retry.as_secs(),
            },
        );
    }
    let Some(token) = p.link_token(&link).map(str::to_string) else {
        return confirm_state(&p, "unknown", None);
    };
    let me = Arc::clone(&p);
    let done = tokio::task::spawn_blocking(move || -> Result<Confirmation> {
        let pipeline = me.desk.pipeline();
        let store = me.desk.store();
        let mut store = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
        let now = Utc::now();
        let made = |pending: &crate::store::Pending| {
            let fields = submission::fields_from_json(&pending.fields)?;
            Ok(submission::inbound(&pending.raw, &fields, now))
        };
        pipeline
            .confirm(&mut store, &token, now, made)
            .map_err(|f| f.error)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match done {
        Ok(Confirmation::Done(handled)) => {
            log_handled(&handled);
            p.desk.queued();
            see_other("../confermata")
        }
        Ok(Confirmation::Used) => confirm_state(&p, "used", None),
        Ok(Confirmation::Expired) => confirm_state(&p, "expired", None),
        Ok(Confirmation::Unknown) => confirm_state(&p, "unknown", None),
        Err(e) => unavailable(&p, "../", e),
    }
}
