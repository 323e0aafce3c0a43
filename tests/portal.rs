//! The portal's form on the real daemon, the real Dovecot and the real Postfix: what a
//! customer sees after INVIA and what reaches their mailbox; that the answer never tells
//! one address from another; that a double click, a bot, a forged form, a flood, an
//! oversized upload or a slow client records nothing and sends nothing; that what was
//! typed comes back escaped beside its message and never reaches a header; the
//! confirmation link; the health check, the Italian 404 and `check`.

mod support;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::portal::*;
use support::*;

const WAIT: Duration = Duration::from_secs(30);
/// How long a mailbox is watched to say that nothing arrived.
const QUIET: Duration = Duration::from_secs(4);

/// A small PNG-like file, as a screenshot would be attached.
fn screenshot() -> Upload {
    let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
    data.extend((0..2048u32).map(|i| (i * 7 % 251) as u8));
    Upload::new("schermata-errore.png", "image/png", data)
}

/// The answer to INVIA is the redirect to the neutral page; returns that page.
fn neutral_page(browser: &Form, sent: &Answer) -> Answer {
    assert_eq!(sent.status, 303, "{}", sent.shown());
    assert_eq!(sent.header("location"), Some("inviata"), "{}", sent.shown());
    let page = browser.get("inviata");
    assert_eq!(page.status, 200, "{}", page.shown());
    page
}

/// Headers that say nothing of the submission: all but the date.
fn headers_but_date(a: &Answer) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = a
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    h.sort();
    h
}

