//! The portal's form in a real browser (Debian's Chromium over WebDriver), served by the
//! real daemon on the real Dovecot and Postfix: a customer fills it in as a person would,
//! attaches a screenshot and presses INVIA, sees the neutral page, and gets the
//! acknowledgement by email while the operators' notice names the file; an empty field
//! comes back with its message beside it, the text kept and the focus on it; with
//! confirmation on, opening the link changes nothing and only "Conferma" opens the ticket.
//! Screenshots go to target/screenshots/portal-*.png.

mod support;

use std::time::Duration;

use support::browser::Browser;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

const REQUEST: &str = "Il modulo contatti della home non invia più i messaggi da ieri sera.";

/// A free loopback port for the form.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A desk serving the form, with a queue mailbox for the operators' notices, and a
/// customer with a contract in force; returns the desk, the form's address, the customer
/// and the queue.
fn desk_with_form(tag: &str, extra: &str) -> (Desk, String, String, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let queue = format!("{}@kzweb.it", unique(&format!("{tag}-coda")));
    add_user(&queue);
    let web = format!(
        "\n[queue]\naddress = \"{queue}\"\n\n[web]\nlisten = \"127.0.0.1:{port}\"\n\
         public_url = \"{base}\"\nprivacy_url = \"https://www.kzweb.it/privacy/\"\n\
         min_fill_secs = 1\n{extra}\n"
    );
    let desk = Desk::with(tag, ImapTls::Implicit, &web);
    let customer = desk.customer_with_contract(&format!("{tag}-cliente"));
    (desk, base, customer, queue)
}

/// Fills every field but those in `skip`.
fn fill(b: &Browser, customer: &str, skip: &[&str]) {
    let fields = [
        ("#email", customer),
        ("#nome", "Mario Rossi"),
        ("#riferimento", "www.rossi-impianti.it"),
        ("#richiesta", REQUEST),
    ];
    for (css, text) in fields {
        if !skip.contains(&css) {
            b.fill(css, text);
        }
    }
    b.click("#privacy");
}

/// Presses INVIA once a person could have (the desk's min_fill_secs is 1).
fn invia(b: &Browser) {
    std::thread::sleep(Duration::from_millis(1200));
    b.click("button[type=submit]");
}

/// Waits until the browser is on a page whose address ends with `path`.
fn arrive(b: &Browser, path: &str) {
    let start = std::time::Instant::now();
    while !b.current_url().ends_with(path) {
        assert!(
            start.elapsed() < WAIT,
            "never reached {path}: at {}\n{}",
            b.current_url(),
            b.text("main")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    b.wait_for("h1", WAIT);
}

#[test]
fn a_customer_fills_the_form_in_a_browser_and_gets_the_ack_by_email() {
    let (desk, base, customer, queue) = desk_with_form("portale", "");
    let _daemon = desk.start();
    let b = Browser::start();
    b.goto(&base);
    b.wait_for("form", WAIT);
    let form_shot = b.screenshot("portal-form");
    fill(&b, &customer, &[]);
    b.attach("#allegati", &form_shot);
    b.click("#urgente");
    invia(&b);
    arrive(&b, "/inviata");
    let page = b.text("main");
    assert!(
        page.contains("Se l'indirizzo è abilitato all'apertura dei ticket"),
        "{page}"
    );
    assert!(
        !page.contains(&customer),
        "the page repeats the address: {page}"
    );
    b.screenshot("portal-received");

    let acks = wait_for(&customer, "INBOX", 1, WAIT);
    let (subject, text) = subject_and_text(&acks[0]);
    assert!(subject.starts_with("[KZ-"), "{subject}");
    assert!(
        text.contains("modulo"),
        "the ack says where the request came from: {text}"
    );
    let notice = mail_with_subject(&queue, "INBOX", "Nuovo ticket");
    let notice_text = String::from_utf8_lossy(&notice);
    assert!(notice_text.contains("portal-form.png"), "{notice_text}");
    assert!(notice_text.contains("modulo web"), "{notice_text}");
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(1));
}

#[test]
fn an_empty_reference_comes_back_beside_its_field_with_the_text_kept() {
    let (desk, base, customer, _queue) = desk_with_form("portale-errore", "");
    let _daemon = desk.start();
    let b = Browser::start();
    b.set_window_size(390, 844);
    b.goto(&base);
    b.wait_for("form", WAIT);
    fill(&b, &customer, &["#riferimento"]);
    invia(&b);
    b.wait_for("#errore-riferimento", WAIT);
    let message = b.text("#errore-riferimento");
    assert!(message.contains("Campo obbligatorio"), "{message}");
    assert_eq!(b.value("#richiesta"), REQUEST);
    assert_eq!(b.value("#email"), customer);
    assert_eq!(
        b.active_name(),
        "riferimento",
        "the focus is on the field to correct"
    );
    b.screenshot("portal-error-phone");
    b.set_window_size(1280, 900);
    b.screenshot("portal-error");
    // Corrected, it goes through.
    b.fill("#riferimento", "www.rossi-impianti.it");
    b.click("button[type=submit]");
    arrive(&b, "/inviata");
    wait_for(&customer, "INBOX", 1, WAIT);
}

#[test]
fn with_confirmation_only_the_conferma_button_opens_the_ticket() {
    let (desk, base, customer, _queue) =
        desk_with_form("portale-conferma", "require_confirmation = true");
    let _daemon = desk.start();
    let b = Browser::start();
    b.goto(&base);
    b.wait_for("form", WAIT);
    fill(&b, &customer, &[]);
    invia(&b);
    arrive(&b, "/inviata");
    assert!(
        b.text("main").contains("link per confermare"),
        "{}",
        b.text("main")
    );

    let mails = wait_for(&customer, "INBOX", 1, WAIT);
    let (_, text) = subject_and_text(&mails[0]);
    let start = text
        .find(&format!("{base}conferma/"))
        .expect("a confirmation link");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    // Opening the link, as a mail provider's scanner does, opens nothing.
    b.goto(&link);
    b.wait_for("button[type=submit]", WAIT);
    b.screenshot("portal-confirm");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&customer, "INBOX"), 1, "no ack before Conferma");
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(0));

    b.click("button[type=submit]");
    arrive(&b, "/confermata");
    let mails = wait_for(&customer, "INBOX", 2, WAIT);
    let (subject, _) = subject_and_text(&mails[1]);
    assert!(subject.starts_with("[KZ-"), "{subject}");
    assert_eq!(desk.tickets_json().as_array().map(Vec::len), Some(1));
    // The link, opened again, says it was used.
    b.goto(&link);
    b.wait_for("h1", WAIT);
    assert!(
        b.text("main").contains("già stata confermata"),
        "{}",
        b.text("main")
    );
}
