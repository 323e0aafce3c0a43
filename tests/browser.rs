//! The real-browser harness itself: headless Chromium fills, attaches to and submits a
//! plain HTML form served from this test, and the test reads back what the page shows.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use support::browser::Browser;

const FORM: &str = r#"<!doctype html>
<html lang="it"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Richiesta</title>
<style>
  body { font-family: sans-serif; margin: 2rem; }
  label { display: block; margin-top: 1rem; }
  textarea, input[type=text] { width: 100%; box-sizing: border-box; }
  .narrow { display: none; }
  @media (max-width: 600px) { .narrow { display: block; } .wide { display: none; } }
</style></head>
<body>
  <h1 id="title">Nuova richiesta</h1>
  <p class="wide">finestra larga</p><p class="narrow">finestra stretta</p>
  <form method="post" action="/submit" enctype="multipart/form-data">
    <label>Oggetto <input type="text" name="subject"></label>
    <label>Messaggio <textarea name="message" rows="6"></textarea></label>
    <label>Allegato <input type="file" name="attachment"></label>
    <button type="submit" id="send">Invia</button>
  </form>
  <footer style="margin-top: 1200px">fine della pagina</footer>
</body></html>"#;

/// Serves the form on `GET`, and on `POST` a page saying how many body bytes came; the
/// body itself goes to the test through the channel.
fn serve() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let tx = tx.clone();
            // One thread per connection: Chromium may open one and send nothing on it.
            std::thread::spawn(move || answer(conn, &tx));
        }
    });
    (port, rx)
}

fn answer(mut conn: TcpStream, tx: &mpsc::Sender<Vec<u8>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while got.len() < head_end + length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let body = got[head_end..head_end + length].to_vec();
    let (status, page) = if head.starts_with("GET / ") {
        ("200 OK", FORM.to_string())
    } else if head.starts_with("POST /submit ") {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>Ricevuta</title>\
             <h1 id=done>Ricevuta</h1><p id=size>{} byte ricevuti</p>",
            body.len()
        );
        let _ = tx.send(body);
        ("200 OK", page)
    } else {
        ("404 Not Found", "non trovato".to_string())
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn browser_fills_a_form_and_sees_what_was_typed() {
    let (port, bodies) = serve();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("schermata-errore.txt");
    let content = "il modulo risponde 500 alle 10:42\n".repeat(40);
    std::fs::write(&file, &content).expect("write attachment");

    let browser = Browser::start();
    let home = format!("http://127.0.0.1:{port}/");
    browser.goto(&home);
    browser.wait_for("form", Duration::from_secs(5));
    assert_eq!(browser.current_url(), home);
    assert_eq!(browser.text("#title"), "Nuova richiesta");
    assert!(browser.source().contains(r#"name="attachment""#));
    // 1280 px wide: the narrow-only line is in the page but not visible.
    assert_eq!(browser.text(".wide"), "finestra larga");
    assert_eq!(browser.text(".narrow"), "");

    let message = "Buongiorno,\nil modulo contatti non invia più i messaggi.";
    browser.fill("textarea[name=message]", "da cancellare");
    browser.fill("textarea[name=message]", message);
    assert_eq!(browser.active_name(), "message");
    browser.fill("input[name=subject]", "Modulo contatti guasto");
    assert_eq!(browser.active_name(), "subject");
    browser.attach("input[name=attachment]", &file);

    assert_eq!(browser.value("textarea[name=message]"), message);
    assert_eq!(
        browser.value("input[name=subject]"),
        "Modulo contatti guasto"
    );
    assert_eq!(
        browser.value("input[name=attachment]"),
        r"C:\fakepath\schermata-errore.txt",
        "a file input shows the chosen file's name behind the browser's fake path"
    );

    browser.set_window_size(390, 844);
    assert_eq!(browser.text(".narrow"), "finestra stretta");
    assert_eq!(browser.text(".wide"), "");
    let shot = browser.screenshot("browser-form-filled-phone");
    let png = std::fs::read(&shot).expect("screenshot file");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is a PNG",
        shot.display()
    );
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    let (width, height) = (size(16), size(20));
    assert_eq!(width, 390, "the phone-wide viewport");
    assert!(
        height > 1200,
        "the whole page down to its footer, not the 844 px shown"
    );

    browser.click("#send");
    browser.wait_for("#done", Duration::from_secs(10));
    assert_eq!(
        browser.current_url(),
        format!("http://127.0.0.1:{port}/submit")
    );
    let body = bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("the server got the POST");
    assert_eq!(
        browser.text("#size"),
        format!("{} byte ricevuti", body.len())
    );
    // Textarea line ends are sent as CRLF, as browsers do.
    assert!(contains(&body, &message.replace('\n', "\r\n")));
    assert!(contains(&body, "Modulo contatti guasto"));
    assert!(contains(&body, r#"filename="schermata-errore.txt""#));
    assert!(
        contains(&body, &content),
        "the attachment's bytes were sent"
    );
    browser.screenshot("browser-form-sent");
}