/// Waits until Postfix has delivered or bounced all it holds.
fn postfix_drained() {
    let start = Instant::now();
    while !postfix_queue_empty() {
        assert!(start.elapsed() < WAIT, "Postfix still holds mail");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// After `QUIET`, with Postfix empty, `user`'s inbox holds nothing.
fn stays_empty(user: &str, daemon: &Running) {
    std::thread::sleep(QUIET);
    postfix_drained();
    let got: Vec<String> = fetch_all(user, "INBOX")
        .iter()
        .map(|m| subject_and_text(m).0)
        .collect();
    assert!(
        got.is_empty(),
        "{user} got mail: {got:?}\n{}",
        daemon.log_text()
    );
}

/// The acknowledgements (`[KZ-…]` subjects) in `user`'s inbox once Postfix is empty and
/// `QUIET` has passed since the first arrived.
fn acks_of(user: &str) -> Vec<Vec<u8>> {
    mail_with_subject(user, "INBOX", "[KZ-");
    std::thread::sleep(QUIET);
    postfix_drained();
    fetch_all(user, "INBOX")
        .into_iter()
        .filter(|m| subject_and_text(m).0.starts_with("[KZ-"))
        .collect()
}

fn attachment_names(raw: &[u8]) -> Vec<String> {
    use mail_parser::MimeHeaders;
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse");
    m.attachments()
        .filter_map(|a| a.attachment_name().map(str::to_string))
        .collect()
}

/// The header section of a raw message, as text.
fn header_section(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

// ---- what a customer sees ----------------------------------------------------------------

#[test]
fn a_customer_with_a_contract_gets_the_ack_by_email_after_the_neutral_page() {
    let (desk, staff, people) = Desk::with_staff_and_web("web-ack", "", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let sent = browser.submit(&Fields::valid(&mario), &[screenshot()]);
    let page = neutral_page(&browser, &sent);
    assert!(
        page.body
            .contains("Se l'indirizzo è abilitato all'apertura dei ticket"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&mario),
        "the page never repeats the address"
    );
    assert_eq!(desk.recorded().inbound, 1, "{}", daemon.log_text());

    let ack = mail_with_subject(&mario, "INBOX", "[KZ-");
    let (subject, _) = subject_and_text(&ack);
    let code = subject
        .strip_prefix('[')
        .and_then(|s| s.split_once(']'))
        .map(|(code, _)| code.to_string())
        .unwrap_or_else(|| panic!("no code in {subject:?}"));
    let notice = mail_with_subject(&staff.queue, "INBOX", &code);
    let names = attachment_names(&notice);
    assert!(
        names.iter().any(|n| n == "schermata-errore.png"),
        "the queue notice carries the customer's file: {names:?}"
    );
    let (listed, row) = desk.only_ticket();
    assert_eq!(listed, code, "{row:#}");
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn the_page_is_the_same_word_for_word_for_unknown_expired_and_valid_addresses() {
    let (desk, people) =
        Desk::with_web_and_customers("web-same", "", &["valid", "unknown", "expired"]);
    let (valid, unknown, expired) = (&people[0], &people[1], &people[2]);
    desk.contracts(&format!(
        "{}{}",
        contract_row("Rossi Impianti", &[valid], "www.rossi-impianti.it"),
        expired_row("Studio Scaduto", &[expired])
    ));
    let daemon = desk.start();
    // Three people open the form together, and each sends it for their address.
    let browsers: Vec<Form> = (0..3)
        .map(|_| {
            let mut browser = desk.browser();
            browser.get_form();
            browser
        })
        .collect();
    let answers: Vec<(Answer, Answer)> = browsers
        .iter()
        .zip([valid, unknown, expired])
        .map(|(browser, address)| {
            let sent = browser.submit(&Fields::valid(address), &[]);
            let page = neutral_page(browser, &sent);
            (sent, page)
        })
        .collect();
    let (first_sent, first_page) = &answers[0];
    for (address, (sent, page)) in [valid, unknown, expired].iter().zip(&answers) {
        assert_eq!(
            headers_but_date(sent),
            headers_but_date(first_sent),
            "the redirect for {address}"
        );
        assert_eq!(page.body, first_page.body, "the page for {address}");
        assert_eq!(
            headers_but_date(page),
            headers_but_date(first_page),
            "the page's headers for {address}"
        );
        assert!(!page.body.contains(address.as_str()));
    }

    stays_empty(unknown, &daemon);

    let mails = wait_for(expired, "INBOX", 1, WAIT);
    let (subject, text) =
        subject_and_text(mails.first().expect("a rejection for the expired contract"));
    assert!(!subject.starts_with("[KZ-"), "no ticket: {subject}");
    assert!(
        text.contains("scadut"),
        "the contract has expired: {subject}\n{text}"
    );
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn pressing_invia_twice_or_retrying_opens_one_ticket() {
    let (desk, people) =
        Desk::with_web_and_customers("web-twice", "per_address_limit = 20", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let fields = Fields::valid(&mario);
    // Two tabs pressing INVIA at the same moment (both wait for the same instant)...
    let mut sent: Vec<Answer> = std::thread::scope(|s| {
        let tabs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| browser.submit(&fields, &[])))
            .collect();
        tabs.into_iter().map(|t| t.join().expect("tab")).collect()
    });
    // ...then the same form sent three times more (a retry, the back button).
    sent.extend((0..3).map(|_| browser.submit(&fields, &[])));
    for answer in &sent {
        neutral_page(&browser, answer);
    }
    assert_eq!(
        desk.recorded().inbound,
        1,
        "one submission recorded:\n{}",
        daemon.log_text()
    );

    let acks = acks_of(&mario);
    assert_eq!(acks.len(), 1, "one acknowledgement");
    assert_eq!(desk.ticket_count(), 1);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn an_empty_field_comes_back_with_its_message_and_what_was_typed() {
    let (desk, people) = Desk::with_web_and_customers("web-empty", "", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    let token = browser.get_form();
    let mut fields = Fields::valid(&mario);
    fields.riferimento = "   ".into();
    fields.nome = "Mario \"Rossi\" & figli <srl>".into();
    fields.richiesta = "Il modulo <form> non invia: 5 > 3 & l'errore resta.\nSeconda riga".into();
    fields.urgente = true;
    let back = browser.submit(&fields, &[]);
    assert_eq!(back.status, 400, "{}", back.shown());
    let page = &back.body;
    assert!(
        page.contains(&format!("value=\"{}\"", escaped(&fields.nome))),
        "the name as typed, escaped:\n{page}"
    );
    assert!(
        page.contains(&format!(">{}</textarea>", escaped(&fields.richiesta))),
        "the request as typed, escaped:\n{page}"
    );
    assert!(
        page.contains(&format!("value=\"{}\"", escaped(&mario))),
        "{page}"
    );
    assert!(page.contains("id=\"errore-riferimento\""), "{page}");
    assert!(page.contains("Campo obbligatorio"), "{page}");
    let focus =
        regex::Regex::new(r#"<input [^>]*id="riferimento"[^>]*\sautofocus[\s>]"#).expect("regex");
    assert!(focus.is_match(page), "the focus on riferimento:\n{page}");
    assert_eq!(page.matches("autofocus").count(), 1, "{page}");
    assert_eq!(page.matches("class=\"errore\"").count(), 1, "{page}");
    assert!(
        page.contains("name=\"urgente\" value=\"si\" checked"),
        "{page}"
    );
    assert!(
        page.contains("name=\"privacy\" value=\"si\" checked"),
        "{page}"
    );
    assert_eq!(
        token_of(page).as_deref(),
        Some(token.as_str()),
        "the same form goes back"
    );
    assert_eq!(desk.recorded(), Recorded::NOTHING, "nothing recorded");
    assert_eq!(desk.ticket_count(), 0);

    // Corrected, the same form goes through.
    fields.riferimento = "www.rossi-impianti.it".into();
    let sent = browser.submit(&fields, &[]);
    neutral_page(&browser, &sent);
    assert_eq!(desk.recorded().inbound, 1, "{}", daemon.log_text());
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_form_without_its_cookie_or_with_a_forged_token_is_sent_back_to_be_sent_again() {
    let (desk, people) = Desk::with_web_and_customers("web-forged", "", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut fields = Fields::valid(&mario);
    fields.richiesta = "Il modulo contatti non invia: testo da non perdere.".into();
    let sent_back = |a: &Answer, what: &str| {
        assert_eq!(a.status, 400, "{what}: {}", a.shown());
        assert!(
            a.body.contains("prema di nuovo INVIA"),
            "{what}: {}",
            a.body
        );
        assert!(
            a.body.contains(&escaped(&fields.richiesta)),
            "{what}: the text kept:\n{}",
            a.body
        );
        assert!(a.body.contains(&escaped(&mario)), "{what}: {}", a.body);
    };

    // A browser that refuses cookies.
    let mut cookieless = Form::without_cookies(desk.port());
    cookieless.get_form();
    sent_back(&cookieless.submit(&fields, &[]), "no cookie");

    // A token altered by one digit.
    let mut browser = desk.browser();
    let token = browser.get_form();
    let last = token.chars().last().expect("a token");
    let other = if last == '0' { '1' } else { '0' };
    let forged = format!("{}{other}", &token[..token.len() - 1]);
    let back = browser.submit(
        &Fields {
            token: Some(forged.clone()),
            ..fields.clone()
        },
        &[],
    );
    sent_back(&back, "forged token");
    let fresh = token_of(&back.body).expect("a new token");
    assert_ne!(fresh, forged, "the form comes back with a token of ours");

    // Another browser's form.
    let mut stranger = desk.browser();
    stranger.get_form();
    sent_back(
        &stranger.submit(
            &Fields {
                token: Some(token.clone()),
                ..fields.clone()
            },
            &[],
        ),
        "another browser's token",
    );
    assert_eq!(desk.recorded(), Recorded::NOTHING, "nothing recorded");

    // Pressed again, the form sent back goes through.
    browser.token = fresh;
    let sent = browser.submit(&fields, &[]);
    neutral_page(&browser, &sent);
    assert_eq!(desk.recorded().inbound, 1, "{}", daemon.log_text());
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_bot_is_answered_like_a_customer_and_nothing_is_recorded() {
    let (desk, people) = Desk::with_web_and_customers("web-bot", "min_fill_secs = 3", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.min_fill = Duration::from_secs(3);
    browser.get_form();
    let fields = Fields::valid(&mario);

    // Sent half a second after the form was served: faster than a person.
    std::thread::sleep(Duration::from_millis(500));
    let too_fast = browser.submit_now(&fields, &[]);
    neutral_page(&browser, &too_fast);
    assert_eq!(
        desk.recorded(),
        Recorded::NOTHING,
        "too fast: nothing recorded"
    );

    // In time, but with the field people never see filled in.
    let honeypot = browser.submit(
        &Fields {
            website: "http://www.offerte-imperdibili.example/".into(),
            ..fields.clone()
        },
        &[],
    );
    neutral_page(&browser, &honeypot);
    assert_eq!(
        desk.recorded(),
        Recorded::NOTHING,
        "honeypot: nothing recorded"
    );

    // The same fields, in time, from a person.
    let person = browser.submit(&fields, &[]);
    neutral_page(&browser, &person);
    for bot in [&too_fast, &honeypot] {
        assert_eq!(headers_but_date(bot), headers_but_date(&person));
        assert_eq!(bot.body, person.body);
    }
    assert_eq!(desk.recorded().inbound, 1, "{}", daemon.log_text());

    mail_with_subject(&mario, "INBOX", "[KZ-");
    assert_eq!(desk.ticket_count(), 1);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

// ---- floods -----------------------------------------------------------------------------

/// `n` submissions of one form from `browser`; their statuses.
fn statuses(browser: &Form, fields: &Fields, n: usize) -> Vec<u16> {
    (0..n).map(|_| browser.submit(fields, &[]).status).collect()
}

#[test]
fn the_eleventh_submission_from_one_ip_is_refused_with_retry_after() {
    let (behind_proxy, people) = Desk::with_web_and_customers(
        "web-ip",
        "per_ip_limit = 3\nper_address_limit = 100",
        &["anna"],
    );
    let direct = Desk::with_web(
        "web-ip-direct",
        "per_ip_limit = 3\nper_address_limit = 100\ntrusted_proxies = []",
    );
    // Addresses on no contract: the refusal does not depend on who writes.
    let anna = people[0].clone();
    let daemons = [behind_proxy.start(), direct.start()];
    let fields = Fields::valid(&anna);

    let mut browser = behind_proxy.browser();
    browser.get_form();
    browser.forwarded_for = Some("203.0.113.10".into());
    assert_eq!(statuses(&browser, &fields, 3), [303, 303, 303]);
    let refused = browser.submit(&fields, &[]);
    assert_eq!(refused.status, 429, "{}", refused.shown());
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {}", refused.shown()));
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    assert!(
        refused.body.contains("Troppe richieste"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Riprovi tra 10 minuti"),
        "{}",
        refused.body
    );
    // Another client behind the same proxy is counted apart.
    browser.forwarded_for = Some("203.0.113.11".into());
    assert_eq!(statuses(&browser, &fields, 3), [303, 303, 303]);
    assert_eq!(browser.submit(&fields, &[]).status, 429);

    // Not our proxy: the header is the client's own word, and changes nothing.
    let mut spoofer = direct.browser();
    spoofer.get_form();
    let mut seen = vec![];
    for i in 20..24 {
        spoofer.forwarded_for = Some(format!("203.0.113.{i}"));
        seen.push(spoofer.submit(&fields, &[]).status);
    }
    assert_eq!(seen, [303, 303, 303, 429]);
    for daemon in daemons {
        let (status, _, log) = daemon.stop();
        assert!(status.success(), "{log}");
    }
}

#[test]
fn too_many_submissions_for_one_address_are_refused() {
    let (desk, people) = Desk::with_web_and_customers(
        "web-addr",
        "per_address_limit = 2\nper_ip_limit = 100",
        &["anna", "bruno"],
    );
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let mut seen = vec![];
    for i in 30..33 {
        browser.forwarded_for = Some(format!("203.0.113.{i}"));
        seen.push(browser.submit(&Fields::valid(&people[0]), &[]));
    }
    let statuses: Vec<u16> = seen.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [303, 303, 429], "{}", seen[2].shown());
    assert!(
        seen[2].body.contains("Troppe richieste"),
        "{}",
        seen[2].body
    );
    assert!(
        seen[2].header("retry-after").is_some(),
        "{}",
        seen[2].shown()
    );
    // Another address from the same client is counted apart.
    let mut other = desk.browser();
    other.get_form();
    other.forwarded_for = Some("203.0.113.32".into());
    assert_eq!(other.submit(&Fields::valid(&people[1]), &[]).status, 303);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

// ---- oversized and slow clients ----------------------------------------------------------

#[test]
fn a_body_over_the_limit_gets_413_without_being_read_to_the_end() {
    let (desk, people) =
        Desk::with_web_and_customers("web-413", "max_upload_bytes = 65536", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let port = desk.port();

    // Announces 50 MB and sends 4 KB of it.
    let mut s = raw(port, Duration::from_secs(5));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 50000000\r\n\r\n"
    );
    let mut start_of_body = b"--XyZ\r\nContent-Disposition: form-data; name=\"allegati\"; \
filename=\"video.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
        .to_vec();
    start_of_body.resize(4096, b'v');
    let t0 = Instant::now();
    assert!(send_raw(&mut s, head.as_bytes()) && send_raw(&mut s, &start_of_body));
    let answer = read_head(&mut s, Duration::from_secs(5));
    let answered = t0.elapsed();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    assert!(
        answered < Duration::from_secs(1),
        "answered in {answered:?}"
    );
    let (rest, closed) = read_until_closed(&mut s, Duration::from_secs(5));
    let text = format!("{answer}{}", String::from_utf8_lossy(&rest));
    assert!(text.contains("troppo grande"), "{text}");
    assert!(closed, "the connection is closed: {text}");

    // A form whose files come to slightly more than the limit, from a browser.
    let mut browser = desk.browser();
    browser.get_form();
    let big = Upload::new("foto.jpg", "image/jpeg", vec![0x5a; 66_000]);
    let refused = browser.submit(&Fields::valid(&mario), &[big]);
    assert_eq!(refused.status, 413, "{}", refused.shown());
    assert!(refused.body.contains("troppo grande"), "{}", refused.body);

    // Sent in chunks, without saying its length.
    let mut s = raw(port, Duration::from_secs(5));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert!(send_raw(&mut s, head.as_bytes()));
    let part = b"--XyZ\r\nContent-Disposition: form-data; name=\"allegati\"; \
filename=\"foto.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n";
    let mut chunks = format!("{:x}\r\n", part.len()).into_bytes();
    chunks.extend_from_slice(part);
    chunks.extend_from_slice(b"\r\n");
    let mut sent = 0;
    let mut open = send_raw(&mut s, &chunks);
    while open && sent < 200_000 {
        let mut chunk = b"2000\r\n".to_vec();
        chunk.extend_from_slice(&[b'j'; 0x2000]);
        chunk.extend_from_slice(b"\r\n");
        open = send_raw(&mut s, &chunk);
        sent += 0x2000;
    }
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "chunked: {text}");

    assert_eq!(desk.recorded(), Recorded::NOTHING);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_slow_client_is_cut_and_does_not_hold_the_server() {
    const SLOW: usize = 300;
    let desk = Desk::with_web("web-slow", "timeout_secs = 5");
    let daemon = desk.start();
    let port = desk.port();
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: lento\r\n");
    let t0 = Instant::now();
    let mut slow: Vec<Option<TcpStream>> = (0..SLOW)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            Some(s)
        })
        .collect();
    let mut closed_at: Vec<Option<Duration>> = vec![None; SLOW];

    let prompt = std::thread::scope(|scope| {
        // Meanwhile, a customer opens the form, twice.
        let customer = scope.spawn(|| {
            let mut took = vec![];
            for wait in [1500, 2000] {
                std::thread::sleep(Duration::from_millis(wait));
                let started = Instant::now();
                let page = Form::new(port).get("");
                took.push((page.status, started.elapsed()));
            }
            took
        });
        let mut sent = 0;
        let mut next_byte = Instant::now();
        let mut buf = [0u8; 4096];
        while closed_at.iter().any(Option::is_none) && t0.elapsed() < Duration::from_secs(20) {
            let write = Instant::now() >= next_byte;
            if write {
                next_byte += Duration::from_secs(2);
            }
            for (i, conn) in slow.iter_mut().enumerate() {
                let Some(s) = conn else { continue };
                let gone = loop {
                    match s.read(&mut buf) {
                        Ok(0) => break true,
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                        Err(_) => break true,
                    }
                };
                let gone = gone
                    || (write
                        && std::io::Write::write(s, &request.as_bytes()[sent..sent + 1]).is_err());
                if gone {
                    closed_at[i] = Some(t0.elapsed());
                    *conn = None;
                }
            }
            if write {
                sent = (sent + 1) % request.len();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        customer.join().expect("customer")
    });
    let still_open = closed_at.iter().filter(|c| c.is_none()).count();
    assert_eq!(still_open, 0, "slow connections left open after 20 s");
    let last = closed_at
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_default();
    assert!(
        last <= Duration::from_secs(12),
        "the last was cut after {last:?}"
    );
    for (status, took) in prompt {
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_secs(1),
            "the form took {took:?} to open among {SLOW} slow clients"
        );
    }
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

// ---- hostile text -----------------------------------------------------------------------

#[test]
fn crlf_nul_and_html_in_fields_reach_no_header_and_no_page_unescaped() {
    let (desk, staff, people) = Desk::with_staff_and_web("web-crlf", "", &["mario", "evil"]);
    let (mario, evil) = (&people[0], &people[1]);
    desk.contracts(&contract_row(
        "Rossi Impianti",
        &[mario],
        "www.rossi-impianti.it",
    ));
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let mut fields = Fields::valid(mario);
    fields.nome = format!("Mario\r\nBcc: {evil}");
    fields.riferimento = "www.rossi-impianti.it <script>alert(1)</script>".into();
    fields.richiesta = "Il modulo\0 di www.rossi-impianti.it non invia.\r\n\
                        </textarea><script>alert(2)</script>\r\nX-Evil: 1"
        .into();
    fields.privacy = false;

    let back = browser.submit(&fields, &[]);
    assert_eq!(back.status, 400, "{}", back.shown());
    let page = &back.body;
    assert!(page.contains("id=\"errore-privacy\""), "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains('\0'), "{page}");
    assert!(!page.contains("\nBcc:"), "{page}");
    assert_eq!(page.matches("</textarea>").count(), 1, "{page}");
    assert!(
        page.contains(&format!(
            "value=\"{}\"",
            escaped(&format!("Mario Bcc: {evil}"))
        )),
        "the name on one line, escaped:\n{page}"
    );
    assert!(
        page.contains(&escaped("www.rossi-impianti.it <script>alert(1)</script>")),
        "{page}"
    );
    assert!(
        page.contains(&escaped(
            "Il modulo di www.rossi-impianti.it non invia.\n</textarea><script>alert(2)</script>"
        )),
        "the request without its NUL, escaped:\n{page}"
    );
    assert_eq!(desk.recorded(), Recorded::NOTHING);

    fields.privacy = true;
    let sent = browser.submit(&fields, &[]);
    neutral_page(&browser, &sent);
    let stored = desk.inbound_raws();
    assert_eq!(stored.len(), 1, "{}", daemon.log_text());
    let head = header_section(&stored[0]);
    assert!(
        !head.contains("\nBcc:") && !head.contains("\nX-Evil:"),
        "{head}"
    );
    assert_eq!(header(&stored[0], "Bcc"), None, "{head}");

    stays_empty(evil, &daemon);

    let notice = mail_with_subject(&staff.queue, "INBOX", "Nuovo ticket");
    let head = header_section(&notice);
    assert!(
        !head.contains("\nBcc:") && !head.contains("\nX-Evil:"),
        "{head}"
    );
    assert_eq!(header(&notice, "Bcc"), None, "{head}");
    assert_eq!(count(evil, "INBOX"), 0);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_huge_request_text_is_refused_with_a_message_not_cut() {
    let (desk, people) = Desk::with_web_and_customers("web-huge", "", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let mut text = String::new();
    for i in 0.. {
        if text.len() >= 25_000 {
            break;
        }
        text.push_str(&format!("Riga {i}: il modulo non invia.\n"));
    }
    text.truncate(25_000 - "FINE".len());
    text.push_str("FINE");
    assert_eq!(text.chars().count(), 25_000);
    let mut fields = Fields::valid(&mario);
    fields.richiesta = text.clone();
    let back = browser.submit(&fields, &[]);
    assert_eq!(back.status, 400, "{}", back.shown());
    assert!(
        back.body.contains("id=\"errore-richiesta\""),
        "{}",
        back.body
    );
    assert!(
        back.body
            .contains("Il testo è troppo lungo: al massimo 20000 caratteri"),
        "{}",
        back.body
    );
    assert!(
        back.body
            .contains(&format!(">{}</textarea>", escaped(&text))),
        "the whole text comes back, not cut"
    );
    assert_eq!(desk.recorded(), Recorded::NOTHING);

    // The limit counts characters, not bytes: 20,000 accented letters are taken.
    fields.richiesta = "è".repeat(20_000);
    let sent = browser.submit(&fields, &[]);
    neutral_page(&browser, &sent);
    assert_eq!(desk.recorded().inbound, 1, "{}", daemon.log_text());
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

// ---- confirmation links ------------------------------------------------------------------

#[test]
fn confirmation_links_open_the_ticket_only_when_conferma_is_pressed() {
    let (desk, people) =
        Desk::with_web_and_customers("web-confirm", "require_confirmation = true", &["mario"]);
    let mario = people[0].clone();
    desk.contract_for(&mario);
    let daemon = desk.start();
    let mut browser = desk.browser();
    browser.get_form();
    let form = browser.get("");
    assert!(
        form.body
            .contains("le invieremo un'email con un link da confermare"),
        "{}",
        form.body
    );
    let sent = browser.submit(&Fields::valid(&mario), &[]);
    let page = neutral_page(&browser, &sent);
    assert!(
        page.body.contains("un link per confermare la richiesta"),
        "{}",
        page.body
    );
    let held = desk.recorded();
    assert_eq!(
        (held.pending, held.inbound, held.tickets),
        (1, 0, 0),
        "{held:?}"
    );

    let mail = mail_with_subject(&mario, "INBOX", "");
    let (_, text) = subject_and_text(&mail);
    let re = regex::Regex::new(&format!(
        r"http://127\.0\.0\.1:{}/conferma/([0-9a-f]+\.[0-9a-f]+)",
        desk.port()
    ))
    .expect("regex");
    let link = re
        .captures(&text)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no confirmation link in:\n{text}"));
    let path = format!("conferma/{link}");

    // A mail scanner opens every link: nothing happens.
    let scanned = browser.get(&path);
    assert_eq!(scanned.status, 200, "{}", scanned.shown());
    assert!(
        scanned
            .body
            .contains("<button type=\"submit\">Conferma</button>"),
        "{}",
        scanned.body
    );
    assert_eq!(desk.ticket_count(), 0);
    assert_eq!(desk.recorded().inbound, 0);

    let pressed = browser.post_empty(&path);
    assert_eq!(pressed.status, 303, "{}", pressed.shown());
    assert_eq!(pressed.header("location"), Some("../confermata"));
    let done = browser.get("confermata");
    assert!(done.body.contains("Richiesta confermata"), "{}", done.body);
    let acks = acks_of(&mario);
    assert_eq!(acks.len(), 1);
    assert_eq!(desk.ticket_count(), 1);

    let again = browser.post_empty(&path);
    assert_eq!(again.status, 200, "{}", again.shown());
    assert!(
        again.body.contains("già stata confermata"),
        "{}",
        again.body
    );
    assert_eq!(desk.ticket_count(), 1);

    let last = link.chars().last().expect("link");
    let tampered = format!(
        "conferma/{}{}",
        &link[..link.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let refused = browser.get(&tampered);
    assert_eq!(refused.status, 404, "{}", refused.shown());
    assert!(refused.body.contains("non è valido"), "{}", refused.body);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_confirmation_link_made_up_or_tampered_with_is_not_valid_and_opens_nothing() {
    let desk = Desk::with_web("web-badlink", "require_confirmation = true");
    let daemon = desk.start();
    let browser = desk.browser();
    let made_up = format!("conferma/{}.{}", "ab".repeat(16), "cd".repeat(32));
    for path in [
        made_up.as_str(),
        "conferma/not-a-link",
        "conferma/..%2f..%2fetc%2fpasswd",
    ] {
        for answer in [browser.get(path), browser.post_empty(path)] {
            assert_eq!(answer.status, 404, "{path}: {}", answer.shown());
            assert!(
                answer.body.contains("non è valido"),
                "{path}: {}",
                answer.body
            );
            assert!(
                answer
                    .body
                    .contains(&format!("href=\"{}\"", escaped("../style.css"))),
                "{path}: {}",
                answer.body
            );
        }
    }
    assert_eq!(desk.recorded(), Recorded::NOTHING);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

// ---- health, 404 and check ---------------------------------------------------------------

#[test]
fn healthz_answers_ok_and_an_unknown_path_gets_the_italian_404() {
    let desk = Desk::with_web("web-404", "");
    let daemon = desk.start();
    let browser = desk.browser();
    let health = browser.get("healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let missing = browser.get("nonesiste.php");
    assert_eq!(missing.status, 404, "{}", missing.shown());
    assert!(
        missing.body.contains("Pagina non trovata"),
        "{}",
        missing.body
    );
    assert!(
        missing.body.contains("<html lang=\"it\">"),
        "{}",
        missing.body
    );
    assert_eq!(
        missing.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let deep = browser.get("wp-admin/includes/setup.php");
    assert_eq!(deep.status, 404);
    assert!(
        deep.body
            .contains(&format!("href=\"{}\"", escaped("../../style.css"))),
        "the stylesheet found from the page's folder: {}",
        deep.body
    );
    let css = browser.get("style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    // Without web.metrics_allow, /metrics is for no one, not even loopback.
    let metrics = browser.get("metrics");
    assert_eq!(metrics.status, 404, "{}", metrics.shown());
    assert!(metrics.body.contains("Pagina non trovata"));
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// The TCP ports `pid` listens on, read from `/proc`.
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the daemon's descriptors")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = vec![];
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address, st (0A: LISTEN), inode
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                let port = cols[1].rsplit(':').next().unwrap_or("0");
                ports.push(u16::from_str_radix(port, 16).unwrap_or(0));
            }
        }
    }
    ports
}

#[test]
fn without_a_web_section_nothing_listens() {
    let desk = Desk::new("web-none");
    let check = desk.cli(&["check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("ok    web       no [web] section"),
        "{stdout}"
    );
    let daemon = desk.start();
    assert_eq!(listening_ports(daemon.child.id()), Vec::<u16>::new());
    assert!(!daemon.log_text().contains("portal form listening"));
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");

    // The same desk with the section listens on its port, and only there.
    let mut desk = desk;
    desk.add_web("");
    let daemon = desk.start();
    assert_eq!(listening_ports(daemon.child.id()), [desk.port()]);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// The `web` line of `check`, and whether check passed.
fn check_web(desk: &Desk) -> (bool, String) {
    let out = desk.cli(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("web"))
        .unwrap_or_else(|| panic!("no web line in:\n{stdout}"))
        .to_string();
    (out.status.success(), line)
}

#[test]
fn check_says_whether_the_form_can_listen() {
    let desk = Desk::with_web("web-check", "");
    let port = desk.port();
    let (ok, line) = check_web(&desk);
    assert!(ok, "{line}");
    assert!(line.starts_with("ok "), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{port} can be listened on")),
        "{line}"
    );

    // Another program holds the port.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("taking the port");
    let (ok, line) = check_web(&desk);
    assert!(!ok, "{line}");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("web.listen"), "{line}");
    // And the daemon will not start without its form.
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_assistenza"))
        .arg("--config")
        .arg(&desk.config)
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("assistenza run");
    let t0 = Instant::now();
    let exited = loop {
        if let Some(status) = run.try_wait().expect("wait") {
            break Some(status);
        }
        if t0.elapsed() > WAIT {
            let _ = run.kill();
            let _ = run.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    run.stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = exited.unwrap_or_else(|| panic!("still running with its port taken:\n{stderr}"));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("web.listen"), "{stderr}");
    drop(squatter);

    // The daemon holds it.
    let daemon = desk.start();
    let (ok, line) = check_web(&desk);
    assert!(ok, "{line}");
    assert!(
        line.contains(&format!(
            "127.0.0.1:{port} is held by a running portal that answers /healthz"
        )),
        "{line}"
    );
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn the_daemon_stops_at_once_though_a_browser_keeps_its_connection_open() {
    let desk = Desk::with_web("web-stop", "");
    let daemon = desk.start();
    let browser = desk.browser();
    // The browser keeps the connection open for its next page.
    assert_eq!(browser.get("").status, 200);
    let (status, took, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(
        took < Duration::from_secs(2),
        "stopped {took:?} after SIGTERM"
    );
}

// ---- metrics -----------------------------------------------------------------------------

#[test]
fn metrics_answer_an_allowed_client_and_are_a_404_to_any_other() {
    let desk = Desk::with_web(
        "web-metrics",
        "metrics_allow = [\"127.0.0.1\", \"10.9.0.0/16\"]",
    );
    let daemon = desk.start();
    let mut browser = desk.browser();
    let metrics = browser.get("metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.shown());
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(metrics.header("cache-control"), Some("no-store"));
    let scrape = prometheus_parse::Scrape::parse(metrics.body.lines().map(|l| Ok(l.to_string())))
        .expect("the Prometheus text format");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| s.value.clone())
    };
    use prometheus_parse::Value::Gauge;
    // The portal does not log in to IMAP for a scrape.
    assert_eq!(value("assistenza_mailbox_measured", None), Some(Gauge(0.0)));
    assert_eq!(value("assistenza_mailbox_backlog_messages", None), None);
    assert_eq!(
        value("assistenza_tickets", Some(("state", "merged"))),
        Some(Gauge(0.0))
    );
    assert!(value("assistenza_last_mailbox_look_timestamp_seconds", None).is_some());

    // Through the proxy (loopback is trusted) for an allowed client, and for another.
    browser.forwarded_for = Some("10.9.1.2".into());
    assert_eq!(browser.get("metrics").status, 200);
    browser.forwarded_for = Some("203.0.113.9".into());
    let refused = browser.get("metrics");
    assert_eq!(refused.status, 404, "{}", refused.shown());
    assert!(
        refused.body.contains("Pagina non trovata"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("assistenza_"), "{}", refused.body);
    let (status, _, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
